"""timer: `timer: {name: {duration, restore, name, icon}}`; states idle/active/paused.

Fires `timer.started`, `timer.restarted`, `timer.paused`, `timer.cancelled`,
`timer.finished` (data: entity_id). Unlike Home Assistant, `restore` defaults to true: a
station that reboots mid-countdown should carry on (a timer that ran out while the station
was down finishes at start).
"""

from __future__ import annotations

from typing import Any

from orge.core import Orge

from .config import CONFIG_SCHEMA as CONFIG_SCHEMA  # what the loader validates with
from .config import ITEM
from .const import DOMAIN


async def async_setup(orge: Orge, config: dict[str, Any] | None) -> bool:
    from .entity import async_setup_timers

    await async_setup_timers(orge, {key: conf or ITEM({}) for key, conf in (config or {}).items()})
    return True


def configured_entity_ids(config: dict[str, Any] | None) -> set[str]:
    """`<domain>.<key>` for each helper declared in the block (docs/components.md)."""
    return {f"{DOMAIN}.{key}" for key in config or {}}
