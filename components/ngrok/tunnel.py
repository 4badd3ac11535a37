"""Reading the ngrok agent's API, and supervising the agent process when asked to.

The agent answers `GET /api/tunnels` with
`{"tunnels": [{"name": ..., "public_url": "https://x.ngrok-free.app", "proto": "https",
"config": {"addr": "http://localhost:8000", ...}, ...}], "uri": "/api/tunnels"}`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from orge.core import Orge
from orge.entity import BinarySensorEntity, SensorEntity, async_add_entities
from orge.helpers.event import async_track_time_interval
from orge.redact import register_secret

_LOGGER = logging.getLogger(__name__)
EVENT_TUNNEL_CHANGED = "ngrok_tunnel_changed"
MAX_RESTART_DELAY = 300.0


# The agent needs its token, a PATH and a home for its config; nothing else of the
# station's environment (which holds OCPP_STATION_PASSWORD) is its business.
_AGENT_ENV_KEYS = ("PATH", "HOME", "LANG", "TZ", "XDG_CONFIG_HOME", "SSL_CERT_FILE", "SSL_CERT_DIR")


def agent_environment(authtoken: str) -> dict[str, str]:
    env = {key: os.environ[key] for key in _AGENT_ENV_KEYS if key in os.environ}
    env["NGROK_AUTHTOKEN"] = authtoken
    return env


def pick_tunnel(answer: Any) -> dict[str, Any] | None:
    """The https tunnel (or the first one) of an /api/tunnels answer; None if none."""
    if not isinstance(answer, dict) or not isinstance(answer.get("tunnels"), list):
        raise ValueError("answer has no 'tunnels' list")
    tunnels = [t for t in answer["tunnels"] if isinstance(t, dict) and t.get("public_url")]
    https = [t for t in tunnels if str(t["public_url"]).startswith("https://")]
    return (https or tunnels or [None])[0]


class TunnelUp(BinarySensorEntity):
    _attr_name = "ngrok tunnel"
    _attr_object_id = "ngrok_tunnel"
    _attr_device_class = "connectivity"

    def __init__(self, watcher: TunnelWatcher) -> None:
        self._watcher = watcher

    @property
    def is_on(self) -> bool:
        return self._watcher.tunnel is not None

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        return {
            "last_error": self._watcher.error,
            "agent_restarts": self._watcher.restarts,
            "managed": self._watcher.agent is not None,
        }


class PublicUrl(SensorEntity):
    _attr_name = "ngrok public URL"
    _attr_object_id = "ngrok_public_url"
    _attr_icon = "mdi:web"

    def __init__(self, watcher: TunnelWatcher) -> None:
        self._watcher = watcher

    @property
    def available(self) -> bool:
        return self._watcher.tunnel is not None

    @property
    def native_value(self) -> Any:
        tunnel = self._watcher.tunnel
        return tunnel["public_url"] if tunnel else None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        tunnel = self._watcher.tunnel
        if not tunnel:
            return None
        return {"forwards_to": (tunnel.get("config") or {}).get("addr"), "name": tunnel.get("name")}


class TunnelWatcher:
    def __init__(self, orge: Orge, config: dict[str, Any]) -> None:
        self.orge = orge
        self.api_url = config["api_url"].rstrip("/") + "/api/tunnels"
        self.interval = config["scan_interval"].total_seconds()
        self.agent: dict[str, Any] | None = config.get("agent")
        self.tunnel: dict[str, Any] | None = None
        self.error: str | None = None
        self.restarts = 0
        self._entities: list[Any] = []
        self._session: Any = None
        self._process: asyncio.subprocess.Process | None = None

    async def async_start(self) -> None:
        import aiohttp

        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        self._entities = [TunnelUp(self), PublicUrl(self)]
        await async_add_entities(self.orge, "ngrok", self._entities)
        cancel = async_track_time_interval(self.orge, self._poll, self.interval)

        async def stop(_event: Any) -> None:
            cancel()
            await self._stop_agent()
            await self._session.close()

        self.orge.bus.async_listen_once("orge_stop", stop)
        if self.agent is not None:
            register_secret(self.agent["authtoken"])
            self.orge.async_create_background_task(self._supervise(), "ngrok agent")
        self.orge.async_create_task(self.async_refresh())

    async def _poll(self, _now: float) -> None:
        await self.async_refresh()

    async def async_refresh(self) -> None:
        import aiohttp

        try:
            async with self._session.get(self.api_url) as response:
                if response.status != 200:
                    raise ValueError(f"agent API answered HTTP {response.status}")
                tunnel = pick_tunnel(await response.json(content_type=None))
            error = None if tunnel else "the agent has no tunnel"
        except (TimeoutError, aiohttp.ClientError, ValueError) as err:
            tunnel, error = (
                None,
                f"agent API at {self.api_url} unreachable: {err or type(err).__name__}",
            )
        old_url = self.tunnel["public_url"] if self.tunnel else None
        new_url = tunnel["public_url"] if tunnel else None
        if error and error != self.error:
            _LOGGER.warning("ngrok: %s", error)
        self.tunnel, self.error = tunnel, error
        if old_url != new_url:
            _LOGGER.info("ngrok public URL: %s", new_url or "none")
            self.orge.bus.async_fire(EVENT_TUNNEL_CHANGED, {"public_url": new_url})
        for entity in self._entities:
            entity.async_write_state()

    async def _supervise(self) -> None:
        """Run the agent; restart it with back-off (doubling up to 5 min) when it exits."""
        assert self.agent is not None
        first_delay = self.agent["restart_delay"].total_seconds()
        delay = first_delay
        while True:
            args = [self.agent["command"], "http", str(self.agent["port"]), "--log", "stdout"]
            if self.agent.get("domain"):
                args += ["--domain", self.agent["domain"]]
            env = agent_environment(self.agent["authtoken"])
            started = self.orge.loop.time()
            try:
                self._process = await asyncio.create_subprocess_exec(
                    *args,
                    env=env,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                code = await self._process.wait()
                self.error = f"ngrok agent exited with code {code}"
            except OSError as err:
                self.error = f"cannot start ngrok agent: {err.strerror or err}"
            _LOGGER.warning("%s; restarting in %.0f s", self.error, delay)
            self.restarts += 1
            await self.async_refresh()
            if self.orge.loop.time() - started > 60:
                delay = first_delay  # it ran for a while: a fresh failure, not a crash loop
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RESTART_DELAY)

    async def _stop_agent(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 3)
        except TimeoutError:
            process.kill()
