"""Validating automations one by one: current and older key spellings, blueprints, and
problems that name the file and line to edit."""

from __future__ import annotations

from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.config import format_invalid, location
from orge.script.action_schema import ACTIONS_SCHEMA
from orge.script.condition import CONDITIONS_SCHEMA
from orge.script.script import MODE_SCHEMA
from orge.script.trigger import TRIGGER_SCHEMA
from orge.template import template_complex

DOMAIN = "automation"
_RENAMES = {"trigger": "triggers", "condition": "conditions", "action": "actions"}

AUTOMATION_SCHEMA = vol.Schema(
    {
        vol.Optional("id", description="Unique id; the entity is automation.<id>."): cv.string,
        vol.Optional("alias", description="Name of the automation."): cv.string,
        vol.Optional("description", description="What it is for."): cv.string,
        vol.Optional(
            "initial_state",
            description="On or off at every start; without it the last state is restored.",
        ): cv.boolean,
        **MODE_SCHEMA,
        vol.Optional(
            "variables", default={}, description="Variables (templates) for the actions."
        ): vol.All(dict, template_complex),
        vol.Optional(
            "trigger_variables",
            default={},
            description="Variables (limited templates) available to the triggers.",
        ): dict,
        vol.Required(
            "triggers",
            description="What starts it: one trigger or a list (state, numeric_state, event, time, time_pattern, template, orge).",
        ): TRIGGER_SCHEMA,
        vol.Optional(
            "conditions", default=[], description="What must hold for the actions to run."
        ): CONDITIONS_SCHEMA,
        vol.Required("actions", description="What it does: a sequence of actions."): ACTIONS_SCHEMA,
        vol.Optional(
            "trace", default={}, description="Trace options: {stored_traces: N}."
        ): vol.Schema(
            {
                vol.Optional(
                    "stored_traces", description="Runs kept for automation.get_traces."
                ): vol.All(vol.Coerce(int), vol.Range(min=0, max=100))
            }
        ),
    }
)


def _json_schema(convert: Any) -> dict[str, Any]:
    """An automation (either key spelling) or a blueprint's use, one or a list."""
    from components.automation.blueprint import use_json_schema
    from orge.json_schema import list_or_one, with_old_keys

    blueprint = use_json_schema(convert, convert.config_dir)
    automation = with_old_keys(convert(AUTOMATION_SCHEMA), _RENAMES)
    used = {
        "type": "object",
        "properties": {
            "use_blueprint": blueprint,
            **{k: v for k, v in automation["properties"].items() if k in ("id", "alias")},
        },
        "required": ["use_blueprint"],
    }
    return list_or_one({"anyOf": [automation, used]}, empty_mapping=True, empty_entries=True)


@cv.json_schema(_json_schema)
def block_list(value: Any) -> list[Any]:
    """`automation:` may be a list, one mapping, or empty (an empty included file)."""
    if value is None or value == {}:
        return []
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list):
        raise vol.Invalid("expected a list of automations")
    return [item for item in value if item is not None]


CONFIG_SCHEMA = vol.Schema(block_list)


def _label(config: Any) -> str:
    if isinstance(config, dict):
        for key in ("alias", "id"):
            if config.get(key):
                return f" '{config[key]}'"
    return ""


def validate_automation(config: Any, config_dir: str) -> tuple[dict[str, Any] | None, list[str]]:
    """(validated automation, []) or (None, problems)."""
    if not isinstance(config, dict):
        return None, [f"Invalid automation at {location(config, [], config_dir)}: not a mapping"]
    if "use_blueprint" in config:
        from components.automation.blueprint import resolve

        resolved, problems = resolve(config, config_dir)
        if problems:
            return None, [f"Invalid automation{_label(config)}: {line}" for line in problems]
        assert resolved is not None
        config = resolved
    renamed: dict[str, str] = {}
    normalized: dict[str, Any] = {}
    for key, value in config.items():
        new = _RENAMES.get(key) if isinstance(key, str) else None
        if new and new not in config:
            normalized[new] = value
            renamed[new] = key
        else:
            normalized[key] = value
    try:
        return AUTOMATION_SCHEMA(normalized), []
    except vol.Invalid as err:
        errors = err.errors if isinstance(err, vol.MultipleInvalid) else [err]
        for error in errors:
            if error.path and error.path[0] in renamed:
                error.path[0] = renamed[error.path[0]]
        lines = format_invalid(DOMAIN, err, config, config_dir)
        label = _label(config)
        return None, [line.replace(f"'{DOMAIN}'", f"'{DOMAIN}'{label}", 1) for line in lines]


def validate_all(block: list[Any], config_dir: str) -> tuple[list[dict[str, Any]], list[str]]:
    valid, problems = [], []
    for config in block:
        validated, found = validate_automation(config, config_dir)
        problems.extend(found)
        if validated is not None:
            valid.append(validated)
    return valid, problems
