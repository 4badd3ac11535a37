"""The REST API, shaped like Home Assistant's (`/api/...`).

Every answer is JSON (the template and error log are text, as in Home Assistant); every
error is `{"message": ...}` with its status code. History and logbook come from the
recorder through its services, so this component never imports it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from orge import __version__
from orge.core import Context, Orge, valid_entity_id
from orge.exceptions import OrgeError, ServiceNotFound, ServiceValidationError
from orge.recovery import recovery_status

from . import jsonutil
from .data import APP_DATA, HttpData, json_message, token_of
from .health import api_health
from .jsonutil import dumps
from .metrics import api_metrics
from .operations import (
    APP_STATES_CACHE,
    PROTECTED_EVENTS,
    StatesCache,
    call_service,
    check_config,
    config_answer,
    parse_time,
    recorder_query,
    render,
    require_recorder,
    service_descriptions,
)

_LOGGER = logging.getLogger(__name__)


def json_response(data: Any, status: int = 200, compress: bool = False) -> web.Response:
    """JSON answer; `compress` gzips it for clients that accept that (history can be MBs,
    and a station's uplink is a tunnel)."""
    response = web.Response(
        body=dumps(data).encode(), status=status, content_type="application/json"
    )
    if compress:
        response.enable_compression()
    return response


def _orge(request: web.Request) -> Orge:
    data: HttpData = request.app[APP_DATA]
    return data.orge


def context_of(request: web.Request) -> Context:
    entry = token_of(request)
    return Context(user_id=entry.id if entry else None)


async def read_json(request: web.Request, default: Any = None) -> Any:
    """The body as JSON; an empty body is `default`. Bad JSON is a 400."""
    body = await request.read()  # raises 413 over client_max_size (chunked bodies too)
    if not body.strip():
        return default
    try:
        return jsonutil.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="Invalid JSON specified.") from None


async def read_json_object(request: web.Request) -> dict[str, Any]:
    value = await read_json(request, {})
    if not isinstance(value, dict):
        raise web.HTTPBadRequest(text="Data should be a JSON object.")
    return value


# --- simple views ---------------------------------------------------------------------


async def api_status(request: web.Request) -> web.Response:
    return json_message("API running.")


async def api_config(request: web.Request) -> web.Response:
    return json_response(config_answer(_orge(request)))


async def api_config_problems(request: web.Request) -> web.Response:
    """`{"mode", "recovery_mode", "using_last_good", "problems", "last_good_saved_at"}`."""
    return json_response(recovery_status(_orge(request)).as_dict())


async def api_components(request: web.Request) -> web.Response:
    return json_response(sorted(_orge(request).config.components))


async def api_error_log(request: web.Request) -> web.Response:
    from orge.log import RECENT
    from orge.redact import redact

    return web.Response(text=redact("\n".join(RECENT.records)), content_type="text/plain")


async def api_openapi(request: web.Request) -> web.Response:
    from .openapi import document

    return json_response(document(__version__))


# --- states ---------------------------------------------------------------------------


async def api_states(request: web.Request) -> web.Response:
    cache: StatesCache = request.app[APP_STATES_CACHE]
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response = web.Response(body=cache.get_gzipped(), content_type="application/json")
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = web.Response(body=cache.get(), content_type="application/json")
    response.headers["Vary"] = "Accept-Encoding"
    return response


def _entity_id(request: web.Request) -> str:
    entity_id = request.match_info["entity_id"].lower()
    if not valid_entity_id(entity_id):
        raise web.HTTPBadRequest(text="Invalid entity ID specified.")
    return entity_id


async def api_state_get(request: web.Request) -> web.Response:
    state = _orge(request).states.get(request.match_info["entity_id"])
    if state is None:
        raise web.HTTPNotFound(text="Entity not found.")
    return json_response(state.as_dict())


async def api_state_post(request: web.Request) -> web.Response:
    orge = _orge(request)
    entity_id = _entity_id(request)
    data = await read_json_object(request)
    if "state" not in data:
        raise web.HTTPBadRequest(text="No state specified.")
    new_state = data["state"]
    attributes = data.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise web.HTTPBadRequest(text="Attributes should be a JSON object.")
    if isinstance(new_state, (dict, list)):
        raise web.HTTPBadRequest(text="State should be a string or a number.")
    force_update = bool(data.get("force_update", False))
    is_new = orge.states.get(entity_id) is None
    try:
        state = orge.states.async_set(
            entity_id, new_state, attributes, force_update, context_of(request)
        )
    except ValueError as err:
        raise web.HTTPBadRequest(text=str(err)) from None
    response = json_response(state.as_dict(), 201 if is_new else 200)
    response.headers["Location"] = f"/api/states/{entity_id}"
    return response


async def api_state_delete(request: web.Request) -> web.Response:
    if _orge(request).states.async_remove(request.match_info["entity_id"], context_of(request)):
        return json_message("Entity removed.")
    raise web.HTTPNotFound(text="Entity not found.")


# --- services and events --------------------------------------------------------------


async def api_services(request: web.Request) -> web.Response:
    descriptions = service_descriptions(_orge(request))
    return json_response([{"domain": d, "services": s} for d, s in descriptions.items()])


async def api_call_service(request: web.Request) -> web.Response:
    orge = _orge(request)
    domain, service = request.match_info["domain"], request.match_info["service"]
    data = await read_json_object(request)
    return_response = "return_response" in request.query
    try:
        changed, response = await call_service(
            orge, domain, service, data, context_of(request), return_response
        )
    except ServiceNotFound as err:
        raise web.HTTPNotFound(text=str(err)) from None
    except ServiceValidationError as err:
        raise web.HTTPBadRequest(text=str(err)) from None
    except OrgeError as err:
        raise web.HTTPBadRequest(text=f"{domain}.{service} failed: {err}") from None
    states = [s.as_dict() for s in changed]
    if return_response:
        return json_response({"changed_states": states, "service_response": response})
    return json_response(states)


async def api_events(request: web.Request) -> web.Response:
    listeners = _orge(request).bus.async_listeners()
    return json_response(
        [{"event": key, "listener_count": count} for key, count in sorted(listeners.items())]
    )


async def api_fire_event(request: web.Request) -> web.Response:
    event_type = request.match_info["event_type"]
    data = await read_json(request, {})
    if data is not None and not isinstance(data, dict):
        raise web.HTTPBadRequest(text="Event data should be a JSON object")
    if event_type in PROTECTED_EVENTS:
        raise web.HTTPBadRequest(text=f"Event {event_type} cannot be fired through the API")
    _orge(request).bus.async_fire(event_type, data or {}, "REMOTE", context_of(request))
    return json_message(f"Event {event_type} fired.")


# --- templates and configuration ------------------------------------------------------


async def api_template(request: web.Request) -> web.Response:
    data = await read_json_object(request)
    template = data.get("template")
    if not isinstance(template, str):
        raise web.HTTPBadRequest(text="No template specified.")
    variables = data.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise web.HTTPBadRequest(text="Variables should be a JSON object.")
    text = await render(_orge(request), template, variables)
    return web.Response(text=text, content_type="text/plain")


async def api_check_config(request: web.Request) -> web.Response:
    return json_response(await check_config(_orge(request)))


# --- history and logbook (from the recorder) ------------------------------------------


def _entity_list(text: str | None) -> list[str] | None:
    if not text:
        return None
    ids = [part.strip().lower() for part in text.split(",") if part.strip()]
    for entity_id in ids:
        if not valid_entity_id(entity_id):
            raise web.HTTPBadRequest(text=f"Invalid entity ID {entity_id!r}")
    return ids


def _start(request: web.Request) -> datetime | None:
    """The `{timestamp}` of the path (HA: 400 "Invalid datetime" when it does not parse)."""
    try:
        return parse_time(_orge(request), request.match_info.get("timestamp"), "datetime")
    except web.HTTPBadRequest:
        raise web.HTTPBadRequest(text="Invalid datetime") from None


def _end(request: web.Request) -> datetime | None:
    try:
        return parse_time(_orge(request), request.query.get("end_time"), "end_time")
    except web.HTTPBadRequest:
        raise web.HTTPBadRequest(text="Invalid end_time") from None


async def api_history(request: web.Request) -> web.Response:
    """GET /api/history/period[/{timestamp}], as Home Assistant's HistoryPeriodView.

    `filter_entity_id` is required (400 "filter_entity_id is missing"); the start defaults
    to one day ago, `end_time` to start + 1 day; a start in the future answers [].
    `significant_changes_only` is on unless it is exactly "0"; `minimal_response`,
    `no_attributes` and `skip_initial_state` are on when present, whatever their value
    (homeassistant/components/history/__init__.py).
    """
    orge = _orge(request)
    require_recorder(orge, "get_history")
    query = request.query
    start = _start(request)
    if not (text := query.get("filter_entity_id")):
        raise web.HTTPBadRequest(text="filter_entity_id is missing")
    try:
        entity_ids = _entity_list(text)
    except web.HTTPBadRequest:
        raise web.HTTPBadRequest(text="Invalid filter_entity_id") from None
    if not entity_ids:
        raise web.HTTPBadRequest(text="filter_entity_id is missing")
    now = datetime.now(UTC)
    start = start or now - timedelta(days=1)
    if start > now:
        return json_response([])
    end = _end(request) or start + timedelta(days=1)
    if end <= start:
        return json_response([])
    response = await recorder_query(
        orge,
        "get_history",
        {
            "start_time": start.isoformat(),
            "end_time": end.isoformat(),
            "entity_ids": entity_ids,
            "minimal_response": "minimal_response" in query,
            "no_attributes": "no_attributes" in query,
            "significant_changes_only": query.get("significant_changes_only", "1") != "0",
            "include_start_time_state": "skip_initial_state" not in query,
        },
    )
    history = response.get("history", {}) if isinstance(response, dict) else {}
    return json_response([rows for rows in history.values() if rows], compress=True)


async def api_logbook(request: web.Request) -> web.Response:
    """GET /api/logbook[/{timestamp}], as Home Assistant's LogbookView.

    The start defaults to the start of the local day; without `end_time` the period is
    `period` days (default 1) ending `period` days after start - (period - 1) days;
    `entity` is a comma-separated list, `context_id` keeps one context (not with `entity`)
    (homeassistant/components/logbook/rest_api.py).
    """
    orge = _orge(request)
    require_recorder(orge, "get_logbook")
    query = request.query
    start = _start(request)
    if start is None:
        local_now = datetime.now(ZoneInfo(orge.config.time_zone))
        start = local_now.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    try:
        period = int(query.get("period", "1"))
    except ValueError:
        raise web.HTTPBadRequest(text="Invalid period") from None
    entity_ids = _entity_list(query.get("entity"))
    end = _end(request)
    if end is None:
        start = start - timedelta(days=period - 1)
        end = start + timedelta(days=period)
    context_id = query.get("context_id")
    if entity_ids and context_id:
        raise web.HTTPBadRequest(text="Can't combine entity with context_id")
    if end <= start:
        return json_response([])
    data: dict[str, Any] = {
        "start_time": start.isoformat(),
        "end_time": end.isoformat(),
        "entity_ids": entity_ids or [],
    }
    if context_id:
        data["context_id"] = context_id
    response = await recorder_query(orge, "get_logbook", data)
    entries = response.get("entries", []) if isinstance(response, dict) else []
    return json_response(entries, compress=True)


# The services that answer a session log (ocpp_station/session.py registers one per OCPP
# component): http reaches the log through the service registry and imports no OCPP code.
SESSION_LOG_SERVICES = (("ocpp201", "get_sessions"), ("ocpp16", "get_sessions"))


async def api_ocpp_sessions(request: web.Request) -> web.Response:
    """GET /api/ocpp/sessions[?limit=N]: the OCPP session log, newest first.

    A list of {transaction_id, id_token, started_at, ended_at (ISO 8601 UTC, None while
    running), energy_kwh, duration_s, stop_reason, confirmed, evse_id, protocol}, from the
    `get_sessions` service of each OCPP component that runs; 404 when none runs, 400 for a
    bad `limit` (1..500, default 100).
    """
    orge = _orge(request)
    sources = [(d, s) for d, s in SESSION_LOG_SERVICES if orge.services.has_service(d, s)]
    if not sources:
        raise web.HTTPNotFound(text="No OCPP component is running: no session log")
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        raise web.HTTPBadRequest(text="Invalid limit") from None
    if not 1 <= limit <= 500:
        raise web.HTTPBadRequest(text="limit must be 1..500")
    rows: list[dict[str, Any]] = []
    for domain, service in sources:
        response = await orge.services.async_call(
            domain, service, {"limit": limit}, blocking=True, return_response=True
        )
        sessions = response.get("sessions", []) if isinstance(response, dict) else []
        rows.extend({**row, "protocol": domain} for row in sessions)
    rows.sort(key=lambda row: row.get("started_at") or "", reverse=True)
    return json_response(rows[:limit])


def add_routes(app: web.Application) -> None:
    data: HttpData = app[APP_DATA]
    app[APP_STATES_CACHE] = StatesCache(data.orge)
    routes = app.router
    routes.add_get("/api/", api_status)
    routes.add_get("/api/health", api_health)
    routes.add_get("/api/metrics", api_metrics)
    routes.add_get("/api/config", api_config)
    routes.add_get("/api/config/problems", api_config_problems)
    routes.add_get("/api/components", api_components)
    routes.add_get("/api/error_log", api_error_log)
    routes.add_get("/api/openapi.json", api_openapi)
    routes.add_get("/api/states", api_states)
    routes.add_get("/api/states/{entity_id}", api_state_get)
    routes.add_post("/api/states/{entity_id}", api_state_post)
    routes.add_delete("/api/states/{entity_id}", api_state_delete)
    routes.add_get("/api/services", api_services)
    routes.add_post("/api/services/{domain}/{service}", api_call_service)
    routes.add_get("/api/events", api_events)
    routes.add_post("/api/events/{event_type}", api_fire_event)
    routes.add_post("/api/template", api_template)
    routes.add_post("/api/config/core/check_config", api_check_config)
    routes.add_get("/api/ocpp/sessions", api_ocpp_sessions)
    routes.add_get("/api/history/period", api_history)
    routes.add_get("/api/history/period/{timestamp}", api_history)
    routes.add_get("/api/logbook", api_logbook)
    routes.add_get("/api/logbook/{timestamp}", api_logbook)
