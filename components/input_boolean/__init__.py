"""input_boolean: `input_boolean: {name: {name, initial, icon}}`, restored across restarts
unless `initial` is set."""

from __future__ import annotations

from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import STATE_ON, Orge, ServiceCall

DOMAIN = "input_boolean"

CONFIG_SCHEMA = vol.Schema(
    vol.Any(
        None,
        {
            cv.slug: vol.Any(
                None,
                {
                    vol.Optional("name", description="Friendly name."): cv.string,
                    vol.Optional(
                        "initial",
                        description="State at every start; without it the last state is restored.",
                    ): cv.boolean,
                    vol.Optional("icon", description="Icon, e.g. mdi:car-electric."): cv.string,
                },
            )
        },
    )
)


async def async_setup(orge: Orge, config: dict[str, Any] | None) -> bool:
    from orge.entity import ENTITY_SERVICE_SCHEMA
    from orge.exceptions import ServiceValidationError
    from orge.restore_state import HelperEntity
    from orge.script.reload import async_replace_entities, register_reload

    class InputBoolean(HelperEntity):
        domain = DOMAIN

        def __init__(self, key: str, conf: dict[str, Any]) -> None:
            super().__init__(key, conf)
            self.initial = conf.get("initial")
            self.is_on = False

        @property
        def state(self) -> str:
            return "on" if self.is_on else "off"

        @property
        def extra_state_attributes(self) -> dict[str, Any]:
            return {"editable": False}

        async def async_added_to_orge(self) -> None:
            await super().async_added_to_orge()
            if self.initial is not None:
                self.is_on = self.initial
                return
            last = await self.async_get_last_state()
            self.is_on = last is not None and last.state == STATE_ON

    def build(block: dict[str, Any] | None) -> list[Any]:
        return [InputBoolean(key, conf or {}) for key, conf in (block or {}).items()]

    entities: dict[str, Any] = {}
    await async_replace_entities(orge, DOMAIN, entities, build(config))
    register_reload(orge, DOMAIN, CONFIG_SCHEMA, entities, build)

    def handler(value: Any) -> Any:
        async def handle(call: ServiceCall) -> None:
            wanted = call.data["entity_id"]
            ids = list(entities) if wanted == "all" else wanted
            for entity_id in ids:
                entity = entities.get(entity_id)
                if entity is None:
                    raise ServiceValidationError(f"{entity_id} is not an input_boolean")
                entity.is_on = (not entity.is_on) if value is None else value
                entity.async_set_context(call.context)
                entity.async_write_state()

        return handle

    for service, value in (("turn_on", True), ("turn_off", False), ("toggle", None)):
        orge.services.async_register(DOMAIN, service, handler(value), ENTITY_SERVICE_SCHEMA)
    return True


def configured_entity_ids(config: dict[str, Any] | None) -> set[str]:
    """`<domain>.<key>` for each helper declared in the block (docs/components.md)."""
    return {f"{DOMAIN}.{key}" for key in config or {}}
