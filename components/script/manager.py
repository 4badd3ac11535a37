"""Scripts at run time: entities, one service per script, turn_on/off, reload."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge import config as conf_util
from orge.core import STATE_OFF, STATE_ON, Context, Orge, ServiceCall, SupportsResponse, callback
from orge.entity import Entity, async_add_entities
from orge.exceptions import ConfigError, OrgeError, ServiceValidationError
from orge.script.script import Script
from orge.script.trace import Trace, TraceStore
from orge.template import TemplateError, attach, render_complex

from .config import CONFIG_SCHEMA, validate_scripts
from .const import DOMAIN

_LOGGER = logging.getLogger(__name__)
_RESERVED = ("turn_on", "turn_off", "toggle", "reload", "get_traces")


class ScriptEntity(Entity):
    domain = DOMAIN

    def __init__(self, name: str, config: dict[str, Any], traces: TraceStore) -> None:
        self.key = name
        self.config = config
        self._attr_name = config.get("alias") or name
        self._attr_object_id = name
        self._attr_icon = config.get("icon")
        self.traces = traces
        self.script: Script | None = None
        self.last_triggered: float | None = None

    @property
    def state(self) -> str:
        return STATE_ON if self.script and self.script.is_running else STATE_OFF

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        from orge.core import _ts_to_iso

        return {
            "last_triggered": _ts_to_iso(self.last_triggered) if self.last_triggered else None,
            "mode": self.config["mode"],
            "current": len(self.script.runs) if self.script else 0,
        }

    async def async_added_to_orge(self) -> None:
        assert self.orge is not None and self.entity_id is not None
        attach(self.orge, self.config)
        self.script = Script(
            self.orge,
            self.config["sequence"],
            f"script {self.entity_id}",
            self.entity_id,
            self.config["mode"],
            self.config["max"],
            self.config["max_exceeded"],
            self.traces,
            on_change=self._changed,
        )

    async def async_will_remove_from_orge(self) -> None:
        if self.script is not None:
            await self.script.async_stop()

    @callback
    def _changed(self) -> None:
        if self.orge is not None and self.entity_id in self.orge.data.get("entities", {}):
            self.async_write_state()

    def _variables(self, data: dict[str, Any]) -> dict[str, Any]:
        fields = self.config["fields"]
        for name, spec in fields.items():
            spec = spec or {}
            if name not in data and spec.get("required"):
                raise ServiceValidationError(f"{self.entity_id} needs field '{name}'")
        variables: dict[str, Any] = {
            name: (spec or {})["default"]
            for name, spec in fields.items()
            if spec and "default" in spec
        }
        variables.update(data)
        variables["this"] = self.orge.states.get(self.entity_id or "") if self.orge else None
        try:
            variables.update(
                {
                    key: value
                    for key, value in render_complex(self.config["variables"], variables).items()
                    if key not in data
                }
            )
        except TemplateError as err:
            raise OrgeError(f"{self.entity_id}: variables failed: {err}") from None
        return variables

    def start(self, data: dict[str, Any], context: Context | None) -> asyncio.Task[Any]:
        """Start a run in its own task (turn_off cancels that task, not the caller)."""
        assert self.orge is not None and self.script is not None
        variables = self._variables(data)
        run_context = Context(
            parent_id=context.id if context else None, user_id=context.user_id if context else None
        )
        trace = Trace(self.entity_id or "", "service call", run_context)
        self.last_triggered = time.time()
        return self.orge.async_create_task(
            self.script.async_run(variables, run_context, trace), self.entity_id
        )


class ScriptManager:
    def __init__(self, orge: Orge) -> None:
        self.orge = orge
        self.entities: dict[str, ScriptEntity] = {}
        self.traces = TraceStore()

    async def async_load(self, block: dict[str, Any]) -> None:
        valid, problems = validate_scripts(block, self.orge.config.config_dir or "")
        for line in problems:
            _LOGGER.error("%s (this script is not loaded)", line)
        await self._async_create(valid)

    async def _async_create(self, valid: dict[str, Any]) -> None:
        for name in _RESERVED:
            valid.pop(name, None)
        added = await async_add_entities(
            self.orge, DOMAIN, [ScriptEntity(name, cfg, self.traces) for name, cfg in valid.items()]
        )
        for entity in added:
            assert isinstance(entity, ScriptEntity) and entity.entity_id is not None
            self.entities[entity.entity_id] = entity
            self._register_service(entity)

    def _register_service(self, entity: ScriptEntity) -> None:
        async def run(call: ServiceCall) -> Any:
            task = entity.start(dict(call.data), call.context)
            response = await task
            return response if call.return_response else None

        self.orge.services.async_register(
            DOMAIN,
            entity.key,
            run,
            None,
            SupportsResponse.OPTIONAL,
            {
                "name": entity.name,
                "description": entity.config.get("description", ""),
                "fields": {k: dict(v or {}) for k, v in entity.config["fields"].items()},
            },
        )

    async def async_unload(self) -> None:
        for entity in list(self.entities.values()):
            self.orge.services.async_remove(DOMAIN, entity.key)
            await entity.async_remove()
        self.entities.clear()

    def targets(self, call: ServiceCall) -> list[ScriptEntity]:
        wanted = call.data.get("entity_id") or []
        if wanted == "all":
            return list(self.entities.values())
        missing = [eid for eid in wanted if eid not in self.entities]
        if missing:
            raise ServiceValidationError(f"Script {', '.join(missing)} not found")
        return [self.entities[eid] for eid in wanted]

    async def async_reload(self) -> None:
        config_dir = self.orge.config.config_dir
        if not config_dir:
            raise OrgeError("script.reload needs a config directory")
        try:
            valid, problems = await self.orge.async_add_executor_job(_read, config_dir)
        except ConfigError as err:
            valid, problems = {}, list(err.problems)
        if problems:
            message = "Scripts not reloaded, the old ones are kept: " + "; ".join(problems)
            _LOGGER.error("%s", message)
            raise OrgeError(message)
        await self.async_unload()
        await self._async_create(valid)


def _read(config_dir: str) -> tuple[dict[str, Any], list[str]]:
    raw = conf_util.load_configuration(config_dir)
    merged: dict[str, Any] = {}
    for key, value in raw.items():
        if conf_util.domain_of(key) == DOMAIN:
            try:
                merged.update(CONFIG_SCHEMA(value))
            except vol.Invalid as err:
                raise ConfigError(f"Invalid config for '{DOMAIN}': {err.msg}") from None
    return validate_scripts(merged, config_dir)


_TARGET = vol.Schema(
    {
        vol.Required("entity_id"): vol.Any("all", cv.entity_ids),
        vol.Optional("variables", default={}): dict,
    }
)


async def async_setup_scripts(orge: Orge, block: dict[str, Any]) -> ScriptManager:
    manager = ScriptManager(orge)
    orge.data[DOMAIN] = manager

    async def turn_on(call: ServiceCall) -> None:
        for entity in manager.targets(call):
            entity.start(dict(call.data.get("variables") or {}), call.context)

    async def turn_off(call: ServiceCall) -> None:
        for entity in manager.targets(call):
            if entity.script is not None:
                await entity.script.async_stop()

    async def toggle(call: ServiceCall) -> None:
        for entity in manager.targets(call):
            if entity.script is not None and entity.script.is_running:
                await entity.script.async_stop()
            else:
                entity.start({}, call.context)

    async def reload(call: ServiceCall) -> None:
        await manager.async_reload()

    async def get_traces(call: ServiceCall) -> dict[str, Any]:
        wanted = call.data.get("entity_id")
        ids = sorted(manager.entities) if wanted in (None, "all") else list(wanted)
        return {"traces": manager.traces.as_dict(ids)}

    for name, handler, schema in (
        ("turn_on", turn_on, _TARGET),
        ("turn_off", turn_off, _TARGET),
        ("toggle", toggle, _TARGET),
        ("reload", reload, None),
    ):
        orge.services.async_register(DOMAIN, name, handler, schema)
    orge.services.async_register(
        DOMAIN,
        "get_traces",
        get_traces,
        vol.Schema({vol.Optional("entity_id"): vol.Any("all", cv.entity_ids)}),
        SupportsResponse.ONLY,
    )
    await manager.async_load(block)
    return manager
