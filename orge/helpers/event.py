"""Listening helpers built on the bus: state changes of given entities, timers.

Timers use the loop's monotonic clock: a Raspberry Pi has no real-time clock and its wall
clock may jump when NTP or the CSMS sets it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from orge.core import EVENT_STATE_CHANGED, Event, JobType, Orge, callback, job_type_of

_TRACK_KEY = "_track_state_change_event"


class _StateChangeDispatcher:
    """One bus listener for all entity trackers; dispatch is a dict lookup per event."""

    def __init__(self, orge: Orge) -> None:
        self.orge = orge
        self.by_entity: dict[str, list[tuple[Callable[[Event], Any], JobType]]] = {}
        self.remove_listener: Callable[[], None] | None = None

    @callback
    def filter(self, data: Any) -> bool:
        return data["entity_id"] in self.by_entity

    @callback
    def dispatch(self, event: Event) -> None:
        for target, job_type in list(self.by_entity.get(event.data["entity_id"], ())):
            if job_type is JobType.CALLBACK:
                try:
                    target(event)
                except Exception:
                    import logging

                    logging.getLogger(__name__).exception("Error in state tracker %s", target)
            else:
                self.orge.async_run_job(target, job_type, event)


def async_track_state_change_event(
    orge: Orge, entity_ids: str | Iterable[str], action: Callable[[Event], Any]
) -> Callable[[], None]:
    """Call `action` with each `state_changed` event of the given entities."""
    ids = [entity_ids] if isinstance(entity_ids, str) else list(entity_ids)
    ids = [eid.lower() for eid in ids]
    dispatcher: _StateChangeDispatcher | None = orge.data.get(_TRACK_KEY)
    if dispatcher is None:
        dispatcher = orge.data[_TRACK_KEY] = _StateChangeDispatcher(orge)
    if dispatcher.remove_listener is None:
        dispatcher.remove_listener = orge.bus.async_listen(
            EVENT_STATE_CHANGED, dispatcher.dispatch, dispatcher.filter
        )
    entry = (action, job_type_of(action))
    for eid in ids:
        dispatcher.by_entity.setdefault(eid, []).append(entry)

    @callback
    def remove() -> None:
        for eid in ids:
            entries = dispatcher.by_entity.get(eid)
            if entries and entry in entries:
                entries.remove(entry)
                if not entries:
                    del dispatcher.by_entity[eid]
        if not dispatcher.by_entity and dispatcher.remove_listener is not None:
            dispatcher.remove_listener()
            dispatcher.remove_listener = None

    return remove


def _as_seconds(delay: float | timedelta) -> float:
    return delay.total_seconds() if isinstance(delay, timedelta) else float(delay)


def async_call_later(
    orge: Orge, delay: float | timedelta, action: Callable[[float], Any]
) -> Callable[[], None]:
    """Call `action(now)` once after `delay` seconds (monotonic); returns a cancel function."""
    job_type = job_type_of(action)

    def fire() -> None:
        orge.async_run_job(action, job_type, time.time())

    handle = orge.loop.call_later(_as_seconds(delay), fire)
    return handle.cancel


def async_track_time_interval(
    orge: Orge, action: Callable[[float], Any], interval: float | timedelta
) -> Callable[[], None]:
    """Call `action(now)` every `interval` seconds, drift-free on the monotonic clock."""
    seconds = _as_seconds(interval)
    job_type = job_type_of(action)
    handle: asyncio.TimerHandle | None = None
    next_at = orge.loop.time() + seconds

    def fire() -> None:
        nonlocal handle, next_at
        next_at += seconds
        now = orge.loop.time()
        if next_at <= now:  # the loop was blocked: skip missed ticks, do not burst
            next_at = now + seconds
        handle = orge.loop.call_at(next_at, fire)
        orge.async_run_job(action, job_type, time.time())

    handle = orge.loop.call_at(next_at, fire)

    def cancel() -> None:
        if handle is not None:
            handle.cancel()

    return cancel


def async_track_point_in_time(
    orge: Orge, action: Callable[[float], Any], when: datetime
) -> Callable[[], None]:
    """Call `action(now)` at a wall-clock time (re-checked, so a clock jump is honoured)."""
    job_type = job_type_of(action)
    handle: asyncio.TimerHandle | None = None

    def check() -> None:
        nonlocal handle
        remaining = when.timestamp() - time.time()
        if remaining > 0:
            # Wake at most every 60 s to notice a wall-clock correction.
            handle = orge.loop.call_later(min(remaining, 60.0), check)
            return
        orge.async_run_job(action, job_type, time.time())

    check()

    def cancel() -> None:
        if handle is not None:
            handle.cancel()

    return cancel
