"""What goes wrong on a real RS485 line or TCP gateway, against pymodbus's server:
timeouts, a meter that disappears and returns, CRC garbage, exception answers, and energy
readings that go backwards or jump beyond what the installation can draw."""

from __future__ import annotations

import logging

from pymodbus.constants import ExcCodes

from components.modbus_meter import CONFIG_SCHEMA
from components.modbus_meter.reader import MeterReader

from .conftest import wait_state, wait_until
from .fake_meter import READING, FakeMeter


def station_yaml(where: str, **options: object) -> str:
    values = {"model": "eastron_sdm630", "scan_interval": 1, "timeout": 0.2}
    values |= {"max_failures": 2, "max_backoff": 2} | options
    return "modbus_meter:\n" + where + "".join(f"  {k}: {v}\n" for k, v in values.items())


def tcp(port: int) -> str:
    return f"  host: 127.0.0.1\n  tcp_port: {port}\n"


def errors(hub) -> dict:
    return dict(hub.states.get("sensor.meter_errors").attributes)


async def test_timeouts_unavailable_then_recover(config_dir, start_station, tcp_meter) -> None:
    meter, port = await tcp_meter("eastron_sdm630")
    hub, _ = await start_station(config_dir(station_yaml(tcp(port))))
    await wait_state(hub, "binary_sensor.meter_link", "on")
    meter.silent = True
    await wait_state(hub, "binary_sensor.meter_link", "off")
    assert hub.states.get("sensor.meter_energy").state == "unavailable"
    assert hub.states.get("sensor.meter_voltage_l1").state == "unavailable"
    link = hub.states.get("binary_sensor.meter_link")
    assert link.attributes["consecutive_failures"] >= 2
    assert "no answer within 0.2 s" in link.attributes["last_error"]
    assert errors(hub)["timeouts"] >= 2
    meter.silent = False
    meter.reading["power"] = 11000.0
    await wait_state(hub, "binary_sensor.meter_link", "on")
    assert hub.states.get("sensor.meter_energy").state == str(READING["energy"])
    assert hub.states.get("sensor.meter_power").state == "11000.0"
    assert hub.states.get("binary_sensor.meter_link").attributes["consecutive_failures"] == 0


async def test_meter_disappears_and_returns(config_dir, start_station, caplog) -> None:
    from .fake_meter import free_port

    port = free_port()
    meter = FakeMeter("abb_b23")
    await meter.serve_tcp(port)
    try:
        hub, _ = await start_station(config_dir(station_yaml(tcp(port), model="abb_b23")))
        await wait_state(hub, "binary_sensor.meter_link", "on")
        with caplog.at_level(logging.INFO, logger="components.modbus_meter"):
            await meter.stop()  # the gateway is switched off
            await wait_state(hub, "binary_sensor.meter_link", "off")
            assert hub.states.get("sensor.meter_energy").state == "unavailable"
            assert errors(hub)["connection_errors"] >= 1
            meter.reading["energy"] = READING["energy"] + 0.01
            await meter.serve_tcp(port)  # and on again
            await wait_state(hub, "binary_sensor.meter_link", "on")
        assert hub.states.get("sensor.meter_energy").state == str(READING["energy"] + 0.01)
        lines = [r.getMessage() for r in caplog.records if r.name.startswith("components.")]
        assert sum("unavailable after 2 failed reads" in line for line in lines) == 1, lines
        assert sum("answers again" in line for line in lines) == 1, lines
    finally:
        await meter.stop()


async def test_meter_absent_at_start(config_dir, start_station) -> None:
    """Setup succeeds without the meter; its values appear when it starts answering."""
    from .fake_meter import free_port

    port = free_port()
    hub, result = await start_station(config_dir(station_yaml(tcp(port))))
    assert not result.problems
    await wait_until(lambda: errors(hub)["connection_errors"] >= 2)
    assert hub.states.get("binary_sensor.meter_link").state == "off"
    assert hub.states.get("sensor.meter_energy").state == "unavailable"
    meter = FakeMeter("eastron_sdm630")
    await meter.serve_tcp(port)
    try:
        await wait_state(hub, "sensor.meter_energy", str(READING["energy"]))
    finally:
        await meter.stop()


async def test_crc_garbage_counted(config_dir, start_station, rtu_line) -> None:
    meter_tty, station_tty = rtu_line
    meter = FakeMeter("eastron_sdm120")
    await meter.serve_rtu(meter_tty, baudrate=19200)
    try:
        where = f"  port: {station_tty}\n  baudrate: 19200\n"
        hub, _ = await start_station(config_dir(station_yaml(where, model="eastron_sdm120")))
        await wait_state(hub, "binary_sensor.meter_link", "on")
        meter.garble = True
        meter.reading["voltage_l1"] = 199.0  # never seen: every answer is garbled
        await wait_state(hub, "binary_sensor.meter_link", "off")
        counts = errors(hub)
        assert counts["crc_errors"] >= 2 and counts["timeouts"] == 0
        assert "no valid frame" in counts["last_error"]
        meter.garble = False
        meter.reading["voltage_l1"] = 231.5
        await wait_state(hub, "binary_sensor.meter_link", "on")
        assert hub.states.get("sensor.meter_voltage_l1").state == "231.5"
    finally:
        await meter.stop()


async def test_exception_answer_counted_by_code(config_dir, start_station, tcp_meter) -> None:
    meter, port = await tcp_meter("abb_b23")
    hub, _ = await start_station(config_dir(station_yaml(tcp(port), model="abb_b23")))
    await wait_state(hub, "binary_sensor.meter_link", "on")
    meter.exception = ExcCodes.DEVICE_BUSY
    await wait_state(hub, "binary_sensor.meter_link", "off")
    counts = errors(hub)
    assert counts["exception_answers"] >= 2 and counts["timeouts"] == 0
    assert counts["exception_codes"] == {"server_device_busy": counts["exception_answers"]}
    assert "exception 6 (server_device_busy)" in counts["last_error"]
    assert int(hub.states.get("sensor.meter_errors").state) == counts["exception_answers"]
    meter.exception = None
    await wait_state(hub, "binary_sensor.meter_link", "on")


async def test_backwards_and_impossible_readings_refused(
    config_dir, start_station, tcp_meter, caplog
) -> None:
    meter, port = await tcp_meter("eastron_sdm630")
    hub, _ = await start_station(config_dir(station_yaml(tcp(port))))
    await wait_state(hub, "binary_sensor.meter_link", "on")
    seen: list[str] = []
    hub.bus.async_listen(
        "state_changed",
        lambda event: (
            seen.append(event.data["new_state"].state)
            if event.data["entity_id"] == "sensor.meter_energy"
            else None
        ),
    )
    start = READING["energy"]
    with caplog.at_level(logging.WARNING, logger="components.modbus_meter"):
        meter.reading["energy"] = start - 10.0  # a meter swapped for one that read less
        meter.reading["power"] = 1000.0
        await wait_state(hub, "sensor.meter_power", "1000.0")
        assert hub.states.get("sensor.meter_energy").state == str(start)
        assert errors(hub)["refused_readings"] >= 1
        refused = errors(hub)["last_refused"]
        assert refused["key"] == "energy" and refused["value"] == start - 10.0
        assert "went backwards" in refused["reason"]
        # More than 22080 W for the few seconds since the last accepted reading.
        meter.reading["energy"] = start + 50.0
        meter.reading["power"] = 2000.0
        await wait_state(hub, "sensor.meter_power", "2000.0")
        assert hub.states.get("sensor.meter_energy").state == str(start)
        assert "more than 22080 W can deliver" in errors(hub)["last_refused"]["reason"]
    assert any("refused" in r.getMessage() for r in caplog.records)
    # A credible rise is published: 0.01 kWh, one count of the register's resolution.
    meter.reading["energy"] = start + 0.01
    await wait_state(hub, "sensor.meter_energy", str(start + 0.01))
    assert hub.states.get("binary_sensor.meter_link").state == "on"
    values = [float(s) for s in seen if s not in ("unavailable", "unknown")]
    assert values == sorted(values) and start - 10.0 not in values and start + 50.0 not in values
    # The meter really was swapped: the operator accepts its reading, between sessions.
    meter.reading["energy"] = 3.5
    await wait_until(lambda: errors(hub)["last_refused"]["value"] == 3.5)
    await hub.services.async_call("modbus_meter", "accept_reading", {}, blocking=True)
    await wait_state(hub, "sensor.meter_energy", "3.5")
    meter.reading["energy"] = 3.49  # and from there on the check holds again
    await wait_until(lambda: errors(hub)["last_refused"]["value"] == 3.49)
    assert hub.states.get("sensor.meter_energy").state == "3.5"


async def test_back_off_doubles_up_to_the_maximum() -> None:
    config = CONFIG_SCHEMA(
        {"host": "h", "model": "abb_b23", "scan_interval": 5, "max_failures": 3, "max_backoff": 60}
    )
    reader = MeterReader(config, lambda: None)
    delays = []
    for failures in range(8):
        reader.failures = failures
        delays.append(reader.next_delay())
    assert delays == [5, 5, 5, 10, 20, 40, 60, 60]
    reader.client.close()
