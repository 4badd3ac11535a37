"""Voluptuous helpers shared by every schema (Home Assistant calls this `cv`).

Usage: `import orge.validation as cv`, then `cv.port`, `cv.entity_id`, `cv.time_period`...
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from datetime import time as dt_time
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import voluptuous as vol

from orge.core import valid_entity_id

_SLUG = re.compile(r"^[a-z0-9_]+$")
_SERVICE = re.compile(r"^(?!_)[a-z0-9_]+(?<!_)\.(?!_)[a-z0-9_]+(?<!_)$")
_TIME_PERIOD = re.compile(r"^(?:(-?\d+):)?(-?\d+):(-?\d+(?:\.\d+)?)$")


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on", "enable"):
            return True
        if lowered in ("0", "false", "no", "off", "disable"):
            return False
    elif isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise vol.Invalid(f"invalid boolean value {value!r}")


def string(value: Any) -> str:
    """Coerce a scalar to str (but not a mapping or list, which are mistakes)."""
    if value is None:
        raise vol.Invalid("string value is None")
    if isinstance(value, (dict, list)):
        raise vol.Invalid("value should be a string")
    return value if isinstance(value, str) else str(value)


def strict_string(value: Any) -> str:
    """A value that must already be a string in YAML (a port path, a URL)."""
    if not isinstance(value, str):
        raise vol.Invalid(f"expected text, got {yaml_kind(value)}")
    return value


def yaml_kind(value: Any) -> str:
    """What a YAML author wrote, in YAML's words (a mapping, a list, a number, true/false,
    nothing): not the loader's own class names (NodeDict, NodeList...)."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def ensure_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def slug(value: Any) -> str:
    text = string(value)
    if not _SLUG.match(text):
        raise vol.Invalid(f"invalid slug {text} (try lower case letters, digits and _)")
    return text


def slugify(text: str) -> str:
    """'Charger 1 – Max current' -> 'charger_1_max_current'."""
    slugged = re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")
    return slugged or "unnamed"


def entity_id(value: Any) -> str:
    text = string(value).strip().lower()
    if not valid_entity_id(text):
        raise vol.Invalid(f"Entity ID {value} is an invalid entity ID")
    return text


def entity_ids(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    return [entity_id(item) for item in ensure_list(value)]


def entity_domain(domain: str | list[str]) -> Callable[[Any], str]:
    domains = [domain] if isinstance(domain, str) else domain

    def validate(value: Any) -> str:
        text = entity_id(value)
        if text.partition(".")[0] not in domains:
            raise vol.Invalid(f"Entity ID '{text}' does not belong to domain {', '.join(domains)}")
        return text

    return validate


def service(value: Any) -> str:
    text = string(value).lower()
    if not _SERVICE.match(text):
        raise vol.Invalid(f"Service {value} does not match format <domain>.<name>")
    return text


port = vol.All(vol.Coerce(int), vol.Range(min=1, max=65535))
positive_int = vol.All(vol.Coerce(int), vol.Range(min=0))
positive_float = vol.All(vol.Coerce(float), vol.Range(min=0))


def url(value: Any) -> str:
    text = strict_string(value)
    parsed = urlparse(text)
    if parsed.scheme not in ("http", "https", "ws", "wss") or not parsed.netloc:
        raise vol.Invalid(f"invalid url {text!r}")
    return text


def ws_url(value: Any) -> str:
    text = url(value)
    if urlparse(text).scheme not in ("ws", "wss"):
        raise vol.Invalid("expected a ws:// or wss:// URL")
    return text


def time_zone(value: Any) -> str:
    text = string(value)
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise vol.Invalid(
            f"invalid time zone {text!r} (use an IANA name like Europe/Istanbul)"
        ) from None
    return text


def time_period(value: Any) -> timedelta:
    """5, '00:05:00', '5:00', {minutes: 5} or a timedelta -> timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise vol.Invalid("expected a time period, got a boolean")
    if isinstance(value, (int, float)):
        return timedelta(seconds=value)
    if isinstance(value, dict):
        allowed = {"days", "hours", "minutes", "seconds", "milliseconds"}
        unknown = set(value) - allowed
        if unknown:
            raise vol.Invalid(f"unknown time unit {', '.join(map(str, unknown))}")
        try:
            return timedelta(**{key: float(val) for key, val in value.items()})
        except (TypeError, ValueError):
            raise vol.Invalid(f"invalid time period {dict(value)!r}") from None
    if isinstance(value, str):
        text = value.strip()
        try:
            return timedelta(seconds=float(text))
        except ValueError:
            pass
        match = _TIME_PERIOD.match(text)
        if match:
            hours, minutes, seconds = match.groups()
            if hours is None:  # "MM:SS" is read as "HH:MM" by Home Assistant
                hours, minutes, seconds = minutes, seconds, "0"
            return timedelta(hours=int(hours), minutes=int(minutes), seconds=float(seconds))
    raise vol.Invalid(f"offset {value} should be format 'HH:MM', 'HH:MM:SS' or 'HH:MM:SS.F'")


positive_time_period = vol.All(time_period, vol.Range(min=timedelta(0)))


def period_seconds(minimum: float = 0.0) -> Callable[[Any], float]:
    """A time period (as `time_period` takes it) -> seconds (float), at least `minimum`.

    Raises vol.Invalid "must be at least N s" below it."""

    def validate(value: Any) -> float:
        seconds = time_period(value).total_seconds()
        if seconds < minimum:
            raise vol.Invalid(f"must be at least {minimum:g} s")
        return seconds

    setattr(
        validate,
        JSON_SCHEMA_ATTR,
        lambda convert: {**convert(time_period), "minimum": minimum},  # seconds
    )
    return validate


def time_of_day(value: Any) -> dt_time:
    if isinstance(value, dt_time):
        return value
    text = string(value).strip()
    for fmt in ("%H:%M:%S", "%H:%M"):
        try:
            from datetime import datetime

            return datetime.strptime(text, fmt).time()
        except ValueError:
            continue
    raise vol.Invalid(f"invalid time {value!r} (use HH:MM or HH:MM:SS)")


def key_value_schemas(
    key: str, schemas: dict[Hashable, Callable[[Any], Any]]
) -> Callable[[Any], Any]:
    """Pick a schema by the value of one key (e.g. `trigger: state`)."""

    def validate(value: Any) -> Any:
        if not isinstance(value, dict):
            raise vol.Invalid("expected a dictionary")
        choice = value.get(key)
        if choice not in schemas:
            options = ", ".join(str(k) for k in schemas)
            raise vol.Invalid(f"unexpected value for {key}: '{choice}'. Expected {options}")
        return schemas[choice](value)

    return validate


def empty_config_schema(domain: str) -> vol.Schema:
    """For components that take no options: `demo:` (None) or `demo: {}`."""
    return vol.Schema({})  # any key is reported as "'x' is an invalid option for '<domain>'"


# --- templates (orge.template imports jinja2 only when a template is compiled) ----------


def template(value: Any) -> Any:
    """A string compiled to an `orge.template.Template`; a syntax error is Invalid."""
    from orge.template import template as _template

    return _template(value)


def dynamic_template(value: Any) -> Any:
    """A template that must contain `{{ }}` or `{% %}`."""
    from orge.template import dynamic_template as _dynamic

    return _dynamic(value)


def template_complex(value: Any) -> Any:
    """Every string inside dicts and lists compiled to a Template."""
    from orge.template import template_complex as _complex

    return _complex(value)


# --- option documentation and JSON Schema hints (orge/schema_export.py reads them) -----


class OptionDoc(str):
    """An option's description as `description=` carries it, with its unit and example.

    It is the text itself (a str), so anything reading `marker.description` sees the
    sentence; `orge schema export` and docs/configuration.md also show `unit` (an SI or
    Home Assistant unit symbol: "s", "A", "W", "kWh") and `example` (a YAML value)."""

    unit: str | None
    example: Any

    def __new__(cls, text: str, unit: str | None = None, example: Any = None) -> OptionDoc:
        doc = super().__new__(cls, text)
        doc.unit = unit
        doc.example = example
        return doc


def describe(text: str, unit: str | None = None, example: Any = None) -> OptionDoc:
    """`vol.Optional("ack_timeout", description=cv.describe("Wait for an answer.", unit="s"))`.

    The one way an option states its unit and example (a plain `description="..."` string
    is enough for an option that has neither)."""
    return OptionDoc(text, unit, example)


JSON_SCHEMA_ATTR = "__json_schema__"


def json_schema(
    fragment: dict[str, Any] | Callable[[Callable[[Any], dict[str, Any]]], dict[str, Any]],
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Tell `orge schema export` what a custom validator accepts, as a JSON Schema (draft-07)
    fragment, or a function `(convert) -> fragment` where `convert(voluptuous schema)` turns
    the validator's own pieces into JSON Schema. Without it a custom validator exports as
    `{}` (anything accepted): the export never rejects what the station accepts."""

    def mark(validator: Callable[..., Any]) -> Callable[..., Any]:
        setattr(validator, JSON_SCHEMA_ATTR, fragment)
        return validator

    return mark
