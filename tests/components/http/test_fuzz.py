"""Schema-driven fuzzing: every operation of the served OpenAPI document, with generated path
parameters, query strings and bodies (well-formed, ill-formed and not JSON at all), must
never answer 500; every error must be JSON with a message. The WebSocket API gets the same
treatment with generated commands.

The station runs in its own thread and loop so Hypothesis can drive it synchronously.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.http.auth import create_token
from orge.core import Orge
from orge.setup import async_from_config_dir

from .conftest import free_port, station_yaml, write_demo_component


class ThreadStation:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = free_port()
        path.joinpath("configuration.yaml").write_text(
            station_yaml(self.port, extra="recorder:\n  commit_interval: 0.05\n")
        )
        write_demo_component(path)
        self.token = create_token(str(path), "fuzz")
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.hub: Orge | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(30), "station did not start"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self.hub = Orge(str(self.path))
        await async_from_config_dir(self.hub, str(self.path))
        await self.hub.async_start()
        self.ready.set()
        await self.hub.async_wait_stopped()

    def stop(self) -> None:
        if self.hub is not None:
            asyncio.run_coroutine_threadsafe(self.hub.async_stop(), self.loop).result(30)
        self.thread.join(30)

    def request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, str, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheader("Content-Type") or "", response.read()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def fuzz_station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadStation]:
    station = ThreadStation(tmp_path_factory.mktemp("fuzz"))
    yield station
    station.stop()


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], list[dict]]]:
    found = []
    for path, item in doc["paths"].items():
        shared = item.get("parameters", [])
        for method, operation in item.items():
            if method == "parameters":
                continue
            found.append(
                (path, method.upper(), operation, shared + operation.get("parameters", []))
            )
    return found


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
ENTITY_IDS = [
    "sensor.charger_power",
    "switch.charging_enabled",
    "number.max_current",
    "sensor.nope",
]
SERVICES = ["switch", "turn_on", "number", "set_value", "charger_demo", "echo", "recorder", "purge"]
TIMES = ["2024-01-01T00:00:00+00:00", "2030-01-01T00:00:00Z", "0", "yesterday", ""]
path_values = st.sampled_from(ENTITY_IDS + SERVICES + TIMES) | st.text(max_size=40)
query_values = st.sampled_from(ENTITY_IDS + TIMES + ["", "1", "true", ",,,"]) | st.text(max_size=30)


def _body_for(operation: dict[str, Any]) -> st.SearchStrategy[bytes | None]:
    schema = (
        operation.get("requestBody", {})
        .get("content", {})
        .get("application/json", {})
        .get("schema")
    )
    raw = st.binary(max_size=64)
    if schema is None:
        return st.none() | raw
    properties = schema.get("properties", {})
    shaped = st.fixed_dictionaries(
        {},
        optional={
            name: (st.text(max_size=40) if name == "template" else json_values)
            for name in properties
        }
        | {"entity_id": st.sampled_from(ENTITY_IDS) | json_values, "value": json_values},
    )
    return st.none() | raw | (json_values | shaped).map(lambda v: json.dumps(v).encode())


@st.composite
def requests(draw: st.DrawFn, operations: list) -> tuple[str, str, bytes | None]:
    path, method, operation, params = draw(st.sampled_from(operations))
    query: dict[str, str] = {}
    for param in params:
        if param["in"] == "path":
            value = draw(path_values)
            path = path.replace("{" + param["name"] + "}", quote(value, safe=""))
        elif param["in"] == "query" and draw(st.booleans()):
            query[param["name"]] = draw(query_values)
    if query:
        path += "?" + urlencode(query)
    body = draw(_body_for(operation)) if method in ("POST", "PUT") else None
    return method, path, body


def test_openapi_fuzz_finds_no_500(fuzz_station: ThreadStation) -> None:
    headers = {"Authorization": f"Bearer {fuzz_station.token}"}
    status, _type, body = fuzz_station.request("GET", "/api/openapi.json", None, headers)
    assert status == 200
    operations = _operations(json.loads(body))
    assert len(operations) >= 19
    seen: set[tuple[str, int]] = set()

    @settings(
        max_examples=500,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )
    @given(requests(operations))
    def check(request: tuple[str, str, bytes | None]) -> None:
        method, path, body = request
        sent = dict(headers)
        if body is not None:
            sent["Content-Type"] = "application/json"
        status, content_type, answer = fuzz_station.request(method, path, body, sent)
        assert status < 500, (method, path, body, answer[:300])
        if status >= 400:
            assert content_type.startswith("application/json"), (method, path, status)
            assert "message" in json.loads(answer)
        seen.add((method, status))

    check()
    # the fuzz reached both successful and refused answers
    assert any(status < 300 for _m, status in seen)
    assert any(status == 400 for _m, status in seen)


COMMAND_TYPES = [
    "ping",
    "get_states",
    "get_config",
    "get_services",
    "subscribe_events",
    "unsubscribe_events",
    "subscribe_trigger",
    "call_service",
    "fire_event",
    "render_template",
    "config/entity_registry/list",
    "trace/list",
    "orge/check_config",
    "auth/current_user",
    "supported_features",
    "no_such_thing",
]
ws_messages = st.fixed_dictionaries(
    {"type": st.sampled_from(COMMAND_TYPES)},
    optional={
        "domain": st.sampled_from(SERVICES) | json_values,
        "service": st.sampled_from(SERVICES) | json_values,
        "service_data": json_values,
        "target": json_values,
        "event_type": st.sampled_from(["state_changed", "x", ""]) | json_values,
        "event_data": json_values,
        "template": st.text(max_size=30) | json_values,
        "trigger": json_values,
        "subscription": json_values,
        "return_response": json_values,
    },
)


def test_websocket_fuzz_answers_every_message(fuzz_station: ThreadStation) -> None:
    import aiohttp

    async def run(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"http://127.0.0.1:{fuzz_station.port}/api/websocket")
            await ws.receive_json()
            await ws.send_json({"type": "auth", "access_token": fuzz_station.token})
            assert (await ws.receive_json())["type"] == "auth_ok"
            results = []
            for number, message in enumerate(messages, start=1):
                await ws.send_json({**message, "id": number})
                while True:
                    answer = await asyncio.wait_for(ws.receive_json(), 10)
                    if answer.get("id") == number and answer["type"] in ("result", "pong"):
                        break
                results.append(answer)
            await ws.close()
            return results

    @settings(
        max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(st.lists(ws_messages, min_size=1, max_size=8))
    def check(messages: list[dict[str, Any]]) -> None:
        future = asyncio.run_coroutine_threadsafe(run(messages), fuzz_station.loop)
        for answer in future.result(60):
            if answer["type"] == "result" and not answer["success"]:
                assert answer["error"]["code"] != "unknown_error", answer

    check()
