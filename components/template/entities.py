"""Template sensors and binary sensors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from orge.core import Context, Orge, ServiceCall, callback
from orge.entity import BinarySensorEntity, SensorEntity, async_add_entities
from orge.exceptions import OrgeError
from orge.helpers.event import async_call_later
from orge.restore_state import RestoreEntity
from orge.script import condition as cond
from orge.script.helpers import render_period
from orge.script.tracking import TemplateWatcher
from orge.script.trigger import async_attach_triggers
from orge.template import TemplateError, attach, render_complex, result_as_boolean

from .config import CONFIG_SCHEMA, validate_blocks
from .const import DOMAIN

_LOGGER = logging.getLogger(__name__)
_FAILED = object()  # a template that raised while rendering


class _TemplateEntity(RestoreEntity):
    """Renders `state`, `availability` and `attributes` from one config item."""

    def __init__(self, conf: dict[str, Any], block: dict[str, Any]) -> None:
        self.conf = conf
        self.block = block
        self.trigger_based = "triggers" in block
        self._attr_name = conf["name"]
        self._attr_icon = conf.get("icon")
        self._attr_device_class = conf.get("device_class")
        self._attr_extra_state_attributes = {}
        self._variables: dict[str, Any] = {}
        # templates whose last render failed: an error is logged when one starts failing
        # (as async_track_template_result reports error -> error as no change)
        self._failing: set[str] = set()

    def _templates(self) -> list[Any]:
        found = [self.conf["state"]]
        if "availability" in self.conf:
            found.append(self.conf["availability"])
        found.extend(v for v in self.conf["attributes"].values() if hasattr(v, "async_render"))
        return found

    async def async_added_to_orge(self) -> None:
        await super().async_added_to_orge()
        assert self.orge is not None
        attach(self.orge, self.conf)
        if self.trigger_based:
            last = await self.async_get_last_state()
            if last is not None and last.state not in ("unavailable",):
                self.restore(last.state, dict(last.attributes))
            return
        for tpl in self._templates():
            if tpl.is_static:
                continue
            watcher = TemplateWatcher(
                self.orge, tpl, self._variables, self._changed, self.label, on_error=self._changed
            )
            watcher.start()
            self.async_on_remove(watcher.stop)
        self.refresh({})

    @property
    def label(self) -> str:
        return f"template {self.entity_id}"

    @callback
    def _changed(self, _result: Any, _event: Any) -> None:
        self.refresh({})
        self.async_write_state()

    def refresh(self, variables: dict[str, Any]) -> None:
        """Render everything, with Home Assistant's rules for a template that fails
        (helpers/template_entity.py): a failing `availability` counts as available; a
        failing `state` makes the entity unavailable unless `availability` is set (then
        the state is unknown); a failing attribute is None. An error is logged when a
        template starts failing, not again until it has rendered."""
        assert self.orge is not None
        self._variables["this"] = self.orge.states.get(self.entity_id or "")
        scope = {**self._variables, **variables}
        availability = self.conf.get("availability")
        if availability is not None:
            available = self._render("availability", availability, scope)
            if available is not _FAILED and not result_as_boolean(available):
                self._attr_available = False
                return
        value = self._render("state", self.conf["state"], scope)
        attributes = {}
        for key, tpl in self.conf["attributes"].items():
            result = self._render(f"attribute {key}", tpl, scope)
            attributes[key] = None if result is _FAILED else result
        self._attr_available = availability is not None or value is not _FAILED
        self._attr_extra_state_attributes = attributes
        self.apply(None if value is _FAILED else value, failed=value is _FAILED)

    def _render(self, what: str, tpl: Any, scope: dict[str, Any]) -> Any:
        """One template's result, or _FAILED (logged when its error is new)."""
        try:
            result = render_complex(tpl, scope)
        except TemplateError as err:
            if what not in self._failing:
                _LOGGER.error("%s: %s: %s", self.label, what, err)
            self._failing.add(what)
            return _FAILED
        self._failing.discard(what)
        return result

    def restore(self, state: str, attributes: dict[str, Any]) -> None:
        raise NotImplementedError

    def apply(self, value: Any, failed: bool = False) -> None:
        raise NotImplementedError


class TemplateSensor(_TemplateEntity, SensorEntity):
    def __init__(self, conf: dict[str, Any], block: dict[str, Any]) -> None:
        super().__init__(conf, block)
        self._attr_unit_of_measurement = conf.get("unit_of_measurement")
        self._attr_state_class = conf.get("state_class")

    def restore(self, state: str, attributes: dict[str, Any]) -> None:
        self._attr_state = None if state == "unknown" else state
        keys = self.conf["attributes"]
        self._attr_extra_state_attributes = {k: v for k, v in attributes.items() if k in keys}

    def apply(self, value: Any, failed: bool = False) -> None:
        self._attr_state = value


class TemplateBinarySensor(_TemplateEntity, BinarySensorEntity):
    def __init__(self, conf: dict[str, Any], block: dict[str, Any]) -> None:
        super().__init__(conf, block)
        self._pending: Callable[[], None] | None = None
        self._pending_value: bool | None = None

    def restore(self, state: str, attributes: dict[str, Any]) -> None:
        self._attr_is_on = None if state == "unknown" else state == "on"

    async def async_will_remove_from_orge(self) -> None:
        if self._pending is not None:
            self._pending()
            self._pending = None
        await super().async_will_remove_from_orge()

    def apply(self, value: Any, failed: bool = False) -> None:
        assert self.orge is not None
        if failed:  # Home Assistant: unknown at once, no delay_on/delay_off
            if self._pending is not None:
                self._pending()
                self._pending = None
            self._attr_is_on = None
            return
        wanted = result_as_boolean(value)
        if self._pending is not None:
            if wanted == self._pending_value:
                return
            self._pending()
            self._pending = None
        if wanted == self._attr_is_on:
            return
        delay_conf = self.conf.get("delay_on" if wanted else "delay_off")
        if delay_conf is None or self._attr_is_on is None:
            self._attr_is_on = wanted
            return
        try:
            delay = render_period(delay_conf, self._variables)
        except Exception as err:
            _LOGGER.error("%s: invalid delay: %s", self.label, err)
            self._attr_is_on = wanted
            return

        @callback
        def later(_now: float) -> None:
            self._pending = None
            self._attr_is_on = wanted
            self.async_write_state()

        self._pending_value = wanted
        self._pending = async_call_later(self.orge, delay, later)


async def _attach_block(
    orge: Orge, block: dict[str, Any], entities: list[_TemplateEntity]
) -> Callable[[], None]:
    checks = cond.build_all(orge, block["conditions"], "template")
    attach(orge, block)

    @callback
    def triggered(run_vars: dict[str, Any], context: Context | None) -> None:
        try:
            variables = {**render_complex(block["variables"], run_vars), **run_vars}
        except TemplateError as err:
            _LOGGER.error("template: variables failed: %s", err)
            return
        if not all(check(variables) for check in checks):
            return
        for entity in entities:
            entity.async_set_context(context)
            entity.refresh(variables)
            entity.async_write_state()

    return await async_attach_triggers(orge, block["triggers"], triggered, "template entities")


class _Loaded:
    """The template entities and trigger attachments of the current configuration."""

    def __init__(self) -> None:
        self.entities: list[Any] = []
        self.detach: list[Callable[[], None]] = []

    async def async_unload(self) -> None:
        for remove in self.detach:
            remove()
        self.detach.clear()
        for entity in self.entities:
            await entity.async_remove()
        self.entities.clear()

    async def async_load(self, orge: Orge, config: list[Any]) -> None:
        valid, problems = validate_blocks(config, orge.config.config_dir or "")
        for line in problems:
            _LOGGER.error("%s (these template entities are not loaded)", line)
        for block in valid:
            entities: list[_TemplateEntity] = [TemplateSensor(c, block) for c in block["sensor"]]
            entities += [TemplateBinarySensor(c, block) for c in block["binary_sensor"]]
            added = await async_add_entities(orge, DOMAIN, entities)
            self.entities.extend(added)
            if "triggers" in block:
                self.detach.append(await _attach_block(orge, block, added))  # type: ignore[arg-type]


async def async_setup_entities(orge: Orge, config: list[Any]) -> None:
    from orge.script.reload import async_read_domain_block

    loaded = _Loaded()
    await loaded.async_load(orge, config)

    async def reload(call: ServiceCall) -> None:
        block = await async_read_domain_block(orge, DOMAIN, CONFIG_SCHEMA)
        _valid, problems = validate_blocks(block, orge.config.config_dir or "")
        if problems:
            message = "Template entities not reloaded, kept as they were: " + "; ".join(problems)
            _LOGGER.error("%s", message)
            raise OrgeError(message)
        await loaded.async_unload()
        await loaded.async_load(orge, block)

    orge.services.async_register(DOMAIN, "reload", reload)
