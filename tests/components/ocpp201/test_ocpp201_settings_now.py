"""Issue 10 point 3 under 2.0.1: a SetVariables answered Accepted applies at once to the
timer it drives (OCPP 2.0.1 B05: the new value is in force once accepted)."""

from __future__ import annotations

import asyncio
import time

from ocpp201_helpers import PASSWORD, STATION, FakeController, station_yaml, wait_until

from tests.ocpp_csms import OcppCsms


def _accepted(answer: dict) -> bool:
    return all(r["attributeStatus"] == "Accepted" for r in answer["setVariableResult"])


async def test_new_heartbeat_interval_applies_at_once(config_dir, start_station) -> None:
    """HeartbeatInterval 30 s -> 1 s: the next Heartbeat comes about 1 s after the change,
    not when the old 30 s run out (the field saw 58 s after 60 s -> 3 s)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), heartbeat_interval=30)))
        FakeController(hub).state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        beats = len(csms.received("Heartbeat"))
        changed = time.monotonic()
        answer = await csms.set_variables(STATION, ("OCPPCommCtrlr", "HeartbeatInterval", "1"))
        assert _accepted(answer)
        first = (await csms.wait_for("Heartbeat", beats + 1, timeout=3))[beats]
        assert first.mono - changed < 2.0
        second = (await csms.wait_for("Heartbeat", beats + 2, timeout=3))[beats + 1]
        assert 0.8 <= second.mono - first.mono < 2.0  # and every 1 s from then on


async def test_new_aligned_interval_applies_at_once(config_dir, start_station) -> None:
    """OCA TC_J_01_CS (clock-aligned meter values, no transaction): AlignedDataCtrlr.Interval
    set from 0 (off) to 1 s starts Sample.Clock MeterValues on the next boundary."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), aligned_interval=0)))
        controller = FakeController(hub)
        controller.state("idle", cp=0)
        controller.energy(1.234)  # kWh on the bus, Wh on the wire
        await csms.wait_for("StatusNotification")
        await asyncio.sleep(1.2)
        assert csms.received("MeterValues") == []
        changed = time.monotonic()
        answer = await csms.set_variables(STATION, ("AlignedDataCtrlr", "Interval", "1"))
        assert _accepted(answer)
        meter = (await csms.wait_for("MeterValues", timeout=3))[0]
        assert meter.mono - changed < 2.0
        sample = meter.payload["meterValue"][0]["sampledValue"][0]
        assert sample["context"] == "Sample.Clock" and sample["value"] == 1234
        assert meter.payload["evseId"] == 1


async def test_new_sampled_interval_applies_during_a_transaction(config_dir, start_station):
    """SampledDataCtrlr.TxUpdatedInterval 60 s -> 1 s during a transaction: the next
    MeterValuePeriodic TransactionEvent comes about 1 s later."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), sampled_interval=60)))
        controller = FakeController(hub)
        controller.state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        assert (await csms.request_start(STATION, "TOKEN1", evse_id=1, remote_id=7))[
            "status"
        ] == "Accepted"
        controller.state("ev_connected", cp=1)
        await wait_until(lambda: controller.calls, what="authorize called")
        await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started")
        changed = time.monotonic()
        answer = await csms.set_variables(STATION, ("SampledDataCtrlr", "TxUpdatedInterval", "1"))
        assert _accepted(answer)
        periodic = (
            await csms.wait_for(
                "TransactionEvent",
                where=lambda p: p["triggerReason"] == "MeterValuePeriodic",
                timeout=3,
            )
        )[0]
        assert periodic.mono - changed < 2.0
