"""Conditions: validate them and turn each into a test `check(variables) -> bool`.

Kinds: state, numeric_state, template, time, trigger, and/or/not, and the shorthands
(`- "{{ ... }}"`, `- or: [...]`). A condition whose template fails is false and logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from datetime import time as dt_time
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Orge, State
from orge.script.helpers import (
    each,
    has_at_least_one,
    number_or_entity,
    period,
    pick,
    render_period,
    state_values,
)
from orge.template import Template, TemplateError, result_as_boolean, template, time_value

_LOGGER = logging.getLogger(__name__)
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Check = Callable[[dict[str, Any]], bool]

_BASE = {
    vol.Required("condition"): cv.string,
    vol.Optional("alias"): cv.string,
    vol.Optional("enabled", default=True): cv.boolean,
}


def _time_or_entity(value: Any) -> Any:
    moment = time_value(value)
    if moment is not None:
        return moment
    try:
        return cv.entity_id(value)
    except vol.Invalid:
        raise vol.Invalid(f"expected a time (HH:MM[:SS]) or an entity id, got {value!r}") from None


def _conditions(value: Any) -> list[dict[str, Any]]:
    return CONDITIONS_SCHEMA(value)


_STATE = vol.Schema(
    {
        **_BASE,
        vol.Required("entity_id"): cv.entity_ids,
        vol.Required("state"): state_values,
        vol.Optional("attribute"): cv.string,
        vol.Optional("for"): period,
        vol.Optional("match", default="all"): vol.In(["all", "any"]),
    }
)
_NUMERIC = vol.All(
    vol.Schema(
        {
            **_BASE,
            vol.Required("entity_id"): cv.entity_ids,
            vol.Optional("above"): number_or_entity,
            vol.Optional("below"): number_or_entity,
            vol.Optional("attribute"): cv.string,
            vol.Optional("value_template"): template,
        }
    ),
    has_at_least_one("above", "below"),
)
_TEMPLATE = vol.Schema({**_BASE, vol.Required("value_template"): template})
_TIME = vol.All(
    vol.Schema(
        {
            **_BASE,
            vol.Optional("after"): _time_or_entity,
            vol.Optional("before"): _time_or_entity,
            vol.Optional("weekday"): vol.All(cv.ensure_list, [vol.In(WEEKDAYS)]),
        }
    ),
    has_at_least_one("after", "before", "weekday"),
)
_TRIGGER = vol.Schema({**_BASE, vol.Required("id"): vol.All(cv.ensure_list, [cv.string])})
_LOGIC = vol.Schema({**_BASE, vol.Required("conditions"): vol.All(cv.ensure_list, _conditions)})

KINDS: dict[str, Any] = {
    "state": _STATE,
    "numeric_state": _NUMERIC,
    "template": _TEMPLATE,
    "time": _TIME,
    "trigger": _TRIGGER,
    "and": _LOGIC,
    "or": _LOGIC,
    "not": _LOGIC,
}
_PICK = pick("condition", KINDS, "condition")


def one_condition(value: Any) -> dict[str, Any]:
    """Validate one condition, expanding the shorthands."""
    if isinstance(value, (str, Template)):
        return _TEMPLATE({"condition": "template", "value_template": value})
    if isinstance(value, dict) and "condition" not in value:
        logic = [key for key in ("and", "or", "not") if key in value]
        if len(logic) == 1:
            rest = {k: v for k, v in value.items() if k != logic[0]}
            return _LOGIC({**rest, "condition": logic[0], "conditions": value[logic[0]]})
    if isinstance(value, dict) and isinstance(value.get("condition"), str):
        if "{{" in value["condition"] or "{%" in value["condition"]:
            return _TEMPLATE({"condition": "template", "value_template": value["condition"]})
    return _PICK(value)


CONDITIONS_SCHEMA = each(one_condition)


# --- checking ----------------------------------------------------------------------


def _resolve_limit(orge: Orge, limit: Any) -> float | None:
    if limit is None or isinstance(limit, float):
        return limit
    state = orge.states.get(limit)
    try:
        return float(state.state) if state is not None else None
    except ValueError:
        return None


def numeric_value_matches(
    orge: Orge,
    state: State | None,
    above: Any,
    below: Any,
    attribute: str | None,
    value_template: Template | None,
    variables: dict[str, Any],
    name: str,
) -> bool:
    """True when the entity's number is above `above` and below `below` (both exclusive)."""
    if state is None:
        return False
    try:
        if value_template is not None:
            raw = value_template.async_render({**variables, "state": state})
        else:
            raw = state.attributes.get(attribute) if attribute else state.state
        value = float(raw)
    except TemplateError as err:
        _LOGGER.error("%s: %s", name, err)
        return False
    except (TypeError, ValueError):
        return False
    low, high = _resolve_limit(orge, above), _resolve_limit(orge, below)
    if above is not None and (low is None or value <= low):
        return False
    return not (below is not None and (high is None or value >= high))


def _entity_moment(orge: Orge, value: Any) -> dt_time | None:
    if isinstance(value, dt_time):
        return value
    from orge.script.trigger_time import entity_moment
    from orge.template import time_zone

    moment = entity_moment(orge.states.get(value), time_zone(orge))
    return moment.timetz().replace(tzinfo=None) if isinstance(moment, datetime) else moment


def time_matches(orge: Orge, config: dict[str, Any], now: datetime | None = None) -> bool:
    from orge.template import time_zone

    now = now or datetime.now(time_zone(orge))
    after = _entity_moment(orge, config["after"]) if "after" in config else None
    before = _entity_moment(orge, config["before"]) if "before" in config else None
    if ("after" in config and after is None) or ("before" in config and before is None):
        return False
    current = now.time().replace(tzinfo=None)
    if after is not None and before is not None and before < after:
        in_window = current >= after or current < before  # a window across midnight
    else:
        in_window = (after is None or current >= after) and (before is None or current < before)
    if not in_window:
        return False
    return "weekday" not in config or WEEKDAYS[now.weekday()] in config["weekday"]


def build(orge: Orge, config: dict[str, Any], name: str) -> Check:
    """Turn one validated condition into `check(variables) -> bool`."""
    kind = config["condition"]
    if not config.get("enabled", True):
        return lambda variables: True
    if kind in ("and", "or", "not"):
        checks = [build(orge, sub, name) for sub in config["conditions"]]
        if kind == "and":
            return lambda variables: all(check(variables) for check in checks)
        if kind == "or":
            return lambda variables: any(check(variables) for check in checks)
        return lambda variables: not any(check(variables) for check in checks)
    if kind == "template":
        tpl: Template = config["value_template"]
        tpl.orge = tpl.orge or orge

        def check_template(variables: dict[str, Any]) -> bool:
            try:
                return result_as_boolean(tpl.async_render(variables))
            except TemplateError as err:
                _LOGGER.error("%s: condition failed: %s", name, err)
                return False

        return check_template
    if kind == "trigger":
        ids = config["id"]
        return lambda variables: str((variables.get("trigger") or {}).get("id")) in ids
    if kind == "time":
        return lambda variables: time_matches(orge, config)
    if kind == "numeric_state":
        if config.get("value_template") is not None:
            config["value_template"].orge = orge

        def check_numeric(variables: dict[str, Any]) -> bool:
            return all(
                numeric_value_matches(
                    orge,
                    orge.states.get(entity_id),
                    config.get("above"),
                    config.get("below"),
                    config.get("attribute"),
                    config.get("value_template"),
                    variables,
                    name,
                )
                for entity_id in config["entity_id"]
            )

        return check_numeric
    return _build_state(orge, config, name)


def _build_state(orge: Orge, config: dict[str, Any], name: str) -> Check:
    wanted = config["state"] or []
    attribute = config.get("attribute")
    duration = config.get("for")

    def one(entity_id: str, variables: dict[str, Any]) -> bool:
        state = orge.states.get(entity_id)
        if state is None:
            return False
        value = state.attributes.get(attribute) if attribute else state.state
        targets = [_resolve_state(orge, item) for item in wanted]
        if str(value) not in targets and value not in targets:
            return False
        if duration is None:
            return True
        try:
            needed = render_period(duration, variables).total_seconds()
        except Exception as err:
            _LOGGER.error("%s: invalid 'for': %s", name, err)
            return False
        return time.time() - state.last_changed_timestamp >= needed

    if config["match"] == "any":
        return lambda variables: any(one(eid, variables) for eid in config["entity_id"])
    return lambda variables: all(one(eid, variables) for eid in config["entity_id"])


def _resolve_state(orge: Orge, value: str) -> str:
    """A state condition may compare with another entity (`state: input_select.mode`)."""
    if "." in value and value.split(".", 1)[0] in ("input_select", "input_text", "input_number"):
        other = orge.states.get(value)
        if other is not None:
            return other.state
    return value


def build_all(orge: Orge, configs: list[dict[str, Any]], name: str) -> list[Check]:
    return [build(orge, config, name) for config in configs]
