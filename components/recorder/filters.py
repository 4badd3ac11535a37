"""Which entities and events the recorder keeps.

Rules, simplest first: an entity listed under `include: entities` is always recorded; one
listed under `exclude: entities`, or matching an excluded domain or glob, is not; when any
`include` domain or glob is configured, only entities matching one are recorded. Event
types listed under `exclude: event_types` are not recorded (`state_changed` there stops
recording states altogether). Decisions are cached per entity id.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any


def _globs(patterns: list[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(fnmatch.translate(p) for p in patterns))


class RecorderFilter:
    def __init__(self, include: dict[str, Any], exclude: dict[str, Any]) -> None:
        self.include_entities = frozenset(include.get("entities", []))
        self.include_domains = frozenset(include.get("domains", []))
        self.include_globs = _globs(include.get("entity_globs", []))
        self.exclude_entities = frozenset(exclude.get("entities", []))
        self.exclude_domains = frozenset(exclude.get("domains", []))
        self.exclude_globs = _globs(exclude.get("entity_globs", []))
        self.exclude_events = frozenset(exclude.get("event_types", []))
        self._has_include = bool(self.include_domains or self.include_globs)
        self._cache: dict[str, bool] = {}

    def entity(self, entity_id: str) -> bool:
        cached = self._cache.get(entity_id)
        if cached is None:
            cached = self._cache[entity_id] = self._decide(entity_id)
        return cached

    def _decide(self, entity_id: str) -> bool:
        if entity_id in self.include_entities:
            return True
        if entity_id in self.exclude_entities:
            return False
        domain = entity_id.partition(".")[0]
        if domain in self.exclude_domains:
            return False
        if self.exclude_globs is not None and self.exclude_globs.match(entity_id):
            return False
        if not self._has_include:
            return True
        if domain in self.include_domains:
            return True
        return self.include_globs is not None and bool(self.include_globs.match(entity_id))

    def event(self, event_type: str) -> bool:
        return event_type not in self.exclude_events
