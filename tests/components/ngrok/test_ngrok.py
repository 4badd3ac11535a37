"""ngrok against a stand-in agent API (aiohttp, the documented /api/tunnels JSON) and a
stand-in agent executable."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

TUNNELS = {
    "tunnels": [
        {
            "name": "command_line",
            "ID": "5a8d8e5f3c1a",
            "uri": "/api/tunnels/command_line",
            "public_url": "https://5d3b-88-1-2-3.ngrok-free.app",
            "proto": "https",
            "config": {"addr": "http://localhost:8000", "inspect": True},
            "metrics": {"conns": {"count": 0}, "http": {"count": 0}},
        }
    ],
    "uri": "/api/tunnels",
}


class FakeAgentApi:
    def __init__(self) -> None:
        self.answer: Any = TUNNELS
        self.status = 200
        self.requests = 0

    async def tunnels(self, request: web.Request) -> web.Response:
        self.requests += 1
        return web.json_response(self.answer, status=self.status)


@pytest.fixture
async def agent_api() -> AsyncIterator[tuple[FakeAgentApi, str]]:
    api = FakeAgentApi()
    app = web.Application()
    app.router.add_get("/api/tunnels", api.tunnels)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield api, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def wait_until(check: Callable[[], bool], timeout: float = 5) -> None:
    for _ in range(int(timeout / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_public_url_and_tunnel_loss(
    agent_api: tuple[FakeAgentApi, str],
    config_dir: Callable[..., Path],
    start_station: Callable[..., Any],
) -> None:
    api, url = agent_api
    orge, result = await start_station(
        config_dir(f"ngrok:\n  api_url: {url}\n  scan_interval: 1\n")
    )
    assert result.problems == []
    await wait_until(lambda: orge.states.get("binary_sensor.ngrok_tunnel").state == "on")
    public = orge.states.get("sensor.ngrok_public_url")
    assert public.state == "https://5d3b-88-1-2-3.ngrok-free.app"
    assert public.attributes["forwards_to"] == "http://localhost:8000"

    changes: list[Any] = []
    orge.bus.async_listen("ngrok_tunnel_changed", lambda e: changes.append(e.data))
    api.answer = {"tunnels": [], "uri": "/api/tunnels"}
    await wait_until(lambda: orge.states.get("binary_sensor.ngrok_tunnel").state == "off", 3)
    assert orge.states.get("sensor.ngrok_public_url").state == "unavailable"
    assert (
        orge.states.get("binary_sensor.ngrok_tunnel").attributes["last_error"]
        == "the agent has no tunnel"
    )

    api.answer, api.status = {"error": "x"}, 502
    await wait_until(
        lambda: (
            "HTTP 502"
            in (orge.states.get("binary_sensor.ngrok_tunnel").attributes["last_error"] or "")
        ),
        3,
    )
    await orge.async_block_till_done()
    assert changes == [{"public_url": None}]


async def test_agent_api_unreachable(
    config_dir: Callable[..., Path], start_station: Callable[..., Any]
) -> None:
    orge, _ = await start_station(config_dir("ngrok:\n  api_url: http://127.0.0.1:9\n"))
    await wait_until(lambda: orge.states.get("binary_sensor.ngrok_tunnel").state == "off")
    error = orge.states.get("binary_sensor.ngrok_tunnel").attributes["last_error"]
    assert "unreachable" in error


FAKE_NGROK = """#!/bin/sh
# Records how it was started, then exits like an agent refused by the service.
echo "$@" >> "$(dirname "$0")/args"
echo "token=$NGROK_AUTHTOKEN password=$OCPP_STATION_PASSWORD" >> "$(dirname "$0")/env"
exit 1
"""


async def test_managed_agent_restarts_with_backoff_and_hides_token(
    tmp_path: Path,
    agent_api: tuple[FakeAgentApi, str],
    config_dir: Callable[..., Path],
    start_station: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OCPP_STATION_PASSWORD", "station-secret-pw")
    _api, url = agent_api
    tool = tmp_path / "bin" / "ngrok"
    tool.parent.mkdir()
    tool.write_text(FAKE_NGROK)
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    path = config_dir(
        f"ngrok:\n  api_url: {url}\n  agent:\n    command: {tool}\n"
        "    authtoken: !secret ngrok_token\n    domain: station7.ngrok.app\n"
        "    restart_delay: 0.2\n",
        files={"secrets.yaml": "ngrok_token: 2abcSECRETtoken\n"},
    )
    orge, _ = await start_station(path)
    await wait_until(
        lambda: (
            (tool.parent / "args").exists()
            and len((tool.parent / "args").read_text().splitlines()) >= 3
        ),
        5,
    )
    args = (tool.parent / "args").read_text().splitlines()
    assert args[0] == "http 8000 --log stdout --domain station7.ngrok.app"
    assert "2abcSECRETtoken" not in "".join(args)  # never on the command line
    # The agent gets its token and nothing of the station's other secrets.
    assert (tool.parent / "env").read_text().splitlines()[0] == "token=2abcSECRETtoken password="
    state = orge.states.get("binary_sensor.ngrok_tunnel")
    assert state.attributes["agent_restarts"] >= 2 and state.attributes["managed"] is True
    assert "exited with code 1" in caplog.text
    assert "2abcSECRETtoken" not in caplog.text
    assert all("2abcSECRETtoken" not in str(s.as_dict()) for s in orge.states.async_all())
