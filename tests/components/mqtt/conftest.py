"""A real Mosquitto broker for the mqtt tests (orge.testing.mosquitto): a password file
with the station's and Home Assistant's users, a plain listener and a TLS listener that
needs a client certificate; and a subscriber watching it as Home Assistant would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from orge.testing.mosquitto import MOSQUITTO, Broker, make_certificates

__all__ = ["Broker", "make_certificates"]

USER = "station"
PASSWORD = "s3cret-broker-pw"
HA_USER = "homeassistant"
HA_PASSWORD = "ha-broker-pw"

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="Debian's mosquitto is not installed")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    server = Broker(tmp_path / "broker", {USER: PASSWORD, HA_USER: HA_PASSWORD}, tls=True)
    server.start()
    yield server
    server.stop()


class Watcher:
    """A subscriber on the broker (as Home Assistant would be): every message it saw,
    and the last payload per topic."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.messages: list[tuple[str, bytes, bool]] = []
        self.last: dict[str, bytes] = {}
        self._task: asyncio.Task[None] | None = None
        self._client: Any = None
        self._ready = asyncio.Event()

    async def start(self, *topics: str) -> None:
        self._task = asyncio.create_task(self._run(topics))
        await asyncio.wait_for(self._ready.wait(), 10)

    async def _run(self, topics: tuple[str, ...]) -> None:
        import aiomqtt

        async with aiomqtt.Client(
            "127.0.0.1", self.broker.port, username=HA_USER, password=HA_PASSWORD
        ) as client:
            self._client = client
            for topic in topics:
                await client.subscribe(topic, qos=1)
            self._ready.set()
            async for message in client.messages:
                payload = bytes(message.payload)  # type: ignore[arg-type]
                self.messages.append((str(message.topic), payload, message.retain))
                self.last[str(message.topic)] = payload

    async def publish(self, topic: str, payload: bytes | str) -> None:
        await self._client.publish(topic, payload, qos=1)

    async def until(self, topic: str, payload: bytes | None = None, timeout: float = 10) -> bytes:
        """The last payload on `topic` once there is one (equal to `payload` if given)."""
        for _ in range(int(timeout / 0.02)):
            found = self.last.get(topic)
            if found is not None and (payload is None or found == payload):
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"{topic}: {self.last.get(topic)!r}, expected {payload!r}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass


@pytest.fixture
async def watcher(broker: Broker) -> AsyncIterator[Watcher]:
    seen = Watcher(broker)
    await seen.start("orge/#", "homeassistant/#")
    yield seen
    await seen.stop()
