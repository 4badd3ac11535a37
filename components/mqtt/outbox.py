"""What waits to be published: the latest payload per retained topic, and recent events.

While the broker is away a station keeps, per retained topic, only the newest payload (a
meter that changed 600 times during an outage sends its last value once), and the last
`event_buffer` events; the oldest go first when a bound is reached. Memory is therefore
bounded by `max_pending` topics plus `event_buffer` events whatever the outage's length.
Everything here runs on the loop and never blocks.
"""

from __future__ import annotations

import asyncio
from collections import deque

Item = tuple[str, bytes, bool]  # (topic, payload, retain)


class Outbox:
    def __init__(self, max_pending: int, event_buffer: int) -> None:
        self._latest: dict[str, bytes] = {}
        self._events: deque[tuple[str, bytes]] = deque()
        self._max_pending = max_pending
        self._event_buffer = event_buffer
        self._wake = asyncio.Event()
        self.dropped = 0  # payloads pushed out by the bounds (never intermediate values)

    def __len__(self) -> int:
        return len(self._latest) + len(self._events)

    def put_latest(self, topic: str, payload: bytes) -> None:
        """A retained topic's new payload; it replaces any payload still waiting for it."""
        if topic not in self._latest and len(self._latest) >= self._max_pending:
            del self._latest[next(iter(self._latest))]
            self.dropped += 1
        self._latest[topic] = payload
        self._wake.set()

    def put_event(self, topic: str, payload: bytes) -> None:
        """A (not retained) event; the oldest waiting event goes when the buffer is full."""
        if self._event_buffer == 0:
            self.dropped += 1
            return
        if len(self._events) >= self._event_buffer:
            self._events.popleft()
            self.dropped += 1
        self._events.append((topic, payload))
        self._wake.set()

    def take(self) -> Item | None:
        """The next item to send, retained topics first (in the order they first waited)."""
        if self._latest:
            topic = next(iter(self._latest))
            return topic, self._latest.pop(topic), True
        if self._events:
            topic, payload = self._events.popleft()
            return topic, payload, False
        self._wake.clear()
        return None

    def put_back(self, item: Item) -> None:
        """An item whose sending failed: keep it unless a newer payload is already waiting."""
        topic, payload, retain = item
        if retain:
            if topic not in self._latest:
                self.put_latest(topic, payload)
        elif len(self._events) < self._event_buffer:
            self._events.appendleft((topic, payload))
            self._wake.set()

    async def wait(self) -> None:
        """Until something is waiting."""
        await self._wake.wait()
