"""Automations at run time: entities, services, reload."""

from __future__ import annotations

import logging
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge import config as conf_util
from orge.core import Orge, ServiceCall, SupportsResponse
from orge.entity import async_add_entities
from orge.exceptions import ConfigError, OrgeError, ServiceValidationError
from orge.script.trace import TraceStore
from orge.template import async_warm_up, collect

from .config import CONFIG_SCHEMA, DOMAIN, validate_all
from .entity import AutomationEntity

_LOGGER = logging.getLogger(__name__)
NOTIFICATION_ID = "persistent_notification.automation_reload_failed"

_TARGET = vol.Schema(
    {vol.Optional("entity_id"): vol.Any("all", cv.entity_ids)}, extra=vol.ALLOW_EXTRA
)


class AutomationManager:
    def __init__(self, orge: Orge) -> None:
        self.orge = orge
        self.entities: dict[str, AutomationEntity] = {}
        self.traces = TraceStore()

    async def async_load(self, config: list[Any]) -> None:
        valid, problems = validate_all(config, self.orge.config.config_dir or "")
        for line in problems:
            _LOGGER.error("%s (this automation is not loaded)", line)
        await self._async_create(valid)

    async def _async_create(self, valid: list[dict[str, Any]]) -> None:
        new = []
        for index, config in enumerate(valid, 1):
            object_id = cv.slugify(config.get("id") or config.get("alias") or f"automation_{index}")
            new.append(AutomationEntity(config, object_id, self.traces))
        added = await async_add_entities(self.orge, DOMAIN, new)
        for entity in added:
            assert entity.entity_id is not None
            self.entities[entity.entity_id] = entity  # type: ignore[assignment]
        templates = collect(valid)
        if templates:
            self.orge.async_create_background_task(
                async_warm_up(templates), "automation template warm-up"
            )

    async def async_unload(self) -> None:
        for entity in list(self.entities.values()):
            await entity.async_remove()
        self.entities.clear()

    def targets(self, call: ServiceCall) -> list[AutomationEntity]:
        wanted = call.data.get("entity_id")
        if wanted is None or wanted == "all":
            return list(self.entities.values())
        found = []
        for entity_id in wanted:
            if entity_id not in self.entities:
                raise ServiceValidationError(f"Automation {entity_id} not found")
            found.append(self.entities[entity_id])
        return found

    async def async_reload(self) -> None:
        """Re-read configuration.yaml; on any problem keep the running automations."""
        config_dir = self.orge.config.config_dir
        if not config_dir:
            raise OrgeError("automation.reload needs a config directory")
        try:
            _block, valid, problems = await self.orge.async_add_executor_job(_read, config_dir)
        except ConfigError as err:
            problems = list(err.problems)
        if problems:
            message = (
                f"Automations not reloaded, the {len(self.entities)} running ones are kept: "
                + "; ".join(problems)
            )
            _LOGGER.error("%s", message)
            self.orge.states.async_set(
                NOTIFICATION_ID,
                "notifying",
                {"title": "Automation reload failed", "message": message},
            )
            raise OrgeError(message)
        self.orge.states.async_remove(NOTIFICATION_ID)
        await self.async_unload()
        await self._async_create(valid)
        _LOGGER.info("Reloaded %d automation(s)", len(self.entities))


def _read(config_dir: str) -> tuple[list[Any], list[dict[str, Any]], list[str]]:
    raw = conf_util.load_configuration(config_dir)
    merged: list[Any] = []
    for key, value in raw.items():
        if conf_util.domain_of(key) == DOMAIN:
            try:
                merged.extend(CONFIG_SCHEMA(value))
            except vol.Invalid as err:
                where = conf_util.location(raw, [key], config_dir)
                raise ConfigError(f"Invalid config for '{DOMAIN}' at {where}: {err.msg}") from None
    valid, problems = validate_all(merged, config_dir)
    return merged, valid, problems


async def async_setup_manager(orge: Orge, config: list[Any]) -> AutomationManager:
    manager = AutomationManager(orge)
    orge.data[DOMAIN] = manager
    _register_services(orge, manager)
    await manager.async_load(config)
    return manager


def _register_services(orge: Orge, manager: AutomationManager) -> None:
    async def trigger(call: ServiceCall) -> None:
        for entity in manager.targets(call):
            variables = {"trigger": {"platform": None, "description": "manual"}}
            variables.update(call.data.get("variables") or {})
            await entity.async_trigger(
                variables, call.context, skip_condition=call.data.get("skip_condition", True)
            )

    async def turn_on(call: ServiceCall) -> None:
        for entity in manager.targets(call):
            await entity.async_enable()
            entity.async_write_state()

    async def turn_off(call: ServiceCall) -> None:
        for entity in manager.targets(call):
            await entity.async_disable(stop_actions=call.data.get("stop_actions", True))

    async def toggle(call: ServiceCall) -> None:
        for entity in manager.targets(call):
            if entity.enabled:
                await entity.async_disable()
            else:
                await entity.async_enable()
                entity.async_write_state()

    async def reload(call: ServiceCall) -> None:
        await manager.async_reload()

    async def get_traces(call: ServiceCall) -> dict[str, Any]:
        wanted = call.data.get("entity_id")
        ids = None if wanted in (None, "all") else list(wanted)
        if ids is None:
            ids = sorted(set(manager.entities) | set(manager.traces.items()))
        return {"traces": manager.traces.as_dict(ids)}

    for name, handler, schema, response in (
        (
            "trigger",
            trigger,
            _TARGET.extend({vol.Optional("skip_condition", default=True): cv.boolean}),
            SupportsResponse.NONE,
        ),
        ("turn_on", turn_on, _TARGET, SupportsResponse.NONE),
        (
            "turn_off",
            turn_off,
            _TARGET.extend({vol.Optional("stop_actions", default=True): cv.boolean}),
            SupportsResponse.NONE,
        ),
        ("toggle", toggle, _TARGET, SupportsResponse.NONE),
        ("reload", reload, None, SupportsResponse.NONE),
        ("get_traces", get_traces, _TARGET, SupportsResponse.ONLY),
    ):
        orge.services.async_register(DOMAIN, name, handler, schema, response)

