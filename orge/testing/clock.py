"""A controllable clock for tests: the hub's timers fire without the test sleeping.

The engine's timers (orge.helpers.event: `async_call_later`, `async_track_time_interval`,
`async_track_point_in_time`, the `for:` of triggers, script delays) are loop timers on the
monotonic clock, and wall-clock readings go through `time.time()`. The clock moves both by
the same offset: the loop then finds every timer that is due and runs them in order, as
it would have after a real wait (Home Assistant's `async_fire_time_changed`,
tests/common.py, does the same by running the loop's scheduled handles).

Time of day moves too: the engine reads "now" through `orge.dt`, which reads
`time.time()`, so time triggers, time conditions and templates' `now()` follow this clock.
(A test of daylight-saving transitions, tests/orge/script/test_ha_time_semantics.py, drives
its own zone-aware fake.) Limits: an interval timer that is overtaken by
a jump fires once, not once per missed tick, as on a blocked loop.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

from orge.core import Orge

_real_time = time.time


class ControlledClock:
    """Shifts the loop's monotonic clock and `time.time()` of this process by `offset` s.

    Installed by the `orge` fixture of orge.testing; `advance` moves it forward only (a
    monotonic clock never goes back)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.offset = 0.0
        self._loop_time = loop.time
        self._installed = False

    def install(self) -> None:
        # An instance attribute shadows BaseEventLoop.time: asyncio's scheduler reads the
        # clock through self.time(), so shifted timers are found due by the loop itself.
        self.loop.time = self.monotonic  # type: ignore[method-assign]
        time.time = self.wall  # type: ignore[assignment]
        self._installed = True

    def uninstall(self) -> None:
        if self._installed:
            del self.loop.time  # type: ignore[attr-defined]
            time.time = _real_time  # type: ignore[assignment]
            self._installed = False

    def monotonic(self) -> float:
        return self._loop_time() + self.offset

    def wall(self) -> float:
        return _real_time() + self.offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"the clock cannot go back ({seconds} s)")
        self.offset += seconds


CLOCK_KEY = "orge.testing.clock"


def get_clock(orge: Orge) -> ControlledClock:
    """The clock the `orge` fixture installed; RuntimeError for a hub made elsewhere."""
    clock = orge.data.get(CLOCK_KEY)
    if clock is None:
        raise RuntimeError("this hub has no controllable clock: use the `orge` fixture")
    return clock


async def async_fire_time_changed(
    orge: Orge, when: datetime | timedelta | float | None = None
) -> None:
    """Move the hub's clocks to `when` and run every timer due by then, in order.

    `when`: an aware datetime (a wall-clock moment, as in Home Assistant), a timedelta or a
    number of seconds to move forward, or None (run what is due now). A moment in the past
    runs what is due and moves nothing. Returns once the timers due and the work they
    started have run (see `async_run_due`).
    """
    clock = get_clock(orge)
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError("async_fire_time_changed needs an aware datetime")
        seconds = max(0.0, when.timestamp() - clock.wall())
    elif isinstance(when, timedelta):
        seconds = when.total_seconds()
    else:
        seconds = float(when or 0.0)
    clock.advance(seconds)
    await async_run_due(orge)


async def async_run_due(orge: Orge) -> None:
    """Let the loop run until no timer is due and no callback is ready, and wait for the
    executor jobs started meanwhile. Tasks still waiting on a later timer (a script's
    `delay`) are left waiting: `async_block_till_done` would wait for them forever."""
    clock = get_clock(orge)
    loop = clock.loop
    for _ in range(10_000):
        # Each pass runs the timers due; one may start work that schedules another timer
        # that is due too (an interval's next tick, a delay after a trigger).
        await asyncio.sleep(0)
        jobs = orge.pending_executor_jobs
        if jobs:
            await asyncio.wait(jobs)
            continue
        if not _due_timers(clock) and not getattr(loop, "_ready", None):
            return
    raise RuntimeError("timers keep scheduling timers that are already due")


def _due_timers(clock: ControlledClock) -> bool:
    now = clock.monotonic()
    scheduled = getattr(clock.loop, "_scheduled", [])
    return any(not handle.cancelled() and handle.when() <= now for handle in scheduled)
