"""kill -9 at every step of a session, under 2.0.1 and under 1.6, with the controller
simulator in a process of its own (it outlives the station as the ESP32 outlives the
Raspberry Pi): issue 10 point 6, "walk every point where the station can die between two
steps of a session (authorize, start, meter, stop, unplug)".

Whatever step the station dies at, the CSMS ends up with the one session it ordered: one
start carrying the remote start's id token (and, under 2.0.1, its remoteStartId), one end
with the reason that really ended it, the energy charged while the station was dead billed,
and no confirmed message sent twice (2.0.1: gapless seqNo, no repeated seqNo after the
restart's replay is confirmed; 1.6: one StopTransaction).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orge.testing.esp32_process import SimulatorProcess
from tests.components.modbus_meter.fake_meter import READING, FakeMeter, free_port
from tests.ocpp_csms import OcppCsms
from tests.station_process import kill9, start, stop

STATION = "CP-KILL9"
PASSWORD = "kill9-secret-pw"
TOKEN = "RFID-7"
REMOTE_ID = 77

# esp32-serial-protocol.md §4: the controller's states.
EV_CONNECTED, READY, CHARGING, STOPPED, IDLE = 3, 4, 5, 7, 1

ESP32 = """orge:
  station_id: !env_var OCPP_STATION_NAME
esp32:
  port: {port}
  status_interval: 5
  session_status_interval: 0.2
  ack_timeout: 3
modbus_meter:
  host: 127.0.0.1
  tcp_port: {meter_port}
  model: eastron_sdm630
  name: meter
  scan_interval: 1
"""
POWER_W = 11000.0  # what the meter shows while the controller's relay is closed


async def _count_energy(meter: FakeMeter, sim: SimulatorProcess) -> None:
    """The meter, not the station, counts: its register grows while the vehicle charges,
    whether the station is alive or not."""
    step = 0.1
    while True:
        await asyncio.sleep(step)
        charging = sim.state == CHARGING
        meter.reading["power"] = POWER_W if charging else 0.0
        if charging:
            meter.reading["energy"] += POWER_W * step / 3600 / 1000  # kWh


def _energy(payload: dict[str, Any]) -> float | None:
    """Energy.Active.Import.Register (Wh) of a 2.0.1 TransactionEvent, if it carries it."""
    for meter_value in payload.get("meterValue") or []:
        for sample in meter_value["sampledValue"]:
            if sample.get("measurand", "Energy.Active.Import.Register") == (
                "Energy.Active.Import.Register"
            ) and not sample.get("phase"):
                return float(sample["value"])
    return None


@dataclass
class Protocol201:
    name: str = "2.0.1"

    def config(self, url: str, port: Path, meter_port: int) -> str:
        return (
            ESP32.format(port=port, meter_port=meter_port)
            + f"""ocpp201:
  url: {url}
  password: !env_var OCPP_STATION_PASSWORD
  response_timeout: 2
  retry_backoff_wait_minimum: 0.1
  retry_backoff_random_range: 0.1
  message_attempts: 50
  message_attempt_interval: 0.2
  sampled_interval: 1  # s; an integer in 2.0.1 (TxUpdatedInterval)
  aligned_interval: 0
  evse:
    - id: 1
      energy_entity: sensor.meter_energy
      power_entity: sensor.meter_power
"""
        )

    async def available(self, csms: OcppCsms, count: int) -> None:
        await csms.wait_for(
            "StatusNotification", count, timeout=30,
            where=lambda p: p["connectorStatus"] == "Available",
        )  # fmt: skip

    async def remote_start(self, csms: OcppCsms) -> str:
        answer = await csms.request_start(STATION, TOKEN, evse_id=1, remote_id=REMOTE_ID)
        return str(answer["status"])

    async def started(self, csms: OcppCsms) -> None:
        await csms.wait_for(
            "TransactionEvent", timeout=30, where=lambda p: p["eventType"] == "Started"
        )

    async def metered(self, csms: OcppCsms) -> None:
        await csms.wait_for(
            "TransactionEvent", timeout=15,
            where=lambda p: p["eventType"] == "Updated" and _energy(p) is not None,
        )  # fmt: skip

    async def remote_stop(self, csms: OcppCsms) -> str:
        (started,) = [p for p in csms.payloads("TransactionEvent") if p["eventType"] == "Started"]
        tx_id = started["transactionInfo"]["transactionId"]
        return str((await csms.request_stop(STATION, tx_id))["status"])

    async def ended(self, csms: OcppCsms) -> None:
        await csms.wait_for(
            "TransactionEvent", timeout=30, where=lambda p: p["eventType"] == "Ended"
        )

    def check(self, csms: OcppCsms, remote_stop: bool, energy_before_kill: float | None) -> None:
        events = csms.payloads("TransactionEvent")
        started = [e for e in events if e["eventType"] == "Started"]
        ended = [e for e in events if e["eventType"] == "Ended"]
        assert len({e["transactionInfo"]["transactionId"] for e in events}) == 1
        assert len({e["seqNo"] for e in started}) == 1 and len({e["seqNo"] for e in ended}) == 1
        assert started[0]["idToken"] == {"idToken": TOKEN, "type": "Central"}
        assert started[0]["transactionInfo"]["remoteStartId"] == REMOTE_ID
        seq = sorted({e["seqNo"] for e in events})
        assert seq == list(range(len(seq)))  # gapless
        reason = "Remote" if remote_stop else "EVDisconnected"
        assert ended[-1]["transactionInfo"]["stoppedReason"] == reason
        final = _energy(ended[-1])
        assert final is not None and final > 0
        if energy_before_kill is not None:  # charged while the station was dead: billed
            assert final > energy_before_kill

    def energy_now(self, csms: OcppCsms) -> float | None:
        values = [_energy(p) for p in csms.payloads("TransactionEvent")]
        known = [v for v in values if v is not None]
        return max(known) if known else None


@dataclass
class Protocol16:
    name: str = "1.6"

    def config(self, url: str, port: Path, meter_port: int) -> str:
        return (
            ESP32.format(port=port, meter_port=meter_port)
            + f"""ocpp16:
  url: {url}
  password: !env_var OCPP_STATION_PASSWORD
  response_timeout: 2
  retry_backoff_wait_minimum: 0.1
  retry_backoff_random_range: 0.1
  boot_retry_interval: 0.2
  meter_values_sample_interval: 0.5
  transaction_message_attempts: 50
  transaction_message_retry_interval: 0.2
  offline_threshold: 0
  evse:
    - id: 1
      energy_entity: sensor.meter_energy
      power_entity: sensor.meter_power
"""
        )

    async def available(self, csms: OcppCsms, count: int) -> None:
        await csms.wait_for(
            "StatusNotification", count, timeout=30,
            where=lambda p: p["connectorId"] == 1 and p["status"] == "Available",
        )  # fmt: skip

    async def remote_start(self, csms: OcppCsms) -> str:
        return str((await csms.remote_start(STATION, TOKEN, connector_id=1))["status"])

    async def started(self, csms: OcppCsms) -> None:
        await csms.wait_for("StartTransaction", timeout=30)

    async def metered(self, csms: OcppCsms) -> None:
        await csms.wait_for("MeterValues", timeout=15, where=lambda p: "transactionId" in p)

    async def remote_stop(self, csms: OcppCsms) -> str:
        return str((await csms.remote_stop(STATION, csms.last_transaction_id))["status"])

    async def ended(self, csms: OcppCsms) -> None:
        await csms.wait_for("StopTransaction", timeout=30)

    def check(self, csms: OcppCsms, remote_stop: bool, energy_before_kill: float | None) -> None:
        starts = csms.payloads("StartTransaction")
        stops = csms.payloads("StopTransaction")
        assert [s["idTag"] for s in starts] == [TOKEN]
        assert len(stops) == 1
        assert stops[0]["transactionId"] == csms.last_transaction_id
        assert stops[0]["reason"] == ("Remote" if remote_stop else "EVDisconnected")
        assert stops[0]["meterStop"] > starts[0]["meterStart"]
        if energy_before_kill is not None:
            assert stops[0]["meterStop"] > energy_before_kill

    def energy_now(self, csms: OcppCsms) -> float | None:
        values = [
            float(sample["value"])
            for payload in csms.payloads("MeterValues")
            for meter_value in payload["meterValue"]
            for sample in meter_value["sampledValue"]
            if sample.get("measurand", "Energy.Active.Import.Register")
            == "Energy.Active.Import.Register"
            and not sample.get("phase")
        ]
        return max(values) if values else None


PROTOCOLS = {"2.0.1": Protocol201(), "1.6": Protocol16()}


@pytest.mark.parametrize("step", ["authorized", "charging", "stopped", "unplugged"])
@pytest.mark.parametrize("protocol", ["2.0.1", "1.6"])
async def test_kill9_at_each_step_bills_the_one_session(
    tmp_path: Path, protocol: str, step: str
) -> None:
    """authorized: killed once the controller took the remote start (the EV starts charging
    while the station is dead); charging: killed mid-charge after a meter sample (energy
    flows on meanwhile); stopped: killed once the controller stopped on the remote stop;
    unplugged: killed right after the vehicle left."""
    proto = PROTOCOLS[protocol]
    link = tmp_path / "ttyESP32"
    sim = await SimulatorProcess.start(link)
    meter = FakeMeter("eastron_sdm630", reading={**READING, "power": 0.0})
    meter_port = free_port()
    await meter.serve_tcp(meter_port)
    counting = asyncio.ensure_future(_count_energy(meter, sim))
    energy_before_kill: float | None = None
    try:
        async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
            (tmp_path / "configuration.yaml").write_text(proto.config(csms.url(), link, meter_port))
            proc = await start(tmp_path, STATION, PASSWORD)
            try:
                await proto.available(csms, 1)
                await sim.send("plug_in")
                await sim.send("vehicle_ready")
                await sim.wait_state(EV_CONNECTED)
                assert await proto.remote_start(csms) == "Accepted"
                await sim.wait_state(READY)
                if step == "authorized":
                    await kill9(proc)
                    await sim.send("vehicle_charging")
                    await sim.wait_state(CHARGING)
                else:
                    await sim.send("vehicle_charging")
                    await sim.wait_state(CHARGING)
                    await proto.started(csms)
                    await proto.metered(csms)
                    if step == "charging":
                        energy_before_kill = proto.energy_now(csms)
                        await kill9(proc)
                        await asyncio.sleep(1.5)  # the EV charges on, the station is dead
                    else:
                        await asyncio.sleep(2.5)  # charges a while: the meter counts
                        assert await proto.remote_stop(csms) == "Accepted"
                        await sim.wait_state(STOPPED)
                        if step == "unplugged":
                            await sim.send("unplug")
                            await sim.wait_state(IDLE)
                        await kill9(proc)
                proc = await start(tmp_path, STATION, PASSWORD)
                await csms.wait_for("BootNotification", 2, timeout=30)
                if step in ("authorized", "charging"):
                    await proto.started(csms)
                    await asyncio.sleep(1.0)  # a sample or two after the restart
                    await sim.send("unplug")
                await proto.ended(csms)
                if step == "stopped":  # the cable is still in: Finishing / Occupied
                    await sim.send("unplug")
                await proto.available(csms, 2)
                await asyncio.sleep(0.5)  # a message sent twice would arrive by now
            finally:
                await stop(proc)
    finally:
        counting.cancel()
        await meter.stop()
        await sim.close()
    proto.check(csms, step in ("stopped", "unplugged"), energy_before_kill)
