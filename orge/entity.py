"""Entities: Python objects behind states, and the domains operators can control.

A component builds entities and hands them to `async_add_entities(orge, component, [...])`.
The engine gives each an id (`domain.object_id`, unique), writes its state, polls it if it
asks to be polled, and registers the domain's services (`switch.turn_on`,
`number.set_value`, `button.press`, `select.select_option`, `orge.update_entity`), which it
routes to the entity objects named in the call's `entity_id`.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import (
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    Context,
    Orge,
    ServiceCall,
    callback,
)
from orge.exceptions import OrgeError, ServiceValidationError

_LOGGER = logging.getLogger(__name__)
DATA_ENTITIES = "entities"
DEFAULT_SCAN_INTERVAL = timedelta(seconds=30)

ATTR_ENTITY_ID = "entity_id"
ATTR_FRIENDLY_NAME = "friendly_name"
ATTR_UNIT = "unit_of_measurement"
ATTR_DEVICE_CLASS = "device_class"
ATTR_ICON = "icon"

# digits a float state keeps: those below float epsilon are noise (0.1 + 0.2 -> "0.3")
FLOAT_PRECISION = abs(math.floor(math.log10(abs(sys.float_info.epsilon)))) - 1


class Entity:
    """Base of every entity. Subclasses set `_attr_*` or override the properties."""

    domain: str = ""
    scan_interval: timedelta = DEFAULT_SCAN_INTERVAL

    _attr_name: str | None = None
    _attr_object_id: str | None = None
    _attr_unique_id: str | None = None
    _attr_state: Any = None
    _attr_icon: str | None = None
    _attr_unit_of_measurement: str | None = None
    _attr_device_class: str | None = None
    _attr_available: bool = True
    _attr_should_poll: bool = False
    _attr_extra_state_attributes: dict[str, Any] | None = None

    orge: Orge | None = None
    entity_id: str | None = None
    component: str | None = None  # the domain of the component that owns it
    _context: Context | None = None

    @property
    def name(self) -> str | None:
        return self._attr_name

    @property
    def unique_id(self) -> str | None:
        return self._attr_unique_id

    @property
    def state(self) -> Any:
        return self._attr_state

    @property
    def icon(self) -> str | None:
        return self._attr_icon

    @property
    def unit_of_measurement(self) -> str | None:
        return self._attr_unit_of_measurement

    @property
    def device_class(self) -> str | None:
        return self._attr_device_class

    @property
    def available(self) -> bool:
        return self._attr_available

    @property
    def should_poll(self) -> bool:
        return self._attr_should_poll

    @property
    def capability_attributes(self) -> dict[str, Any] | None:
        """Attributes that describe what the entity accepts (min/max, options)."""
        return None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        return self._attr_extra_state_attributes

    async def async_update(self) -> None:
        """Refresh from the device; called for polled entities and by `orge.update_entity`."""

    async def async_added_to_orge(self) -> None:
        """Called once the entity has its id, before its first state write."""

    async def async_will_remove_from_orge(self) -> None:
        """Called before removal: stop listeners and timers here."""

    def async_set_context(self, context: Context | None) -> None:
        """The next state write carries this context (the service call that caused it)."""
        self._context = context

    @callback
    def async_write_state(self) -> None:
        """Write the current state and attributes to the state machine."""
        if self.orge is None or self.entity_id is None:
            raise OrgeError(f"{self!r} is not added to ORGE")
        attributes: dict[str, Any] = {}
        capability = self.capability_attributes
        if capability:
            attributes.update(capability)
        if not self.available:
            state: Any = STATE_UNAVAILABLE
        else:
            value = self.state
            state = STATE_UNKNOWN if value is None else value
            extra = self.extra_state_attributes
            if extra:
                attributes.update(extra)
        for key, value in (
            (ATTR_UNIT, self.unit_of_measurement),
            (ATTR_DEVICE_CLASS, self.device_class),
            (ATTR_ICON, self.icon),
            (ATTR_FRIENDLY_NAME, self.name),
        ):
            if value is not None:
                attributes[key] = value
        customize = self.orge.config.customize.get(self.entity_id)
        if customize:
            attributes.update(customize)
        if isinstance(state, float):
            # Home Assistant's rule (helpers/entity.py): 15 significant digits, the machine
            # epsilon's, so 8.0 stays "8.0" and 1234567.8 kWh is not cut to "1.23457e+06".
            state = f"{state:.{FLOAT_PRECISION}}"
        context, self._context = self._context, None
        self.orge.states.async_set(self.entity_id, state, attributes, context=context)

    async def async_remove(self) -> None:
        if self.orge is None or self.entity_id is None:
            return
        await self.async_will_remove_from_orge()
        self.orge.data.get(DATA_ENTITIES, {}).pop(self.entity_id, None)
        self.orge.states.async_remove(self.entity_id)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.entity_id or self.name}>"


class SensorEntity(Entity):
    domain = "sensor"
    _attr_state_class: str | None = None

    @property
    def native_value(self) -> Any:
        return self._attr_state

    @property
    def state(self) -> Any:
        return self.native_value

    @property
    def capability_attributes(self) -> dict[str, Any] | None:
        return {"state_class": self._attr_state_class} if self._attr_state_class else None


class BinarySensorEntity(Entity):
    domain = "binary_sensor"
    _attr_is_on: bool | None = None

    @property
    def is_on(self) -> bool | None:
        return self._attr_is_on

    @property
    def state(self) -> Any:
        is_on = self.is_on
        return None if is_on is None else (STATE_ON if is_on else STATE_OFF)


class SwitchEntity(BinarySensorEntity):
    domain = "switch"

    async def async_turn_on(self, **kwargs: Any) -> None:
        raise NotImplementedError

    async def async_turn_off(self, **kwargs: Any) -> None:
        raise NotImplementedError

    async def async_toggle(self, **kwargs: Any) -> None:
        if self.is_on:
            await self.async_turn_off(**kwargs)
        else:
            await self.async_turn_on(**kwargs)


class NumberEntity(Entity):
    domain = "number"
    _attr_native_value: float | None = None
    _attr_native_min_value: float = 0
    _attr_native_max_value: float = 100
    _attr_native_step: float = 1
    _attr_mode: str = "auto"

    @property
    def native_value(self) -> float | None:
        return self._attr_native_value

    @property
    def state(self) -> Any:
        value = self.native_value
        if value is None:
            return None
        return (
            int(value)
            if float(value).is_integer() and float(self._attr_native_step).is_integer()
            else value
        )

    @property
    def capability_attributes(self) -> dict[str, Any]:
        return {
            "min": self._attr_native_min_value,
            "max": self._attr_native_max_value,
            "step": self._attr_native_step,
            "mode": self._attr_mode,
        }

    async def async_set_native_value(self, value: float) -> None:
        raise NotImplementedError


class ButtonEntity(Entity):
    """A button's state is the time it was last pressed."""

    domain = "button"
    _last_pressed: float | None = None

    @property
    def state(self) -> Any:
        if self._last_pressed is None:
            return None
        from orge.core import _ts_to_iso

        return _ts_to_iso(self._last_pressed)

    async def async_press(self) -> None:
        raise NotImplementedError


class SelectEntity(Entity):
    domain = "select"
    _attr_options: list[str] = []
    _attr_current_option: str | None = None

    @property
    def options(self) -> list[str]:
        return self._attr_options

    @property
    def current_option(self) -> str | None:
        return self._attr_current_option

    @property
    def state(self) -> Any:
        return self.current_option

    @property
    def capability_attributes(self) -> dict[str, Any]:
        return {"options": list(self.options)}

    async def async_select_option(self, option: str) -> None:
        raise NotImplementedError


# --- adding entities and routing their services -------------------------------------

ENTITY_SERVICE_SCHEMA = vol.Schema(
    {vol.Required(ATTR_ENTITY_ID): vol.Any("all", cv.entity_ids)}, extra=vol.ALLOW_EXTRA
)


def _entities(orge: Orge) -> dict[str, Entity]:
    entities: dict[str, Entity] = orge.data.setdefault(DATA_ENTITIES, {})
    return entities


def get_entity(orge: Orge, entity_id: str) -> Entity | None:
    return _entities(orge).get(entity_id)


def entity_component(orge: Orge, entity_id: str) -> str | None:
    """The component that owns an entity (the web view groups by it)."""
    entity = _entities(orge).get(entity_id)
    return entity.component if entity else None


def _target(orge: Orge, call: ServiceCall, domain: str) -> list[Entity]:
    wanted = call.data.get(ATTR_ENTITY_ID)
    entities = _entities(orge)
    if wanted == "all":
        return [e for eid, e in entities.items() if eid.startswith(domain + ".")]
    found = []
    for entity_id in wanted or []:
        entity = entities.get(entity_id)
        if entity is None or (domain and entity.domain != domain):
            raise ServiceValidationError(
                f"Entity {entity_id} not found for {call.domain}.{call.service}"
            )
        found.append(entity)
    return found


def _entity_service(
    orge: Orge, domain: str, service: str, schema: vol.Schema, method: Callable[..., Any]
) -> None:
    if orge.services.has_service(domain, service):
        return

    async def handle(call: ServiceCall) -> None:
        for entity in _target(orge, call, domain):
            entity.async_set_context(call.context)
            await method(entity, call)
            entity.async_write_state()

    orge.services.async_register(domain, service, handle, schema)


def _number_in_range(entity: NumberEntity, value: float) -> float:
    low, high = entity._attr_native_min_value, entity._attr_native_max_value
    if not low <= value <= high:
        raise ServiceValidationError(
            f"Value {value:g} for {entity.entity_id} is outside {low:g}..{high:g}"
        )
    return value


def _select_valid(entity: SelectEntity, option: str) -> str:
    if option not in entity.options:
        raise ServiceValidationError(
            f"Option {option!r} is not one of {', '.join(entity.options)} for {entity.entity_id}"
        )
    return option


_DOMAIN_SERVICES: dict[str, list[tuple[str, vol.Schema, Callable[..., Any]]]] = {
    "switch": [
        ("turn_on", ENTITY_SERVICE_SCHEMA, lambda e, c: e.async_turn_on()),
        ("turn_off", ENTITY_SERVICE_SCHEMA, lambda e, c: e.async_turn_off()),
        ("toggle", ENTITY_SERVICE_SCHEMA, lambda e, c: e.async_toggle()),
    ],
    "number": [
        (
            "set_value",
            ENTITY_SERVICE_SCHEMA.extend({vol.Required("value"): vol.Coerce(float)}),
            lambda e, c: e.async_set_native_value(_number_in_range(e, c.data["value"])),
        )
    ],
    "button": [("press", ENTITY_SERVICE_SCHEMA, lambda e, c: _press(e))],
    "select": [
        (
            "select_option",
            ENTITY_SERVICE_SCHEMA.extend({vol.Required("option"): cv.string}),
            lambda e, c: e.async_select_option(_select_valid(e, c.data["option"])),
        )
    ],
}


async def _press(entity: ButtonEntity) -> None:
    await entity.async_press()
    entity._last_pressed = time.time()


def _register_core_services(orge: Orge) -> None:
    if orge.services.has_service("orge", "update_entity"):
        return

    async def update_entity(call: ServiceCall) -> None:
        for entity in _target(orge, call, ""):
            await entity.async_update()
            entity.async_write_state()

    orge.services.async_register("orge", "update_entity", update_entity, ENTITY_SERVICE_SCHEMA)


async def async_add_entities(
    orge: Orge, component: str, new_entities: Iterable[Entity]
) -> list[Entity]:
    """Give each entity an id, write its first state, and route its domain's services."""
    entities = _entities(orge)
    added = []
    _register_core_services(orge)
    for entity in new_entities:
        if not entity.domain:
            raise OrgeError(f"{type(entity).__name__} has no domain")
        entity.orge = orge
        entity.component = component
        if entity.entity_id is None:
            object_id = entity._attr_object_id or cv.slugify(entity.name or component)
            entity.entity_id = _unique_id(orge, f"{entity.domain}.{object_id}")
        elif entity.entity_id in entities or not orge.states.async_available(entity.entity_id):
            raise OrgeError(f"Entity id {entity.entity_id} is already taken")
        entities[entity.entity_id] = entity
        orge.states.async_reserve(entity.entity_id)
        for service, schema, method in _DOMAIN_SERVICES.get(entity.domain, []):
            _entity_service(orge, entity.domain, service, schema, method)
        await entity.async_added_to_orge()
        entity.async_write_state()
        if entity.should_poll:
            _start_polling(orge, entity)
        added.append(entity)
    return added


def _unique_id(orge: Orge, entity_id: str) -> str:
    candidate, number = entity_id, 2
    while candidate in _entities(orge) or not orge.states.async_available(candidate):
        candidate = f"{entity_id}_{number}"
        number += 1
    return candidate


def _start_polling(orge: Orge, entity: Entity) -> None:
    from orge.helpers.event import async_track_time_interval

    async def poll(_now: float) -> None:
        try:
            await entity.async_update()
        except Exception:
            _LOGGER.exception("Update of %s failed", entity.entity_id)
            return
        entity.async_write_state()

    cancel = async_track_time_interval(orge, poll, entity.scan_interval)
    original = entity.async_will_remove_from_orge

    async def will_remove() -> None:
        cancel()
        await original()

    entity.async_will_remove_from_orge = will_remove  # type: ignore[method-assign]
