"""The meter wired into ocpp201's `evse:` (energy_entity, power_entity), with the esp32
component on its simulator and the test CSMS: a transaction's started, updated and ended
meter values carry the meter's import register, so the CSMS sees
Energy.Active.Import.Register rise by exactly the energy the meter reported; a reading
that goes backwards mid-session never reaches it."""

from __future__ import annotations

import textwrap

import pytest

from tests.ocpp_csms import OcppCsms

from .conftest import wait_state, wait_until
from .fake_meter import READING

STATION = "CPMETER"
PASSWORD = "pw-meter-secret"
REGISTER = "Energy.Active.Import.Register"


def kind(event_type: str):
    return lambda p: p["eventType"] == event_type


def energy_values(payload: dict) -> list[tuple[str, float]]:
    """(context, Wh) of every energy register value in a TransactionEvent."""
    return [
        (sampled.get("context", "Sample.Periodic"), float(sampled["value"]))
        for meter_value in payload.get("meterValue", [])
        for sampled in meter_value["sampledValue"]
        if sampled.get("measurand", REGISTER) == REGISTER
    ]


async def test_csms_sees_the_meters_energy(config_dir, start_station, tcp_meter) -> None:
    meter, port = await tcp_meter("eastron_sdm630")
    start_kwh = READING["energy"]
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        yaml = textwrap.dedent(
            f"""
            esp32:
              port: simulator
              status_interval: 0.2
              session_status_interval: 0.2
              simulator:
                time_scale: 0.05
                stat_interval: 0.2
            modbus_meter:
              host: 127.0.0.1
              tcp_port: {port}
              model: eastron_sdm630
              scan_interval: 1
              timeout: 0.5
            ocpp201:
              url: {csms.url()}
              station_id: {STATION}
              password: {PASSWORD}
              response_timeout: 2
              sampled_interval: 1
              aligned_interval: 0
              evse:
                - id: 1
                  energy_entity: sensor.meter_energy
                  power_entity: sensor.meter_power
            """
        )
        hub, result = await start_station(config_dir(yaml))
        assert not result.problems

        async def simulate(event: str) -> None:
            await hub.services.async_call("esp32", "simulate", {"event": event}, blocking=True)

        await wait_state(hub, "sensor.meter_energy", str(start_kwh))
        await wait_state(hub, "sensor.charger_state", "idle")
        await simulate("plug_in")
        await simulate("vehicle_ready")
        await wait_state(hub, "sensor.charger_state", "ev_connected")
        answer = await csms.request_start(STATION, "RFID-1", evse_id=1, remote_id=11)
        assert answer["status"] == "Accepted"
        started = (await csms.wait_for("TransactionEvent", where=kind("Started"), timeout=10))[
            0
        ].payload
        tx_id = started["transactionInfo"]["transactionId"]
        assert energy_values(started) == [("Transaction.Begin", pytest.approx(start_kwh * 1000))]
        await simulate("vehicle_charging")
        await wait_state(hub, "sensor.charger_state", "charging")

        # The meter counts 0.02 kWh, then is swapped mid-session for one reading 0.5 kWh.
        meter.reading["energy"] = start_kwh + 0.02
        await wait_state(hub, "sensor.meter_energy", str(round(start_kwh + 0.02, 3)))
        periodic = await csms.wait_for(
            "TransactionEvent",
            where=lambda p: any(
                value == pytest.approx((start_kwh + 0.02) * 1000) for _, value in energy_values(p)
            ),
            timeout=10,
        )
        context, _ = energy_values(periodic[0].payload)[0]
        assert context == "Sample.Periodic"
        power = [
            float(sampled["value"])
            for meter_value in periodic[0].payload["meterValue"]
            for sampled in meter_value["sampledValue"]
            if sampled.get("measurand") == "Power.Active.Import"
        ]
        assert power == [READING["power"]]  # W on the bus and on the wire
        meter.reading["energy"] = 0.5
        await wait_until(
            lambda: hub.states.get("sensor.meter_errors").attributes["refused_readings"] >= 2
        )
        assert (await csms.request_stop(STATION, tx_id))["status"] == "Accepted"
        ended = (await csms.wait_for("TransactionEvent", where=kind("Ended"), timeout=10))[
            0
        ].payload
        end = [value for context, value in energy_values(ended) if context == "Transaction.End"]
        assert end == [pytest.approx((start_kwh + 0.02) * 1000)]

        sent = [
            value
            for payload in csms.payloads("TransactionEvent")
            for _, value in energy_values(payload)
        ]
        assert sent == sorted(sent) and 500.0 not in sent
        # What the CSMS bills: end - begin = the 20 Wh the meter counted.
        assert end[0] - energy_values(started)[0][1] == pytest.approx(20.0, abs=0.5)
        assert not csms.errors_sent()
