"""The script block's schema and its validation, script by script (a broken script is
named and the others still load)."""

from __future__ import annotations

from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.config import format_invalid

from .const import DOMAIN


@cv.json_schema(
    lambda convert: {
        "anyOf": [
            {"type": "null"},
            {"type": "array", "maxItems": 0},
            {
                "type": "object",
                "patternProperties": {"^[a-z0-9_]+$": convert(script_schema())},
                "additionalProperties": False,
            },
        ]
    }
)
def _block(value: Any) -> dict[str, Any]:
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise vol.Invalid("expected a mapping of script name: script")
    for name in value:
        cv.slug(name)
    return value


CONFIG_SCHEMA = vol.Schema(_block)


def script_schema() -> vol.Schema:
    from orge.script.action_schema import ACTIONS_SCHEMA
    from orge.script.script import MODE_SCHEMA
    from orge.template import template_complex

    field = vol.Schema(
        {
            vol.Optional("name", description="Field name shown in the web view."): cv.string,
            vol.Optional("description", description="What the field is for."): cv.string,
            vol.Optional("example", description="Example value shown in the web view."): object,
            vol.Optional("default", description="Value when the call gives none."): object,
            vol.Optional(
                "required", default=False, description="The call must give this field."
            ): cv.boolean,
            vol.Optional(
                "selector",
                description="Home Assistant selector of the field (how a UI asks for it).",
            ): vol.Any(None, dict),
        }
    )
    return vol.Schema(
        {
            vol.Optional("alias", description="Name of the script."): cv.string,
            vol.Optional("description", description="What the script does."): cv.string,
            vol.Optional("icon", description="Icon, e.g. mdi:stop."): cv.string,
            **MODE_SCHEMA,
            vol.Optional(
                "fields",
                default={},
                description="Fields a call may give: field name -> {name, description, example, default, required, selector}; each is a variable of the sequence.",
            ): {cv.slug: vol.Any(None, field)},
            vol.Optional(
                "variables", default={}, description="Variables (templates) for the sequence."
            ): vol.All(dict, template_complex),
            vol.Required("sequence", description="The actions to run."): ACTIONS_SCHEMA,
        }
    )


def validate_scripts(block: dict[str, Any], config_dir: str) -> tuple[dict[str, Any], list[str]]:
    schema = script_schema()
    valid, problems = {}, []
    for name, config in block.items():
        try:
            valid[name] = schema(config if config is not None else {})
        except vol.Invalid as err:
            for line in format_invalid(DOMAIN, err, config, config_dir):
                problems.append(line.replace(f"'{DOMAIN}'", f"'{DOMAIN}' '{name}'", 1))
    return valid, problems
