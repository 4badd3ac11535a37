"""MQTT topic names the station publishes under: one level, and a prefix of levels."""

from __future__ import annotations

import re
from typing import Any

import voluptuous as vol

import orge.validation as cv

# A topic level that is safe everywhere: no MQTT wildcard or separator, and HA's
# discovery node_id/object_id alphabet ([a-zA-Z0-9_-]).
_TOPIC_LEVEL = re.compile(r"^[A-Za-z0-9_-]+$")


@cv.json_schema({"type": "string", "pattern": _TOPIC_LEVEL.pattern})
def topic_level(value: Any) -> str:
    """One MQTT topic level usable in a discovery topic too: letters, digits, `_`, `-`."""
    text = cv.strict_string(value)
    if not _TOPIC_LEVEL.match(text):
        raise vol.Invalid(f"only letters, digits, '_' and '-' are allowed, got {text!r}")
    return text


@cv.json_schema({"type": "string", "pattern": r"^[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*$"})
def base_topic(value: Any) -> str:
    """A topic prefix: levels separated by `/`, no wildcards, no empty level."""
    text = cv.strict_string(value)
    for level in text.split("/"):
        topic_level(level)
    return text
