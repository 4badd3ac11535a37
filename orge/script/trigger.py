"""Triggers: validate a `triggers:` list and attach it to the hub.

Both spellings are accepted: `trigger: state` and the older `platform: state`
(`platform: homeassistant` is read as `trigger: orge`). Attaching returns one function
that detaches every trigger of the list.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Context, Orge, callback, job_type_of
from orge.script.condition import attribute_values
from orge.script.helpers import (
    each,
    has_at_least_one,
    normalize_keys,
    number_or_entity,
    period,
    pick,
    state_values,
)
from orge.template import dynamic_template, template, template_complex

_LOGGER = logging.getLogger(__name__)

_BASE = {
    vol.Required(
        "trigger",
        description="Trigger platform: state, numeric_state, event, time, time_pattern, template or orge (older: platform:).",
    ): cv.string,
    vol.Optional(
        "id",
        description="Id of the trigger, as trigger.id in the actions and for a trigger condition.",
    ): cv.string,
    vol.Optional("alias", description="Name of the trigger in traces."): cv.string,
    vol.Optional("enabled", default=True, description="false: the trigger is ignored."): cv.boolean,
    vol.Optional(
        "variables", description="Variables (templates) set when this trigger fires."
    ): vol.All(dict, template_complex),
}


def _state_schema(values: Callable[[Any], Any]) -> vol.Schema:
    return vol.Schema(
        {
            **_BASE,
            vol.Required("entity_id", description="Entity id or ids to watch."): cv.entity_ids,
            vol.Optional(
                "from",
                description="Fires only when the state (or attribute) changes from this value or one of these.",
            ): values,
            vol.Optional(
                "to",
                description="Fires only when the state (or attribute) changes to this value or one of these.",
            ): values,
            vol.Optional(
                "not_from", description="Fires only when the old state is none of these."
            ): values,
            vol.Optional(
                "not_to", description="Fires only when the new state is none of these."
            ): values,
            vol.Optional(
                "attribute", description="Watch this attribute instead of the state."
            ): cv.string,
            vol.Optional(
                "for",
                description=cv.describe(
                    "The condition must hold this long before the trigger fires (a duration or a template).",
                    unit="s",
                ),
            ): period,
        }
    )


_STATE_OF_STATE = _state_schema(state_values)
_STATE_OF_ATTRIBUTE = _state_schema(attribute_values)


# Exported as the attribute form: it takes every value the state form takes.
@cv.json_schema(lambda convert: convert(_STATE_OF_ATTRIBUTE))
def _STATE(value: Any) -> dict[str, Any]:
    """A state trigger: states are strings, an `attribute:` trigger's values keep their type."""
    by_attribute = isinstance(value, dict) and "attribute" in value
    config: dict[str, Any] = (_STATE_OF_ATTRIBUTE if by_attribute else _STATE_OF_STATE)(value)
    for key, negated in (("from", "not_from"), ("to", "not_to")):
        if key in config and negated in config:
            raise vol.Invalid(f"use '{key}' or '{negated}', not both", path=[negated])
    return config


_NUMERIC_STATE = vol.All(
    vol.Schema(
        {
            **_BASE,
            vol.Required("entity_id", description="Entity id or ids to watch."): cv.entity_ids,
            vol.Optional(
                "above",
                description="Fires when the value crosses above this number (or the state of this entity).",
            ): number_or_entity,
            vol.Optional(
                "below",
                description="Fires when the value crosses below this number (or the state of this entity).",
            ): number_or_entity,
            vol.Optional(
                "attribute", description="Watch this attribute instead of the state."
            ): cv.string,
            vol.Optional(
                "value_template", description="Template turning the state into the number compared."
            ): template,
            vol.Optional(
                "for",
                description=cv.describe(
                    "The condition must hold this long before the trigger fires (a duration or a template).",
                    unit="s",
                ),
            ): period,
        }
    ),
    has_at_least_one("above", "below"),
)

_EVENT = vol.Schema(
    {
        **_BASE,
        vol.Required("event_type", description="Event type or types to listen to."): vol.All(
            cv.ensure_list, [cv.string]
        ),
        vol.Optional(
            "event_data", description="Fires only when the event data contains these values."
        ): dict,
    }
)


def _at_value(value: Any) -> Any:
    from orge.template import time_value

    moment = time_value(value)
    if moment is not None:
        return moment
    try:
        return cv.entity_id(value)
    except vol.Invalid:
        raise vol.Invalid(f"expected a time (HH:MM[:SS]) or an entity id, got {value!r}") from None


_TIME = vol.Schema(
    {
        **_BASE,
        vol.Required(
            "at",
            description="Time of day (HH:MM[:SS]) or input_datetime / timestamp sensor entity, or a list of them.",
        ): vol.All(cv.ensure_list, [_at_value]),
    }
)


def _pattern(value: Any) -> str:
    text = str(value).strip()
    body = text[1:] if text.startswith("/") else text
    if text != "*" and not body.isdigit():
        raise vol.Invalid(f"invalid time pattern {value!r} (use a number, * or /n)")
    return text


_TIME_PATTERN = vol.All(
    vol.Schema(
        {
            **_BASE,
            vol.Optional(
                "hours", description="Hours to fire at: a number, * or /n (every n)."
            ): _pattern,
            vol.Optional(
                "minutes", description="Minutes to fire at: a number, * or /n (every n)."
            ): _pattern,
            vol.Optional(
                "seconds", description="Seconds to fire at: a number, * or /n (every n)."
            ): _pattern,
        }
    ),
    has_at_least_one("hours", "minutes", "seconds"),
)

_TEMPLATE = vol.Schema(
    {
        **_BASE,
        vol.Required(
            "value_template", description="Fires when this template turns true."
        ): dynamic_template,
        vol.Optional(
            "for",
            description=cv.describe(
                "The condition must hold this long before the trigger fires (a duration or a template).",
                unit="s",
            ),
        ): period,
    }
)

_ORGE = vol.Schema(
    {
        **_BASE,
        vol.Required(
            "event",
            description="start or shutdown of ORGE (Home Assistant's homeassistant platform).",
        ): vol.In(["start", "shutdown"]),
    }
)

PLATFORMS: dict[str, Any] = {
    "state": _STATE,
    "numeric_state": _NUMERIC_STATE,
    "event": _EVENT,
    "time": _TIME,
    "time_pattern": _TIME_PATTERN,
    "template": _TEMPLATE,
    "orge": _ORGE,
}

_PICK = pick("trigger", PLATFORMS, "trigger platform")


def _one_trigger(value: Any) -> dict[str, Any]:
    value = normalize_keys(value, {"platform": "trigger"})
    if isinstance(value, dict) and value.get("trigger") == "homeassistant":
        value = {**value, "trigger": "orge"}
    return _PICK(value)


class ValidatedTriggers(list):  # type: ignore[type-arg]
    """A trigger list that passed TRIGGER_SCHEMA: attaching it skips validation."""


TRIGGER_SCHEMA = vol.All(each(_one_trigger), lambda value: ValidatedTriggers(value))


def validate_triggers(config_list: Any) -> list[dict[str, Any]]:
    """Validate a trigger or list of triggers; raises vol.Invalid naming the bad key."""
    if isinstance(config_list, ValidatedTriggers):
        return config_list
    return TRIGGER_SCHEMA(config_list)


def describe(config: dict[str, Any]) -> str:
    """A short description for traces: 'state of sensor.charger_state'."""
    platform = config["trigger"]
    if platform in ("state", "numeric_state"):
        return f"{platform.replace('_', ' ')} of {', '.join(config['entity_id'])}"
    if platform == "event":
        return f"event '{', '.join(config['event_type'])}'"
    if platform == "time":
        return f"time {', '.join(str(at) for at in config['at'])}"
    if platform == "time_pattern":
        return "time pattern"
    if platform == "orge":
        return f"ORGE {config['event']}"
    return platform


TriggerAction = Callable[..., Any]


async def async_attach_triggers(
    orge: Orge,
    trigger_configs: list[Any],
    action: TriggerAction,
    name: str,
    variables: dict[str, Any] | None = None,
) -> Callable[[], None]:
    """Attach every enabled trigger; `action({"trigger": {...}})` runs on each firing.

    An action taking two arguments also gets the Context of what fired the trigger.
    Returns a function that detaches them all.
    """
    from orge.script import trigger_platforms, trigger_time
    from orge.template import attach

    configs = validate_triggers(trigger_configs)
    attach(orge, configs)
    wants_context = _takes_two(action)
    job_type = job_type_of(action)
    removers: list[Callable[[], None]] = []
    for idx, config in enumerate(configs):
        if not config["enabled"]:
            continue
        base = {
            "id": config.get("id", str(idx)),
            "idx": str(idx),
            "alias": config.get("alias"),
            "platform": config["trigger"],
        }

        def fire(
            data: dict[str, Any],
            context: Context | None = None,
            _base: dict[str, Any] = base,
            _config: dict[str, Any] = config,
        ) -> None:
            trigger = {**_base, **data}
            run_vars: dict[str, Any] = {"trigger": trigger}
            if "variables" in _config:
                try:
                    from orge.template import render_complex

                    extra = render_complex(_config["variables"], {**(variables or {}), **run_vars})
                    run_vars = {**extra, **run_vars}
                except Exception as err:
                    _LOGGER.error("%s: trigger variables failed: %s", name, err)
                    return
            if wants_context:
                orge.async_run_job(action, job_type, run_vars, context)
            else:
                orge.async_run_job(action, job_type, run_vars)

        platform = config["trigger"]
        module = trigger_time if platform in ("time", "time_pattern") else trigger_platforms
        attach_fn = getattr(module, f"attach_{platform}")
        try:
            removers.append(attach_fn(orge, config, callback(fire), name, variables or {}))
        except Exception:
            _LOGGER.exception("%s: cannot attach trigger %s", name, describe(config))
            for remove in removers:
                remove()
            raise
    _LOGGER.debug("%s: attached %d trigger(s)", name, len(removers))

    @callback
    def remove_all() -> None:
        for remove in removers:
            remove()
        removers.clear()

    return remove_all


_TAKES_TWO: dict[Any, bool] = {}


def _takes_two(action: Callable[..., Any]) -> bool:
    key = getattr(action, "__func__", None)
    if key is not None:
        if key not in _TAKES_TWO:
            _TAKES_TWO[key] = _signature_takes_two(action)
        return _TAKES_TWO[key]
    return _signature_takes_two(action)


def _signature_takes_two(action: Callable[..., Any]) -> bool:
    try:
        params = [
            p
            for p in inspect.signature(action).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return False
    return len(params) >= 2
