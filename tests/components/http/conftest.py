"""A running station with the http component on a free port, a token, and demo entities.

The demo entities come from a custom component written into the config dir (a real
component, loaded by the real loader): a sensor, a switch, a number, a button, a select,
and two services of its own domain, as a charger component would have.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from components.http.auth import create_token
from orge.core import Orge

DEMO_MANIFEST = """
domain: charger_demo
name: Demo charger
version: 0.0.1
"""

DEMO_COMPONENT = """
from orge.core import SupportsResponse
from orge.entity import (
    ButtonEntity, NumberEntity, SelectEntity, SensorEntity, SwitchEntity, async_add_entities,
)

CONFIG_SCHEMA = None


class Power(SensorEntity):
    _attr_name = "Charger power"
    _attr_unit_of_measurement = "W"
    _attr_state_class = "measurement"
    _attr_state = 0


class Enabled(SwitchEntity):
    _attr_name = "Charging enabled"
    _attr_is_on = False

    async def async_turn_on(self, **kwargs):
        self._attr_is_on = True

    async def async_turn_off(self, **kwargs):
        self._attr_is_on = False


class MaxCurrent(NumberEntity):
    _attr_name = "Max current"
    _attr_native_value = 16
    _attr_native_min_value = 6
    _attr_native_max_value = 32
    _attr_unit_of_measurement = "A"

    async def async_set_native_value(self, value):
        self._attr_native_value = value


class Reset(ButtonEntity):
    _attr_name = "Reset meter"

    async def async_press(self):
        self.orge.data["charger_demo_presses"] = self.orge.data.get("charger_demo_presses", 0) + 1


class Mode(SelectEntity):
    _attr_name = "Charge mode"
    _attr_options = ["fast", "solar", "off"]
    _attr_current_option = "fast"

    async def async_select_option(self, option):
        self._attr_current_option = option


async def async_setup(orge, config):
    entities = [Power(), Enabled(), MaxCurrent(), Reset(), Mode()]
    await async_add_entities(orge, "charger_demo", entities)
    orge.data["charger_demo"] = {e.entity_id: e for e in entities}

    async def authorize(call):
        orge.states.async_set(
            "sensor.charger_authorized_tag", call.data.get("id_tag", "local"), context=call.context
        )

    async def echo(call):
        return {"echo": dict(call.data)}

    orge.services.async_register(
        "charger_demo", "authorize", authorize,
        description={"name": "Authorize", "fields": {"id_tag": {"example": "ABC123"}}},
    )
    orge.services.async_register(
        "charger_demo", "echo", echo, supports_response=SupportsResponse.OPTIONAL
    )
    return True
"""


def write_demo_component(path: Path) -> None:
    folder = path / "custom_components" / "charger_demo"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.yaml").write_text(DEMO_MANIFEST)
    (folder / "__init__.py").write_text(DEMO_COMPONENT)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Station:
    hub: Orge
    path: Path
    port: int
    token: str
    session: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def get(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        kwargs.setdefault("headers", self.auth)
        return await self.session.get(self.url + path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        kwargs.setdefault("headers", self.auth)
        return await self.session.post(self.url + path, **kwargs)

    async def ws(self, authenticate: bool = True) -> aiohttp.ClientWebSocketResponse:
        ws = await self.session.ws_connect(self.url + "/api/websocket")
        if authenticate:
            first = await ws.receive_json()
            assert first["type"] == "auth_required"
            await ws.send_json({"type": "auth", "access_token": self.token})
            ok = await ws.receive_json()
            assert ok["type"] == "auth_ok", ok
        return ws


def station_yaml(port: int, http_extra: str = "", extra: str = "") -> str:
    return (
        "orge:\n  name: Test station\n"
        f"http:\n  server_host: 127.0.0.1\n  server_port: {port}\n{http_extra}"
        f"charger_demo:\n{extra}"
    )


@pytest.fixture
async def make_station(
    config_dir: Callable[..., Path], start_station: Callable[..., Any]
) -> AsyncIterator[Callable[..., Any]]:
    sessions: list[aiohttp.ClientSession] = []

    async def make(http_extra: str = "", extra: str = "", **files: str) -> Station:
        port = free_port()
        path = config_dir(station_yaml(port, http_extra, extra), **files)
        write_demo_component(path)
        token = create_token(str(path), "tests")
        hub, result = await start_station(path)
        assert not result.problems, result.problems
        assert "http" in hub.config.components, hub.config.setup_errors
        session = aiohttp.ClientSession()
        sessions.append(session)
        return Station(hub, path, port, token, session)

    yield make
    for session in sessions:
        await session.close()


@pytest.fixture
async def station(make_station: Callable[..., Any]) -> Station:
    return await make_station()
