"""Time from the CSMS: clock-aligned meter values, and messages made before the time was
known corrected once it is."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from ocpp201_helpers import PASSWORD, STATION, FakeController, station_yaml, wait_until

from components.ocpp_station.clock import parse_time
from tests.ocpp_csms import OcppCsms


async def test_clock_aligned_meter_values(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), aligned_interval=1)))
        controller = FakeController(hub)
        controller.state("idle", cp=0)
        controller.energy(0.5)
        outside = (await csms.wait_for("MeterValues", timeout=3))[0].payload
        assert outside["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Clock"
        controller.state("charging", cp=2)
        aligned = await csms.wait_for(
            "TransactionEvent", 2, where=lambda p: p["triggerReason"] == "MeterValueClock"
        )
        for message in aligned:
            stamp = parse_time(message.payload["meterValue"][0]["timestamp"])
            assert stamp.microsecond < 100_000  # on the whole-second boundary
            assert message.payload["meterValue"][0]["sampledValue"][0]["value"] == 500


async def test_offline_messages_restamped_with_csms_time(config_dir, start_station) -> None:
    csms = OcppCsms(passwords={STATION: PASSWORD})
    await csms.start()
    url = csms.url()
    await csms.stop()  # the CSMS is unreachable when the station starts
    hub, _ = await start_station(config_dir(station_yaml(url)))
    station = hub.data["ocpp201"]
    station.clock.system_synced = False  # a Pi without RTC and without NTP
    controller = FakeController(hub)
    controller.state("idle", cp=0)
    controller.state("charging", cp=2)  # a session before the time is known
    await wait_until(lambda: station.journal.count_cached == 1, what="journaled")
    made = datetime.now(UTC)
    await asyncio.sleep(0.5)
    # The CSMS's clock is an hour ahead of this machine's: the CSMS is right.
    csms.current_time = lambda: (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    await csms.start()
    try:
        started = (await csms.wait_for("TransactionEvent", timeout=5))[0].payload
        stamp = parse_time(started["timestamp"])
        expected = made + timedelta(hours=1)
        assert abs((stamp - expected).total_seconds()) < 0.4, (stamp, expected)
        assert started["offline"] is True
    finally:
        await csms.stop()
