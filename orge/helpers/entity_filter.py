"""Which entities a component takes: include/exclude by entity id, domain and glob.

Home Assistant's recorder rules (https://www.home-assistant.io/integrations/recorder/
#configure-filter), shared by every component that filters entities (recorder, mqtt):
an entity listed under `include: entities` is always taken; one listed under
`exclude: entities`, or matching an excluded domain or glob, is not; when any `include`
domain or glob is configured, only entities matching one are taken. Decisions are cached
per entity id.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import voluptuous as vol

import orge.validation as cv

FILTER_SCHEMA = vol.Schema(
    {
        vol.Optional(
            "domains", default=[], description="Entity domains, e.g. [sensor, switch]."
        ): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional("entities", default=[], description="Entity ids."): cv.entity_ids,
        vol.Optional(
            "entity_globs",
            default=[],
            description="Entity id patterns with * and ?, e.g. sensor.charger_*.",
        ): vol.All(cv.ensure_list, [cv.string]),
    }
)


def _globs(patterns: list[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(fnmatch.translate(p) for p in patterns))


class EntityFilter:
    """`entity(entity_id) -> bool` for validated `include` and `exclude` blocks."""

    def __init__(self, include: dict[str, Any], exclude: dict[str, Any]) -> None:
        self.include_entities = frozenset(include.get("entities", []))
        self.include_domains = frozenset(include.get("domains", []))
        self.include_globs = _globs(include.get("entity_globs", []))
        self.exclude_entities = frozenset(exclude.get("entities", []))
        self.exclude_domains = frozenset(exclude.get("domains", []))
        self.exclude_globs = _globs(exclude.get("entity_globs", []))
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
