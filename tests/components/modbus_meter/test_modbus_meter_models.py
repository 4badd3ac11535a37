"""Each built-in register map against pymodbus's server serving that model's registers
with known values, over Modbus TCP on loopback and Modbus RTU over a pseudo-terminal pair:
every entity's value and unit."""

from __future__ import annotations

import pytest

from components.modbus_meter import CONFIG_SCHEMA, configured_entity_ids

from .conftest import wait_state
from .fake_meter import READING

# entity suffix -> (unit, device_class, state_class), as Home Assistant's sensor names them.
THREE_PHASE = {
    "energy": ("kWh", "energy", "total_increasing"),
    "energy_export": ("kWh", "energy", "total_increasing"),
    "power": ("W", "power", "measurement"),
    "frequency": ("Hz", "frequency", "measurement"),
    **{f"voltage_l{p}": ("V", "voltage", "measurement") for p in (1, 2, 3)},
    **{f"current_l{p}": ("A", "current", "measurement") for p in (1, 2, 3)},
}
SINGLE_PHASE = {
    key: value for key, value in THREE_PHASE.items() if not key.endswith(("_l2", "_l3"))
}
ENTITIES = {"abb_b23": THREE_PHASE, "eastron_sdm630": THREE_PHASE, "eastron_sdm120": SINGLE_PHASE}


def check_entities(hub, model: str, address: str, slave: int) -> None:
    expected = ENTITIES[model]
    for key, (unit, device_class, state_class) in expected.items():
        state = hub.states.get(f"sensor.meter_{key}")
        assert state is not None, key
        assert float(state.state) == pytest.approx(READING[key], abs=1e-9), key
        assert state.attributes["unit_of_measurement"] == unit
        assert state.attributes["device_class"] == device_class
        assert state.attributes["state_class"] == state_class
    for absent in set(THREE_PHASE) - set(expected):
        assert hub.states.get(f"sensor.meter_{absent}") is None
    link = hub.states.get("binary_sensor.meter_link")
    assert link.state == "on" and link.attributes["device_class"] == "connectivity"
    assert link.attributes["address"] == address and link.attributes["slave"] == slave
    assert link.attributes["model"] == model
    errors = hub.states.get("sensor.meter_errors")
    assert errors.state == "0"
    assert errors.attributes["timeouts"] == 0 and errors.attributes["crc_errors"] == 0


@pytest.mark.parametrize("model", ["abb_b23", "eastron_sdm630", "eastron_sdm120"])
async def test_model_over_tcp(config_dir, start_station, tcp_meter, model: str) -> None:
    meter, port = await tcp_meter(model, slave=7)
    path = config_dir(
        f"""
        modbus_meter:
          host: 127.0.0.1
          tcp_port: {port}
          slave: 7
          model: {model}
          scan_interval: 1
        """
    )
    hub, result = await start_station(path)
    assert not result.problems
    await wait_state(hub, "binary_sensor.meter_link", "on")
    check_entities(hub, model, f"127.0.0.1:{port}", 7)
    assert meter.requests > 0
    # check-config's hook names exactly the entities the station made.
    made = {
        s.entity_id for s in hub.states.async_all() if s.entity_id.split(".")[1][:6] == "meter_"
    }
    config = CONFIG_SCHEMA({"host": "127.0.0.1", "model": model})
    assert configured_entity_ids(config) == made


@pytest.mark.parametrize("model", ["abb_b23", "eastron_sdm630", "eastron_sdm120"])
async def test_model_over_rtu(config_dir, start_station, rtu_line, model: str) -> None:
    from .fake_meter import FakeMeter

    meter_tty, station_tty = rtu_line
    meter = FakeMeter(model, slave=2)
    await meter.serve_rtu(meter_tty, baudrate=19200)
    try:
        path = config_dir(
            f"""
            modbus_meter:
              port: {station_tty}
              baudrate: 19200
              parity: N
              slave: 2
              model: {model}
              scan_interval: 1
            """
        )
        hub, result = await start_station(path)
        assert not result.problems
        await wait_state(hub, "binary_sensor.meter_link", "on")
        check_entities(hub, model, station_tty, 2)
    finally:
        await meter.stop()


async def test_user_register_map(config_dir, start_station, tcp_meter) -> None:
    """A map of one's own: the SDM630's import register scaled to Wh, and its frequency
    float read as a plain uint32 (the raw IEEE 754 bits)."""
    _meter, port = await tcp_meter("eastron_sdm630")
    path = config_dir(
        f"""
        modbus_meter:
          host: 127.0.0.1
          tcp_port: {port}
          name: grid
          scan_interval: 1
          registers:
            - key: import_wh
              name: import
              address: 0x0048
              input_type: input
              data_type: float32
              scale: 1000
              precision: 0
              unit_of_measurement: Wh
              device_class: energy
              state_class: total_increasing
            - key: frequency_raw
              address: 0x0046
              input_type: input
              data_type: uint32
        """
    )
    hub, result = await start_station(path)
    assert not result.problems
    await wait_state(hub, "binary_sensor.grid_link", "on")
    energy = hub.states.get("sensor.grid_import_wh")
    assert energy.state == "1234560"
    assert energy.attributes["unit_of_measurement"] == "Wh"
    assert energy.attributes["friendly_name"] == "Grid import"
    # 49.98 as float32 is 0x4247EB85: read as one uint32, high word first.
    assert hub.states.get("sensor.grid_frequency_raw").state == str(0x4247EB85)
