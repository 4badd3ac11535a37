"""Small validators and helpers shared by triggers, conditions and actions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.template import Template, is_template_string, render_complex, template


def state_value(value: Any) -> str:
    """`to: on` loads as True in YAML 1.1; an operator meant the state 'on'."""
    if value is True:
        return "on"
    if value is False:
        return "off"
    return cv.string(value)


def state_values(value: Any) -> list[str] | None:
    """One state or a list of states (None means any)."""
    if value is None:
        return None
    return [state_value(item) for item in cv.ensure_list(value)]


def period(value: Any) -> timedelta | Template | dict[str, Any]:
    """A duration (5, '00:01:30', {minutes: 1}) or a template giving one."""
    if isinstance(value, (Template, timedelta)):
        return value
    if isinstance(value, str) and is_template_string(value):
        return template(value)
    if isinstance(value, dict) and any(
        isinstance(item, str) and is_template_string(item) for item in value.values()
    ):
        return {
            key: template(item) if isinstance(item, str) else item for key, item in value.items()
        }
    return cv.positive_time_period(value)


def render_period(value: Any, variables: dict[str, Any] | None) -> timedelta:
    """The duration a `period` value stands for now; TemplateError or vol.Invalid if bad."""
    if isinstance(value, timedelta):
        return value
    rendered = render_complex(value, variables)
    return cv.positive_time_period(rendered)


def number_or_entity(value: Any) -> float | str:
    """`above: 10` or `above: input_number.limit`."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    try:
        return cv.entity_id(value)
    except vol.Invalid:
        raise vol.Invalid(f"expected a number or an entity id, got {value!r}") from None


def normalize_keys(value: Any, renames: dict[str, str]) -> Any:
    """Accept the older spelling of a key (`platform:` for `trigger:`)."""
    if not isinstance(value, dict):
        return value
    for old, new in renames.items():
        if old in value and new not in value:
            value = {(new if key == old else key): item for key, item in value.items()}
    return value


def has_at_least_one(*keys: str) -> Callable[[Any], Any]:
    def validate(value: Any) -> Any:
        if not any(key in value for key in keys):
            raise vol.Invalid(f"must contain at least one of {', '.join(keys)}")
        return value

    return validate


def pick(key: str, schemas: dict[str, Any], what: str) -> Callable[[Any], Any]:
    """Choose the schema by `value[key]`; an unknown choice is reported at that key."""

    def validate(value: Any) -> Any:
        if not isinstance(value, dict):
            raise vol.Invalid(f"expected a {what} (a mapping)")
        choice = value.get(key)
        if choice not in schemas:
            raise vol.Invalid(
                f"unknown {what} '{choice}' (expected one of {', '.join(schemas)})", path=[key]
            )
        return schemas[choice](value)

    return validate


def trace_value(value: Any) -> Any:
    """A JSON-friendly form of a value for a trace (states as dicts, durations as seconds)."""
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(key): trace_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [trace_value(item) for item in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def each(validator: Callable[[Any], Any]) -> Callable[[Any], list[Any]]:
    """A list validator that reports every bad item (voluptuous's own stops at the first
    error nested deeper than the item), so check-config lists all problems at once."""

    def validate(value: Any) -> list[Any]:
        result, errors = [], []
        for index, item in enumerate(cv.ensure_list(value)):
            try:
                result.append(validator(item))
            except vol.MultipleInvalid as err:
                for error in err.errors:
                    error.prepend([index])
                    errors.append(error)
            except vol.Invalid as err:
                err.prepend([index])
                errors.append(err)
        if errors:
            raise vol.MultipleInvalid(errors)
        return result

    return validate
