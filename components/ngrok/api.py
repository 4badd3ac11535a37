"""The ngrok agent's local HTTP API (https://ngrok.com/docs/agent/api/), as documented.

- `GET /api/tunnels` -> 200 `{"tunnels": [{"name": "ssh", "uri": "/api/tunnels/ssh",
  "public_url": "tcp://4.tcp.eu.ngrok.io:15723", "proto": "tcp",
  "config": {"addr": "localhost:22", "inspect": false},
  "metrics": {"conns": {"count": 0, "gauge": 0, ...}, "http": {"count": 0, ...}}}],
  "uri": "/api/tunnels"}`
- `POST /api/tunnels` with a tunnel definition `{"addr": "22", "proto": "tcp", "name": "ssh",
  ...}` -> 201 and the tunnel as above
- `DELETE /api/tunnels/:name` -> 204
- errors -> 4xx/5xx `{"error_code": 102, "status_code": 400, "msg": "invalid tunnel
  configuration", "details": {"err": "..."}}`

Everything that is not that (no answer, a slow answer, not JSON, not that shape) raises
`AgentApiError` with a message that stays the same from one poll to the next, so the caller
can log it once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote


class AgentApiError(Exception):
    """The agent's API did not answer, answered too late, or answered garbage."""


class AgentRefused(Exception):
    """The agent answered a request with its documented error object (`msg`, `details`)."""


@dataclass(frozen=True)
class Tunnel:
    """One tunnel of the agent: `public_url` is `https://…` or `tcp://host:port`."""

    name: str
    public_url: str
    proto: str
    addr: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict, compare=False)


def parse_tunnel(item: Any) -> Tunnel:
    """A tunnel object of the agent's JSON; ValueError if it lacks `name` or `public_url`."""
    if not isinstance(item, dict):
        raise ValueError("a tunnel is not an object")
    name, public_url = item.get("name"), item.get("public_url")
    if not isinstance(name, str) or not name or not isinstance(public_url, str) or not public_url:
        raise ValueError("a tunnel has no name or public_url")
    config = item.get("config") if isinstance(item.get("config"), dict) else {}
    metrics = item.get("metrics") if isinstance(item.get("metrics"), dict) else {}
    addr = config.get("addr")
    return Tunnel(
        name=name,
        public_url=public_url,
        proto=str(item.get("proto") or public_url.split("://", 1)[0]),
        addr=str(addr) if addr is not None else None,
        metrics=metrics,
    )


def parse_tunnel_list(answer: Any) -> dict[str, Tunnel]:
    """The tunnels of a `GET /api/tunnels` answer by name; ValueError if it is not that."""
    if not isinstance(answer, dict) or not isinstance(answer.get("tunnels"), list):
        raise ValueError("answer has no 'tunnels' list")
    return {tunnel.name: tunnel for tunnel in map(parse_tunnel, answer["tunnels"])}


def error_text(answer: Any, status: int) -> str:
    """The agent's error object as one line: `msg` and, if given, `details.err`."""
    if isinstance(answer, dict) and isinstance(answer.get("msg"), str):
        details = answer.get("details")
        detail = details.get("err") if isinstance(details, dict) else None
        return f"{answer['msg']}: {detail}" if detail else answer["msg"]
    return f"HTTP {status}"


class AgentApi:
    """A client of one agent's API (`base_url` like `http://127.0.0.1:4040`)."""

    def __init__(self, base_url: str, timeout: float) -> None:
        import aiohttp

        self.url = base_url.rstrip("/") + "/api/tunnels"
        self.timeout = timeout
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))

    async def close(self) -> None:
        await self._session.close()

    async def _request(
        self, method: str, url: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        import aiohttp

        try:
            async with self._session.request(method, url, json=body) as response:
                text = await response.text(errors="replace")
                status = response.status
        except TimeoutError:
            raise AgentApiError(
                f"agent API at {self.url} gave no answer within {self.timeout:g} s"
            ) from None
        except aiohttp.ClientError as err:
            raise AgentApiError(f"agent API at {self.url} unreachable: {err}") from None
        if status == 204 or not text:
            return status, None
        try:
            return status, json.loads(text)
        except ValueError:
            raise AgentApiError(
                f"agent API at {self.url} answered HTTP {status} with something that is not JSON"
            ) from None

    async def list_tunnels(self) -> dict[str, Tunnel]:
        """Every running tunnel by name. Raises AgentApiError."""
        status, answer = await self._request("GET", self.url)
        if status != 200:
            raise AgentApiError(f"agent API at {self.url} answered {error_text(answer, status)}")
        try:
            return parse_tunnel_list(answer)
        except ValueError as err:
            raise AgentApiError(f"agent API at {self.url} answered garbage: {err}") from None

    async def start_tunnel(self, definition: dict[str, Any]) -> Tunnel:
        """Start a tunnel (`name`, `proto`, `addr`, ...). Raises AgentRefused, AgentApiError."""
        status, answer = await self._request("POST", self.url, definition)
        if status not in (200, 201):
            raise AgentRefused(error_text(answer, status))
        try:
            return parse_tunnel(answer)
        except ValueError as err:
            raise AgentApiError(f"agent API at {self.url} answered garbage: {err}") from None

    async def stop_tunnel(self, name: str) -> None:
        """Stop the tunnel called `name`. Raises AgentRefused (e.g. no such tunnel), AgentApiError."""
        status, answer = await self._request("DELETE", f"{self.url}/{quote(name, safe='')}")
        if status not in (200, 204):
            raise AgentRefused(error_text(answer, status))
