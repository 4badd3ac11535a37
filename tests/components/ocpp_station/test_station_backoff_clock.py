"""Reconnect back-off (OCPP 2.0.1 Part 4 5.3) and the station clock."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from components.ocpp_station.backoff import ReconnectBackoff
from components.ocpp_station.clock import StationClock, format_time, parse_time


def test_backoff_doubles_up_to_repeat_times_with_random_part() -> None:
    backoff = ReconnectBackoff(wait_minimum=2, random_range=1, repeat_times=3, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(6)]
    bases = [2, 4, 8, 16, 16, 16]
    for delay, base in zip(delays, bases, strict=True):
        assert base <= delay <= base + 1
    backoff.reset()
    assert 2 <= backoff.next_delay() <= 3


def test_backoff_spreads_a_fleet() -> None:
    firsts = [ReconnectBackoff(10, 10, 5, rng=random.Random(i)).next_delay() for i in range(150)]
    assert min(firsts) >= 10 and max(firsts) <= 20
    assert max(firsts) - min(firsts) > 8  # spread over (nearly) the whole random range
    assert len({round(f, 1) for f in firsts}) > 50


def test_backoff_configure_clamps() -> None:
    backoff = ReconnectBackoff()
    backoff.configure(-1, 0, -3)
    assert backoff.next_delay() == 0.0


class FakeTime:
    def __init__(self) -> None:
        self.mono = 100.0
        self.wall = 0.0  # 1970: a Pi without RTC and without NTP

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.wall


def test_clock_from_csms_runs_on_monotonic() -> None:
    fake = FakeTime()
    clock = StationClock(fake.monotonic, fake.time, system_synced=False)
    assert not clock.synced
    offset = clock.set_from_csms("2026-11-27T07:00:00Z")
    assert clock.synced and offset == parse_time("2026-11-27T07:00:00Z").timestamp()
    fake.mono += 90.5
    fake.wall = 5.0  # the system clock jumps: ignored
    assert clock.iso() == "2026-11-27T07:01:30.500Z"


def test_clock_corrects_payload_made_before_sync() -> None:
    fake = FakeTime()
    clock = StationClock(fake.monotonic, fake.time, system_synced=False)
    made_mono, made_wall = fake.mono, fake.time()
    payload = {
        "timestamp": clock.iso(),
        "meterValue": [{"timestamp": clock.iso(), "sampledValue": [{"value": 1}]}],
        "other": "1970-01-01T00:00:00Z",
    }
    assert payload["timestamp"].startswith("1970")
    fake.mono += 10
    clock.set_from_csms("2026-11-27T07:00:00Z")
    fixed = clock.correct_payload(payload, made_wall, made_mono, same_boot=True)
    assert fixed["timestamp"] == "2026-11-27T06:59:50.000Z"
    assert fixed["meterValue"][0]["timestamp"] == "2026-11-27T06:59:50.000Z"
    assert fixed["other"] == "1970-01-01T00:00:00Z"  # only `timestamp` keys
    # After a reboot the monotonic time means nothing: left as it was.
    assert clock.correct_payload(payload, made_wall, made_mono, same_boot=False) == payload


def test_seconds_to_boundary() -> None:
    fake = FakeTime()
    clock = StationClock(fake.monotonic, fake.time, system_synced=False)
    clock.set_from_csms("2026-11-27T07:14:50Z")
    assert clock.seconds_to_boundary(900) == pytest.approx(10)
    fake.mono += 10
    assert clock.seconds_to_boundary(900) == pytest.approx(900)
    with pytest.raises(ValueError):
        clock.seconds_to_boundary(0)


def test_time_formats() -> None:
    value = datetime(2026, 1, 2, 3, 4, 5, 678900, tzinfo=UTC)
    assert format_time(value) == "2026-01-02T03:04:05.678Z"
    assert parse_time("2026-01-02T03:04:05.678+00:00") == value.replace(microsecond=678000)
    assert parse_time("2026-01-02T03:04:05").tzinfo is not None


def test_clock_keeps_subsecond_part_within_a_whole_second_csms_time() -> None:
    fake = FakeTime()
    fake.wall = parse_time("2026-11-27T07:00:00Z").timestamp() + 0.4
    clock = StationClock(fake.monotonic, fake.time, system_synced=False)
    assert clock.set_from_csms("2026-11-27T07:00:00Z") == 0
    assert clock.iso() == "2026-11-27T07:00:00.400Z"
    # A real difference is taken from the CSMS.
    assert clock.set_from_csms("2026-11-27T07:00:05Z") == pytest.approx(4.6)
