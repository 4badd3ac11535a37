"""kill -9 of a real `orge run` whose esp32 component talks to the simulator in its own
process over a pty (the controller outlives the station, as the ESP32 outlives the
Raspberry Pi): the accepted remote start is billed once, with its id token and
remoteStartId, whether the station died before or after journaling it (issue 10 point 6).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ocpp201_helpers import PASSWORD, STATION

from orge.testing.esp32_process import SimulatorProcess
from tests.ocpp_csms import OcppCsms
from tests.station_process import kill9, start, stop


def _config(path: Path, url: str, port: Path) -> None:
    (path / "configuration.yaml").write_text(
        f"""orge:
  station_id: !env_var OCPP_STATION_NAME
esp32:
  port: {port}
  status_interval: 5
  session_status_interval: 0.2
  ack_timeout: 3
ocpp201:
  url: {url}
  station_id: !env_var OCPP_STATION_NAME
  password: !env_var OCPP_STATION_PASSWORD
  response_timeout: 2
  retry_backoff_wait_minimum: 0.1
  retry_backoff_random_range: 0.1
  message_attempts: 50
  message_attempt_interval: 0.2
  sampled_interval: 0
  aligned_interval: 0
"""
    )


async def test_kill9_right_after_the_controller_was_authorized(tmp_path) -> None:
    link = tmp_path / "ttyESP32"
    sim = await SimulatorProcess.start(link)
    try:
        async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
            _config(tmp_path, csms.url(), link)
            proc = await start(tmp_path, STATION, PASSWORD)
            try:
                await csms.wait_for(
                    "StatusNotification",
                    where=lambda p: p["connectorStatus"] == "Available",
                    timeout=30,
                )
                await sim.send("plug_in")
                await sim.send("vehicle_ready")
                await csms.wait_for(
                    "StatusNotification",
                    where=lambda p: p["connectorStatus"] == "Occupied",
                    timeout=15,
                )
                answer = await csms.request_start(STATION, "RFID-7", evse_id=1, remote_id=77)
                assert answer["status"] == "Accepted"
                await sim.wait(lambda: 4 in sim.states, "STATE 4 (authorized)")
                await kill9(proc)  # within moments of the controller's authorization
                await sim.send("vehicle_charging")  # the EV charges while the station is dead
                await sim.wait(lambda: sim.states[-1:] == [5], "STATE 5 (charging)")
                proc = await start(tmp_path, STATION, PASSWORD)
                await csms.wait_for("BootNotification", 2, timeout=30)
                started = (
                    await csms.wait_for(
                        "TransactionEvent", where=lambda p: p["eventType"] == "Started"
                    )
                )[0].payload
                await sim.send("unplug")
                await csms.wait_for(
                    "TransactionEvent", where=lambda p: p["eventType"] == "Ended", timeout=20
                )
                await asyncio.sleep(0.5)
            finally:
                await stop(proc)
    finally:
        await sim.close()
    assert started["idToken"] == {"idToken": "RFID-7", "type": "Central"}
    assert started["transactionInfo"]["remoteStartId"] == 77
    assert started["triggerReason"] == "RemoteStart"
    events = csms.payloads("TransactionEvent")
    assert [e["eventType"] for e in events].count("Started") == 1
    assert len({e["transactionInfo"]["transactionId"] for e in events}) == 1
    seq = [e["seqNo"] for e in events]
    assert sorted(set(seq)) == list(range(len(set(seq))))  # gapless (a replay may repeat)
    assert events[-1]["transactionInfo"]["stoppedReason"] == "EVDisconnected"
