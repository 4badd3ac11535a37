"""Issue 10 point 3 under 1.6: a ChangeConfiguration answered Accepted applies at once to
the timer it drives (OCPP 1.6 §5.3)."""

from __future__ import annotations

import asyncio
import time

from ocpp16_helpers import PASSWORD, STATION, FakeController, station_yaml
from test_ocpp16_transactions import _session_started

from tests.ocpp_csms import OcppCsms


async def test_new_heartbeat_interval_applies_at_once(config_dir, start_station) -> None:
    """HeartbeatInterval 30 s -> 1 s: the next Heartbeat comes about 1 s after the change."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), heartbeat_interval=30)))
        FakeController(hub).state("idle")
        await csms.wait_for("StatusNotification", 2)
        beats = len(csms.received("Heartbeat"))
        changed = time.monotonic()
        answer = await csms.change_configuration(STATION, "HeartbeatInterval", "1")
        assert answer == {"status": "Accepted"}
        first = (await csms.wait_for("Heartbeat", beats + 1, timeout=3))[beats]
        assert first.mono - changed < 2.0
        second = (await csms.wait_for("Heartbeat", beats + 2, timeout=3))[beats + 1]
        assert 0.8 <= second.mono - first.mono < 2.0


async def test_new_clock_aligned_interval_applies_at_once(config_dir, start_station) -> None:
    """ClockAlignedDataInterval 0 (off) -> 1 s: Sample.Clock MeterValues from the next
    boundary on."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        controller = FakeController(hub)
        controller.state("idle")
        controller.energy(4321)
        await csms.wait_for("StatusNotification", 2)
        await asyncio.sleep(1.2)
        assert csms.received("MeterValues") == []
        changed = time.monotonic()
        answer = await csms.change_configuration(STATION, "ClockAlignedDataInterval", "1")
        assert answer == {"status": "Accepted"}
        meter = (await csms.wait_for("MeterValues", timeout=3))[0]
        assert meter.mono - changed < 2.0
        sample = meter.payload["meterValue"][0]["sampledValue"][0]
        assert sample["context"] == "Sample.Clock" and sample["value"] == "4321"


async def test_new_sample_interval_applies_during_a_transaction(config_dir, start_station):
    """MeterValueSampleInterval 60 s -> 1 s during a transaction: the next Sample.Periodic
    MeterValues comes about 1 s later, not after the old 60 s."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(
            config_dir(station_yaml(csms.url(), meter_values_sample_interval=60))
        )
        controller = FakeController(hub)
        controller.state("idle")
        await csms.wait_for("StatusNotification", 2)
        tx_id = await _session_started(csms, controller)
        changed = time.monotonic()
        answer = await csms.change_configuration(STATION, "MeterValueSampleInterval", "1")
        assert answer == {"status": "Accepted"}
        meter = (await csms.wait_for("MeterValues", timeout=3))[0]
        assert meter.mono - changed < 2.0
        assert meter.payload["transactionId"] == tx_id
        assert meter.payload["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Periodic"
