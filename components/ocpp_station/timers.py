"""Timers driven by settings the CSMS can change: a new value applies at once.

OCPP 1.6 ChangeConfiguration and 2.0.1 SetVariables answered Accepted mean the value is in
force (1.6 §5.3: "the Charge Point SHALL ... apply it"; 2.0.1 B05): a HeartbeatInterval
lowered from 60 s to 3 s must not wait for the old 60 s to run out. Every loop that
waits for a setting-driven moment (heartbeat, sampled and clock-aligned meter values,
message retry spacing) sleeps with `SettingsWake.sleep_until(deadline)`, where
`deadline()` is re-read from the current settings each time a setting changes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class SettingsWake:
    """`notify()` after any setting changed; `sleep_until()` waits for a deadline that
    follows the settings. Times are `time.monotonic()` seconds."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        """A setting changed: every sleeper re-reads its deadline now."""
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def sleep_until(self, deadline: Callable[[], float | None]) -> None:
        """Return once `time.monotonic() >= deadline()`; `deadline()` returning None means
        "not scheduled" (e.g. an interval of 0 = off): wait until a setting changes."""
        loop = asyncio.get_running_loop()
        while True:
            at = deadline()
            now = time.monotonic()
            if at is not None and now >= at:
                return
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait({waiter}, timeout=None if at is None else at - now)
            finally:
                self._waiters.discard(waiter)
                if not waiter.done():
                    waiter.cancel()


def _always() -> bool:
    return True


def every(
    last: float,
    interval: Callable[[], float],
    enabled: Callable[[], bool] = _always,
) -> Callable[[], float | None]:
    """The deadline of a periodic timer that last fired at `last` (monotonic):
    `last + interval()`, None while the interval is 0 or less (off) or `enabled()` is
    False."""

    def deadline() -> float | None:
        seconds = interval()
        if seconds <= 0 or not enabled():
            return None
        return last + seconds

    return deadline


def aligned(
    interval: Callable[[], float], seconds_to_boundary: Callable[[float], float]
) -> Callable[[], float | None]:
    """The deadline of clock-aligned data: the next boundary of `interval()` seconds after
    midnight (1.6 ClockAlignedDataInterval, 2.0.1 AlignedDataCtrlr.Interval); computed
    once per interval value, so it holds still while the sleeper waits for it."""
    fixed: dict[str, float] = {}

    def deadline() -> float | None:
        seconds = interval()
        if seconds <= 0:
            return None
        if fixed.get("interval") != seconds:
            fixed["interval"] = seconds
            fixed["at"] = time.monotonic() + seconds_to_boundary(seconds)
        return fixed["at"]

    return deadline
