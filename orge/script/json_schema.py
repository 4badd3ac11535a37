"""Triggers, conditions and actions as JSON Schema, for `orge schema export`.

Defines `trigger`, `triggers`, `condition`, `conditions`, `action` and `actions` in the
converter's definitions, from the same voluptuous schemas that validate them (one per
trigger platform, condition and action kind), with the shorthands Home Assistant accepts:
`platform:` for `trigger:`, a template string as a condition, `and:`/`or:`/`not:` without
`condition:`, `service:` for `action:` (HA docs: automation triggers, conditions,
script syntax). Each item is an anyOf of its kinds, told apart by their own key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orge.validation as cv
from orge.script import action_schema, condition, trigger

if TYPE_CHECKING:
    from orge.json_schema import Converter

Fragment = dict[str, Any]
_TEMPLATE_TEXT = r"\{\{|\{%"


def _ref(name: str) -> Fragment:
    return {"$ref": f"#/definitions/{name}"}


def _kind(convert: Converter, schema: Any, key: str, names: list[str]) -> Fragment:
    """One kind's object schema with `key` fixed to its name(s)."""
    from orge.json_schema import merge

    fragment = convert(schema)
    parts = fragment.get("allOf")
    if parts:  # a kind with a check of its own: the object is its first part
        fragment = merge([p for p in parts if p.get("type") == "object"]) or fragment
    fragment = dict(fragment)
    properties = dict(fragment.get("properties", {}))
    choice: Fragment = {"const": names[0]} if len(names) == 1 else {"enum": names}
    if "description" in properties.get(key, {}):
        choice["description"] = properties[key]["description"]
    properties[key] = choice
    fragment["properties"] = properties
    return fragment


def define_script_shapes(convert: Converter) -> None:
    """Put the six shapes in `convert.definitions` and map the engine's validators to them."""
    from orge.json_schema import OLDER_SPELLING, SERVICE, list_or_one, with_old_keys

    for name, schema in (
        ("triggers", trigger.TRIGGER_SCHEMA),
        ("conditions", condition.CONDITIONS_SCHEMA),
        ("actions", action_schema.ACTIONS_SCHEMA),
    ):
        convert.alias(schema, name)
    convert.alias(condition._conditions, "conditions")
    convert.alias(action_schema._actions, "actions")
    # `for:`, `delay:`, `timeout:` take a duration, or a template giving one.
    convert.alias(_period_validator(), "time_period")

    def one_trigger() -> Fragment:
        kinds = []
        for name, schema in trigger.PLATFORMS.items():
            names = [name, "homeassistant"] if name == "orge" else [name]
            fragment = _kind(convert, schema, "trigger", names)
            kinds.append(with_old_keys(fragment, {"platform": "trigger"}))
        return {"anyOf": kinds}

    def one_condition() -> Fragment:
        kinds: list[Fragment] = [{"type": "string", "pattern": _TEMPLATE_TEXT}]
        for name, schema in condition.KINDS.items():
            kinds.append(_kind(convert, schema, "condition", [name]))
        for logic in ("and", "or", "not"):  # `and: [...]`, shorthand of `condition: and`
            full = convert(condition.KINDS[logic])
            properties = {
                key: value
                for key, value in full["properties"].items()
                if key not in ("condition", "conditions")
            }
            properties[logic] = {
                **full["properties"]["conditions"],
                "description": f"Shorthand of `condition: {logic}` with these conditions.",
            }
            kinds.append(
                {
                    "type": "object",
                    "properties": properties,
                    "required": [logic],
                    "additionalProperties": False,
                }
            )
        kinds.append(  # `condition: "{{ ... }}"`, a template condition
            {
                "type": "object",
                "properties": {
                    "condition": {
                        "type": "string",
                        "pattern": _TEMPLATE_TEXT,
                        "description": "Shorthand of a template condition.",
                    }
                },
                "required": ["condition"],
            }
        )
        return {"anyOf": kinds}

    def one_action() -> Fragment:
        call = convert(action_schema._CALL_SERVICE)
        properties = dict(call.get("properties", {}))
        name = {"type": "string", "pattern": rf"{SERVICE['pattern']}|{_TEMPLATE_TEXT}"}
        properties["action"] = {**name, "description": "Service to call: domain.service."}
        for key in ("service", "service_template"):
            properties[key] = {**name, "description": f"{OLDER_SPELLING} `action`."}
        mapping = {"type": ["object", "null"]}
        properties["data"] = {**mapping, "description": "Service data (templates)."}
        properties["data_template"] = {**mapping, "description": f"{OLDER_SPELLING} `data`."}
        properties["target"] = {
            **mapping,
            "description": "Entities, devices or areas acted on: {entity_id: ...}.",
        }
        properties["entity_id"] = {"description": f"{OLDER_SPELLING} `target: {{entity_id}}`."}
        call_service = {
            **call,
            "properties": properties,
            "anyOf": [{"required": [key]} for key in ("action", "service", "service_template")],
        }
        kinds: list[Fragment] = [call_service]
        kinds.extend(convert(schema) for schema in action_schema.SCHEMAS.values())
        for kind in condition.KINDS:
            fragment = _kind(convert, condition.KINDS[kind], "condition", [kind])
            properties = dict(fragment["properties"])
            properties["continue_on_error"] = convert(cv.boolean)
            kinds.append({**fragment, "properties": properties})
        return {"anyOf": kinds}

    convert.define("trigger", None, one_trigger)
    convert.define("triggers", trigger.TRIGGER_SCHEMA, lambda: list_or_one(_ref("trigger")))
    convert.define("condition", None, one_condition)
    convert.define(
        "conditions", condition.CONDITIONS_SCHEMA, lambda: list_or_one(_ref("condition"))
    )
    convert.define("action", None, one_action)
    convert.define("actions", action_schema.ACTIONS_SCHEMA, lambda: list_or_one(_ref("action")))


def _period_validator() -> Any:
    from orge.script.helpers import period

    return period
