"""Validating `actions:` (Home Assistant's script syntax), current and older spellings.

`action: light.turn_on` and `service: light.turn_on` are both a service call; the kind of
any other step is named by the key it carries (`delay`, `choose`, `repeat`, ...).
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.script.condition import CONDITIONS_SCHEMA, one_condition
from orge.script.helpers import each, period
from orge.script.trigger import TRIGGER_SCHEMA
from orge.template import Template, is_template_string, template, template_complex

KEYED_KINDS = (
    "delay",
    "wait_template",
    "wait_for_trigger",
    "event",
    "choose",
    "if",
    "repeat",
    "variables",
    "stop",
    "parallel",
    "sequence",
    "condition",
)

_BASE = {
    vol.Optional("alias", description="Name of the step in traces."): cv.string,
    vol.Optional("enabled", default=True, description="false: the step is skipped."): cv.boolean,
    vol.Optional(
        "continue_on_error",
        default=False,
        description="Go on with the next step when this one fails.",
    ): cv.boolean,
}


def action_kind(step: Any) -> str:
    """The kind of one action step; raises vol.Invalid for an unknown one."""
    if not isinstance(step, dict):
        raise vol.Invalid("expected an action (a mapping)")
    if isinstance(step.get("action"), str) or "service" in step or "service_template" in step:
        return "call_service"
    for key in KEYED_KINDS:
        if key in step:
            return key
    keys = ", ".join(map(str, step)) or "nothing"
    raise vol.Invalid(f"unable to determine action from keys: {keys}")


def _service_name(value: Any) -> str | Template:
    if isinstance(value, str) and is_template_string(value):
        return template(value)
    return cv.service(value)


def _call_service(value: dict[str, Any]) -> dict[str, Any]:
    value = dict(value)
    key = next(k for k in ("action", "service", "service_template") if k in value)
    name = value.pop(key)
    for other in ("action", "service", "service_template"):
        value.pop(other, None)
    data_key = "data_template" if "data_template" in value else "data"
    data = dict(value.pop("data", None) or {})
    data.update(value.pop("data_template", None) or {})
    target = dict(value.pop("target", None) or {})
    if "entity_id" in value:  # older: entity_id beside service
        target["entity_id"] = value.pop("entity_id")
    validated = _CALL_SERVICE(value)
    try:
        validated["action"] = _service_name(name)
    except vol.Invalid as err:
        raise vol.Invalid(err.msg, path=[key]) from None
    for name, raw, key in (("data", data, data_key), ("target", target, "target")):
        try:
            validated[name] = template_complex(raw)
        except vol.Invalid as err:
            raise vol.Invalid(err.msg, path=[key, *err.path]) from None
    return validated


_CALL_SERVICE = vol.Schema(
    {
        **_BASE,
        vol.Optional(
            "response_variable", description="Variable that receives the service's response."
        ): cv.string,
        vol.Optional("metadata", description="Free-form data kept with the step."): dict,
    }
)


def _actions(value: Any) -> list[dict[str, Any]]:
    return ACTIONS_SCHEMA(value)


_WAIT = {
    vol.Optional(
        "timeout",
        description=cv.describe("Longest wait; then continue_on_timeout decides.", unit="s"),
    ): period,
    vol.Optional(
        "continue_on_timeout",
        default=True,
        description="After a timeout, go on (wait.completed is false) or stop the run.",
    ): cv.boolean,
}


def _repeat_body(value: Any) -> dict[str, Any]:
    kinds = [key for key in ("count", "while", "until", "for_each") if key in value]
    if len(kinds) != 1:
        raise vol.Invalid("repeat needs exactly one of count, while, until, for_each")
    return value


def _count(value: Any) -> Any:
    if isinstance(value, str) and is_template_string(value):
        return template(value)
    return vol.All(vol.Coerce(int), vol.Range(min=0))(value)


def _for_each(value: Any) -> Any:
    if isinstance(value, str):
        return template(value)
    if isinstance(value, list):
        return template_complex(value)
    raise vol.Invalid("for_each needs a list or a template")


def _parallel_branch(value: Any) -> list[dict[str, Any]]:
    if (
        isinstance(value, dict)
        and set(value) <= {"sequence", "alias", "enabled"}
        and "sequence" in value
    ):
        return _actions(value["sequence"])
    return _actions([value])


SCHEMAS: dict[str, Any] = {
    "delay": vol.Schema(
        {
            **_BASE,
            vol.Required(
                "delay",
                description=cv.describe("Wait this long (a duration or a template).", unit="s"),
            ): period,
        }
    ),
    "wait_template": vol.Schema(
        {
            **_BASE,
            **_WAIT,
            vol.Required(
                "wait_template", description="Wait until this template renders true."
            ): template,
        }
    ),
    "wait_for_trigger": vol.Schema(
        {
            **_BASE,
            **_WAIT,
            vol.Required(
                "wait_for_trigger", description="Wait until one of these triggers fires."
            ): TRIGGER_SCHEMA,
        }
    ),
    "event": vol.Schema(
        {
            **_BASE,
            vol.Required("event", description="Event type to fire."): cv.string,
            vol.Optional("event_data", default={}, description="Event data (templates)."): vol.All(
                dict, template_complex
            ),
            vol.Optional(
                "event_data_template", description="Older spelling of event_data."
            ): vol.All(dict, template_complex),
        }
    ),
    "choose": vol.Schema(
        {
            **_BASE,
            vol.Required(
                "choose",
                description="Options tried in order: the first whose conditions pass runs its sequence.",
            ): vol.All(
                cv.ensure_list,
                [
                    vol.Schema(
                        {
                            vol.Optional(
                                "alias", description="Name of this option in traces."
                            ): cv.string,
                            vol.Required(
                                "conditions", description="What must pass for this option."
                            ): CONDITIONS_SCHEMA,
                            vol.Required(
                                "sequence", description="Actions of this option."
                            ): _actions,
                        }
                    )
                ],
            ),
            vol.Optional("default", description="Actions run when no option passes."): _actions,
        }
    ),
    "if": vol.Schema(
        {
            **_BASE,
            vol.Required(
                "if", description="Conditions deciding between then and else."
            ): CONDITIONS_SCHEMA,
            vol.Required("then", description="Actions run when the conditions pass."): _actions,
            vol.Optional("else", description="Actions run when they do not."): _actions,
        }
    ),
    "repeat": vol.Schema(
        {
            **_BASE,
            vol.Required(
                "repeat",
                description="Repeat a sequence: exactly one of count, while, until, for_each.",
            ): vol.All(
                vol.Schema(
                    {
                        vol.Optional(
                            "count", description="Times to repeat (a number or a template)."
                        ): _count,
                        vol.Optional(
                            "while",
                            description="Repeat while these conditions pass (checked before each run).",
                        ): CONDITIONS_SCHEMA,
                        vol.Optional(
                            "until",
                            description="Repeat until these conditions pass (checked after each run).",
                        ): CONDITIONS_SCHEMA,
                        vol.Optional(
                            "for_each",
                            description="Repeat once per item of this list (or template); the item is repeat.item.",
                        ): _for_each,
                        vol.Required("sequence", description="Actions to repeat."): _actions,
                    }
                ),
                _repeat_body,
            ),
        }
    ),
    "variables": vol.Schema(
        {
            **_BASE,
            vol.Required(
                "variables", description="Variables (templates) set for the following steps."
            ): vol.All(dict, template_complex),
        }
    ),
    "stop": vol.Schema(
        {
            **_BASE,
            vol.Required("stop", description="Stop the run, with this reason."): cv.string,
            vol.Optional(
                "error", default=False, description="The stop is an error (the run fails)."
            ): cv.boolean,
            vol.Optional(
                "response_variable", description="Variable whose value the run returns."
            ): cv.string,
        }
    ),
    "parallel": vol.Schema(
        {
            **_BASE,
            vol.Required(
                "parallel", description="Steps (or sequences) run at the same time."
            ): vol.All(cv.ensure_list, [_parallel_branch]),
        }
    ),
    "sequence": vol.Schema(
        {**_BASE, vol.Required("sequence", description="Actions run as one group."): _actions}
    ),
}


def one_action(value: Any) -> dict[str, Any]:
    kind = action_kind(value)
    if kind == "call_service":
        validated = _call_service(value)
    elif kind == "condition":
        extra = {k: value[k] for k in ("continue_on_error",) if k in value}
        validated = one_condition({k: v for k, v in value.items() if k not in extra})
        validated["continue_on_error"] = cv.boolean(extra.get("continue_on_error", False))
    else:
        validated = SCHEMAS[kind](value)
    validated["kind"] = kind
    return validated


ACTIONS_SCHEMA = each(one_action)


def validate_actions(value: Any) -> list[dict[str, Any]]:
    return ACTIONS_SCHEMA(value)
