"""A whole 1.6 session driven by the esp32 component's simulated controller (real pty)."""

from __future__ import annotations

import itertools

from ocpp16_helpers import PASSWORD, STATION, wait_state

from tests.ocpp_csms import OCPP16, OcppCsms

# Every wait is for a condition; these bounds only matter when something is wrong. They
# are generous because the machine may be loaded (the simulator, the station and the
# CSMS share one event loop), never because the flow is expected to be slow.
WAIT = 20.0


def _yaml(url: str) -> str:
    return f"""
orge:
  station_id: {STATION}
esp32:
  port: simulator
  # a loaded machine must not make the controller look silent (Unavailable) or
  # unanswered: those would add statuses the sequence below does not expect
  status_interval: 5
  session_status_interval: 0.2
  ack_timeout: 3
  simulator:
    time_scale: 0.02
    stat_interval: 0.3
    fault_report_interval: 0.02
demo:
ocpp16:
  url: {url}
  password: {PASSWORD}
  response_timeout: 10
  ready_grace: 60
  retry_backoff_wait_minimum: 0.1
  retry_backoff_random_range: 0.1
  meter_values_sample_interval: 0.3
  offline_threshold: 0
  evse:
    - id: 1
      energy_entity: sensor.meter_energy
      power_entity: sensor.meter_power
"""


async def _simulate(hub, event: str) -> None:
    await hub.services.async_call("esp32", "simulate", {"event": event}, blocking=True)


async def test_whole_session_with_the_esp32_simulator(config_dir, start_station) -> None:
    async with OcppCsms(
        protocols=(OCPP16,), passwords={STATION: PASSWORD}, response_timeout=WAIT
    ) as csms:
        hub, result = await start_station(config_dir(_yaml(csms.url())))
        assert not result.problems, result.problems
        await wait_state(hub, "sensor.charger_state", "idle", timeout=WAIT)
        await csms.wait_for(
            "StatusNotification",
            where=lambda p: p["connectorId"] == 1 and p["status"] == "Available",
            timeout=WAIT,
        )
        await _simulate(hub, "plug_in")
        await _simulate(hub, "vehicle_ready")
        await wait_state(hub, "sensor.charger_state", "ev_connected", timeout=WAIT)
        await csms.wait_for(
            "StatusNotification", where=lambda p: p["status"] == "Preparing", timeout=WAIT
        )

        assert (await csms.remote_start(STATION, id_tag="SIM1"))["status"] == "Accepted"
        await _simulate(hub, "vehicle_charging")
        await wait_state(hub, "sensor.charger_state", "charging", timeout=WAIT)
        await csms.wait_for(
            "StatusNotification", where=lambda p: p["status"] == "Charging", timeout=WAIT
        )
        start = (await csms.wait_for("StartTransaction", timeout=WAIT))[0].payload
        assert start["idTag"] == "SIM1"
        meters = await csms.wait_for(
            "MeterValues",
            count=2,
            timeout=WAIT,
            where=lambda p: any(
                s["measurand"] == "Power.Active.Import" and float(s["value"]) > 0
                for s in p["meterValue"][0]["sampledValue"]
            ),
        )
        tx_id = meters[0].payload["transactionId"]
        assert tx_id == csms.last_transaction_id

        assert (await csms.remote_stop(STATION, tx_id))["status"] == "Accepted"
        await wait_state(hub, "sensor.charger_state", "stopped", timeout=WAIT)
        stop = (await csms.wait_for("StopTransaction", timeout=WAIT))[0].payload
        assert stop["transactionId"] == tx_id and stop["reason"] == "Remote"
        assert stop["meterStop"] >= start["meterStart"]

        def available(p: dict) -> bool:
            return p["connectorId"] == 1 and p["status"] == "Available"

        before = len([p for p in csms.payloads("StatusNotification") if available(p)])
        await _simulate(hub, "unplug")
        await csms.wait_for("StatusNotification", count=before + 1, where=available, timeout=WAIT)
        statuses = [
            p["status"] for p in csms.payloads("StatusNotification") if p["connectorId"] == 1
        ]
        # each change reported once (the boot-time status is not repeated by a racing update)
        assert all(a != b for a, b in itertools.pairwise(statuses)), statuses
        assert statuses[statuses.index("Preparing") :] == [
            "Preparing",
            "Charging",
            "Finishing",
            "Available",
        ]
        assert not csms.errors_sent()
