"""Time triggers: `time` (a time of day or an input_datetime/timestamp entity) and
`time_pattern` (`hours`, `minutes`, `seconds` as a number, `*` or `/n`).

Times are wall-clock in the station's time zone; the point-in-time helper re-checks the
wall clock so a clock set by NTP or the CSMS after boot is honoured.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from typing import Any

from orge import dt as dt_util
from orge.core import Event, Orge, State, callback
from orge.helpers.event import async_track_point_in_time, async_track_state_change_event
from orge.template import as_datetime, time_zone

_LOGGER = logging.getLogger(__name__)


def next_time_of_day(now: datetime, moment: dt_time) -> datetime:
    """The next time the wall clock shows `moment` (see `next_pattern_time` for DST)."""
    when = next_pattern_time(now, ([moment.hour], [moment.minute], [moment.second]))
    assert when is not None  # one allowed value in each unit always matches
    return when


def entity_moment(state: State | None, tz: Any) -> dt_time | datetime | None:
    """When an entity says: an input_datetime's date/time, or a timestamp sensor's value."""
    if state is None or state.state in ("unknown", "unavailable"):
        return None
    attrs = state.attributes
    if "has_time" in attrs or "has_date" in attrs:
        if not attrs.get("has_time"):
            return None if not attrs.get("has_date") else _date_midnight(attrs, tz)
        moment = dt_time(int(attrs["hour"]), int(attrs["minute"]), int(attrs["second"]))
        if attrs.get("has_date"):
            return datetime(
                int(attrs["year"]), int(attrs["month"]), int(attrs["day"]), tzinfo=tz
            ).replace(hour=moment.hour, minute=moment.minute, second=moment.second)
        return moment
    parsed = as_datetime(state.state, None)
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _date_midnight(attrs: Any, tz: Any) -> datetime:
    return datetime(int(attrs["year"]), int(attrs["month"]), int(attrs["day"]), tzinfo=tz)


def attach_time(
    orge: Orge, config: dict[str, Any], fire: Callable[..., None], name: str, variables: dict
) -> Callable[[], None]:
    tz = time_zone(orge)
    cancels: dict[int, Callable[[], None]] = {}
    removers: list[Callable[[], None]] = []
    detached = False

    def schedule(index: int, at: Any) -> None:
        old = cancels.pop(index, None)
        if old is not None:
            old()
        if detached:
            return
        now = dt_util.now(tz)
        if isinstance(at, dt_time):
            when: datetime | None = next_time_of_day(now, at)
        else:
            moment = entity_moment(orge.states.get(at), tz)
            if isinstance(moment, dt_time):
                when = next_time_of_day(now, moment)
            else:
                when = moment if moment is not None and moment > now else None
        if when is None:
            return

        @callback
        def due(_now: float) -> None:
            cancels.pop(index, None)
            data = {"now": dt_util.now(tz), "description": f"time {at}"}
            if not isinstance(at, dt_time):
                data["entity_id"] = at
            fire(data, None)
            if isinstance(at, dt_time) or isinstance(
                entity_moment(orge.states.get(at), tz), dt_time
            ):
                schedule(index, at)  # from the next second on: the next match

        cancels[index] = async_track_point_in_time(orge, due, when)

    for index, at in enumerate(config["at"]):
        schedule(index, at)
        if not isinstance(at, dt_time):

            @callback
            def changed(_event: Event, index: int = index, at: Any = at) -> None:
                schedule(index, at)

            removers.append(async_track_state_change_event(orge, at, changed))

    @callback
    def detach() -> None:
        nonlocal detached
        detached = True
        for cancel in list(cancels.values()):
            cancel()
        cancels.clear()
        for remove in removers:
            remove()

    return detach


def _allowed(pattern: str | None, limit: int) -> list[int]:
    if pattern is None or pattern == "*":
        return list(range(limit))
    if pattern.startswith("/"):
        step = int(pattern[1:]) or 1
        return list(range(0, limit, step))
    value = int(pattern)
    return [value] if value < limit else []


def pattern_sets(config: dict[str, Any]) -> tuple[list[int], list[int], list[int]]:
    """Home Assistant's defaults: units smaller than the largest given one default to 0."""
    hours, minutes, seconds = config.get("hours"), config.get("minutes"), config.get("seconds")
    if hours is not None:
        minutes = "0" if minutes is None else minutes
        seconds = "0" if seconds is None else seconds
    elif minutes is not None:
        seconds = "0" if seconds is None else seconds
    return _allowed(hours, 24), _allowed(minutes, 60), _allowed(seconds, 60)


def _next_wall_time(start: datetime, sets: tuple[list[int], list[int], list[int]]) -> datetime:
    """The first naive wall-clock time at or after `start` (whole seconds) that matches."""
    hours, minutes, seconds = sets
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    for days in range(2):
        base = day + timedelta(days=days)
        first_day = days == 0
        for hour in hours[bisect_left(hours, start.hour) :] if first_day else hours:
            this_hour = first_day and hour == start.hour
            for minute in minutes[bisect_left(minutes, start.minute) :] if this_hour else minutes:
                this_minute = this_hour and minute == start.minute
                index = bisect_left(seconds, start.second) if this_minute else 0
                if index < len(seconds):
                    return base.replace(hour=hour, minute=minute, second=seconds[index])
    raise AssertionError("a pattern with a value in each unit matches within a day")


def _next_offset_change(start: datetime, tz: Any, horizon: timedelta) -> datetime | None:
    """The first whole UTC second after `start` (UTC) at which `tz`'s offset differs, if any
    within `horizon` (daylight-saving changes are months apart, so one search suffices)."""
    offset = start.astimezone(tz).utcoffset()
    low, high = int(start.timestamp()), int((start + horizon).timestamp())
    if datetime.fromtimestamp(high, tz).utcoffset() == offset:
        return None
    while high - low > 1:  # the offset at `low` is the start's, at `high` the new one
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def next_pattern_time(
    now: datetime, sets: tuple[list[int], list[int], list[int]]
) -> datetime | None:
    """The first moment after `now` (from the next whole second) whose wall clock matches.

    As Home Assistant's `find_next_time_expression_time` (homeassistant/util/dt.py) as used
    by `async_track_utc_time_change`: every real moment whose local wall-clock reading has
    allowed hour, minute and second matches. So on the day clocks go forward a wall time
    that does not exist is skipped (02:30 on 31 March 2024 in Europe/Berlin: next 02:30 the
    day after; `/15` minutes goes 01:45 -> 03:00, 15 real minutes), and on the day they go
    back a wall time that occurs twice matches twice (02:00-02:45 on 27 October 2024 runs
    in both passes, every 15 real minutes). A naive `now` is read as a clock without DST.
    Returns an aware datetime in `now`'s time zone (naive for a naive `now`); None when the
    pattern never matches.
    """
    if not all(sets):
        return None
    if now.tzinfo is None:
        return _next_wall_time((now + timedelta(seconds=1)).replace(microsecond=0), sets)
    tz = now.tzinfo
    start = (now.astimezone(UTC) + timedelta(seconds=1)).replace(microsecond=0)
    # Walk the stretches of constant UTC offset: within one, wall time = UTC + offset.
    for _stretch in range(3):
        offset = start.astimezone(tz).utcoffset() or timedelta(0)
        change = _next_offset_change(start, tz, timedelta(days=2))
        wall = _next_wall_time(start.replace(tzinfo=None) + offset, sets)
        candidate = (wall - offset).replace(tzinfo=UTC)
        if change is None or candidate < change:
            return candidate.astimezone(tz)
        start = change
    return None


def attach_time_pattern(
    orge: Orge, config: dict[str, Any], fire: Callable[..., None], name: str, variables: dict
) -> Callable[[], None]:
    tz = time_zone(orge)
    sets = pattern_sets(config)
    state: dict[str, Callable[[], None] | None] = {"cancel": None}

    def schedule() -> None:
        when = next_pattern_time(dt_util.now(tz), sets)
        if when is None:
            _LOGGER.warning("%s: time pattern never matches", name)
            return
        state["cancel"] = async_track_point_in_time(orge, due, when)

    @callback
    def due(_now: float) -> None:
        fire({"now": dt_util.now(tz), "description": "time pattern"}, None)
        schedule()

    schedule()

    @callback
    def detach() -> None:
        if state["cancel"] is not None:
            state["cancel"]()
            state["cancel"] = None

    return detach
