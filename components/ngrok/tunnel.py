"""Every tunnel of the ngrok agent as an entity, the agent's health, and the services.

Entities:
- `binary_sensor.ngrok_agent` (connectivity): the agent's API answers;
- `sensor.ngrok_<tunnel name>` per tunnel: state = its public URL (`https://…`,
  `tcp://host:port`), attributes `name`, `proto`, `addr` (local address) and `metrics`
  (the agent's `conns` and `http` counters); `unavailable` while the agent does not answer
  or the tunnel is not running;
- `binary_sensor.ngrok_problem` (problem), with `expected_tunnels:` only: on while a tunnel
  is missing (`missing`) or at another address (`elsewhere`: name -> where it is).

Event `ngrok_tunnel_changed` `{"name", "proto", "old_url", "new_url"}` each time a tunnel's
public URL changes as the agent reports it (appearing: old_url None; stopped: new_url None).
While the agent does not answer, nothing is known, so nothing fires: when it answers again
with a TCP tunnel at a new address, the event carries the address from before the outage.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import (
    EVENT_ORGE_STARTED,
    EVENT_ORGE_STOP,
    CoreState,
    Orge,
    ServiceCall,
    SupportsResponse,
)
from orge.entity import BinarySensorEntity, SensorEntity, async_add_entities
from orge.exceptions import OrgeError
from orge.helpers.event import async_track_time_interval
from orge.redact import register_secret

from .agent import AgentSupervisor
from .api import AgentApi, AgentApiError, AgentRefused, Tunnel
from .const import DOMAIN

_LOGGER = logging.getLogger(__name__)
EVENT_TUNNEL_CHANGED = "ngrok_tunnel_changed"

START_TUNNEL_SCHEMA = vol.Schema(
    {
        vol.Required("name"): cv.strict_string,
        vol.Required("addr"): vol.All(vol.Any(cv.port, cv.strict_string), vol.Coerce(str)),
        vol.Optional("proto", default="http"): vol.In(["http", "tcp", "tls"]),
        vol.Optional("domain"): cv.strict_string,
        vol.Optional("remote_addr"): cv.strict_string,
    }
)
STOP_TUNNEL_SCHEMA = vol.Schema({vol.Required("name"): cv.strict_string})


def at_expected_place(expected: str, public_url: str) -> bool:
    """Whether a tunnel is where `expected_tunnels:` says: a whole URL (`tcp://h:p`) or just
    the address (`h:p`, `station7.ngrok.app`) compared without the scheme."""
    if "://" in expected:
        return public_url.rstrip("/") == expected.rstrip("/")
    return public_url.split("://", 1)[-1].rstrip("/") == expected.rstrip("/")


class AgentSensor(BinarySensorEntity):
    _attr_name = "ngrok agent"
    _attr_object_id = "ngrok_agent"
    _attr_device_class = "connectivity"

    def __init__(self, watcher: TunnelWatcher) -> None:
        self._watcher = watcher

    @property
    def is_on(self) -> bool:
        return self._watcher.tunnels is not None

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        supervisor = self._watcher.supervisor
        return {
            "last_error": self._watcher.error,
            "tunnels": sorted(self._watcher.tunnels or ()),
            "managed": supervisor is not None,
            "agent_restarts": supervisor.restarts if supervisor else 0,
            "last_exit": supervisor.last_exit if supervisor else None,
        }


class TunnelSensor(SensorEntity):
    _attr_icon = "mdi:web"

    def __init__(self, watcher: TunnelWatcher, name: str) -> None:
        self._watcher = watcher
        self.tunnel_name = name
        self._attr_name = f"ngrok {name}"
        self._attr_object_id = cv.slugify(f"ngrok {name}")

    @property
    def _tunnel(self) -> Tunnel | None:
        return (self._watcher.tunnels or {}).get(self.tunnel_name)

    @property
    def available(self) -> bool:
        return self._tunnel is not None

    @property
    def native_value(self) -> str | None:
        tunnel = self._tunnel
        return tunnel.public_url if tunnel else None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        tunnel = self._tunnel
        if tunnel is None:
            return None
        attributes: dict[str, Any] = {
            "name": tunnel.name,
            "proto": tunnel.proto,
            "addr": tunnel.addr,
            "metrics": tunnel.metrics,
        }
        expected = self._watcher.expected.get(tunnel.name)
        if expected is not None:
            attributes["expected"] = expected
        return attributes


class ProblemSensor(BinarySensorEntity):
    _attr_name = "ngrok problem"
    _attr_object_id = "ngrok_problem"
    _attr_device_class = "problem"

    def __init__(self, watcher: TunnelWatcher) -> None:
        self._watcher = watcher

    def _check(self) -> tuple[list[str], dict[str, str]]:
        tunnels = self._watcher.tunnels or {}
        missing, elsewhere = [], {}
        for name, expected in self._watcher.expected.items():
            tunnel = tunnels.get(name)
            if tunnel is None:
                missing.append(name)
            elif not at_expected_place(expected, tunnel.public_url):
                elsewhere[name] = tunnel.public_url
        return missing, elsewhere

    @property
    def is_on(self) -> bool:
        missing, elsewhere = self._check()
        return bool(missing or elsewhere)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        missing, elsewhere = self._check()
        return {"missing": missing, "elsewhere": elsewhere}


class TunnelWatcher:
    """Polls `GET /api/tunnels`; `tunnels` is None while the agent does not answer."""

    def __init__(self, orge: Orge, config: dict[str, Any]) -> None:
        self.orge = orge
        self.interval = config["scan_interval"].total_seconds()
        self.api = AgentApi(config["api_url"], config["timeout"].total_seconds())
        self.expected: dict[str, str] = dict(config.get("expected_tunnels") or {})
        self.tunnels: dict[str, Tunnel] | None = None
        self.error: str | None = None
        self.supervisor: AgentSupervisor | None = None
        if config.get("agent") is not None:
            self.supervisor = AgentSupervisor(config["agent"], self.async_refresh)
        self._urls: dict[str, str] = {}  # last public URL of each tunnel the agent reported
        self._sensors: dict[str, TunnelSensor] = {}
        self._entities: list[Any] = []
        self._lock = asyncio.Lock()

    async def async_start(self) -> None:
        self._entities = [AgentSensor(self)]
        if self.expected:
            self._entities.append(ProblemSensor(self))
        await async_add_entities(self.orge, DOMAIN, self._entities)
        await self._add_sensors(list(self.expected))
        cancel = async_track_time_interval(self.orge, self._poll, self.interval)

        async def stop(_event: Any) -> None:
            cancel()
            if self.supervisor is not None:
                await self.supervisor.stop()
            await self.api.close()

        self.orge.bus.async_listen_once(EVENT_ORGE_STOP, stop)
        if self.supervisor is not None:
            register_secret(self.supervisor.config["authtoken"])
            self.orge.async_create_background_task(self.supervisor.run(), "ngrok agent")
        if self.orge.state is CoreState.RUNNING:
            self.orge.async_create_task(self.async_refresh())
        else:  # first read once automations listen, so they hear where each tunnel is
            self.orge.bus.async_listen_once(EVENT_ORGE_STARTED, self._poll)

    async def _add_sensors(self, names: list[str]) -> None:
        new = [TunnelSensor(self, name) for name in names if name not in self._sensors]
        for sensor in new:
            self._sensors[sensor.tunnel_name] = sensor
        if new:
            await async_add_entities(self.orge, DOMAIN, new)

    async def _poll(self, _now_or_event: Any) -> None:
        if not self._lock.locked():  # a slow agent must not pile up requests
            await self.async_refresh()

    async def async_refresh(self) -> None:
        """Read the agent's tunnels now and update every entity; never raises."""
        async with self._lock:
            try:
                tunnels: dict[str, Tunnel] | None = await self.api.list_tunnels()
                error = None
            except AgentApiError as err:
                tunnels, error = None, str(err)
            await self._apply(tunnels, error)

    async def _apply(self, tunnels: dict[str, Tunnel] | None, error: str | None) -> None:
        if error is not None and error != self.error:
            _LOGGER.warning("ngrok: %s", error)  # once per kind of failure, not once per poll
        elif error is None and self.error is not None:
            _LOGGER.info("ngrok: the agent API answers again")
        self.tunnels, self.error = tunnels, error
        if tunnels is not None:
            await self._add_sensors(list(tunnels))
            self._fire_changes(tunnels)
        for entity in [*self._entities, *self._sensors.values()]:
            entity.async_write_state()

    def _fire_changes(self, tunnels: dict[str, Tunnel]) -> None:
        for name in sorted(set(self._urls) | set(tunnels)):
            old_url = self._urls.get(name)
            tunnel = tunnels.get(name)
            new_url = tunnel.public_url if tunnel else None
            if old_url == new_url:
                continue
            _LOGGER.info("ngrok tunnel %s: %s", name, new_url or "stopped")
            if tunnel is None:
                del self._urls[name]
            else:
                self._urls[name] = tunnel.public_url
            proto = tunnel.proto if tunnel else None
            self.orge.bus.async_fire(
                EVENT_TUNNEL_CHANGED,
                {"name": name, "proto": proto, "old_url": old_url, "new_url": new_url},
            )

    async def async_start_tunnel(self, definition: dict[str, Any]) -> dict[str, Any]:
        """POST the definition to the agent; the new tunnel's public URL, or OrgeError."""
        try:
            tunnel = await self.api.start_tunnel(definition)
        except (AgentRefused, AgentApiError) as err:
            raise OrgeError(f"ngrok could not start tunnel {definition['name']}: {err}") from None
        await self.async_refresh()
        return {"name": tunnel.name, "public_url": tunnel.public_url, "proto": tunnel.proto}

    async def async_stop_tunnel(self, name: str) -> None:
        """DELETE the tunnel at the agent, or OrgeError (no such tunnel, agent away)."""
        try:
            await self.api.stop_tunnel(name)
        except (AgentRefused, AgentApiError) as err:
            raise OrgeError(f"ngrok could not stop tunnel {name}: {err}") from None
        await self.async_refresh()


def tunnel_entity_ids(config: dict[str, Any]) -> set[str]:
    """The ids this block creates: the agent's sensor, the problem sensor and each expected
    tunnel's sensor; `sensor.ngrok_*` for the tunnels the agent reports at run time."""
    ids = {f"binary_sensor.{AgentSensor._attr_object_id}", "sensor.ngrok_*"}
    expected = config.get("expected_tunnels") or {}
    if expected:
        ids.add(f"binary_sensor.{ProblemSensor._attr_object_id}")
    ids.update(f"sensor.{cv.slugify(f'ngrok {name}')}" for name in expected)
    return ids


async def async_setup_ngrok(orge: Orge, config: dict[str, Any]) -> bool:
    watcher = TunnelWatcher(orge, config)
    orge.data[DOMAIN] = watcher
    await watcher.async_start()

    async def start_tunnel(call: ServiceCall) -> dict[str, Any]:
        return await watcher.async_start_tunnel(dict(call.data))

    async def stop_tunnel(call: ServiceCall) -> None:
        await watcher.async_stop_tunnel(call.data["name"])

    async def refresh(call: ServiceCall) -> None:
        await watcher.async_refresh()

    orge.services.async_register(
        DOMAIN,
        "start_tunnel",
        start_tunnel,
        START_TUNNEL_SCHEMA,
        SupportsResponse.OPTIONAL,
    )
    orge.services.async_register(
        DOMAIN,
        "stop_tunnel",
        stop_tunnel,
        STOP_TUNNEL_SCHEMA,
    )
    orge.services.async_register(DOMAIN, "refresh", refresh, vol.Schema({}))
    return True
