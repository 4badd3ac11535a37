"""Timer entities and their services."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge import dt as dt_util
from orge.core import Orge, ServiceCall, callback
from orge.entity import ENTITY_SERVICE_SCHEMA
from orge.exceptions import ServiceValidationError
from orge.helpers.event import async_call_later
from orge.restore_state import HelperEntity

from .config import CONFIG_SCHEMA, ITEM
from .const import (
    ACTIVE,
    DOMAIN,
    EVENT_TIMER_CANCELLED,
    EVENT_TIMER_FINISHED,
    EVENT_TIMER_PAUSED,
    EVENT_TIMER_RESTARTED,
    EVENT_TIMER_STARTED,
    IDLE,
    PAUSED,
)


def _hms(delta: timedelta) -> str:
    total = round(delta.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    return f"{sign}{total // 3600}:{total // 60 % 60:02d}:{total % 60:02d}"


class Timer(HelperEntity):
    domain = DOMAIN

    def __init__(self, key: str, conf: dict[str, Any]) -> None:
        super().__init__(key, conf)
        self.status = IDLE
        self.duration: timedelta = conf["duration"]
        self.remaining: timedelta | None = None
        self.finishes_at: float | None = None  # wall clock, for display and restore
        self._cancel: Callable[[], None] | None = None

    @property
    def state(self) -> str:
        return self.status

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "duration": _hms(self.duration),
            "editable": False,
            "restore": self.conf["restore"],
        }
        if self.remaining is not None and self.status != IDLE:
            attrs["remaining"] = _hms(self.remaining)
        if self.status == ACTIVE and self.finishes_at is not None:
            attrs["finishes_at"] = datetime.fromtimestamp(self.finishes_at, UTC).isoformat()
        return attrs

    @property
    def extra_restore_data(self) -> dict[str, Any]:
        remaining = self.remaining.total_seconds() if self.remaining is not None else None
        if self.status == ACTIVE and self.finishes_at is not None:
            remaining = self.finishes_at - time.time()
        return {"remaining": remaining, "finishes_at": self.finishes_at}

    async def async_added_to_orge(self) -> None:
        await super().async_added_to_orge()
        if not self.conf["restore"]:
            return
        last = await self.async_get_last_state()
        extra = await self.async_get_last_extra_data() or {}
        if last is None or last.state not in (ACTIVE, PAUSED):
            return
        if last.state == PAUSED and extra.get("remaining") is not None:
            self.status, self.remaining = PAUSED, timedelta(seconds=extra["remaining"])
        elif last.state == ACTIVE and extra.get("finishes_at") is not None:
            left = extra["finishes_at"] - time.time()
            # Ran out while the station was down: finish once everything is set up.
            self._run(timedelta(seconds=max(left, 0.0)))

    async def async_will_remove_from_orge(self) -> None:
        await super().async_will_remove_from_orge()
        self._stop_clock()

    def _stop_clock(self) -> None:
        if self._cancel is not None:
            self._cancel()
            self._cancel = None

    def _run(self, remaining: timedelta) -> None:
        assert self.orge is not None
        self._stop_clock()
        self.status = ACTIVE
        self.remaining = remaining
        self.finishes_at = time.time() + remaining.total_seconds()
        self._cancel = async_call_later(self.orge, remaining, self._done)

    @callback
    def _done(self, _now: float) -> None:
        self._cancel = None
        self.finish()

    def _fire(self, event_type: str) -> None:
        assert self.orge is not None
        data: dict[str, Any] = {"entity_id": self.entity_id}
        if event_type == EVENT_TIMER_FINISHED:
            data["finished_at"] = dt_util.utcnow().isoformat()
        self.orge.bus.async_fire(event_type, data, context=self._context)

    def start(self, duration: timedelta | None) -> None:
        restarting = self.status == ACTIVE
        if duration is not None:
            self.duration = duration
        remaining = duration or (self.remaining if self.status == PAUSED else None) or self.duration
        self._run(remaining)
        self._fire(EVENT_TIMER_RESTARTED if restarting else EVENT_TIMER_STARTED)

    def pause(self) -> None:
        if self.status != ACTIVE or self.finishes_at is None:
            return
        self._stop_clock()
        self.remaining = timedelta(seconds=max(self.finishes_at - time.time(), 0.0))
        self.status = PAUSED
        self._fire(EVENT_TIMER_PAUSED)

    def cancel(self) -> None:
        if self.status == IDLE:
            return
        self._stop_clock()
        self.status, self.remaining, self.finishes_at = IDLE, None, None
        self._fire(EVENT_TIMER_CANCELLED)

    def finish(self) -> None:
        if self.status == IDLE:
            return
        self._stop_clock()
        self.status, self.remaining, self.finishes_at = IDLE, None, None
        self._fire(EVENT_TIMER_FINISHED)
        self.async_write_state()

    def change(self, delta: timedelta) -> None:
        if self.status != ACTIVE or self.finishes_at is None:
            raise ServiceValidationError(f"{self.entity_id} is not running")
        left = timedelta(seconds=self.finishes_at - time.time()) + delta
        if left <= timedelta(0):
            raise ServiceValidationError(f"{self.entity_id}: the change would end before now")
        self._run(left)


async def async_setup_timers(orge: Orge, config: dict[str, Any]) -> None:
    from orge.script.reload import async_replace_entities, register_reload

    def build(block: dict[str, Any] | None) -> list[Timer]:
        return [Timer(key, conf or ITEM({})) for key, conf in (block or {}).items()]

    entities: dict[str, Any] = {}
    await async_replace_entities(orge, DOMAIN, entities, build(config))
    register_reload(orge, DOMAIN, CONFIG_SCHEMA, entities, build)
    for entity in entities.values():
        if entity.status == ACTIVE and entity.remaining == timedelta(0):
            entity.finish()  # expired while the station was down

    def handler(action: Callable[[Timer, ServiceCall], None]) -> Any:
        async def handle(call: ServiceCall) -> None:
            wanted = call.data["entity_id"]
            for entity_id in list(entities) if wanted == "all" else wanted:
                entity = entities.get(entity_id)
                if entity is None:
                    raise ServiceValidationError(f"{entity_id} is not a timer")
                entity.async_set_context(call.context)
                action(entity, call)  # type: ignore[arg-type]
                entity.async_write_state()

        return handle

    with_duration = ENTITY_SERVICE_SCHEMA.extend({vol.Optional("duration"): cv.time_period})
    services = (
        ("start", lambda e, c: e.start(c.data.get("duration")), with_duration),
        ("pause", lambda e, c: e.pause(), ENTITY_SERVICE_SCHEMA),
        ("cancel", lambda e, c: e.cancel(), ENTITY_SERVICE_SCHEMA),
        ("finish", lambda e, c: e.finish(), ENTITY_SERVICE_SCHEMA),
        (
            "change",
            lambda e, c: e.change(c.data["duration"]),
            ENTITY_SERVICE_SCHEMA.extend({vol.Required("duration"): cv.time_period}),
        ),
    )
    for service, action, schema in services:
        orge.services.async_register(DOMAIN, service, handler(action), schema)
