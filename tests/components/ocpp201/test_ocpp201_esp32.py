"""A whole session with the esp32 component on its simulator (a real pseudo-terminal) and
ocpp201 with no `evse:` list (bound to the esp32 defaults), against the test CSMS:
plug, remote start, charging, remote stop, unplug."""

from __future__ import annotations

import textwrap

from ocpp201_helpers import PASSWORD, STATION, wait_state

from tests.ocpp_csms import OcppCsms


def kind(event_type: str):
    return lambda p: p["eventType"] == event_type


async def test_session_with_the_esp32_simulator(config_dir, start_station) -> None:
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
            ocpp201:
              url: {csms.url()}
              station_id: {STATION}
              password: {PASSWORD}
              response_timeout: 2
              sampled_interval: 0
              aligned_interval: 0
            """
        )
        hub, result = await start_station(config_dir(yaml))
        assert not result.problems

        async def simulate(event: str) -> None:
            await hub.services.async_call("esp32", "simulate", {"event": event}, blocking=True)

        await wait_state(hub, "sensor.charger_state", "idle", timeout=10)
        await csms.wait_for(
            "StatusNotification", where=lambda p: p["connectorStatus"] == "Available", timeout=10
        )
        await simulate("plug_in")
        await simulate("vehicle_ready")
        await wait_state(hub, "sensor.charger_state", "ev_connected", timeout=10)
        await csms.wait_for(
            "StatusNotification", where=lambda p: p["connectorStatus"] == "Occupied"
        )
        answer = await csms.request_start(STATION, "RFID-1", evse_id=1, remote_id=7)
        assert answer["status"] == "Accepted"
        await wait_state(hub, "sensor.charger_state", "ready", timeout=10)
        started = (await csms.wait_for("TransactionEvent", where=kind("Started")))[0].payload
        assert started["triggerReason"] == "RemoteStart"
        tx_id = started["transactionInfo"]["transactionId"]
        await simulate("vehicle_charging")
        await wait_state(hub, "sensor.charger_state", "charging", timeout=10)
        await csms.wait_for(
            "TransactionEvent",
            where=lambda p: p["transactionInfo"].get("chargingState") == "Charging",
        )
        assert (await csms.request_stop(STATION, tx_id))["status"] == "Accepted"
        ended = (await csms.wait_for("TransactionEvent", where=kind("Ended"), timeout=10))[
            0
        ].payload
        assert ended["transactionInfo"]["stoppedReason"] == "Remote"
        await simulate("unplug")
        await wait_state(hub, "sensor.charger_state", "idle", timeout=10)
        await csms.wait_for(
            "StatusNotification", 2, where=lambda p: p["connectorStatus"] == "Available"
        )
        events = csms.payloads("TransactionEvent")
        assert [e["seqNo"] for e in events] == list(range(len(events)))
        assert not csms.errors_sent()
