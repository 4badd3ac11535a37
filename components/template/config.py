"""The template block's schema and its validation, block by block (a broken block is
named and the others still load)."""

from __future__ import annotations

from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.config import format_invalid
from orge.json_schema import list_or_one, with_old_keys

from .const import DOMAIN

OLD_KEYS = {"trigger": "triggers", "condition": "conditions"}  # older spelling -> current


@cv.json_schema(lambda convert: list_or_one(convert(block_schema()), empty_mapping=True))
def _block_list(value: Any) -> list[Any]:
    if value is None or value == {}:
        return []
    return value if isinstance(value, list) else [value]


CONFIG_SCHEMA = vol.Schema(_block_list)


def block_schema() -> Any:
    from orge.script.condition import CONDITIONS_SCHEMA
    from orge.script.helpers import period
    from orge.script.trigger import TRIGGER_SCHEMA
    from orge.template import template, template_complex

    common = {
        vol.Required("name", description="Friendly name; the entity id comes from it."): cv.string,
        vol.Optional("unique_id", description="Unique id of the entity."): cv.string,
        vol.Required("state", description="Template giving the state."): template,
        vol.Optional("icon", description="Icon (may be a template)."): cv.string,
        vol.Optional("device_class", description="Home Assistant device class."): cv.string,
        vol.Optional(
            "availability",
            description="Template: the entity is unavailable while it renders false.",
        ): template,
        vol.Optional("attributes", default={}, description="Attribute name -> template."): vol.All(
            dict, template_complex
        ),
    }
    sensor = vol.Schema(
        {
            **common,
            vol.Optional("unit_of_measurement", description="Unit of the sensor."): cv.string,
            vol.Optional(
                "state_class", description="measurement, total or total_increasing."
            ): cv.string,
        }
    )
    binary = vol.Schema(
        {
            **common,
            vol.Optional(
                "delay_on",
                description=cv.describe(
                    "Time the template must be true before the sensor turns on.", unit="s"
                ),
            ): period,
            vol.Optional(
                "delay_off",
                description=cv.describe(
                    "Time the template must be false before the sensor turns off.", unit="s"
                ),
            ): period,
        }
    )
    schema = vol.Schema(
        {
            vol.Optional(
                "triggers",
                description="Trigger-based: the states are rendered only when one of these fires (and restored across restarts).",
            ): TRIGGER_SCHEMA,
            vol.Optional(
                "conditions",
                default=[],
                description="Trigger-based: what must hold for a trigger to update the states.",
            ): CONDITIONS_SCHEMA,
            vol.Optional(
                "variables",
                default={},
                description="Variables (templates) for the state templates.",
            ): vol.All(dict, template_complex),
            vol.Optional("sensor", default=[], description="Template sensors."): vol.All(
                cv.ensure_list, [sensor]
            ),
            vol.Optional(
                "binary_sensor", default=[], description="Template binary sensors."
            ): vol.All(cv.ensure_list, [binary]),
        }
    )

    @cv.json_schema(lambda convert: with_old_keys(convert(schema), OLD_KEYS))
    def validate(value: Any) -> Any:
        if isinstance(value, dict):
            renames = OLD_KEYS
            value = {
                (renames.get(k, k) if renames.get(k) not in value else k): v
                for k, v in value.items()
            }
        return schema(value)

    return validate


def validate_blocks(block: list[Any], config_dir: str) -> tuple[list[dict[str, Any]], list[str]]:
    schema = block_schema()
    valid, problems = [], []
    for item in block:
        try:
            valid.append(schema(item))
        except vol.Invalid as err:
            problems.extend(format_invalid(DOMAIN, err, item, config_dir))
    return valid, problems
