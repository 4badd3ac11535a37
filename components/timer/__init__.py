"""timer: `timer: {name: {duration, restore, name, icon}}`; states idle/active/paused.

Fires `timer.started`, `timer.restarted`, `timer.paused`, `timer.cancelled`,
`timer.finished` (data: entity_id). Unlike Home Assistant, `restore` defaults to true: a
station that reboots mid-countdown should carry on (a timer that ran out while the station
was down finishes at start).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Orge

DOMAIN = "timer"
IDLE, ACTIVE, PAUSED = "idle", "active", "paused"
# Home Assistant's event types (homeassistant/components/timer/__init__.py).
EVENT_TIMER_STARTED = "timer.started"
EVENT_TIMER_RESTARTED = "timer.restarted"
EVENT_TIMER_PAUSED = "timer.paused"
EVENT_TIMER_CANCELLED = "timer.cancelled"
EVENT_TIMER_FINISHED = "timer.finished"

ITEM = vol.Schema(
    {
        vol.Optional("name", description="Friendly name."): cv.string,
        vol.Optional(
            "duration",
            default=timedelta(0),
            description=cv.describe("Duration of a start without a duration of its own.", unit="s"),
        ): cv.positive_time_period,
        vol.Optional(
            "restore",
            default=True,
            description="An active or paused timer continues after a restart.",
        ): cv.boolean,
        vol.Optional("icon", description="Icon, e.g. mdi:timer."): cv.string,
    }
)
CONFIG_SCHEMA = vol.Schema(vol.Any(None, {cv.slug: vol.Any(None, ITEM)}))


def _hms(delta: timedelta) -> str:
    total = round(delta.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    return f"{sign}{total // 3600}:{total // 60 % 60:02d}:{total % 60:02d}"


async def async_setup(orge: Orge, config: dict[str, Any] | None) -> bool:
    from .entity import async_setup_timers

    await async_setup_timers(orge, {key: conf or ITEM({}) for key, conf in (config or {}).items()})
    return True


def configured_entity_ids(config: dict[str, Any] | None) -> set[str]:
    """`<domain>.<key>` for each helper declared in the block (docs/components.md)."""
    return {f"{DOMAIN}.{key}" for key in config or {}}
