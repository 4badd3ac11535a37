"""Conditions: validate them and turn each into a test `check(variables) -> bool`.

Kinds: state, numeric_state, template, time, trigger, and/or/not, and the shorthands
(`- "{{ ... }}"`, `- or: [...]`). A condition whose template fails is false and logged.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import datetime
from datetime import time as dt_time
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge import dt as dt_util
from orge.core import STATE_UNAVAILABLE, STATE_UNKNOWN, Orge, State
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


def attribute_values(value: Any) -> list[Any] | None:
    """One attribute value or a list of them, kept typed (None means any).

    Home Assistant validates these with `cv.match_all`: `16` matches the number 16.0 and
    `true` the boolean true (helpers/condition.py, components/homeassistant/triggers/state.py).
    """
    if value is None:
        return None
    return list(value) if isinstance(value, list) else [value]


def _state_condition_schema(values: Callable[[Any], Any]) -> vol.Schema:
    return vol.Schema(
        {
            **_BASE,
            vol.Required("entity_id"): cv.entity_ids,
            vol.Required("state"): values,
            vol.Optional("attribute"): cv.string,
            vol.Optional("for"): period,
            vol.Optional("match", default="all"): vol.All(vol.Lower, vol.In(["all", "any"])),
        }
    )


_STATE_OF_STATE = _state_condition_schema(state_values)
_STATE_OF_ATTRIBUTE = _state_condition_schema(attribute_values)


def _STATE(value: Any) -> dict[str, Any]:
    """States are strings; an `attribute:` condition's values keep their type."""
    by_attribute = isinstance(value, dict) and "attribute" in value
    return (_STATE_OF_ATTRIBUTE if by_attribute else _STATE_OF_STATE)(value)


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


class NumericStateError(Exception):
    """The value (or a limit entity) cannot be compared: HA's ConditionErrorMessage."""


def _limit(orge: Orge, limit: Any) -> float | None:
    """A number, or the state of an entity as one; None when that entity is unknown/unavailable.

    Raises NumericStateError for an entity that does not exist or whose state is not a number.
    """
    if limit is None or isinstance(limit, (int, float)):
        return limit
    state = orge.states.get(limit)
    if state is None:
        raise NumericStateError(f"unknown limit entity {limit}")
    if state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
        return None
    try:
        return float(state.state)
    except ValueError:
        raise NumericStateError(
            f"the state of limit entity {limit} ('{state.state}') is not a number"
        ) from None


def numeric_state_matches(
    orge: Orge,
    state: State | None,
    above: Any,
    below: Any,
    attribute: str | None,
    value_template: Template | None,
    variables: dict[str, Any],
) -> bool:
    """True when the entity's number is above `above` and below `below` (both exclusive).

    As Home Assistant's `async_numeric_state` (helpers/condition.py): a missing attribute and
    the values None/unknown/unavailable are False; an entity that does not exist, a template
    error or a value that is not a number raise NumericStateError.
    """
    if state is None:
        raise NumericStateError("unknown entity")
    if attribute is not None and attribute not in state.attributes:
        return False
    if value_template is not None:
        try:
            value = value_template.async_render({**variables, "state": state})
        except TemplateError as err:
            raise NumericStateError(f"template error: {err}") from err
    else:
        value = state.attributes.get(attribute) if attribute else state.state
    if value is None or value in (STATE_UNAVAILABLE, STATE_UNKNOWN):
        return False
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise NumericStateError(
            f"entity {state.entity_id} state '{value}' cannot be processed as a number"
        ) from None
    if below is not None:
        high = _limit(orge, below)
        if high is None or number >= high:
            return False
    if above is not None:
        low = _limit(orge, above)
        if low is None or number <= low:
            return False
    return True


def _time_limit(orge: Orge, value: Any, default: dt_time) -> dt_time | None:
    """A time condition's limit: a time, or what an entity says (None: the check is False).

    Home Assistant (helpers/condition.py `time`): an input_datetime gives its hour, minute
    and second (23:59:59 where missing), a timestamp sensor its local time of day; any other
    entity, or unknown/unavailable, makes the condition false. Raises
    TimeConditionError for an entity that does not exist.
    """
    from orge.template import as_datetime, time_zone

    if value is None:
        return default
    if isinstance(value, dt_time):
        return value
    state = orge.states.get(value)
    if state is None:
        raise TimeConditionError(f"unknown entity {value}")
    attrs = state.attributes
    if state.domain == "input_datetime":
        return dt_time(
            int(attrs.get("hour", 23)), int(attrs.get("minute", 59)), int(attrs.get("second", 59))
        )
    if attrs.get("device_class") == "timestamp" and state.state not in (
        STATE_UNAVAILABLE,
        STATE_UNKNOWN,
    ):
        moment = as_datetime(state.state, None)
        if moment is None:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=time_zone(orge))
        return moment.astimezone(time_zone(orge)).time()
    return None


class TimeConditionError(Exception):
    """A time condition names an entity that does not exist."""


def time_matches(orge: Orge, config: dict[str, Any], now: datetime | None = None) -> bool:
    """Home Assistant's time condition: local wall-clock time, `after` <= now < `before`.

    With `before` not later than `after` the window crosses midnight (HA tests the
    opposite, `not before <= now < after`, so equal limits hold all day). On the day the
    clocks go back, a wall time inside the repeated hour matches on both passes.
    """
    from orge.template import time_zone

    now = now or dt_util.now(time_zone(orge))
    after = _time_limit(orge, config.get("after"), dt_time(0))
    before = _time_limit(orge, config.get("before"), dt_time(23, 59, 59, 999999))
    if after is None or before is None:
        return False
    current = now.time().replace(tzinfo=None)
    if after < before:
        if not after <= current < before:
            return False
    elif before <= current < after:
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

        def check_time(variables: dict[str, Any]) -> bool:
            try:
                return time_matches(orge, config)
            except TimeConditionError as err:
                _LOGGER.warning("%s: time condition: %s", name, err)
                return False

        return check_time
    if kind == "numeric_state":
        if config.get("value_template") is not None:
            config["value_template"].orge = orge

        def one_numeric(entity_id: str, variables: dict[str, Any]) -> bool:
            try:
                return numeric_state_matches(
                    orge,
                    orge.states.get(entity_id),
                    config.get("above"),
                    config.get("below"),
                    config.get("attribute"),
                    config.get("value_template"),
                    variables,
                )
            except NumericStateError as err:
                _LOGGER.warning("%s: numeric_state condition on %s: %s", name, entity_id, err)
                return False

        return lambda variables: all(one_numeric(eid, variables) for eid in config["entity_id"])
    return _build_state(orge, config, name)


_INPUT_ENTITY_ID = re.compile(
    r"^input_(?:select|text|number|boolean|datetime)\.(?!.+__)(?:[\da-z_]+)$"
)


def _build_state(orge: Orge, config: dict[str, Any], name: str) -> Check:
    """Home Assistant's state condition (helpers/condition.py `state`).

    Equality with the wanted values (typed for an attribute); a wanted value that is an
    input_* entity id stands for that entity's state; a missing attribute is False; `for`
    counts from the entity's last state change (`last_changed`), also for an attribute.
    """
    wanted = config["state"]
    wanted = [None] if wanted is None else wanted
    attribute = config.get("attribute")
    duration = config.get("for")

    def one(entity_id: str, variables: dict[str, Any]) -> bool:
        state = orge.states.get(entity_id)
        if state is None:
            _LOGGER.warning("%s: state condition: unknown entity %s", name, entity_id)
            return False
        if attribute is not None and attribute not in state.attributes:
            return False
        value = state.attributes.get(attribute) if attribute else state.state
        for item in wanted:
            if isinstance(item, str) and _INPUT_ENTITY_ID.match(item):
                other = orge.states.get(item)
                if other is None:
                    _LOGGER.warning("%s: the 'state' entity %s is unavailable", name, item)
                    return False
                item = other.state
            if value == item:
                break
        else:
            return False
        if duration is None:
            return True
        try:
            needed = render_period(duration, variables).total_seconds()
        except Exception as err:
            _LOGGER.error("%s: invalid 'for': %s", name, err)
            return False
        return time.time() - state.last_changed_timestamp > needed

    if config["match"] == "any":
        return lambda variables: any(one(eid, variables) for eid in config["entity_id"])
    return lambda variables: all(one(eid, variables) for eid in config["entity_id"])


def build_all(orge: Orge, configs: list[dict[str, Any]], name: str) -> list[Check]:
    return [build(orge, config, name) for config in configs]
