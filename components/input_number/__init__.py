"""input_number: `input_number: {name: {min, max, step, initial, mode, unit_of_measurement}}`."""

from __future__ import annotations

from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Orge, ServiceCall

DOMAIN = "input_number"


def _range(conf: dict[str, Any]) -> dict[str, Any]:
    if conf["min"] >= conf["max"]:
        raise vol.Invalid(f"max ({conf['max']}) must be above min ({conf['min']})")
    initial = conf.get("initial")
    if initial is not None and not conf["min"] <= initial <= conf["max"]:
        raise vol.Invalid(f"initial {initial} is outside {conf['min']}..{conf['max']}")
    return conf


ITEM = vol.All(
    {
        vol.Optional("name", description="Friendly name."): cv.string,
        vol.Required("min", description="Lowest value."): vol.Coerce(float),
        vol.Required("max", description="Highest value; above min."): vol.Coerce(float),
        vol.Optional("step", default=1, description="Step between values."): vol.All(
            vol.Coerce(float), vol.Range(min=1e-9)
        ),
        vol.Optional(
            "initial", description="Value at every start; without it the last value is restored."
        ): vol.Coerce(float),
        vol.Optional(
            "mode", default="slider", description="How the web view shows it: slider or box."
        ): vol.In(["slider", "box"]),
        vol.Optional(
            "unit_of_measurement", description="Unit shown with the value, e.g. A."
        ): cv.string,
        vol.Optional("icon", description="Icon, e.g. mdi:current-ac."): cv.string,
    },
    _range,
)
CONFIG_SCHEMA = vol.Schema(vol.Any(None, {cv.slug: ITEM}))


async def async_setup(orge: Orge, config: dict[str, Any] | None) -> bool:
    from orge.entity import ENTITY_SERVICE_SCHEMA
    from orge.exceptions import ServiceValidationError
    from orge.restore_state import HelperEntity
    from orge.script.reload import async_replace_entities, register_reload

    class InputNumber(HelperEntity):
        domain = DOMAIN

        def __init__(self, key: str, conf: dict[str, Any]) -> None:
            super().__init__(key, conf)
            self._attr_unit_of_measurement = conf.get("unit_of_measurement")
            self.value: float = conf.get("initial", conf["min"])

        @property
        def state(self) -> Any:
            value = self.value
            return int(value) if float(value).is_integer() and self.conf["step"] >= 1 else value

        @property
        def capability_attributes(self) -> dict[str, Any]:
            conf = self.conf
            return {
                "min": conf["min"],
                "max": conf["max"],
                "step": conf["step"],
                "mode": conf["mode"],
            }

        async def async_added_to_orge(self) -> None:
            await super().async_added_to_orge()
            if self.conf.get("initial") is not None:
                return
            last = await self.async_get_last_state()
            try:
                value = float(last.state) if last is not None else None
            except ValueError:
                value = None
            if value is not None and self.conf["min"] <= value <= self.conf["max"]:
                self.value = value

        def set(self, value: float) -> None:
            low, high = self.conf["min"], self.conf["max"]
            if not low <= value <= high:
                raise ServiceValidationError(
                    f"Value {value:g} for {self.entity_id} is outside {low:g}..{high:g}"
                )
            self.value = value

    def build(block: dict[str, Any] | None) -> list[Any]:
        return [InputNumber(key, conf) for key, conf in (block or {}).items()]

    entities: dict[str, Any] = {}
    await async_replace_entities(orge, DOMAIN, entities, build(config))
    register_reload(orge, DOMAIN, CONFIG_SCHEMA, entities, build)

    def handler(change: Any) -> Any:
        async def handle(call: ServiceCall) -> None:
            wanted = call.data["entity_id"]
            for entity_id in list(entities) if wanted == "all" else wanted:
                entity = entities.get(entity_id)
                if entity is None:
                    raise ServiceValidationError(f"{entity_id} is not an input_number")
                entity.set(change(entity, call))
                entity.async_set_context(call.context)
                entity.async_write_state()

        return handle

    services = (
        (
            "set_value",
            lambda e, c: c.data["value"],
            ENTITY_SERVICE_SCHEMA.extend({vol.Required("value"): vol.Coerce(float)}),
        ),
        (
            "increment",
            lambda e, c: min(e.value + e.conf["step"], e.conf["max"]),
            ENTITY_SERVICE_SCHEMA,
        ),
        (
            "decrement",
            lambda e, c: max(e.value - e.conf["step"], e.conf["min"]),
            ENTITY_SERVICE_SCHEMA,
        ),
    )
    for service, change, schema in services:
        orge.services.async_register(DOMAIN, service, handler(change), schema)
    return True


def configured_entity_ids(config: dict[str, Any] | None) -> set[str]:
    """`<domain>.<key>` for each helper declared in the block (docs/components.md)."""
    return {f"{DOMAIN}.{key}" for key in config or {}}
