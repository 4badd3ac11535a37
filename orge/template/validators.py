"""Voluptuous validators that turn configuration strings into Templates (Home Assistant's
cv.template, cv.dynamic_template, cv.template_complex) and how a result reads as a boolean.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol

from orge.template.compiled import Template, TemplateError


def _to_template(value: Any) -> Template:
    if isinstance(value, Template):
        return value
    if value is None or isinstance(value, (dict, list)):
        raise vol.Invalid("template value should be a string")
    if not isinstance(value, str):
        value = str(value)
    tpl = Template(value)
    try:
        tpl.check_syntax()
    except TemplateError as err:
        raise vol.Invalid(f"invalid template ({str(err).split(': ', 1)[-1]})") from None
    return tpl


def template(value: Any) -> Template:
    """Voluptuous validator: a string compiled to a Template (syntax errors are Invalid)."""
    return _to_template(value)


def dynamic_template(value: Any) -> Template:
    """A template that must contain template markers."""
    tpl = _to_template(value)
    if tpl.is_static:
        raise vol.Invalid("template value does not contain a dynamic template")
    return tpl


def template_complex(value: Any) -> Any:
    """Every string inside a dict/list becomes a Template; other scalars stay."""
    if isinstance(value, list):
        return [_at(index, item) for index, item in enumerate(value)]
    if isinstance(value, dict):
        return {key: _at(key, item) for key, item in value.items()}
    if isinstance(value, str):
        return _to_template(value)
    return value


def _at(key: Any, value: Any) -> Any:
    """template_complex of one item; an error names the item's place (file and line)."""
    try:
        return template_complex(value)
    except vol.Invalid as err:
        raise vol.Invalid(err.msg, path=[key, *err.path]) from None


def result_as_boolean(value: Any) -> bool:
    """How a condition template's result is read: true/on/yes/1 (any case) are true."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in ("true", "on", "yes", "1", "enable")
    return False
