"""The API's operations, apart from their transports: the REST views (rest.py) and the
WebSocket commands (ws_commands.py) both call these, so each answer is built in one place.

Errors: the operations raise aiohttp's HTTP errors (400 for bad input, 404 for what is not
there); the REST guard answers them as JSON, the WebSocket maps them to its error codes.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from orge.core import (
    EVENT_COMPONENT_LOADED,
    EVENT_ORGE_CLOSE,
    EVENT_ORGE_FINAL_WRITE,
    EVENT_ORGE_START,
    EVENT_ORGE_STARTED,
    EVENT_ORGE_STOP,
    EVENT_SERVICE_REGISTERED,
    EVENT_SERVICE_REMOVED,
    EVENT_STATE_CHANGED,
    Context,
    Event,
    Orge,
    callback,
)
from orge.exceptions import OrgeError, ServiceValidationError
from orge.recovery import recovery_status

from .jsonutil import dumps

# Events a client may not fire: their data has a shape the engine relies on, or they
# drive the station's lifecycle.
PROTECTED_EVENTS = frozenset(
    {
        EVENT_STATE_CHANGED,
        EVENT_ORGE_START,
        EVENT_ORGE_STARTED,
        EVENT_ORGE_STOP,
        EVENT_ORGE_FINAL_WRITE,
        EVENT_ORGE_CLOSE,
        EVENT_SERVICE_REGISTERED,
        EVENT_SERVICE_REMOVED,
        EVENT_COMPONENT_LOADED,
    }
)


_UNITS = {
    "metric": {
        "length": "km",
        "accumulated_precipitation": "mm",
        "mass": "g",
        "pressure": "Pa",
        "temperature": "°C",
        "volume": "L",
        "wind_speed": "m/s",
    },
    "us_customary": {
        "length": "mi",
        "accumulated_precipitation": "in",
        "mass": "lb",
        "pressure": "psi",
        "temperature": "°F",
        "volume": "gal",
        "wind_speed": "mph",
    },
}


def config_answer(orge: Orge) -> dict[str, Any]:
    """The core config in Home Assistant's shape (client libraries parse these keys)."""
    config = dict(orge.config.as_dict())
    if isinstance(config.get("unit_system"), str):
        config["unit_system"] = _UNITS.get(config["unit_system"], _UNITS["metric"])
    dirs = config.get("allowlist_external_dirs", [])
    for key, value in (
        ("latitude", 0.0),
        ("longitude", 0.0),
        ("elevation", 0),
        ("radius", 0),
        ("whitelist_external_dirs", dirs),
        ("allowlist_external_urls", []),
        ("currency", "EUR"),
        ("country", None),
        ("language", "en"),
        ("external_url", None),
        ("internal_url", None),
    ):
        config.setdefault(key, value)
    # Home Assistant's `recovery_mode`, and what ORGE adds: whether it runs on the last
    # good copy and which problems made it (docs/recovery.md).
    status = recovery_status(orge)
    config["recovery_mode"] = status.recovery_mode
    config["using_last_good"] = status.using_last_good
    config["config_problems"] = status.as_dict()["problems"]
    return config


class StatesCache:
    """The body of `GET /api/states`, serialized (and gzipped) once until a state changes.

    With 200 entities the body is ~60 KB; gzip makes it ~10x smaller, which matters more
    through a tunnel than the one compression per change costs.
    """

    def __init__(self, orge: Orge) -> None:
        self.orge = orge
        self.body: bytes | None = None
        self.gzipped: bytes | None = None
        orge.bus.async_listen(EVENT_STATE_CHANGED, self._invalidate)

    @callback
    def _invalidate(self, _event: Event) -> None:
        self.body = self.gzipped = None

    def get(self) -> bytes:
        """The JSON list of every state, as UTF-8."""
        if self.body is None:
            self.body = dumps([s.as_dict() for s in self.orge.states.async_all()]).encode()
        return self.body

    def get_gzipped(self) -> bytes:
        """`get()` gzipped (level 1: the fastest, most of the gain)."""
        if self.gzipped is None:
            self.gzipped = gzip.compress(self.get(), compresslevel=1, mtime=0)
        return self.gzipped


APP_STATES_CACHE: web.AppKey[StatesCache] = web.AppKey("orge_states_cache", StatesCache)


def service_descriptions(orge: Orge) -> dict[str, dict[str, Any]]:
    """`{domain: {service: {name, description, fields, response?}}}` as Home Assistant."""
    result: dict[str, dict[str, Any]] = {}
    for domain, services in sorted(orge.services.async_services().items()):
        described: dict[str, Any] = {}
        for name, service in sorted(services.items()):
            description = {
                "name": service.description.get("name", name.replace("_", " ")),
                "description": service.description.get("description", ""),
                "fields": service.description.get("fields", {}),
            }
            if "target" in service.description:
                description["target"] = service.description["target"]
            if service.supports_response.value != "none":
                description["response"] = {"optional": service.supports_response.value != "only"}
            described[name] = description
        result[domain] = described
    return result


async def call_service(
    orge: Orge,
    domain: str,
    service: str,
    data: dict[str, Any],
    context: Context,
    return_response: bool,
    target: dict[str, Any] | None = None,
) -> tuple[list[Any], Any]:
    """Call a service, collecting the states it changed (those carrying its context)."""
    changed: list[Any] = []

    @callback
    def collect(event: Event) -> None:
        if event.context == context and event.data.get("new_state") is not None:
            changed.append(event.data["new_state"])

    remove = orge.bus.async_listen(EVENT_STATE_CHANGED, collect)
    try:
        response = await orge.services.async_call(
            domain,
            service,
            data,
            blocking=True,
            context=context,
            target=target,
            return_response=return_response,
        )
    finally:
        remove()
    return changed, response


async def render(orge: Orge, template: str, variables: dict[str, Any] | None) -> str:
    """Render through the engine's template module (imported here: it is optional)."""
    try:
        from orge.template import TemplateError, render_text
    except ImportError:
        raise web.HTTPBadRequest(text="Templates are not available in this build") from None
    try:
        result = render_text(orge, template, variables)
        if hasattr(result, "__await__"):
            result = await result
    except TemplateError as err:
        raise web.HTTPBadRequest(text=f"Error rendering template: {err}") from None
    return str(result)


async def check_config(orge: Orge) -> dict[str, Any]:
    """Home Assistant's check_config answer: `{"result": "valid" | "invalid", "errors":
    str | None (the problems, one a line), "problems": [str]}`, secrets masked."""
    from orge.redact import redact
    from orge.setup import check_configuration

    if not orge.config.config_dir:
        return {"result": "invalid", "errors": "No configuration directory", "problems": []}
    result = await orge.async_add_executor_job(check_configuration, orge.config.config_dir)
    problems = [redact(line) for line in result.problems]
    return {
        "result": "invalid" if problems else "valid",
        "errors": "\n".join(problems) if problems else None,
        "problems": problems,
    }


def parse_time(orge: Orge, text: str | None, name: str) -> datetime | None:
    """An ISO 8601 time from a query as an aware UTC datetime (a naive one is in the
    station's time zone); None for None. Raises HTTPBadRequest naming `name`."""
    if text is None:
        return None
    raw = text.strip().replace(" ", "+")  # a '+' in a query string arrives as a space
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"Invalid {name}: {text!r} (use ISO 8601)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(orge.config.time_zone))
    return value.astimezone(UTC)


def require_recorder(orge: Orge, service: str) -> None:
    """404 unless the recorder answers `service` (HA registers these views with it)."""
    if not orge.services.has_service("recorder", service):
        raise web.HTTPNotFound(
            text="The recorder is not running: add `recorder:` to configuration.yaml"
        )


async def recorder_query(orge: Orge, service: str, data: dict[str, Any]) -> Any:
    """The response of the recorder's `service` (get_history / get_logbook). Raises
    HTTPNotFound without a recorder, HTTPBadRequest when it refuses `data`."""
    require_recorder(orge, service)
    try:
        return await orge.services.async_call(
            "recorder", service, data, blocking=True, return_response=True
        )
    except (ServiceValidationError, OrgeError) as err:
        raise web.HTTPBadRequest(text=str(err)) from None
