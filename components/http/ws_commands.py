"""The WebSocket commands (Home Assistant's names), one function per command type.

Each gets the connection, the message id and the message; it answers with
`conn.send_result` or raises CommandError (or an engine error, mapped to a code).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import voluptuous as vol
from aiohttp import web

from orge.core import MATCH_ALL, Context, Event, Orge, callback

from . import rest
from .jsonutil import dumps
from .websocket import (
    ERR_INVALID_FORMAT,
    ERR_NOT_FOUND,
    ERR_NOT_SUPPORTED,
    ERR_ORGE,
    ERR_TEMPLATE,
    RENDER_DELAY,
    CommandError,
    Connection,
    event_json,
)

_LOGGER = logging.getLogger(__name__)


def _require(message: dict, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    if key not in message:
        if default is ...:
            raise CommandError(ERR_INVALID_FORMAT, f"Message incorrectly formatted: {key} missing")
        return default
    value = message[key]
    if not isinstance(value, kind):
        raise CommandError(ERR_INVALID_FORMAT, f"Message incorrectly formatted: bad {key}")
    return value


def cmd_ping(conn: Connection, msg_id: int, message: dict) -> None:
    conn.send(dumps({"id": msg_id, "type": "pong"}))


def cmd_get_states(conn: Connection, msg_id: int, message: dict) -> None:
    cache: rest.StatesCache = conn.request.app[rest.APP_STATES_CACHE]
    body = cache.get().decode()
    conn.send(f'{{"id":{msg_id},"type":"result","success":true,"result":{body}}}')


def cmd_get_config(conn: Connection, msg_id: int, message: dict) -> None:
    conn.send_result(msg_id, rest.config_answer(conn.orge))


def cmd_get_services(conn: Connection, msg_id: int, message: dict) -> None:
    conn.send_result(msg_id, rest.service_descriptions(conn.orge))


def cmd_supported_features(conn: Connection, msg_id: int, message: dict) -> None:
    features = _require(message, "features", dict, {})
    conn.coalesce = bool(features.get("coalesce_messages"))
    conn.send_result(msg_id)


def cmd_current_user(conn: Connection, msg_id: int, message: dict) -> None:
    conn.send_result(
        msg_id,
        {
            "id": conn.token.id,
            "name": conn.token.name,
            "is_owner": True,
            "is_admin": True,
            "credentials": [],
            "mfa_modules": [],
        },
    )


def cmd_subscribe_events(conn: Connection, msg_id: int, message: dict) -> None:
    event_type = _require(message, "event_type", str, MATCH_ALL)
    prefix = f'{{"id":{msg_id},"type":"event","event":'
    send = conn.send

    @callback
    def forward(event: Event) -> None:
        send(prefix + event_json(event) + "}")

    conn.subscriptions[msg_id] = conn.orge.bus.async_listen(event_type, forward)
    conn.send_result(msg_id)


def cmd_unsubscribe(conn: Connection, msg_id: int, message: dict) -> None:
    subscription = _require(message, "subscription", int)
    remove = conn.subscriptions.pop(subscription, None)
    if remove is None:
        raise CommandError(ERR_NOT_FOUND, "Subscription not found.")
    remove()
    conn.send_result(msg_id)


async def cmd_subscribe_trigger(conn: Connection, msg_id: int, message: dict) -> None:
    triggers = _require(message, "trigger", (dict, list))
    variables = _require(message, "variables", dict, None)
    try:
        from orge.script.trigger import async_attach_triggers
    except ImportError:
        raise CommandError(ERR_NOT_SUPPORTED, "Triggers are not available in this build") from None
    configs = triggers if isinstance(triggers, list) else [triggers]

    @callback
    def forward(run_variables: dict[str, Any], context: Context | None = None) -> None:
        conn.send(
            dumps(
                {
                    "id": msg_id,
                    "type": "event",
                    "event": {
                        "variables": run_variables,
                        "context": context.as_dict() if context else None,
                    },
                }
            )
        )

    try:
        remove = await async_attach_triggers(
            conn.orge, configs, forward, f"websocket subscription {msg_id}", variables
        )
    except vol.Invalid as err:
        raise CommandError(ERR_INVALID_FORMAT, f"Invalid trigger: {err}") from None
    if conn.closing:
        remove()
        return
    conn.subscriptions[msg_id] = remove
    conn.send_result(msg_id)


async def cmd_call_service(conn: Connection, msg_id: int, message: dict) -> None:
    domain = _require(message, "domain", str)
    service = _require(message, "service", str)
    data = _require(message, "service_data", dict, None) or {}
    target = _require(message, "target", dict, None)
    return_response = bool(message.get("return_response", False))
    context = conn.context()
    _changed, response = await rest.call_service(
        conn.orge, domain, service, data, context, return_response, target
    )
    result: dict[str, Any] = {"context": context.as_dict()}
    if return_response:
        result["response"] = response
    conn.send_result(msg_id, result)


def cmd_fire_event(conn: Connection, msg_id: int, message: dict) -> None:
    event_type = _require(message, "event_type", str)
    data = _require(message, "event_data", dict, None) or {}
    if event_type in rest.PROTECTED_EVENTS:
        raise CommandError(ERR_ORGE, f"Event {event_type} cannot be fired through the API")
    context = conn.context()
    conn.orge.bus.async_fire(event_type, data, "REMOTE", context)
    conn.send_result(msg_id, {"context": context.as_dict()})


def _undefined_names(orge: Orge, text: str, variables: dict[str, Any] | None) -> list[str]:
    """The top-level names a template reads that are neither variables nor template globals
    (what Home Assistant's `strict` rendering refuses with "'x' is undefined")."""
    from jinja2 import Environment, meta

    from orge.template import Template

    try:
        names = meta.find_undeclared_variables(Environment().parse(text))
    except Exception:  # a syntax error: the render reports it
        return []
    return sorted(
        name
        for name in names
        if not Template(f"{{{{ {name} is defined }}}}", orge).async_render(variables)
    )


class _TemplateSubscription:
    """A rendered template that follows what it read: the entities, domains or all states
    it looked at (re-rendered at most every RENDER_DELAY s) and, if it used the clock, the
    minute. With `report_errors` a failed render is sent as an event `{error, level}`;
    without, it is only logged (Home Assistant's render_template)."""

    def __init__(
        self,
        conn: Connection,
        msg_id: int,
        text: str,
        variables: Any,
        strict: bool = False,
        report_errors: bool = False,
    ) -> None:
        from orge.template import Template

        self.conn = conn
        self.msg_id = msg_id
        self.template = Template(text, conn.orge)
        self.variables = variables
        self.strict = strict
        self.report_errors = report_errors
        self.last: str | None = None
        self.listeners: dict[str, Any] = {}
        self.pending: asyncio.TimerHandle | None = None
        self.remove_listener = conn.orge.bus.async_listen("state_changed", self.changed)
        self.remove_timer: Callable[[], None] | None = None

    def render(self) -> str | None:
        """Render; the event message to send if the text changed. Raises TemplateError."""
        from orge.template import TemplateError

        text, info = self.template.async_render_with_info(self.variables, parse_result=False)
        self.listeners = {
            "all": info.all_states,
            "entities": sorted(info.entities),
            "domains": sorted(info.domains),
            "time": info.has_time,
        }
        if info.has_time and self.remove_timer is None:
            from orge.helpers.event import async_track_time_interval

            self.remove_timer = async_track_time_interval(
                self.conn.orge, lambda _now: self.rerender(), 60
            )
        if self.strict and (
            missing := _undefined_names(self.conn.orge, self.template.text, self.variables)
        ):
            raise TemplateError(f"UndefinedError: '{missing[0]}' is undefined")
        if text == self.last:
            return None
        self.last = text
        event = {"result": text, "listeners": self.listeners}
        return dumps({"id": self.msg_id, "type": "event", "event": event})

    def send_error(self, err: Exception) -> None:
        event = {"error": str(err), "level": "ERROR"}
        self.conn.send(dumps({"id": self.msg_id, "type": "event", "event": event}))

    def rerender(self) -> None:
        self.pending = None
        try:
            message = self.render()
            if message is not None:
                self.conn.send(message)
        except Exception as err:  # a state the template did not expect: keep going
            if self.report_errors:
                self.send_error(err)
            else:
                _LOGGER.warning("Template of WebSocket subscription %s: %s", self.msg_id, err)

    @callback
    def changed(self, event: Event) -> None:
        if self.pending is not None:
            return
        listeners = self.listeners
        entity_id = event.data.get("entity_id", "")
        if not (
            listeners.get("all")
            or entity_id in listeners.get("entities", ())
            or entity_id.partition(".")[0] in listeners.get("domains", ())
        ):
            return
        self.pending = asyncio.get_running_loop().call_later(RENDER_DELAY, self.rerender)

    @callback
    def remove(self) -> None:
        self.remove_listener()
        if self.remove_timer is not None:
            self.remove_timer()
        if self.pending is not None:
            self.pending.cancel()


def cmd_render_template(conn: Connection, msg_id: int, message: dict) -> None:
    """Render now (the result, then an event), then again whenever what it read changes.

    Home Assistant's parameters (components/websocket_api/commands.py): `variables`;
    `timeout` (seconds: a first render that takes longer is refused with "Exceeded maximum
    execution time of {timeout}s"); `strict` (a name that is not defined is an error);
    `report_errors` (errors come as `{error, level}` events after a successful result,
    instead of an error result); `entity_ids` is accepted and, as in HA, unused.
    """
    text = _require(message, "template", str)
    variables = _require(message, "variables", dict, None)
    strict = _require(message, "strict", bool, False)
    report_errors = _require(message, "report_errors", bool, False)
    timeout = message.get("timeout")
    if timeout is not None:
        try:
            timeout = float(timeout)
        except (TypeError, ValueError):
            raise CommandError(
                ERR_INVALID_FORMAT, "Message incorrectly formatted: bad timeout"
            ) from None
    _require(message, "entity_ids", (str, list), None)
    try:
        subscription = _TemplateSubscription(conn, msg_id, text, variables, strict, report_errors)
    except ImportError:
        raise CommandError(ERR_NOT_SUPPORTED, "Templates are not available in this build") from None
    from orge.template import TemplateError

    started = time.monotonic()
    try:
        first = subscription.render()
        error: TemplateError | None = None
    except TemplateError as err:
        first, error = None, err
    if timeout is not None and time.monotonic() - started > timeout:
        subscription.remove()
        raise CommandError(ERR_TEMPLATE, f"Exceeded maximum execution time of {timeout}s")
    if error is not None and not report_errors:
        subscription.remove()
        raise CommandError(ERR_TEMPLATE, f"Error rendering template: {error}") from None
    conn.subscriptions[msg_id] = subscription.remove
    conn.send_result(msg_id)  # the result comes before the first event
    if error is not None:
        subscription.send_error(error)
    elif first is not None:
        conn.send(first)


def cmd_entity_registry_list(conn: Connection, msg_id: int, message: dict) -> None:
    from orge.entity import entity_component

    entries = []
    for state in conn.orge.states.async_all():
        entries.append(
            {
                "entity_id": state.entity_id,
                "id": state.entity_id,
                "platform": entity_component(conn.orge, state.entity_id),
                "name": None,
                "original_name": state.attributes.get("friendly_name"),
                "icon": None,
                "disabled_by": None,
                "hidden_by": None,
                "entity_category": None,
            }
        )
    conn.send_result(msg_id, entries)


async def cmd_trace_list(conn: Connection, msg_id: int, message: dict) -> None:
    orge = conn.orge
    if not orge.services.has_service("automation", "get_traces"):
        raise CommandError(ERR_NOT_FOUND, "Automations are not running: no traces")
    data = {}
    if isinstance(message.get("entity_id"), str):
        data["entity_id"] = message["entity_id"]
    response = await orge.services.async_call(
        "automation", "get_traces", data, blocking=True, return_response=True
    )
    traces = response.get("traces", {}) if isinstance(response, dict) else {}
    result = []
    for entity_id, items in traces.items():
        for trace in items or []:
            item = dict(trace) if isinstance(trace, dict) else {"trace": trace}
            item.setdefault("entity_id", entity_id)
            result.append(item)
    conn.send_result(msg_id, result)


async def cmd_check_config(conn: Connection, msg_id: int, message: dict) -> None:
    conn.send_result(msg_id, await rest.check_config(conn.orge))


def _ws_time(conn: Connection, message: dict, key: str) -> datetime | None:
    """An ISO 8601 time of the message as UTC; HA's `invalid_<key>` error when it is bad."""
    value = message.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise CommandError(ERR_INVALID_FORMAT, f"Message incorrectly formatted: bad {key}")
    try:
        return rest.parse_time(conn.orge, value, key)
    except web.HTTPBadRequest:
        raise CommandError(f"invalid_{key}", f"Invalid {key}") from None


def _flag(message: dict, key: str, default: bool) -> bool:
    return bool(_require(message, key, bool, default))


async def cmd_history_during_period(conn: Connection, msg_id: int, message: dict) -> None:
    """`history/history_during_period`: `{entity_id: [{s, a, lu[, lc]}, ...]}`.

    As Home Assistant's components/history/websocket_api.py: `start_time` and `entity_ids`
    required; `include_start_time_state` and `significant_changes_only` default true,
    `minimal_response` and `no_attributes` false; a start in the future answers {};
    without `end_time` the history runs to now.
    """
    start = _ws_time(conn, message, "start_time")
    if start is None:
        raise CommandError(ERR_INVALID_FORMAT, "Message incorrectly formatted: start_time missing")
    entity_ids = _require(message, "entity_ids", list)
    if not all(isinstance(item, str) for item in entity_ids):
        raise CommandError(ERR_INVALID_FORMAT, "Message incorrectly formatted: bad entity_ids")
    data: dict[str, Any] = {
        "include_start_time_state": _flag(message, "include_start_time_state", True),
        "significant_changes_only": _flag(message, "significant_changes_only", True),
        "minimal_response": _flag(message, "minimal_response", False),
        "no_attributes": _flag(message, "no_attributes", False),
        "compressed_state_format": True,
    }
    end = _ws_time(conn, message, "end_time")
    now = datetime.now(UTC)
    if start > now:
        conn.send_result(msg_id, {})
        return
    end = end or now
    if end <= start or not entity_ids:
        conn.send_result(msg_id, {})
        return
    data.update(start_time=start.isoformat(), end_time=end.isoformat(), entity_ids=entity_ids)
    response = await rest.recorder_query(conn.orge, "get_history", data)
    history = response.get("history", {}) if isinstance(response, dict) else {}
    conn.send_result(msg_id, history)


async def cmd_logbook_get_events(conn: Connection, msg_id: int, message: dict) -> None:
    """`logbook/get_events`: the entries, `when` in UTC epoch seconds.

    As Home Assistant's components/logbook/websocket_api.py: `start_time` required,
    `end_time` defaults to now, `entity_ids` and `context_id` optional; a start in the
    future answers [].
    """
    start = _ws_time(conn, message, "start_time")
    if start is None:
        raise CommandError(ERR_INVALID_FORMAT, "Message incorrectly formatted: start_time missing")
    entity_ids = _require(message, "entity_ids", list, None)
    context_id = _require(message, "context_id", str, None)
    now = datetime.now(UTC)
    end = _ws_time(conn, message, "end_time") or now
    if start > now or end <= start:
        conn.send_result(msg_id, [])
        return
    data: dict[str, Any] = {
        "start_time": start.isoformat(),
        "end_time": end.isoformat(),
        "entity_ids": entity_ids or [],
        "timestamp": True,
    }
    if context_id is not None:
        data["context_id"] = context_id
    response = await rest.recorder_query(conn.orge, "get_logbook", data)
    conn.send_result(msg_id, response.get("entries", []) if isinstance(response, dict) else [])


COMMANDS: dict[str, Callable[..., Any]] = {
    "ping": cmd_ping,
    "get_states": cmd_get_states,
    "get_config": cmd_get_config,
    "get_services": cmd_get_services,
    "supported_features": cmd_supported_features,
    "auth/current_user": cmd_current_user,
    "subscribe_events": cmd_subscribe_events,
    "unsubscribe_events": cmd_unsubscribe,
    "unsubscribe": cmd_unsubscribe,
    "subscribe_trigger": cmd_subscribe_trigger,
    "call_service": cmd_call_service,
    "fire_event": cmd_fire_event,
    "render_template": cmd_render_template,
    "config/entity_registry/list": cmd_entity_registry_list,
    "trace/list": cmd_trace_list,
    "orge/check_config": cmd_check_config,
    "history/history_during_period": cmd_history_during_period,
    "logbook/get_events": cmd_logbook_get_events,
}
