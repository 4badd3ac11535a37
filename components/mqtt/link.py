"""The connection to the broker: connect, announce, send the outbox, receive, reconnect.

aiomqtt (asyncio on paho-mqtt) does the protocol; this module adds what a fleet needs:
a last will `offline` on the availability topic and `online` (retained) on every connect,
and reconnection with "full jitter" exponential back-off (a delay drawn uniformly from
0..min(reconnect_max, reconnect_min * 2**attempt)) so 150 stations that lost the same
broker do not come back in lockstep. Nothing here blocks the loop: the TLS context is
built in the executor and aiomqtt connects in its own thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt

from orge.core import Orge

from .outbox import Outbox

_LOGGER = logging.getLogger(__name__)

ONLINE = b"online"
OFFLINE = b"offline"


def backoff_delay(attempt: int, low: float, high: float) -> float:
    """Seconds before reconnect `attempt` (0 = the first retry): full jitter, at least 10 ms."""
    cap = min(high, low * (2 ** min(attempt, 30)))
    return max(0.01, random.uniform(0, cap))


def tls_context(config: dict[str, Any], config_dir: str) -> ssl.SSLContext | None:
    """The TLS context for `certificate` (CA file) and the optional client certificate,
    relative paths read from `config_dir` (as check-config finds them: TLS_FILES).

    Reads files: call it in the executor. Raises OSError / ssl.SSLError for a bad file."""
    if not config.get("certificate") and not config.get("client_cert"):
        return None

    def path(name: str) -> str | None:
        value = config.get(name)
        return os.path.join(config_dir, str(value)) if value else None

    context = ssl.create_default_context(cafile=path("certificate"))
    if config.get("client_cert"):
        context.load_cert_chain(path("client_cert"), path("client_key"))
    if config.get("tls_insecure"):
        context.check_hostname = False
    return context


class Link:
    """Keeps one connection up; `connected` tells whether it is."""

    def __init__(
        self,
        orge: Orge,
        config: dict[str, Any],
        client_id: str,
        availability_topic: str,
        subscriptions: list[str],
        outbox: Outbox,
        on_connect: Callable[[], None],
        on_message: Callable[[str, bytes], Awaitable[None]],
        on_connected_changed: Callable[[bool], None],
    ) -> None:
        self._orge = orge
        self._config = config
        self.client_id = client_id
        self.availability_topic = availability_topic
        self._subscriptions = subscriptions
        self._outbox = outbox
        self._on_connect = on_connect
        self._on_message = on_message
        self._on_connected_changed = on_connected_changed
        self._client: aiomqtt.Client | None = None
        self.connected = False
        self.connects = 0

    def _new_client(self, context: ssl.SSLContext | None) -> aiomqtt.Client:
        config = self._config
        v5 = config["protocol"] == "5"
        return aiomqtt.Client(
            config["broker"],
            config.get("port") or (8883 if context else 1883),
            username=config.get("username"),
            password=config.get("password"),
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            will=aiomqtt.Will(self.availability_topic, OFFLINE, qos=1, retain=True),
            clean_session=None if v5 else True,
            keepalive=config["keepalive"],
            timeout=10,
            tls_context=context,
            tls_insecure=bool(config.get("tls_insecure")) if context else None,
        )

    async def run(self) -> None:
        """Connect, serve, and reconnect for ever (cancelled at stop)."""
        config = self._config
        try:
            context = await self._orge.async_add_executor_job(
                tls_context, config, self._orge.config.path()
            )
        except (OSError, ssl.SSLError) as err:
            _LOGGER.error("MQTT: cannot use the TLS files: %s", err)
            return
        attempt = 0
        reported = False
        while True:
            try:
                async with self._new_client(context) as client:
                    self._client = client
                    attempt = 0
                    reported = False
                    await self._serve(client)
            except aiomqtt.MqttError as err:
                if not reported:
                    # One line per outage, not one per attempt.
                    _LOGGER.warning(
                        "MQTT broker %s:%s: %s; retrying with back-off",
                        config["broker"],
                        config.get("port") or "default port",
                        err,
                    )
                    reported = True
            except Exception:
                _LOGGER.exception("MQTT: unexpected error; reconnecting")
            finally:
                self._client = None
                if self.connected:
                    self.connected = False
                    self._on_connected_changed(False)
            await asyncio.sleep(
                backoff_delay(attempt, config["reconnect_min"], config["reconnect_max"])
            )
            attempt += 1

    async def _serve(self, client: aiomqtt.Client) -> None:
        await client.publish(self.availability_topic, ONLINE, qos=1, retain=True)
        for topic in self._subscriptions:
            await client.subscribe(topic, qos=1)
        self.connected = True
        self.connects += 1
        _LOGGER.info("MQTT connected to %s as %s", self._config["broker"], self.client_id)
        self._on_connected_changed(True)
        self._on_connect()
        # Two halves of this connection, awaited right here: the first to end ends both,
        # and its error is the connection's (re-raised below). Not the hub's tasks: the
        # hub would log each broker disconnect a second time as a failed task.
        tasks = [
            asyncio.create_task(self._send(client), name="mqtt send"),
            asyncio.create_task(self._receive(client), name="mqtt receive"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()  # the connection's end (MqttError) surfaces here

    async def _send(self, client: aiomqtt.Client) -> None:
        outbox = self._outbox
        while True:
            item = outbox.take()
            if item is None:
                await outbox.wait()
                continue
            topic, payload, retain = item
            try:
                await client.publish(topic, payload, qos=0, retain=retain)
            except BaseException:
                outbox.put_back(item)
                raise

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            if not isinstance(payload, bytes | bytearray):
                payload = b"" if payload is None else str(payload).encode()
            await self._on_message(str(message.topic), bytes(payload))

    async def async_say_offline(self) -> None:
        """At a clean stop: the will only fires on an unclean end, so say it ourselves."""
        client = self._client
        if client is not None and self.connected:
            try:
                await asyncio.wait_for(
                    client.publish(self.availability_topic, OFFLINE, qos=1, retain=True), 3
                )
            except (aiomqtt.MqttError, TimeoutError):
                pass
