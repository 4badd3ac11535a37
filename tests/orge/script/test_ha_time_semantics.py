"""Time triggers and conditions across daylight-saving changes, as Home Assistant does them.

Home Assistant schedules `time` and `time_pattern` with `async_track_utc_time_change`, whose
next time comes from `find_next_time_expression_time` (homeassistant/util/dt.py): a wall
time that does not exist (clocks forward) is skipped, one that occurs twice (clocks back)
matches in both passes. The time condition compares the local wall-clock time of day.

The clock is driven by hand: the trigger's wall clock and its point-in-time scheduler are
replaced by a fake that jumps straight to each scheduled moment.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from orge import dt as dt_util
from orge.script import trigger_time
from orge.script.condition import CONDITIONS_SCHEMA, time_matches
from orge.script.trigger import validate_triggers

BERLIN = ZoneInfo("Europe/Berlin")


class FakeClock:
    """Stands in for the wall clock and the point-in-time timer of trigger_time."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.timers: list[tuple[datetime, Callable[[float], Any]]] = []

    def track(self, _orge: Any, action: Callable[[float], Any], when: datetime) -> Any:
        entry = (when, action)
        self.timers.append(entry)
        return lambda: self.timers.remove(entry) if entry in self.timers else None

    def run_until(self, end: datetime) -> None:
        while self.timers:
            when, action = min(self.timers, key=lambda item: item[0])
            if when > end:
                break
            self.timers.remove((when, action))
            self.now = when.astimezone(BERLIN)
            action(when.timestamp())


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], FakeClock]:
    def make(start: datetime) -> FakeClock:
        fake = FakeClock(start)

        def now(tz: Any = None) -> datetime:
            return fake.now.astimezone(tz) if tz else fake.now

        monkeypatch.setattr(dt_util, "now", now)
        monkeypatch.setattr(trigger_time, "async_track_point_in_time", fake.track)
        return fake

    return make


def _attach(orge: Any, config: dict[str, Any]) -> list[datetime]:
    orge.config.time_zone = "Europe/Berlin"
    (validated,) = validate_triggers(config)
    fired: list[datetime] = []
    attach = getattr(trigger_time, f"attach_{validated['trigger']}")
    attach(orge, validated, lambda data, _ctx: fired.append(data["now"]), "test", {})
    return fired


def _utc(moments: list[datetime]) -> list[str]:
    return [moment.astimezone(UTC).strftime("%H:%M") for moment in moments]


async def test_time_pattern_every_15_real_minutes_when_clocks_go_back(
    orge: Any, clock: Callable[[datetime], FakeClock]
) -> None:
    fake = clock(datetime(2024, 10, 27, 1, 40, tzinfo=BERLIN))
    fired = _attach(orge, {"trigger": "time_pattern", "minutes": "/15"})
    fake.run_until(datetime(2024, 10, 27, 3, 20, tzinfo=BERLIN))
    # 01:45 CEST ... 02:45 CEST, then 02:00 CET ... 03:15 CET: every 15 real minutes.
    assert [moment.strftime("%H:%M%z") for moment in fired] == [
        "01:45+0200",
        "02:00+0200",
        "02:15+0200",
        "02:30+0200",
        "02:45+0200",
        "02:00+0100",
        "02:15+0100",
        "02:30+0100",
        "02:45+0100",
        "03:00+0100",
        "03:15+0100",
    ]
    real = [moment.astimezone(UTC) for moment in fired]  # same-zone subtraction is wall time
    gaps = {later - earlier for earlier, later in pairwise(real)}
    assert gaps == {timedelta(minutes=15)}


async def test_time_pattern_when_clocks_go_forward(
    orge: Any, clock: Callable[[datetime], FakeClock]
) -> None:
    fake = clock(datetime(2024, 3, 31, 1, 20, tzinfo=BERLIN))
    fired = _attach(orge, {"trigger": "time_pattern", "minutes": "/15"})
    fake.run_until(datetime(2024, 3, 31, 3, 20, tzinfo=BERLIN))
    # 02:00-02:59 does not exist: 01:45 CET is followed by 03:00 CEST, 15 real minutes later.
    assert [moment.strftime("%H:%M%z") for moment in fired] == [
        "01:30+0100",
        "01:45+0100",
        "03:00+0200",
        "03:15+0200",
    ]


async def test_time_trigger_on_both_dst_days(
    orge: Any, clock: Callable[[datetime], FakeClock]
) -> None:
    fake = clock(datetime(2024, 3, 30, 12, 0, tzinfo=BERLIN))
    fired = _attach(orge, {"trigger": "time", "at": "02:30"})
    fake.run_until(datetime(2024, 4, 2, 0, 0, tzinfo=BERLIN))
    # 31 March 02:30 does not exist: HA runs the next day instead, not at 03:30.
    assert [moment.isoformat() for moment in fired] == ["2024-04-01T02:30:00+02:00"]

    fake = clock(datetime(2024, 10, 26, 12, 0, tzinfo=BERLIN))
    fired = _attach(orge, {"trigger": "time", "at": "02:30:00"})
    fake.run_until(datetime(2024, 10, 28, 12, 0, tzinfo=BERLIN))
    # 27 October 02:30 happens twice (CEST, then CET): HA's next-time search matches both.
    assert [moment.isoformat() for moment in fired] == [
        "2024-10-27T02:30:00+02:00",
        "2024-10-27T02:30:00+01:00",
        "2024-10-28T02:30:00+01:00",
    ]
    assert _utc(fired) == ["00:30", "01:30", "01:30"]


def test_next_pattern_time_without_time_zone() -> None:
    sets = trigger_time.pattern_sets({"hours": "2", "minutes": "30"})
    assert trigger_time.next_pattern_time(datetime(2024, 10, 27, 2, 30), sets) == datetime(
        2024, 10, 28, 2, 30
    )
    assert trigger_time.next_pattern_time(datetime(2024, 1, 1), ([], [0], [0])) is None


async def test_time_condition_on_dst_days(orge: Any) -> None:
    orge.config.time_zone = "Europe/Berlin"
    (window,) = CONDITIONS_SCHEMA({"condition": "time", "after": "02:10", "before": "02:40"})
    first_pass = datetime(2024, 10, 27, 0, 20, tzinfo=UTC).astimezone(BERLIN)  # 02:20 CEST
    second_pass = datetime(2024, 10, 27, 1, 20, tzinfo=UTC).astimezone(BERLIN)  # 02:20 CET
    assert (first_pass.utcoffset(), second_pass.utcoffset()) == (
        timedelta(hours=2),
        timedelta(hours=1),
    )
    assert time_matches(orge, window, first_pass)
    assert time_matches(orge, window, second_pass)
    # The spring day has no 02:10-02:40: the wall clock never shows it.
    spring = [
        datetime(2024, 3, 31, 0, 0, tzinfo=UTC) + timedelta(minutes=5 * step) for step in range(36)
    ]
    assert not any(time_matches(orge, window, moment.astimezone(BERLIN)) for moment in spring)
    (after_only,) = CONDITIONS_SCHEMA({"condition": "time", "after": "02:30"})
    assert time_matches(orge, after_only, datetime(2024, 3, 31, 3, 0, tzinfo=BERLIN))
    # Equal limits: HA tests `not before <= now < after`, which holds all day.
    (equal,) = CONDITIONS_SCHEMA({"condition": "time", "after": "08:00", "before": "08:00"})
    assert time_matches(orge, equal, datetime(2024, 3, 31, 8, 0, tzinfo=BERLIN))
    assert time_matches(orge, equal, datetime(2024, 3, 31, 20, 0, tzinfo=BERLIN))
    (midnight,) = CONDITIONS_SCHEMA({"condition": "time", "before": "00:00"})
    assert time_matches(orge, midnight, datetime(2024, 3, 31, 12, 0, tzinfo=BERLIN))
    (weekday,) = CONDITIONS_SCHEMA({"condition": "time", "weekday": "sun"})
    assert time_matches(orge, weekday, second_pass)  # 27 October 2024 is a Sunday


async def test_time_condition_entities(orge: Any) -> None:
    orge.config.time_zone = "Europe/Berlin"
    orge.states.async_set(
        "sensor.departure", "2024-10-27T05:30:00+00:00", {"device_class": "timestamp"}
    )
    orge.states.async_set("sensor.plain", "06:00:00")
    orge.states.async_set("input_datetime.start", "unknown", {"has_time": True})
    (by_sensor,) = CONDITIONS_SCHEMA({"condition": "time", "before": "sensor.departure"})
    assert time_matches(orge, by_sensor, datetime(2024, 10, 28, 6, 29, tzinfo=BERLIN))
    assert not time_matches(orge, by_sensor, datetime(2024, 10, 28, 6, 30, tzinfo=BERLIN))
    (other,) = CONDITIONS_SCHEMA({"condition": "time", "after": "sensor.plain"})
    assert not time_matches(orge, other, datetime(2024, 10, 28, 12, 0, tzinfo=BERLIN))
    # An input_datetime without hour/minute/second: HA reads 23:59:59.
    (helper,) = CONDITIONS_SCHEMA({"condition": "time", "after": "input_datetime.start"})
    assert not time_matches(orge, helper, datetime(2024, 10, 28, 23, 59, 58, tzinfo=BERLIN))
    assert time_matches(orge, helper, datetime(2024, 10, 28, 23, 59, 59, tzinfo=BERLIN))
