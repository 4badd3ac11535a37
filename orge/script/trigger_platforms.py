"""State, numeric state, event, template and orge (start/shutdown) triggers.

Each `attach_<platform>(orge, config, fire, name, variables)` returns a remover. `fire(data,
context)` is called with the platform's trigger variables.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from orge.core import (
    EVENT_ORGE_STARTED,
    EVENT_ORGE_STOP,
    Context,
    CoreState,
    Event,
    Orge,
    State,
    callback,
)
from orge.helpers.event import async_call_later, async_track_state_change_event
from orge.script.condition import NumericStateError, numeric_state_matches
from orge.script.helpers import render_period
from orge.script.tracking import TemplateWatcher
from orge.template import TemplateError, result_as_boolean

_LOGGER = logging.getLogger(__name__)
Fire = Callable[[dict[str, Any], Context | None], None]
_NOTHING = object()  # no template result delivered yet


class _Pending:
    """Delayed firings for `for:`, one per key; cancelled when the condition stops holding."""

    def __init__(self, orge: Orge, name: str) -> None:
        self.orge = orge
        self.name = name
        self.cancels: dict[str, Callable[[], None]] = {}

    def start(
        self,
        key: str,
        duration: Any,
        variables: dict[str, Any],
        fire: Fire,
        data: dict[str, Any],
        context: Context | None,
    ) -> None:
        self.cancel(key)
        try:
            delay = render_period(duration, {**variables, "trigger": data})
        except Exception as err:
            _LOGGER.error("%s: invalid 'for': %s", self.name, err)
            return
        data = {**data, "for": delay}
        if delay <= timedelta(0):
            fire(data, context)
            return

        @callback
        def done(_now: float) -> None:
            self.cancels.pop(key, None)
            fire(data, context)

        self.cancels[key] = async_call_later(self.orge, delay, done)

    def cancel(self, key: str) -> None:
        cancel = self.cancels.pop(key, None)
        if cancel is not None:
            cancel()

    def cancel_all(self) -> None:
        for cancel in self.cancels.values():
            cancel()
        self.cancels.clear()


def _value(state: State | None, attribute: str | None) -> Any:
    if state is None:
        return None
    return state.attributes.get(attribute) if attribute else state.state


def _match_rule(config: dict[str, Any], key: str) -> tuple[list[Any] | None, bool]:
    """Home Assistant's `process_state_match` for `key` or `not_<key>`, as (values, negated):
    None values match anything; otherwise equality, not text."""
    if key in config:
        return config[key], False
    return config.get(f"not_{key}"), True


def attach_state(
    orge: Orge, config: dict[str, Any], fire: Fire, name: str, variables: dict[str, Any]
) -> Callable[[], None]:
    """Home Assistant's state trigger (homeassistant/components/homeassistant/triggers/state.py).

    - No `from`/`to`/`not_from`/`not_to`: every change fires, attribute-only ones too (and the
      removal of the entity, with `to_state` None). With any of them (even `to: ~`), only a
      change of the value fires.
    - `attribute:` compares that attribute's typed value; other attribute changes are ignored.
    - `for:` holds the run until the value has stayed: while it equals the new value, or with
      `from` and no `to`, while it is not back at the old value.
    """
    attribute = config.get("attribute")
    duration = config.get("for")
    from_values, from_negated = _match_rule(config, "from")
    to_values, to_negated = _match_rule(config, "to")
    match_all = not any(key in config for key in ("from", "to", "not_from", "not_to"))
    held_while_not_old = "from" in config and "to" not in config
    pending = _Pending(orge, name)
    # What the pending run of each entity waits on: (old value, new value) at its change.
    waiting: dict[str, tuple[Any, Any]] = {}

    def still_holds(entity_id: str, new: State | None) -> bool:
        if new is None:
            return False
        old_value, new_value = waiting[entity_id]
        current = _value(new, attribute)
        return current != old_value if held_while_not_old else current == new_value

    @callback
    def changed(event: Event) -> None:
        entity_id = event.data["entity_id"]
        old: State | None = event.data["old_state"]
        new: State | None = event.data["new_state"]
        if pending.cancels and entity_id in pending.cancels and not still_holds(entity_id, new):
            pending.cancel(entity_id)
        if attribute is None:
            old_value = old.state if old is not None else None
            new_value = new.state if new is not None else None
        else:
            old_value, new_value = _value(old, attribute), _value(new, attribute)
            if old_value == new_value:
                return
        # A value list matches when the value is in it, a `not_` list when it is not.
        if to_values is not None and (new_value in to_values) is to_negated:
            return
        if from_values is not None and (old_value in from_values) is from_negated:
            return
        if not match_all and old_value == new_value:
            return
        data = {
            "entity_id": entity_id,
            "from_state": old,
            "to_state": new,
            "attribute": attribute,
            "for": None,
            "description": f"state of {entity_id}",
        }
        if duration is None:
            fire(data, event.context)
        else:
            waiting[entity_id] = (old_value, new_value)
            pending.start(entity_id, duration, variables, fire, data, event.context)

    remove = async_track_state_change_event(orge, config["entity_id"], changed)

    @callback
    def detach() -> None:
        remove()
        pending.cancel_all()

    return detach


def attach_numeric_state(
    orge: Orge, config: dict[str, Any], fire: Fire, name: str, variables: dict[str, Any]
) -> Callable[[], None]:
    """Home Assistant's numeric_state trigger (.../triggers/numeric_state.py).

    Fires when the value enters the range (above < value < below), once until it leaves
    again. An entity in range at attach time must leave it first. A value that cannot be
    read as a number (or a template error) is logged and leaves the entity as it was,
    except that a pending `for:` run is cancelled; `unknown`/`unavailable` count as out of
    range.
    """
    duration = config.get("for")
    pending = _Pending(orge, name)
    armed: set[str] = set()

    def check(state: State | None) -> bool:
        return numeric_state_matches(
            orge,
            state,
            config.get("above"),
            config.get("below"),
            config.get("attribute"),
            config.get("value_template"),
            variables,
        )

    def check_quietly(state: State | None) -> bool | None:
        try:
            return check(state)
        except NumericStateError:
            return None

    for entity_id in config["entity_id"]:
        # Already in range at attach: fire only after it leaves the range and comes back.
        if not check_quietly(orge.states.get(entity_id)):
            armed.add(entity_id)

    @callback
    def changed(event: Event) -> None:
        entity_id = event.data["entity_id"]
        new: State | None = event.data["new_state"]
        if entity_id in pending.cancels and not check_quietly(new):
            pending.cancel(entity_id)
        if new is None:
            return
        try:
            matched = check(new)
        except NumericStateError as err:
            _LOGGER.warning("Error in '%s' trigger: %s", name, err)
            return
        if not matched:
            armed.add(entity_id)
            return
        if entity_id not in armed:
            return
        armed.discard(entity_id)
        data = {
            "entity_id": entity_id,
            "from_state": event.data["old_state"],
            "to_state": new,
            "above": config.get("above"),
            "below": config.get("below"),
            "attribute": config.get("attribute"),
            "for": None,
            "description": f"numeric state of {entity_id}",
        }
        if duration is None:
            fire(data, event.context)
        else:
            pending.start(entity_id, duration, variables, fire, data, event.context)

    remove = async_track_state_change_event(orge, config["entity_id"], changed)

    @callback
    def detach() -> None:
        remove()
        pending.cancel_all()

    return detach


def _data_matches(wanted: Any, actual: Any) -> bool:
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(
            key in actual and _data_matches(value, actual[key]) for key, value in wanted.items()
        )
    return wanted == actual or str(wanted) == str(actual)


def attach_event(
    orge: Orge, config: dict[str, Any], fire: Fire, name: str, variables: dict[str, Any]
) -> Callable[[], None]:
    wanted = config.get("event_data") or {}

    @callback
    def event_filter(data: Any) -> bool:
        return _data_matches(wanted, data) if wanted else True

    @callback
    def handle(event: Event) -> None:
        fire({"event": event, "description": f"event '{event.event_type}'"}, event.context)

    removers = [
        orge.bus.async_listen(event_type, handle, event_filter)
        for event_type in config["event_type"]
    ]

    @callback
    def detach() -> None:
        for remove in removers:
            remove()

    return detach


def attach_template(
    orge: Orge, config: dict[str, Any], fire: Fire, name: str, variables: dict[str, Any]
) -> Callable[[], None]:
    """Fire when the template's result *becomes* true (Home Assistant's template trigger,
    components/template/trigger.py): the trigger is armed while the result is false and
    fires on the first true result after that. True at attach time does not fire. A
    render that fails logs a warning and changes nothing (neither arms, disarms nor
    cancels a pending `for:`); a first render that fails leaves the trigger unarmed, so
    the template must be seen false before it can fire. Every other change of the
    result cancels a pending `for:`. The watcher keeps tracking what a failed render read.
    """
    duration = config.get("for")
    pending = _Pending(orge, name)
    armed = False
    # The last result delivered (or error); like async_track_template_result, a
    # re-render with the same result, or a second error in a row, is no update.
    last: dict[str, Any] = {"result": _NOTHING, "error": False}

    @callback
    def on_error(err: TemplateError, _event: Event | None) -> None:
        if not last["error"]:
            _LOGGER.warning("Error evaluating 'template' trigger for '%s': %s", name, err)
        last["error"] = True

    @callback
    def on_result(result: Any, event: Event | None) -> None:
        nonlocal armed
        if not last["error"] and last["result"] is not _NOTHING and result == last["result"]:
            return
        last["result"], last["error"] = result, False
        pending.cancel("template")
        if not result_as_boolean(result):
            armed = True
            return
        if not armed:
            return
        armed = False
        entity_id = event.data["entity_id"] if event else None
        data = {
            "entity_id": entity_id,
            "from_state": event.data["old_state"] if event else None,
            "to_state": event.data["new_state"] if event else None,
            "for": None,
            "description": f"{entity_id} via template"
            if entity_id is not None
            else "time change or manual update via template",
        }
        context = event.context if event else None
        if duration is None:
            fire(data, context)
        else:
            pending.start("template", duration, variables, fire, data, context)

    watcher = TemplateWatcher(
        orge, config["value_template"], variables, on_result, name, on_error=on_error
    )
    first = watcher.start()
    if watcher.last_error is not None:
        _LOGGER.warning(
            "Error initializing 'template' trigger for '%s': %s", name, watcher.last_error
        )
    elif not result_as_boolean(first):
        armed = True  # arm at attach if the template is already false

    @callback
    def detach() -> None:
        watcher.stop()
        pending.cancel_all()

    return detach


def attach_orge(
    orge: Orge, config: dict[str, Any], fire: Fire, name: str, variables: dict[str, Any]
) -> Callable[[], None]:
    event_name = config["event"]
    data = {"event": event_name, "description": f"ORGE {event_name}"}
    if event_name == "shutdown":
        return orge.bus.async_listen_once(
            EVENT_ORGE_STOP, callback(lambda e: fire(data, e.context))
        )
    if orge.state is CoreState.RUNNING:
        return lambda: None  # attached after start (a reload): start has passed
    return orge.bus.async_listen_once(EVENT_ORGE_STARTED, callback(lambda e: fire(data, e.context)))
