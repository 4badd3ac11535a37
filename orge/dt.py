"""The wall-clock "now" the engine's time-of-day logic reads.

Every reading goes through `time.time()`, so one clock governs them all: the loop's
timers, the time trigger's next moment, the time condition, templates' `now()`; and the
controllable clock of `orge.testing` (which moves `time.time()`) moves them together.
`datetime.now()` reads the system clock directly and could not be moved in a test.
(Home Assistant's equivalent is homeassistant/util/dt.py `now` / `utcnow`.)
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, tzinfo


def now(tz: tzinfo | None = UTC) -> datetime:
    """The current moment as an aware datetime in `tz` (UTC when not given)."""
    return datetime.fromtimestamp(time.time(), tz or UTC)


def utcnow() -> datetime:
    """The current moment in UTC, aware."""
    return datetime.fromtimestamp(time.time(), UTC)
