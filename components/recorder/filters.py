"""Which entities and events the recorder keeps.

Entities: the shared include/exclude rules (`orge.helpers.entity_filter`). Event types
listed under `exclude: event_types` are not recorded (`state_changed` there stops
recording states altogether).
"""

from __future__ import annotations

from typing import Any

from orge.helpers.entity_filter import EntityFilter


class RecorderFilter(EntityFilter):
    def __init__(self, include: dict[str, Any], exclude: dict[str, Any]) -> None:
        super().__init__(include, exclude)
        self.exclude_events = frozenset(exclude.get("event_types", []))

    def event(self, event_type: str) -> bool:
        return event_type not in self.exclude_events
