"""The hub: one asyncio loop with an event bus, a state machine and a service registry.

Names follow Home Assistant's core so a component developer who knows it feels at home.
Hot paths (fire, set, call) avoid allocations they do not need: listeners are kept in
tuples rebuilt only when they change, value objects compute their dict form once.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import inspect
import itertools
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeVar

import voluptuous as vol

from orge import __version__, service_descriptions
from orge.exceptions import ServiceNotFound, ServiceValidationError

_LOGGER = logging.getLogger(__name__)

EVENT_ORGE_START = "orge_start"
EVENT_ORGE_STARTED = "orge_started"
EVENT_ORGE_STOP = "orge_stop"
EVENT_ORGE_FINAL_WRITE = "orge_final_write"
EVENT_ORGE_CLOSE = "orge_close"
EVENT_STATE_CHANGED = "state_changed"
EVENT_SERVICE_REGISTERED = "service_registered"
EVENT_SERVICE_REMOVED = "service_removed"
EVENT_COMPONENT_LOADED = "component_loaded"
# Fired by components (automation, script) or by anyone (logbook_entry) and read by
# others (the recorder's logbook, the API): named here, since components never import
# one another. Home Assistant's names and values.
EVENT_AUTOMATION_TRIGGERED = "automation_triggered"
EVENT_SCRIPT_STARTED = "script_started"
EVENT_LOGBOOK_ENTRY = "logbook_entry"
# a client failed to authenticate at the station's own API (data: address, reason); the
# OCPP components report it to the CSMS as a security event
EVENT_LOGIN_FAILED = "login_failed"
MATCH_ALL = "*"

STATE_UNAVAILABLE = "unavailable"
STATE_UNKNOWN = "unknown"
STATE_ON = "on"
STATE_OFF = "off"

MAX_STATE_LENGTH = 255
# Event types counted one by one; past this many, new types are counted together.
MAX_COUNTED_EVENT_TYPES = 500
OTHER_EVENT_TYPES = "other"
STOP_TIMEOUT = 4.0  # seconds the stop sequence may take; SIGTERM must finish within 5 s

_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])

_VALID_ENTITY_ID = re.compile(r"^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$")


def callback(func: _F) -> _F:
    """Mark a function as safe to run inline on the loop (it never blocks)."""
    func._orge_callback = True  # type: ignore[attr-defined]
    return func


def is_callback(func: Callable[..., Any]) -> bool:
    return getattr(func, "_orge_callback", False) is True


def valid_entity_id(entity_id: str) -> bool:
    return _VALID_ENTITY_ID.match(entity_id) is not None


def split_entity_id(entity_id: str) -> tuple[str, str]:
    domain, _, object_id = entity_id.partition(".")
    return domain, object_id


class JobType(enum.Enum):
    CALLBACK = 1
    COROUTINE = 2
    EXECUTOR = 3


def job_type_of(target: Callable[..., Any]) -> JobType:
    """Classify a callable once, so the hot path is a single comparison."""
    while isinstance(target, functools.partial):
        target = target.func
    if inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(
        type(target).__call__ if not inspect.isfunction(target) else None
    ):
        return JobType.COROUTINE
    if is_callback(target):
        return JobType.CALLBACK
    return JobType.EXECUTOR


# --- ids and time ------------------------------------------------------------------

_ID_PREFIX = os.urandom(6).hex()
_ID_COUNTER = itertools.count(int(time.time() * 1000) << 8)


def new_id() -> str:
    """A process-unique id: random per process, increasing within it. Cheap (no uuid4)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):x}"


def _ts_to_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


# --- value objects -----------------------------------------------------------------


class Context:
    """Ties a change to its cause: a service call's context is on every state it changed."""

    __slots__ = ("_as_dict", "id", "parent_id", "user_id")

    def __init__(
        self, user_id: str | None = None, parent_id: str | None = None, id: str | None = None
    ) -> None:
        self.id = id or new_id()
        self.user_id = user_id
        self.parent_id = parent_id
        self._as_dict: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        if self._as_dict is None:
            self._as_dict = {"id": self.id, "parent_id": self.parent_id, "user_id": self.user_id}
        return self._as_dict

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Context) and self.id == other.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<Context {self.id}>"


class Event:
    """Something that happened. Read-only by convention; `as_dict` is computed once."""

    __slots__ = ("_as_dict", "context", "data", "event_type", "origin", "time_fired_timestamp")

    def __init__(
        self,
        event_type: str,
        data: Mapping[str, Any] | None = None,
        origin: str = "LOCAL",
        time_fired_timestamp: float | None = None,
        context: Context | None = None,
    ) -> None:
        self.event_type = event_type
        self.data = data if data is not None else {}
        self.origin = origin
        self.time_fired_timestamp = (
            time_fired_timestamp if time_fired_timestamp is not None else time.time()
        )
        self.context = context if context is not None else Context()
        self._as_dict: dict[str, Any] | None = None

    @property
    def time_fired(self) -> datetime:
        return datetime.fromtimestamp(self.time_fired_timestamp, UTC)

    def as_dict(self) -> dict[str, Any]:
        if self._as_dict is None:
            data = self.data
            if self.event_type == EVENT_STATE_CHANGED:
                data = {
                    "entity_id": data["entity_id"],
                    "old_state": data["old_state"].as_dict() if data.get("old_state") else None,
                    "new_state": data["new_state"].as_dict() if data.get("new_state") else None,
                }
            self._as_dict = {
                "event_type": self.event_type,
                "data": data,
                "origin": self.origin,
                "time_fired": _ts_to_iso(self.time_fired_timestamp),
                "context": self.context.as_dict(),
            }
        return self._as_dict

    def __repr__(self) -> str:
        return f"<Event {self.event_type}[{self.origin[0]}]: {dict(self.data)}>"


class State:
    """An entity's state: a string plus attributes, with when it last changed."""

    __slots__ = (
        "_as_dict",
        "attributes",
        "context",
        "entity_id",
        "last_changed_timestamp",
        "last_reported_timestamp",
        "last_updated_timestamp",
        "state",
    )

    def __init__(
        self,
        entity_id: str,
        state: str,
        attributes: Mapping[str, Any] | None = None,
        last_changed: float | None = None,
        last_updated: float | None = None,
        context: Context | None = None,
        last_reported: float | None = None,
    ) -> None:
        now = time.time()
        self.entity_id = entity_id
        self.state = state
        self.attributes = MappingProxyType(dict(attributes) if attributes else {})
        self.last_updated_timestamp = last_updated if last_updated is not None else now
        self.last_changed_timestamp = (
            last_changed if last_changed is not None else self.last_updated_timestamp
        )
        self.last_reported_timestamp = (
            last_reported if last_reported is not None else self.last_updated_timestamp
        )
        self.context = context if context is not None else Context()
        self._as_dict: dict[str, Any] | None = None

    @property
    def domain(self) -> str:
        return self.entity_id.partition(".")[0]

    @property
    def object_id(self) -> str:
        return self.entity_id.partition(".")[2]

    @property
    def name(self) -> str:
        name = self.attributes.get("friendly_name")
        return str(name) if name else self.object_id.replace("_", " ")

    @property
    def last_changed(self) -> datetime:
        return datetime.fromtimestamp(self.last_changed_timestamp, UTC)

    @property
    def last_updated(self) -> datetime:
        return datetime.fromtimestamp(self.last_updated_timestamp, UTC)

    @property
    def last_reported(self) -> datetime:
        return datetime.fromtimestamp(self.last_reported_timestamp, UTC)

    def as_dict(self) -> dict[str, Any]:
        if self._as_dict is None:
            changed = _ts_to_iso(self.last_changed_timestamp)
            updated = (
                changed
                if self.last_updated_timestamp == self.last_changed_timestamp
                else _ts_to_iso(self.last_updated_timestamp)
            )
            self._as_dict = {
                "entity_id": self.entity_id,
                "state": self.state,
                "attributes": dict(self.attributes),
                "last_changed": changed,
                "last_updated": updated,
                "context": self.context.as_dict(),
            }
        return self._as_dict

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, State)
            and self.entity_id == other.entity_id
            and self.state == other.state
            and self.attributes == other.attributes
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<state {self.entity_id}={self.state}>"


# --- event bus ---------------------------------------------------------------------

EventListener = Callable[[Event], Any]
EventFilter = Callable[[Mapping[str, Any]], bool]
_Listener = tuple[EventListener, JobType, "EventFilter | None"]


class EventBus:
    """Fire events and call their listeners.

    `@callback` listeners run inline during `async_fire`; coroutine listeners become
    tracked tasks; plain functions run in the executor so they cannot block the loop.
    """

    def __init__(self, orge: Orge) -> None:
        self._orge = orge
        self._listeners: dict[str, tuple[_Listener, ...]] = {}
        # Events fired per type, read by orge/metrics.py at scrape time. A plain dict add is
        # the cheapest count there is; the number of types is capped (see _count_new_type).
        self.fired: dict[str, int] = {}

    def async_listeners(self) -> dict[str, int]:
        return {key: len(value) for key, value in self._listeners.items()}

    def async_fire(
        self,
        event_type: str,
        event_data: Mapping[str, Any] | None = None,
        origin: str = "LOCAL",
        context: Context | None = None,
        time_fired: float | None = None,
    ) -> Event:
        try:
            self.fired[event_type] += 1
        except KeyError:
            self._count_new_type(event_type)
        listeners = self._listeners.get(event_type, ())
        match_all = self._listeners.get(MATCH_ALL, ()) if event_type != EVENT_ORGE_CLOSE else ()
        event = Event(event_type, event_data, origin, time_fired, context)
        if listeners:
            self._dispatch(listeners, event)
        if match_all:
            self._dispatch(match_all, event)
        return event

    def _count_new_type(self, event_type: str) -> None:
        # Anyone with a token may fire any event type (POST /api/events): past the cap, new
        # types share one count so the metrics cannot grow without bound.
        key = event_type if len(self.fired) < MAX_COUNTED_EVENT_TYPES else OTHER_EVENT_TYPES
        self.fired[key] = self.fired.get(key, 0) + 1

    def _dispatch(self, listeners: tuple[_Listener, ...], event: Event) -> None:
        for target, job_type, event_filter in listeners:
            if event_filter is not None:
                try:
                    if not event_filter(event.data):
                        continue
                except Exception:
                    _LOGGER.exception("Error in event filter of %s", target)
                    continue
            if job_type is JobType.CALLBACK:
                try:
                    target(event)
                except Exception:
                    _LOGGER.exception("Error in listener %s for %s", target, event.event_type)
            else:
                self._orge.async_run_job(target, job_type, event)

    def fire(self, event_type: str, event_data: Mapping[str, Any] | None = None) -> None:
        """Thread-safe: fire from a worker thread (the event is fired on the loop)."""
        self._orge.loop.call_soon_threadsafe(self.async_fire, event_type, event_data)

    def async_listen(
        self,
        event_type: str,
        listener: EventListener,
        event_filter: EventFilter | None = None,
    ) -> Callable[[], None]:
        """Listen to one event type (or MATCH_ALL); returns a function that removes it."""
        entry: _Listener = (listener, job_type_of(listener), event_filter)
        self._listeners[event_type] = self._listeners.get(event_type, ()) + (entry,)

        @callback
        def remove() -> None:
            self._remove(event_type, entry)

        return remove

    def async_listen_once(self, event_type: str, listener: EventListener) -> Callable[[], None]:
        """Listen to the next event of this type only."""
        remove: Callable[[], None]
        fired = False

        @callback
        def once(event: Event) -> None:
            nonlocal fired
            if fired:
                return
            fired = True
            remove()
            self._orge.async_run_job(listener, job_type_of(listener), event)

        remove = self.async_listen(event_type, once)

        @callback
        def remove_once() -> None:
            if not fired:
                remove()

        return remove_once

    def _remove(self, event_type: str, entry: _Listener) -> None:
        current = self._listeners.get(event_type, ())
        if entry not in current:
            _LOGGER.debug("Listener for %s already removed", event_type)
            return
        remaining = tuple(item for item in current if item is not entry)
        if remaining:
            self._listeners[event_type] = remaining
        else:
            del self._listeners[event_type]


# --- state machine -----------------------------------------------------------------


class StateMachine:
    """entity_id -> State. A write that changes nothing fires nothing."""

    def __init__(self, orge: Orge) -> None:
        self._orge = orge
        self._bus = orge.bus
        self._states: dict[str, State] = {}
        self._reservations: set[str] = set()
        self.writes = 0  # every async_set, changed or not (orge/metrics.py)

    def get(self, entity_id: str) -> State | None:
        return self._states.get(entity_id) or self._states.get(entity_id.lower())

    def is_state(self, entity_id: str, state: str) -> bool:
        current = self.get(entity_id)
        return current is not None and current.state == state

    def async_all(self, domain_filter: str | Iterable[str] | None = None) -> list[State]:
        if domain_filter is None:
            return list(self._states.values())
        domains = {domain_filter} if isinstance(domain_filter, str) else set(domain_filter)
        return [s for s in self._states.values() if s.domain in domains]

    def async_entity_ids(self, domain_filter: str | None = None) -> list[str]:
        if domain_filter is None:
            return list(self._states)
        prefix = domain_filter + "."
        return [eid for eid in self._states if eid.startswith(prefix)]

    def async_reserve(self, entity_id: str) -> bool:
        """Claim an entity id before its first write; False if taken."""
        if entity_id in self._states or entity_id in self._reservations:
            return False
        self._reservations.add(entity_id)
        return True

    def async_available(self, entity_id: str) -> bool:
        return entity_id not in self._states and entity_id not in self._reservations

    def set(
        self, entity_id: str, new_state: Any, attributes: Mapping[str, Any] | None = None
    ) -> None:
        """Thread-safe: write a state from a worker thread (written on the loop)."""
        self._orge.loop.call_soon_threadsafe(self.async_set, entity_id, new_state, attributes)

    def async_remove(self, entity_id: str, context: Context | None = None) -> bool:
        entity_id = entity_id.lower()
        self._reservations.discard(entity_id)
        old_state = self._states.pop(entity_id, None)
        if old_state is None:
            return False
        self._bus.async_fire(
            EVENT_STATE_CHANGED,
            {"entity_id": entity_id, "old_state": old_state, "new_state": None},
            context=context,
        )
        return True

    def async_set(
        self,
        entity_id: str,
        new_state: Any,
        attributes: Mapping[str, Any] | None = None,
        force_update: bool = False,
        context: Context | None = None,
        timestamp: float | None = None,
    ) -> State:
        """Write a state; fires `state_changed` only if state or attributes differ."""
        self.writes += 1
        new_state = str(new_state)
        if len(new_state) > MAX_STATE_LENGTH:
            raise ValueError(f"State of {entity_id} is longer than {MAX_STATE_LENGTH} characters")
        attributes = attributes or {}
        old_state = self._states.get(entity_id)
        if old_state is None:
            if not valid_entity_id(entity_id):
                entity_id = entity_id.lower()
                if not valid_entity_id(entity_id):
                    raise ValueError(f"Invalid entity id: {entity_id}")
                old_state = self._states.get(entity_id)
        now = timestamp if timestamp is not None else time.time()
        if old_state is not None:
            same_state = old_state.state == new_state and not force_update
            if same_state and old_state.attributes == attributes:
                old_state.last_reported_timestamp = now
                return old_state
            last_changed = old_state.last_changed_timestamp if same_state else now
        else:
            self._reservations.discard(entity_id)
            last_changed = now
        state = State(entity_id, new_state, attributes, last_changed, now, context)
        self._states[entity_id] = state
        self._bus.async_fire(
            EVENT_STATE_CHANGED,
            {"entity_id": entity_id, "old_state": old_state, "new_state": state},
            context=state.context,
            time_fired=now,
        )
        return state


# --- services ----------------------------------------------------------------------


class SupportsResponse(enum.Enum):
    NONE = "none"
    OPTIONAL = "optional"
    ONLY = "only"


class ServiceCall:
    """One call of a service, as its handler sees it.

    The context is made when first read: most handlers never look at it, and a call that
    arrives with one (from an automation, the API) keeps it.
    """

    __slots__ = ("_context", "data", "domain", "return_response", "service")

    def __init__(
        self,
        domain: str,
        service: str,
        data: Mapping[str, Any] | None = None,
        context: Context | None = None,
        return_response: bool = False,
    ) -> None:
        self.domain = domain
        self.service = service
        self.data = MappingProxyType(dict(data) if data else {})
        self._context = context
        self.return_response = return_response

    @property
    def context(self) -> Context:
        if self._context is None:
            self._context = Context()
        return self._context

    def __repr__(self) -> str:
        return f"<ServiceCall {self.domain}.{self.service}: {dict(self.data)}>"


def _service_call(
    domain: str,
    service: str,
    data: dict[str, Any],
    context: Context | None,
    return_response: bool,
) -> ServiceCall:
    """A ServiceCall over a dict the registry already copied (the hot path copies once)."""
    call = _new_object(ServiceCall)
    call.domain = domain
    call.service = service
    call.data = MappingProxyType(data)
    call._context = context
    call.return_response = return_response
    return call


_new_object = object.__new__


ServiceHandler = Callable[[ServiceCall], Any]


class Service:
    __slots__ = ("calls", "description", "handler", "job_type", "schema", "supports_response")

    def __init__(
        self,
        handler: ServiceHandler,
        schema: Callable[[Any], Any] | None,
        supports_response: SupportsResponse,
        description: Mapping[str, Any] | None,
    ) -> None:
        self.handler = handler
        self.job_type = job_type_of(handler)
        self.schema = schema
        self.supports_response = supports_response
        self.description = dict(description or {})
        self.calls = 0  # calls that reached this service (orge/metrics.py)


class ServiceRegistry:
    """domain.service -> handler, with a voluptuous schema for the call data.

    Descriptions (name, description, fields, target; Home Assistant's `services.yaml`
    format) come from the engine's `orge/services.yaml` and each component's
    `services.yaml` (`async_set_descriptions`, called by setup before the component starts);
    a `description` given to `async_register` only fills what the file lacks.
    """

    def __init__(self, orge: Orge) -> None:
        self._orge = orge
        self._services: dict[str, dict[str, Service]] = {}
        self._descriptions: dict[str, Mapping[str, Mapping[str, Any]]] = dict(
            service_descriptions.engine_descriptions()
        )

    @property
    def services(self) -> dict[str, dict[str, Service]]:
        return {domain: dict(services) for domain, services in self._services.items()}

    def async_services(self) -> dict[str, dict[str, Service]]:
        return self.services

    def has_service(self, domain: str, service: str) -> bool:
        return service.lower() in self._services.get(domain.lower(), {})

    def async_set_descriptions(
        self, domain: str, descriptions: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """Describe a domain's services (`{service: description}`), registered or to come."""
        domain = domain.lower()
        self._descriptions[domain] = descriptions
        for name, service in self._services.get(domain, {}).items():
            if name in descriptions:
                service.description = service_descriptions.merge(
                    descriptions[name], service.description
                )

    def async_described(self, domain: str) -> Mapping[str, Mapping[str, Any]]:
        """The descriptions known for a domain (from YAML), registered or not."""
        return self._descriptions.get(domain.lower(), {})

    def async_register(
        self,
        domain: str,
        service: str,
        handler: ServiceHandler,
        schema: Callable[[Any], Any] | None = None,
        supports_response: SupportsResponse = SupportsResponse.NONE,
        description: Mapping[str, Any] | None = None,
    ) -> None:
        """Register a handler. Its description comes from `services.yaml` (see the class)."""
        domain, service = domain.lower(), service.lower()
        described = self._descriptions.get(domain, {}).get(service)
        self._services.setdefault(domain, {})[service] = Service(
            handler, schema, supports_response, service_descriptions.merge(described, description)
        )
        self._orge.bus.async_fire(EVENT_SERVICE_REGISTERED, {"domain": domain, "service": service})

    def async_remove(self, domain: str, service: str) -> None:
        domain, service = domain.lower(), service.lower()
        if self._services.get(domain, {}).pop(service, None) is None:
            return
        if not self._services[domain]:
            del self._services[domain]
        self._orge.bus.async_fire(EVENT_SERVICE_REMOVED, {"domain": domain, "service": service})

    async def async_call(
        self,
        domain: str,
        service: str,
        service_data: Mapping[str, Any] | None = None,
        blocking: bool = False,
        context: Context | None = None,
        target: Mapping[str, Any] | None = None,
        return_response: bool = False,
    ) -> Any:
        """Call a service. With `blocking` wait for it; with `return_response` return its data.

        Raises ServiceNotFound for an unknown service and ServiceValidationError when the
        data does not match the schema; both messages are fit to show an operator.
        """
        try:
            handler = self._services[domain][service]
        except KeyError:
            # Registered names are lower case: only a miss pays for lower().
            domain, service = domain.lower(), service.lower()
            try:
                handler = self._services[domain][service]
            except KeyError:
                raise ServiceNotFound(domain, service) from None
        handler.calls += 1
        supports_response = handler.supports_response
        if return_response:
            if not blocking:
                raise ServiceValidationError("A non-blocking service call cannot return a response")
            if supports_response is SupportsResponse.NONE:
                raise ServiceValidationError(
                    f"Service {domain}.{service} does not return a response"
                )
        elif supports_response is SupportsResponse.ONLY:
            raise ServiceValidationError(
                f"Service {domain}.{service} only works with a response requested"
            )
        data: dict[str, Any] = dict(service_data) if service_data else {}
        if target:
            data.update(target)
        schema = handler.schema
        if schema is not None:
            try:
                data = schema(data)
            except vol.Invalid as err:
                raise ServiceValidationError(
                    f"Invalid data for {domain}.{service}: {humanize_invalid(err)}"
                ) from None
            if type(data) is not dict:
                data = dict(data)
        call = _service_call(domain, service, data, context, return_response)
        job_type = handler.job_type
        if job_type is JobType.CALLBACK:
            result = handler.handler(call)
        elif not blocking:
            self._orge.async_run_job(handler.handler, job_type, call)
            return None
        elif job_type is JobType.COROUTINE:
            result = await handler.handler(call)
        else:
            result = await self._orge.async_add_executor_job(handler.handler, call)
        return result if return_response else None


def humanize_invalid(err: vol.Invalid) -> str:
    """One line per voluptuous problem, without the library's `@ data[...]` noise."""
    errors = err.errors if isinstance(err, vol.MultipleInvalid) else [err]
    parts = []
    for error in errors:
        path = "->".join(str(p) for p in error.path)
        parts.append(f"{error.msg} for '{path}'" if path else error.msg)
    return "; ".join(parts)


# --- config ------------------------------------------------------------------------


class Config:
    """The core settings every component can read (`orge.config`)."""

    def __init__(self, config_dir: str | None = None) -> None:
        self.config_dir = config_dir
        self.name = "ORGE"
        self.station_id = ""
        self.time_zone = "UTC"
        self.unit_system = "metric"
        self.allowlist_external_dirs: set[str] = set()
        self.customize: dict[str, dict[str, Any]] = {}
        self.components: set[str] = set()
        self.setup_errors: dict[str, str] = {}
        self.safe_mode = False
        self.version = __version__

    def path(self, *parts: str) -> str:
        """A path inside the config dir (or the working directory without one)."""
        return os.path.join(self.config_dir or os.getcwd(), *parts)

    def is_allowed_path(self, path: str) -> bool:
        real = os.path.realpath(path)
        return any(
            real == d or real.startswith(d.rstrip(os.sep) + os.sep)
            for d in map(os.path.realpath, self.allowlist_external_dirs)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "location_name": self.name,
            "station_id": self.station_id,
            "time_zone": self.time_zone,
            "unit_system": self.unit_system,
            "config_dir": self.config_dir,
            "allowlist_external_dirs": sorted(self.allowlist_external_dirs),
            "components": sorted(self.components),
            "version": self.version,
            "state": "RUNNING",
            "safe_mode": self.safe_mode,
        }


class CoreState(enum.Enum):
    NOT_RUNNING = "NOT_RUNNING"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    FINAL_WRITE = "FINAL_WRITE"
    STOPPED = "STOPPED"


# --- the hub -----------------------------------------------------------------------


class Orge:
    """The hub. Build it inside a running loop: `orge = Orge()` (config dir optional)."""

    def __init__(self, config_dir: str | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self.bus = EventBus(self)
        self.states = StateMachine(self)
        self.services = ServiceRegistry(self)
        self.config = Config(config_dir)
        self.data: dict[str, Any] = {}
        self.state = CoreState.NOT_RUNNING
        self.exit_code = 0
        self._tasks: set[asyncio.Future[Any]] = set()
        self._background_tasks: set[asyncio.Task[Any]] = set()
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="orge-exec")
        self._stopped = asyncio.Event()

    @property
    def is_running(self) -> bool:
        return self.state in (CoreState.STARTING, CoreState.RUNNING)

    # jobs ------------------------------------------------------------------------

    def async_run_job(
        self, target: Callable[..., Any], job_type: JobType | None, *args: Any
    ) -> asyncio.Future[Any] | None:
        """Run a callable the right way for its kind; returns a future unless inline."""
        if job_type is None:
            job_type = job_type_of(target)
        if job_type is JobType.CALLBACK:
            target(*args)
            return None
        if job_type is JobType.COROUTINE:
            return self.async_create_task(target(*args))
        return self.async_add_executor_job(target, *args)

    def async_create_task(
        self, coro: Coroutine[Any, Any, _T], name: str | None = None
    ) -> asyncio.Task[_T]:
        """A task that `async_block_till_done` waits for; its errors are logged."""
        task = self.loop.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def async_create_background_task(
        self, coro: Coroutine[Any, Any, _T], name: str
    ) -> asyncio.Task[_T]:
        """A long-lived task (a reader loop, a connection); cancelled at stop, not awaited."""
        task = self.loop.create_task(coro, name=name)
        self._background_tasks.add(task)
        task.add_done_callback(self._background_task_done)
        return task

    def async_add_executor_job(self, target: Callable[..., _T], *args: Any) -> asyncio.Future[_T]:
        future = self.loop.run_in_executor(self._executor, target, *args)
        self._tasks.add(future)
        future.add_done_callback(self._task_done)
        return future

    @property
    def pending_executor_jobs(self) -> tuple[asyncio.Future[Any], ...]:
        """The jobs of `async_add_executor_job` not done yet, as a snapshot (a tuple: the
        caller cannot change what the hub tracks). For a test clock that lets the loop run
        until every job it started has finished (orge/testing/clock.py)."""
        return tuple(
            job for job in self._tasks if not isinstance(job, asyncio.Task) and not job.done()
        )

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.error(
                "Error in %s",
                getattr(task, "get_name", lambda: "executor job")(),
                exc_info=task.exception(),
            )

    def _background_task_done(self, task: asyncio.Task[Any]) -> None:
        self._background_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.error("Background task %s failed", task.get_name(), exc_info=task.exception())

    async def async_block_till_done(self, timeout: float | None = None) -> None:
        """Wait until every tracked task and executor job is done (tests use this)."""
        deadline = None if timeout is None else self.loop.time() + timeout
        await asyncio.sleep(0)
        while self._tasks:
            pending = [t for t in self._tasks if not t.done()]
            if not pending:
                await asyncio.sleep(0)
                continue
            remaining = None if deadline is None else max(0.0, deadline - self.loop.time())
            if remaining == 0.0:
                raise TimeoutError("async_block_till_done timed out")
            await asyncio.wait(pending, timeout=remaining)
            await asyncio.sleep(0)

    # lifecycle -------------------------------------------------------------------

    async def async_start(self) -> None:
        self.state = CoreState.STARTING
        self.bus.async_fire(EVENT_ORGE_START)
        await self.async_block_till_done(timeout=60)
        self.state = CoreState.RUNNING
        self.bus.async_fire(EVENT_ORGE_STARTED)

    async def async_stop(self, exit_code: int = 0) -> None:
        """Stop: orge_stop, wait for work (bounded), orge_final_write, cancel the rest."""
        if self.state in (CoreState.STOPPING, CoreState.FINAL_WRITE, CoreState.STOPPED):
            await self._stopped.wait()
            return
        self.exit_code = exit_code
        self.state = CoreState.STOPPING
        self.bus.async_fire(EVENT_ORGE_STOP)
        await self._wait_quietly(STOP_TIMEOUT * 0.5)
        self.state = CoreState.FINAL_WRITE
        self.bus.async_fire(EVENT_ORGE_FINAL_WRITE)
        await self._wait_quietly(STOP_TIMEOUT * 0.3)
        self.bus.async_fire(EVENT_ORGE_CLOSE)
        me = asyncio.current_task()
        running = [t for t in (*self._background_tasks, *self._tasks) if t is not me]
        for task in running:
            if isinstance(task, asyncio.Task):
                task.cancel()
        pending = [t for t in running if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=STOP_TIMEOUT * 0.2)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.state = CoreState.STOPPED
        self._stopped.set()

    async def _wait_quietly(self, timeout: float) -> None:
        try:
            await self.async_block_till_done(timeout=timeout)
        except TimeoutError:
            names = [getattr(t, "get_name", lambda: "executor job")() for t in self._tasks]
            _LOGGER.warning("Still running at stop: %s", ", ".join(sorted(names)))

    async def async_wait_stopped(self) -> None:
        await self._stopped.wait()


class OwnedTasks:
    """The background tasks of one owner that ends before the hub does (a WebSocket
    connection, a charger's link), as Home Assistant's
    `ConfigEntry.async_create_background_task`: each task is the hub's background task
    (named, its error logged, cancelled at stop) and also the owner's, which cancels
    whatever is left at its own teardown with `async_cancel_all`.

    `on_error(err)`, when given, takes the error a task ends with instead of the hub's
    "Background task failed" log line: an owner that expects some errors (a lost link)
    and reports the others its own way (a last-error sensor)."""

    def __init__(self, orge: Orge, on_error: Callable[[BaseException], None] | None = None) -> None:
        self._orge = orge
        self._on_error = on_error
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    @callback
    def async_create_background_task(
        self, coro: Awaitable[_T], name: str
    ) -> asyncio.Task[_T | None]:
        """Run `coro` (a coroutine or any awaitable) as the hub's background task named
        `name`, owned by this owner. With `on_error`, a failed task's result is None."""
        task = self._orge.async_create_background_task(self._run(coro), name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if asyncio.iscoroutine(coro):
            # a task cancelled before its first step never awaits `coro`: closed here, as
            # asyncio closes a task's own coroutine, it says nothing of "never awaited"
            # (closing one that ran is a no-op)
            task.add_done_callback(lambda _task: coro.close())
        return task

    async def _run(self, coro: Awaitable[_T]) -> _T | None:
        if self._on_error is None:
            return await coro
        try:
            return await coro
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the owner reports it (its own words, its own sensor)
            self._on_error(err)
            return None

    @callback
    def async_cancel_all(self) -> list[asyncio.Task[Any]]:
        """Cancel every task still running; returns them, to await their end if needed."""
        tasks = [task for task in self._tasks if not task.done()]
        for task in tasks:
            task.cancel()
        return tasks


def run_callback_threadsafe(
    loop: asyncio.AbstractEventLoop, func: Callable[..., _T], *args: Any
) -> Awaitable[_T]:
    """Run a callback on the loop from another thread; returns a concurrent future."""
    import concurrent.futures

    future: concurrent.futures.Future[_T] = concurrent.futures.Future()

    def run() -> None:
        try:
            future.set_result(func(*args))
        except Exception as exc:
            future.set_exception(exc)

    loop.call_soon_threadsafe(run)
    return future  # type: ignore[return-value]
