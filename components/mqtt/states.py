"""State and events out: `<base>/<domain>/<object_id>/state` and `/attributes`, retained,
and `<base>/event/<event_type>`; `<base>` is `<base_topic>/<station_id>`.

Rate limit per entity: a change arriving less than `min_interval` after the entity's last
publication waits until the interval ends, and then the entity's state *at that moment*
is sent (the latest value wins; the ones in between are never sent). A state or an
attribute set that did not change since it was last handed to the outbox is not sent
again. Memory is a few entries per entity.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from orge.core import Event, Orge, callback
from orge.helpers.entity_filter import EntityFilter

from .outbox import Outbox


def to_json(value: Any) -> bytes:
    """Compact JSON; what JSON cannot carry (datetimes, sets...) as its text."""
    return json.dumps(value, separators=(",", ":"), default=str).encode()


def entity_topic(base: str, entity_id: str) -> str:
    """`<base>/<domain>/<object_id>` for `domain.object_id`."""
    domain, _, object_id = entity_id.partition(".")
    return f"{base}/{domain}/{object_id}"


class StatePublisher:
    def __init__(
        self,
        orge: Orge,
        outbox: Outbox,
        base: str,
        entity_filter: EntityFilter,
        min_interval: float,
        entity_min_interval: dict[str, float],
    ) -> None:
        self._orge = orge
        self._outbox = outbox
        self._base = base
        self._filter = entity_filter
        self._min_interval = min_interval
        self._entity_min_interval = entity_min_interval
        self._last_sent: dict[str, float] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._sent: dict[str, tuple[bytes, bytes]] = {}  # entity -> (state, attributes)

    @callback
    def state_changed(self, event: Event) -> None:
        entity_id = event.data["entity_id"]
        if not self._filter.entity(entity_id) or entity_id in self._timers:
            return  # filtered out, or a timer will send the latest state anyway
        interval = self._entity_min_interval.get(entity_id, self._min_interval)
        last = self._last_sent.get(entity_id)
        wait = 0.0 if last is None else last + interval - time.monotonic()
        if wait > 0:
            loop = asyncio.get_running_loop()
            self._timers[entity_id] = loop.call_later(wait, self._flush, entity_id)
            return
        self._send(entity_id)

    def _flush(self, entity_id: str) -> None:
        del self._timers[entity_id]
        self._send(entity_id)

    def _send(self, entity_id: str) -> None:
        self._last_sent[entity_id] = time.monotonic()
        topic = entity_topic(self._base, entity_id)
        state = self._orge.states.get(entity_id)
        if state is None:  # removed: clear the retained messages
            self._sent.pop(entity_id, None)
            self._last_sent.pop(entity_id, None)
            self._outbox.put_latest(f"{topic}/state", b"")
            self._outbox.put_latest(f"{topic}/attributes", b"")
            return
        payload = str(state.state).encode()
        attributes = to_json(dict(state.attributes))
        before = self._sent.get(entity_id)
        if before is None or before[0] != payload:
            self._outbox.put_latest(f"{topic}/state", payload)
        if before is None or before[1] != attributes:
            self._outbox.put_latest(f"{topic}/attributes", attributes)
        self._sent[entity_id] = (payload, attributes)

    def publish_all(self) -> None:
        """Every entity's current state, now (on each connect: the broker may have lost
        its retained messages in a restart)."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._sent.clear()
        for state in self._orge.states.async_all():
            if self._filter.entity(state.entity_id):
                self._send(state.entity_id)

    def stop(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()


class EventPublisher:
    """Bus events of the configured types, as `{"event_type", "data", "time_fired"}`."""

    def __init__(self, outbox: Outbox, base: str) -> None:
        self._outbox = outbox
        self._base = base

    @callback
    def event(self, event: Event) -> None:
        payload = {
            "event_type": event.event_type,
            "data": event.data,
            "time_fired": event.time_fired.isoformat(),
        }
        self._outbox.put_event(f"{self._base}/event/{event.event_type}", to_json(payload))
