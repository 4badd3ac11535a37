"""The OpenAPI 3.1 document of the REST API, served at `/api/openapi.json`.

Written by hand beside the routes (rest.add_routes); a test checks that every route is
described here and fuzzes every operation from this document.
"""

from __future__ import annotations

from typing import Any

_MESSAGE = {
    "type": "object",
    "properties": {"message": {"type": "string"}},
    "required": ["message"],
}
_CONTEXT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "parent_id": {"type": ["string", "null"]},
        "user_id": {"type": ["string", "null"]},
    },
}
_STATE = {
    "type": "object",
    "properties": {
        "entity_id": {"type": "string"},
        "state": {"type": "string"},
        "attributes": {"type": "object"},
        "last_changed": {"type": "string", "format": "date-time"},
        "last_updated": {"type": "string", "format": "date-time"},
        "context": {"$ref": "#/components/schemas/Context"},
    },
    "required": ["entity_id", "state", "attributes", "last_changed", "last_updated"],
}


_HEALTH = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "status",
        "version",
        "uptime_s",
        "failed_components",
        "csms_connected",
        "last_good_config",
    ],
    "properties": {
        "status": {"enum": ["ok", "degraded", "recovery"]},
        "version": {"type": "string"},
        "uptime_s": {"type": "number", "description": "seconds since ORGE started"},
        "failed_components": {"type": "array", "items": {"type": "string"}},
        "csms_connected": {"type": ["boolean", "null"], "description": "null: no OCPP"},
        "last_good_config": {"type": "boolean"},
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _text(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Message"), description)


def _op(
    summary: str,
    ok: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
    ok_status: str = "200",
    extra: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    responses = {ok_status: ok, "401": _error("Missing or invalid bearer token")}
    for status, text in (errors or {}).items():
        responses[status] = _error(text)
    responses.update(extra or {})
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = {"content": {"application/json": {"schema": body}}}
    return operation


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def _query(name: str, description: str, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": {"type": kind}}


_BAD = {"400": "Bad JSON or data", "413": "Body too large"}
_ENTITY = _path_param("entity_id", "An entity id such as sensor.power")
_HISTORY_PARAMS = [
    _query("filter_entity_id", "Comma-separated entity ids (required)"),
    _query("end_time", "ISO 8601 end of the period (default: start + 1 day)"),
    _query(
        "minimal_response",
        "When present: state and last_changed only, after the first row",
        "boolean",
    ),
    _query("no_attributes", "When present: attributes are {}", "boolean"),
    _query("skip_initial_state", "When present: no state at the start time", "boolean"),
    _query(
        "significant_changes_only",
        "Only state changes, not attribute changes (default; off only with =0)",
        "boolean",
    ),
]
_LOGBOOK_PARAMS = [
    _query("entity", "Comma-separated entity ids"),
    _query("end_time", "ISO 8601 end of the period"),
    _query("period", "Days (default 1), when end_time is not given", "integer"),
    _query("context_id", "Only entries of this context (not with entity)"),
]
# One row of the session log (components/ocpp_station/session.py).
_SESSION = {
    "type": "object",
    "properties": {
        "transaction_id": {"type": ["string", "null"]},
        "id_token": {"type": ["string", "null"]},
        "started_at": {"type": "string", "format": "date-time"},
        "ended_at": {"type": ["string", "null"], "format": "date-time"},
        "energy_kwh": {"type": ["number", "null"]},
        "duration_s": {"type": "integer"},
        "stop_reason": {"type": ["string", "null"]},
        "confirmed": {"type": "boolean"},
        "evse_id": {"type": "integer"},
        "protocol": {"enum": ["ocpp201", "ocpp16"]},
    },
}
_NO_RECORDER = {"404": "The recorder is not running", "400": "Invalid time or entity id"}


def document(version: str) -> dict[str, Any]:
    states = {"type": "array", "items": _ref("State")}
    paths: dict[str, Any] = {
        "/api/": {
            "get": _op("Is the API running", _json(_ref("Message"), '{"message": "API running."}'))
        },
        "/api/health": {
            "get": {
                "summary": "Health for monitors (no token): status, version, uptime, failed "
                "components, CSMS link, last good configuration",
                "security": [],
                "responses": {"200": _json(_HEALTH, "Health")},
            }
        },
        "/api/metrics": {
            "get": _op(
                "Prometheus metrics (text exposition format 0.0.4)",
                {
                    "description": "Metrics",
                    "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}},
                },
            )
        },
        "/api/config": {
            "get": _op("The station's core configuration", _json({"type": "object"}, "Config"))
        },
        "/api/config/problems": {
            "get": _op(
                "Configuration problems, and whether the station runs on the last good "
                "copy or in recovery mode",
                _json(
                    {
                        "type": "object",
                        "properties": {
                            "mode": {"enum": ["normal", "last_good", "recovery"]},
                            "recovery_mode": {"type": "boolean"},
                            "using_last_good": {"type": "boolean"},
                            "problems": {"type": "array", "items": {"type": "string"}},
                            "last_good_saved_at": {"type": ["string", "null"]},
                        },
                    },
                    "Problems (file and line each) and mode",
                ),
            )
        },
        "/api/components": {
            "get": _op(
                "Loaded components",
                _json({"type": "array", "items": {"type": "string"}}, "Component domains"),
            )
        },
        "/api/error_log": {"get": _op("Recent warnings and errors", _text("Log lines"))},
        "/api/openapi.json": {"get": _op("This document", _json({"type": "object"}, "OpenAPI"))},
        "/api/states": {"get": _op("Every state", _json(states, "States"))},
        "/api/states/{entity_id}": {
            "parameters": [_ENTITY],
            "get": _op(
                "One state", _json(_ref("State"), "The state"), errors={"404": "Entity not found."}
            ),
            "post": _op(
                "Set a state (creates the entity if new)",
                _json(_ref("State"), "Updated"),
                errors=_BAD,
                body={
                    "type": "object",
                    "properties": {
                        "state": {"type": ["string", "number", "boolean"]},
                        "attributes": {"type": "object"},
                        "force_update": {"type": "boolean"},
                    },
                    "required": ["state"],
                },
                extra={"201": _json(_ref("State"), "Created")},
            ),
            "delete": _op(
                "Remove a state",
                _json(_ref("Message"), "Removed"),
                errors={"404": "Entity not found."},
            ),
        },
        "/api/services": {
            "get": _op(
                "Services by domain",
                _json(
                    {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "domain": {"type": "string"},
                                "services": {"type": "object"},
                            },
                        },
                    },
                    "Services",
                ),
            )
        },
        "/api/services/{domain}/{service}": {
            "parameters": [
                _path_param("domain", "Service domain"),
                _path_param("service", "Service name"),
            ],
            "post": _op(
                "Call a service; answers the states it changed",
                _json(
                    {
                        "oneOf": [
                            states,
                            {
                                "type": "object",
                                "properties": {
                                    "changed_states": states,
                                    "service_response": {},
                                },
                            },
                        ]
                    },
                    "Changed states (with ?return_response: and the service's response)",
                ),
                errors={**_BAD, "404": "Service not found."},
                body={"type": "object"},
                params=[_query("return_response", "Return the service's response", "boolean")],
            ),
        },
        "/api/events": {
            "get": _op(
                "Event types with listeners",
                _json(
                    {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "event": {"type": "string"},
                                "listener_count": {"type": "integer"},
                            },
                        },
                    },
                    "Events",
                ),
            )
        },
        "/api/events/{event_type}": {
            "parameters": [_path_param("event_type", "Event type")],
            "post": _op(
                "Fire an event",
                _json(_ref("Message"), "Event <type> fired."),
                errors=_BAD,
                body={"type": "object"},
            ),
        },
        "/api/template": {
            "post": _op(
                "Render a template",
                _text("The rendered text"),
                errors=_BAD,
                body={
                    "type": "object",
                    "properties": {
                        "template": {"type": "string"},
                        "variables": {"type": "object"},
                    },
                    "required": ["template"],
                },
            )
        },
        "/api/config/core/check_config": {
            "post": _op(
                "Check the configuration files",
                _json(
                    {
                        "type": "object",
                        "properties": {
                            "result": {"enum": ["valid", "invalid"]},
                            "errors": {"type": ["string", "null"]},
                            "problems": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                    "Result",
                ),
            )
        },
        "/api/ocpp/sessions": {
            "get": _op(
                "The OCPP session log, newest first",
                _json({"type": "array", "items": _SESSION}, "Sessions"),
                errors={"404": "No OCPP component is running", "400": "Invalid limit"},
                params=[
                    _query("limit", "At most this many sessions (1..500, default 100)", "integer")
                ],
            )
        },
        "/api/history/period": {
            "get": _op(
                "History of the last day",
                _json({"type": "array", "items": states}, "One list per entity"),
                errors=_NO_RECORDER,
                params=_HISTORY_PARAMS,
            )
        },
        "/api/history/period/{timestamp}": {
            "parameters": [_path_param("timestamp", "ISO 8601 start")],
            "get": _op(
                "History from a time",
                _json({"type": "array", "items": states}, "One list per entity"),
                errors=_NO_RECORDER,
                params=_HISTORY_PARAMS,
            ),
        },
        "/api/logbook": {
            "get": _op(
                "Logbook since the start of the local day",
                _json({"type": "array", "items": {"type": "object"}}, "Entries"),
                errors=_NO_RECORDER,
                params=_LOGBOOK_PARAMS,
            )
        },
        "/api/logbook/{timestamp}": {
            "parameters": [_path_param("timestamp", "ISO 8601 start")],
            "get": _op(
                "Logbook from a time",
                _json({"type": "array", "items": {"type": "object"}}, "Entries"),
                errors=_NO_RECORDER,
                params=_LOGBOOK_PARAMS,
            ),
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ORGE station API",
            "version": version,
            "description": (
                "Home Assistant's REST API as served by an ORGE charging station. "
                "Every request needs `Authorization: Bearer <token>` "
                "(create one with `orge auth create-token NAME`). The WebSocket API is at "
                "/api/websocket."
            ),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Message": _MESSAGE, "Context": _CONTEXT, "State": _STATE},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
