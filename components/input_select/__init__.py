"""input_select: `input_select: {name: {options: [...], initial, name, icon}}`."""

from __future__ import annotations

from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Orge, ServiceCall

DOMAIN = "input_select"


def _initial_in_options(conf: dict[str, Any]) -> dict[str, Any]:
    if len(set(conf["options"])) != len(conf["options"]):
        raise vol.Invalid("options must be unique")
    if "initial" in conf and conf["initial"] not in conf["options"]:
        raise vol.Invalid(f"initial '{conf['initial']}' is not one of the options")
    return conf


ITEM = vol.All(
    {
        vol.Optional("name", description="Friendly name."): cv.string,
        vol.Required("options", description="The choices (at least one)."): vol.All(
            cv.ensure_list, vol.Length(min=1), [cv.string]
        ),
        vol.Optional(
            "initial",
            description="Option at every start (one of options); without it the last one is restored.",
        ): cv.string,
        vol.Optional("icon", description="Icon, e.g. mdi:format-list-bulleted."): cv.string,
    },
    _initial_in_options,
)
CONFIG_SCHEMA = vol.Schema(vol.Any(None, {cv.slug: ITEM}))


async def async_setup(orge: Orge, config: dict[str, Any] | None) -> bool:
    from orge.entity import ENTITY_SERVICE_SCHEMA
    from orge.exceptions import ServiceValidationError
    from orge.restore_state import HelperEntity
    from orge.script.reload import async_replace_entities, register_reload

    class InputSelect(HelperEntity):
        domain = DOMAIN

        def __init__(self, key: str, conf: dict[str, Any]) -> None:
            super().__init__(key, conf)
            self.options: list[str] = list(conf["options"])
            self.current: str = conf.get("initial", self.options[0])

        @property
        def state(self) -> str:
            return self.current

        @property
        def capability_attributes(self) -> dict[str, Any]:
            return {"options": list(self.options)}

        async def async_added_to_orge(self) -> None:
            await super().async_added_to_orge()
            if "initial" in self.conf:
                return
            last = await self.async_get_last_state()
            if last is not None and last.state in self.options:
                self.current = last.state

        def step(self, offset: int, cycle: bool) -> str:
            index = self.options.index(self.current) + offset
            if cycle:
                return self.options[index % len(self.options)]
            return self.options[max(0, min(index, len(self.options) - 1))]

    def build(block: dict[str, Any] | None) -> list[Any]:
        return [InputSelect(key, conf) for key, conf in (block or {}).items()]

    entities: dict[str, Any] = {}
    await async_replace_entities(orge, DOMAIN, entities, build(config))
    register_reload(orge, DOMAIN, CONFIG_SCHEMA, entities, build)

    def select(entity: Any, call: ServiceCall) -> None:
        option = call.data["option"]
        if option not in entity.options:
            raise ServiceValidationError(
                f"Option {option!r} is not one of {', '.join(entity.options)} for {entity.entity_id}"
            )
        entity.current = option

    def set_options(entity: Any, call: ServiceCall) -> None:
        options = list(dict.fromkeys(call.data["options"]))
        if not options:
            raise ServiceValidationError("set_options needs at least one option")
        entity.options = options
        if entity.current not in options:
            entity.current = options[0]

    def handler(change: Any) -> Any:
        async def handle(call: ServiceCall) -> None:
            wanted = call.data["entity_id"]
            for entity_id in list(entities) if wanted == "all" else wanted:
                entity = entities.get(entity_id)
                if entity is None:
                    raise ServiceValidationError(f"{entity_id} is not an input_select")
                change(entity, call)
                entity.async_set_context(call.context)
                entity.async_write_state()

        return handle

    def move(offset: int) -> Any:
        def change(entity: Any, call: ServiceCall) -> None:
            entity.current = entity.step(offset, call.data.get("cycle", True))

        return change

    cycle = ENTITY_SERVICE_SCHEMA.extend({vol.Optional("cycle", default=True): cv.boolean})
    services = (
        (
            "select_option",
            select,
            ENTITY_SERVICE_SCHEMA.extend({vol.Required("option"): cv.string}),
        ),
        ("select_next", move(1), cycle),
        ("select_previous", move(-1), cycle),
        ("select_first", lambda e, c: setattr(e, "current", e.options[0]), ENTITY_SERVICE_SCHEMA),
        ("select_last", lambda e, c: setattr(e, "current", e.options[-1]), ENTITY_SERVICE_SCHEMA),
        (
            "set_options",
            set_options,
            ENTITY_SERVICE_SCHEMA.extend(
                {vol.Required("options"): vol.All(cv.ensure_list, [cv.string])}
            ),
        ),
    )
    for service, change, schema in services:
        orge.services.async_register(DOMAIN, service, handler(change), schema)
    return True


def configured_entity_ids(config: dict[str, Any] | None) -> set[str]:
    """`<domain>.<key>` for each helper declared in the block (docs/components.md)."""
    return {f"{DOMAIN}.{key}" for key in config or {}}
