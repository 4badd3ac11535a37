"""ngrok against a stand-in agent: a real aiohttp server on a loopback port speaking the agent
API's documented JSON (GET/POST /api/tunnels, DELETE /api/tunnels/:name, the error object),
and a stand-in agent executable for the supervised mode."""

from __future__ import annotations

import asyncio
import copy
import logging
import signal
import socket
import stat
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from orge.core import callback
from orge.exceptions import OrgeError
from orge.setup import check_configuration
from tests.conftest import REPO

HTTPS_URL = "https://5d3b-88-1-2-3.ngrok-free.app"
TCP_URL = "tcp://4.tcp.eu.ngrok.io:15723"
MOVED_TCP_URL = "tcp://6.tcp.eu.ngrok.io:11042"


def tunnel(name: str, public_url: str, proto: str, addr: str) -> dict[str, Any]:
    """A tunnel object as the agent lists it."""
    return {
        "name": name,
        "ID": f"id-{name}",
        "uri": f"/api/tunnels/{name}",
        "public_url": public_url,
        "proto": proto,
        "config": {"addr": addr, "inspect": proto == "https"},
        "metrics": {
            "conns": {"count": 3, "gauge": 1, "rate1": 0, "rate5": 0, "rate15": 0, "p50": 0},
            "http": {"count": 12, "rate1": 0, "rate5": 0, "rate15": 0, "p50": 0},
        },
    }


class FakeAgent:
    """The agent's API: its tunnels, and the ways it misbehaves (gone, slow, garbage)."""

    def __init__(self) -> None:
        self.tunnels: dict[str, dict[str, Any]] = {
            "https": tunnel("https", HTTPS_URL, "https", "http://localhost:8000"),
            "ssh": tunnel("ssh", TCP_URL, "tcp", "localhost:22"),
        }
        self.delay = 0.0
        self.garbage: str | None = None
        self.posted: list[dict[str, Any]] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def list_tunnels(self, request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(self.delay)
        if self.garbage is not None:
            return web.Response(text=self.garbage, content_type="text/html")
        return web.json_response(
            {"tunnels": list(copy.deepcopy(self.tunnels).values()), "uri": "/api/tunnels"}
        )

    async def start_tunnel(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.posted.append(body)
        if body["name"] in self.tunnels:
            return web.json_response(
                {
                    "error_code": 102,
                    "status_code": 400,
                    "msg": "invalid tunnel configuration",
                    "details": {"err": "a tunnel with the name 'ssh' already exists"},
                },
                status=400,
            )
        proto = {"http": "https"}.get(body["proto"], body["proto"])
        url = "tcp://2.tcp.eu.ngrok.io:13001" if proto == "tcp" else "https://7c1e.ngrok-free.app"
        self.tunnels[body["name"]] = tunnel(body["name"], url, proto, f"localhost:{body['addr']}")
        return web.json_response(self.tunnels[body["name"]], status=201)

    async def stop_tunnel(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if self.tunnels.pop(name, None) is None:
            return web.json_response(
                {
                    "error_code": 100,
                    "status_code": 404,
                    "msg": "Tunnel not found",
                    "details": {"err": f"tunnel '{name}' not found"},
                },
                status=404,
            )
        return web.Response(status=204)

    async def come_up(self) -> None:
        app = web.Application()
        app.router.add_get("/api/tunnels", self.list_tunnels)
        app.router.add_post("/api/tunnels", self.start_tunnel)
        app.router.add_delete("/api/tunnels/{name}", self.stop_tunnel)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def go_away(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
        self._runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def agent() -> AsyncIterator[FakeAgent]:
    fake = FakeAgent()
    await fake.come_up()
    yield fake
    if fake._runner is not None:
        await fake.go_away()


async def wait_until(check: Callable[[], bool], timeout: float = 5) -> None:
    for _ in range(int(timeout / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def watch(orge: Any) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    orge.bus.async_listen("ngrok_tunnel_changed", callback(lambda e: changes.append(e.data)))
    return changes


async def refresh(orge: Any) -> None:
    await orge.services.async_call("ngrok", "refresh", {}, blocking=True)
    await orge.async_block_till_done()


def state(orge: Any, entity_id: str) -> str:
    return orge.states.get(entity_id).state


async def test_every_tunnel_expected_places_and_address_change(
    agent: FakeAgent, config_dir: Callable[..., Path], start_station: Callable[..., Any]
) -> None:
    path = config_dir(
        f"ngrok:\n  api_url: {agent.url}\n  scan_interval: 3600\n"
        "  expected_tunnels:\n"
        "    https: 5d3b-88-1-2-3.ngrok-free.app\n"
        f"    ssh: {TCP_URL}\n"
    )
    orge, result = await start_station(path)
    assert result.problems == []
    changes = watch(orge)
    await refresh(orge)  # the first read happened at start; this one changes nothing

    assert state(orge, "binary_sensor.ngrok_agent") == "on"
    https = orge.states.get("sensor.ngrok_https")
    assert https.state == HTTPS_URL
    assert https.attributes["proto"] == "https"
    assert https.attributes["addr"] == "http://localhost:8000"
    assert https.attributes["metrics"]["conns"]["count"] == 3
    assert https.attributes["metrics"]["http"]["count"] == 12
    ssh = orge.states.get("sensor.ngrok_ssh")
    assert ssh.state == TCP_URL
    assert ssh.attributes["proto"] == "tcp"
    assert ssh.attributes["addr"] == "localhost:22"
    assert state(orge, "binary_sensor.ngrok_problem") == "off"
    assert changes == []

    agent.tunnels["ssh"]["public_url"] = MOVED_TCP_URL  # the agent reconnected elsewhere
    await refresh(orge)
    assert state(orge, "sensor.ngrok_ssh") == MOVED_TCP_URL
    assert changes == [
        {"name": "ssh", "proto": "tcp", "old_url": TCP_URL, "new_url": MOVED_TCP_URL}
    ]
    problem = orge.states.get("binary_sensor.ngrok_problem")
    assert problem.state == "on"
    assert problem.attributes["elsewhere"] == {"ssh": MOVED_TCP_URL}
    assert problem.attributes["missing"] == []


async def test_automation_tells_where_ssh_lives(
    agent: FakeAgent, config_dir: Callable[..., Path], start_station: Callable[..., Any]
) -> None:
    """The first reading announces each tunnel (old_url None), so an automation can tell
    the operator at once where SSH lives, and again whenever it moves."""
    path = config_dir(
        f"ngrok:\n  api_url: {agent.url}\n  scan_interval: 3600\n"
        "persistent_notification:\n"
        "automation:\n"
        "  - id: ssh_moved\n"
        "    triggers: {trigger: event, event_type: ngrok_tunnel_changed, event_data: {name: ssh}}\n"
        "    actions:\n"
        "      - action: persistent_notification.create\n"
        "        data:\n"
        "          notification_id: ssh_address\n"
        '          message: "SSH: {{ trigger.event.data.new_url }} (was {{ trigger.event.data.old_url }})"\n'
    )
    orge, result = await start_station(path)
    assert result.problems == []
    await orge.async_block_till_done()
    note = orge.states.get("persistent_notification.ssh_address")
    assert note.attributes["message"] == f"SSH: {TCP_URL} (was None)"
    assert orge.states.get("binary_sensor.ngrok_problem") is None  # no expected_tunnels

    agent.tunnels["ssh"]["public_url"] = MOVED_TCP_URL
    await refresh(orge)
    note = orge.states.get("persistent_notification.ssh_address")
    assert note.attributes["message"] == f"SSH: {MOVED_TCP_URL} (was {TCP_URL})"


async def test_start_and_stop_tunnel_through_the_agent(
    agent: FakeAgent, config_dir: Callable[..., Path], start_station: Callable[..., Any]
) -> None:
    orge, _ = await start_station(
        config_dir(f"ngrok:\n  api_url: {agent.url}\n  scan_interval: 3600\n")
    )
    changes = watch(orge)
    described = orge.services.async_services()["ngrok"]
    assert set(described["start_tunnel"].description["fields"]) == {
        "name",
        "addr",
        "proto",
        "domain",
        "remote_addr",
    }
    assert described["stop_tunnel"].description["fields"]["name"]["required"] is True
    assert described["refresh"].description["fields"] == {}
    answer = await orge.services.async_call(
        "ngrok",
        "start_tunnel",
        {"name": "modbus", "addr": 502, "proto": "tcp"},
        blocking=True,
        return_response=True,
    )
    assert agent.posted == [{"name": "modbus", "addr": "502", "proto": "tcp"}]
    assert answer == {
        "name": "modbus",
        "public_url": "tcp://2.tcp.eu.ngrok.io:13001",
        "proto": "tcp",
    }
    await orge.async_block_till_done()
    assert state(orge, "sensor.ngrok_modbus") == "tcp://2.tcp.eu.ngrok.io:13001"
    assert changes == [
        {
            "name": "modbus",
            "proto": "tcp",
            "old_url": None,
            "new_url": "tcp://2.tcp.eu.ngrok.io:13001",
        }
    ]

    await orge.services.async_call("ngrok", "stop_tunnel", {"name": "modbus"}, blocking=True)
    await orge.async_block_till_done()
    assert "modbus" not in agent.tunnels
    assert state(orge, "sensor.ngrok_modbus") == "unavailable"
    assert changes[-1] == {
        "name": "modbus",
        "proto": None,
        "old_url": "tcp://2.tcp.eu.ngrok.io:13001",
        "new_url": None,
    }

    # Refusals carry the agent's own message.
    with pytest.raises(OrgeError, match="already exists"):
        await orge.services.async_call(
            "ngrok", "start_tunnel", {"name": "ssh", "addr": 22, "proto": "tcp"}, blocking=True
        )
    with pytest.raises(OrgeError, match="Tunnel not found: tunnel 'modbus' not found"):
        await orge.services.async_call("ngrok", "stop_tunnel", {"name": "modbus"}, blocking=True)
    assert state(orge, "sensor.ngrok_ssh") == TCP_URL


async def test_agent_goes_away_and_returns_elsewhere(
    agent: FakeAgent,
    config_dir: Callable[..., Path],
    start_station: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = config_dir(
        f"ngrok:\n  api_url: {agent.url}\n  scan_interval: 3600\n"
        f"  expected_tunnels:\n    ssh: 4.tcp.eu.ngrok.io:15723\n"
    )
    orge, _ = await start_station(path)
    changes = watch(orge)
    await agent.go_away()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="components.ngrok"):
        for _ in range(4):
            await refresh(orge)
    assert state(orge, "binary_sensor.ngrok_agent") == "off"
    assert state(orge, "sensor.ngrok_ssh") == "unavailable"
    assert state(orge, "sensor.ngrok_https") == "unavailable"
    problem = orge.states.get("binary_sensor.ngrok_problem")
    assert problem.state == "on" and problem.attributes["missing"] == ["ssh"]
    assert "unreachable" in orge.states.get("binary_sensor.ngrok_agent").attributes["last_error"]
    lines = [r for r in caplog.records if r.name.startswith("components.ngrok")]
    assert len(lines) == 1, [r.getMessage() for r in lines]  # one line, not one per poll
    assert changes == []  # while the agent is away nothing is known, nothing fires

    agent.tunnels["ssh"]["public_url"] = MOVED_TCP_URL
    await agent.come_up()
    await refresh(orge)
    assert state(orge, "binary_sensor.ngrok_agent") == "on"
    assert state(orge, "sensor.ngrok_ssh") == MOVED_TCP_URL
    assert changes == [
        {"name": "ssh", "proto": "tcp", "old_url": TCP_URL, "new_url": MOVED_TCP_URL}
    ]
    assert orge.states.get("binary_sensor.ngrok_problem").attributes["elsewhere"] == {
        "ssh": MOVED_TCP_URL
    }


async def test_garbage_and_slowness_make_entities_unavailable(
    agent: FakeAgent,
    config_dir: Callable[..., Path],
    start_station: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    orge, _ = await start_station(
        config_dir(f"ngrok:\n  api_url: {agent.url}\n  scan_interval: 3600\n  timeout: 0.3\n")
    )
    caplog.clear()
    agent.garbage = "<html><body>502 Bad Gateway</body></html>"
    for _ in range(3):
        await refresh(orge)
    assert state(orge, "binary_sensor.ngrok_agent") == "off"
    assert state(orge, "sensor.ngrok_https") == "unavailable"
    error = orge.states.get("binary_sensor.ngrok_agent").attributes["last_error"]
    assert error.endswith("answered HTTP 200 with something that is not JSON")

    agent.garbage = '{"tunnels": "none"}'
    await refresh(orge)
    assert (
        "answer has no 'tunnels' list"
        in (orge.states.get("binary_sensor.ngrok_agent").attributes["last_error"])
    )

    agent.garbage, agent.delay = None, 1.0
    for _ in range(2):
        await refresh(orge)
    assert state(orge, "sensor.ngrok_ssh") == "unavailable"
    assert (
        "no answer within 0.3 s"
        in (orge.states.get("binary_sensor.ngrok_agent").attributes["last_error"])
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3, warnings  # one per kind of failure: not JSON, shape, timeout

    agent.delay = 0
    await refresh(orge)
    assert state(orge, "sensor.ngrok_ssh") == TCP_URL
    assert orge.states.get("binary_sensor.ngrok_agent").attributes["last_error"] is None


FAKE_NGROK = """#!/bin/sh
# Records how it was started, then exits like an agent refused by the service.
echo "$@" >> "$(dirname "$0")/args"
echo "token=$NGROK_AUTHTOKEN password=$OCPP_STATION_PASSWORD" >> "$(dirname "$0")/env"
exit 1
"""


async def test_managed_agent_restarts_with_backoff_and_hides_token(
    tmp_path: Path,
    agent: FakeAgent,
    config_dir: Callable[..., Path],
    start_station: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OCPP_STATION_PASSWORD", "station-secret-pw")
    tool = tmp_path / "bin" / "ngrok"
    tool.parent.mkdir()
    tool.write_text(FAKE_NGROK)
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    path = config_dir(
        f"ngrok:\n  api_url: {agent.url}\n  agent:\n    command: {tool}\n"
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
    await wait_until(
        lambda: orge.states.get("binary_sensor.ngrok_agent").attributes["agent_restarts"] >= 2
    )
    state_ = orge.states.get("binary_sensor.ngrok_agent")
    assert state_.attributes["managed"] is True
    assert state_.attributes["last_exit"] == "ngrok agent exited with code 1"
    assert "exited with code 1" in caplog.text
    assert "2abcSECRETtoken" not in caplog.text
    assert all("2abcSECRETtoken" not in str(s.as_dict()) for s in orge.states.async_all())


def test_check_config_names_file_and_line(config_dir: Callable[..., Path]) -> None:
    path = config_dir("ngrok:\n  timeout: 0.01\n  expected_tunnels:\n    ssh: [tcp://a:1]\n")
    problems = check_configuration(str(path)).problems
    assert any("line 2" in p and "timeout" in p for p in problems), problems
    assert any("line 4" in p and "expected_tunnels" in p for p in problems), problems


async def test_orge_run_publishes_tunnels_over_http(agent: FakeAgent, tmp_path: Path) -> None:
    """A real `orge run`: the tunnels reach the HTTP API, a service call reaches the agent,
    and the agent going away turns the entities unavailable without stopping the station."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp_path / "configuration.yaml").write_text(
        "http:\n  server_host: 127.0.0.1\n"
        f"  server_port: {port}\n"
        "  access_tokens:\n    - name: fleet\n      token: fleet-token-0123456789\n"
        f"ngrok:\n  api_url: {agent.url}\n  scan_interval: 1\n"
    )
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "orge", "run", "-c", str(tmp_path),
            cwd=REPO, stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    headers = {"Authorization": "Bearer fleet-token-0123456789"}
    base = f"http://127.0.0.1:{port}/api"
    try:
        async with aiohttp.ClientSession(headers=headers) as session:

            async def entity(entity_id: str) -> dict[str, Any] | None:
                try:
                    async with session.get(f"{base}/states/{entity_id}") as answer:
                        return await answer.json() if answer.status == 200 else None
                except aiohttp.ClientConnectionError:
                    return None

            async def until(entity_id: str, state: str) -> dict[str, Any]:
                for _ in range(300):
                    found = await entity(entity_id)
                    if found is not None and found["state"] == state:
                        return found
                    assert proc.returncode is None, log.read_text()
                    await asyncio.sleep(0.05)
                raise AssertionError(f"{entity_id} never {state}: {log.read_text()[-2000:]}")

            ssh = await until("sensor.ngrok_ssh", TCP_URL)
            assert ssh["attributes"]["proto"] == "tcp"
            assert (await until("sensor.ngrok_https", HTTPS_URL))["attributes"]["addr"] == (
                "http://localhost:8000"
            )
            async with session.post(
                f"{base}/services/ngrok/stop_tunnel", json={"name": "ssh"}
            ) as answer:
                assert answer.status == 200, await answer.text()
            assert "ssh" not in agent.tunnels
            await until("sensor.ngrok_ssh", "unavailable")

            await agent.go_away()
            await until("binary_sensor.ngrok_agent", "off")
            await until("sensor.ngrok_https", "unavailable")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 20)
    text = log.read_text()
    assert proc.returncode == 0, text[-2000:]
    assert "Traceback" not in text, text[-2000:]
    assert text.count("ngrok: agent API") == 1, text[-2000:]  # one line while it stays away
