"""The WebSocket API, Home Assistant's protocol, against a running server."""

from __future__ import annotations

import asyncio
import json
import os

import aiohttp
import pytest

from orge import __version__

from .conftest import Station


async def receive(ws: aiohttp.ClientWebSocketResponse, msg_id: int | None = None) -> dict:
    """The next message (with this id, skipping others)."""
    while True:
        message = await asyncio.wait_for(ws.receive_json(), 5)
        if msg_id is None or message.get("id") == msg_id:
            return message


async def test_auth_flow(station: Station) -> None:
    ws = await station.session.ws_connect(station.url + "/api/websocket")
    assert await ws.receive_json() == {"type": "auth_required", "ha_version": __version__}
    await ws.send_json({"type": "auth", "access_token": station.token})
    assert await ws.receive_json() == {"type": "auth_ok", "ha_version": __version__}
    await ws.close()


async def test_auth_invalid_closes(station: Station) -> None:
    ws = await station.session.ws_connect(station.url + "/api/websocket")
    await ws.receive_json()
    await ws.send_json({"type": "auth", "access_token": "wrong"})
    answer = await ws.receive_json()
    assert answer["type"] == "auth_invalid"
    assert "wrong" not in answer["message"]
    closing = await ws.receive()
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_command_before_auth_is_refused(station: Station) -> None:
    ws = await station.session.ws_connect(station.url + "/api/websocket")
    await ws.receive_json()
    await ws.send_json({"id": 1, "type": "get_states"})
    assert (await ws.receive_json())["type"] == "auth_invalid"


async def test_ping_get_states_config_services(station: Station) -> None:
    ws = await station.ws()
    await ws.send_json({"id": 1, "type": "ping"})
    assert await receive(ws) == {"id": 1, "type": "pong"}
    await ws.send_json({"id": 2, "type": "get_states"})
    result = await receive(ws, 2)
    assert result["type"] == "result" and result["success"] is True
    assert any(s["entity_id"] == "switch.charging_enabled" for s in result["result"])
    await ws.send_json({"id": 3, "type": "get_config"})
    assert (await receive(ws, 3))["result"]["location_name"] == "Test station"
    await ws.send_json({"id": 4, "type": "get_services"})
    services = (await receive(ws, 4))["result"]
    assert "set_value" in services["number"]
    await ws.send_json(
        {"id": 5, "type": "supported_features", "features": {"coalesce_messages": 1}}
    )
    assert (await receive(ws, 5))["success"] is True
    await ws.send_json({"id": 6, "type": "auth/current_user"})
    assert (await receive(ws, 6))["result"]["name"] == "tests"


async def test_ids_must_increase_and_errors_have_codes(station: Station) -> None:
    ws = await station.ws()
    await ws.send_json({"id": 5, "type": "ping"})
    await receive(ws, 5)
    await ws.send_json({"id": 5, "type": "ping"})
    error = await receive(ws, 5)
    assert error["success"] is False and error["error"]["code"] == "id_reuse"
    await ws.send_json({"id": 6, "type": "no_such_command"})
    assert (await receive(ws, 6))["error"]["code"] == "unknown_command"
    await ws.send_json({"type": "ping"})
    assert (await receive(ws))["error"]["code"] == "invalid_format"
    await ws.send_str("{not json")
    assert (await receive(ws))["error"]["code"] == "invalid_format"
    await ws.send_json({"id": 7, "type": "call_service", "domain": "x"})
    assert (await receive(ws, 7))["error"]["code"] == "invalid_format"


async def test_subscribe_events_and_unsubscribe(station: Station) -> None:
    ws = await station.ws()
    await ws.send_json({"id": 1, "type": "subscribe_events", "event_type": "state_changed"})
    assert (await receive(ws, 1))["success"] is True
    station.hub.states.async_set("sensor.live", "42", {"unit_of_measurement": "W"})
    event = await receive(ws, 1)
    assert event["type"] == "event"
    assert event["event"]["event_type"] == "state_changed"
    assert event["event"]["data"]["new_state"]["state"] == "42"
    assert event["event"]["data"]["old_state"] is None
    assert event["event"]["origin"] == "LOCAL"
    assert set(event["event"]["context"]) == {"id", "parent_id", "user_id"}

    await ws.send_json({"id": 2, "type": "subscribe_events"})  # all events
    await receive(ws, 2)
    station.hub.bus.async_fire("custom_thing", {"n": 1})
    event = await receive(ws, 2)
    assert event["event"]["event_type"] == "custom_thing"

    await ws.send_json({"id": 3, "type": "unsubscribe_events", "subscription": 1})
    assert (await receive(ws, 3))["success"] is True
    await ws.send_json({"id": 4, "type": "unsubscribe_events", "subscription": 1})
    assert (await receive(ws, 4))["error"]["code"] == "not_found"


async def test_call_service(station: Station) -> None:
    ws = await station.ws()
    await ws.send_json(
        {
            "id": 1,
            "type": "call_service",
            "domain": "switch",
            "service": "turn_on",
            "target": {"entity_id": "switch.charging_enabled"},
        }
    )
    result = await receive(ws, 1)
    assert result["success"] is True
    assert station.hub.states.get("switch.charging_enabled").state == "on"
    assert (
        station.hub.states.get("switch.charging_enabled").context.id
        == result["result"]["context"]["id"]
    )
    await ws.send_json({"id": 2, "type": "call_service", "domain": "nope", "service": "nothing"})
    error = await receive(ws, 2)
    assert error["error"] == {"code": "not_found", "message": "Service nope.nothing not found."}
    await ws.send_json(
        {
            "id": 3,
            "type": "call_service",
            "domain": "number",
            "service": "set_value",
            "service_data": {"entity_id": "number.max_current", "value": 100},
        }
    )
    assert (await receive(ws, 3))["error"]["code"] == "service_validation_error"
    await ws.send_json(
        {
            "id": 4,
            "type": "call_service",
            "domain": "charger_demo",
            "service": "echo",
            "service_data": {"v": 2},
            "return_response": True,
        }
    )
    assert (await receive(ws, 4))["result"]["response"] == {"echo": {"v": 2}}


async def test_fire_event(station: Station) -> None:
    seen = []
    station.hub.bus.async_listen("from_ws", lambda e: seen.append(e))
    ws = await station.ws()
    await ws.send_json(
        {"id": 1, "type": "fire_event", "event_type": "from_ws", "event_data": {"a": 1}}
    )
    result = await receive(ws, 1)
    assert result["success"] is True and result["result"]["context"]["id"]
    await station.hub.async_block_till_done()
    assert seen[0].data == {"a": 1}
    await ws.send_json({"id": 2, "type": "fire_event", "event_type": "state_changed"})
    assert (await receive(ws, 2))["success"] is False


async def test_render_template_follows_states(station: Station) -> None:
    ws = await station.ws()
    await ws.send_json(
        {"id": 1, "type": "render_template", "template": "{{ states('sensor.charger_power') }} W"}
    )
    assert (await receive(ws, 1))["success"] is True
    first = await receive(ws, 1)
    assert first["event"]["result"] == "0 W"
    assert first["event"]["listeners"] == {
        "all": False,
        "entities": ["sensor.charger_power"],
        "domains": [],
        "time": False,
    }
    station.hub.states.async_set("sensor.unrelated", "1")  # not read by the template
    await asyncio.sleep(0.3)  # past the re-render delay
    await ws.send_json({"id": 2, "type": "ping"})
    assert (await receive(ws))["id"] == 2  # nothing was sent for the unrelated change
    station.hub.states.async_set("sensor.charger_power", "7400")
    update = await receive(ws, 1)
    assert update["event"]["result"] == "7400 W"
    await ws.send_json({"id": 3, "type": "render_template", "template": "{{ 1 + }}"})
    assert (await receive(ws, 3))["error"]["code"] == "template_error"


async def test_entity_registry_list(station: Station) -> None:
    station.hub.states.async_set("sensor.external", "1")
    ws = await station.ws()
    await ws.send_json({"id": 1, "type": "config/entity_registry/list"})
    entries = {e["entity_id"]: e for e in (await receive(ws, 1))["result"]}
    assert entries["switch.charging_enabled"]["platform"] == "charger_demo"
    assert entries["sensor.external"]["platform"] is None


async def test_trace_list_without_automations(station: Station) -> None:
    ws = await station.ws()
    await ws.send_json({"id": 1, "type": "trace/list"})
    error = await receive(ws, 1)
    assert error["error"]["code"] == "not_found"


async def test_trace_list_from_a_service(station: Station) -> None:
    from orge.core import SupportsResponse

    async def get_traces(call):
        return {"traces": {"automation.a": [{"run_id": "1", "state": "stopped"}]}}

    station.hub.services.async_register(
        "automation", "get_traces", get_traces, supports_response=SupportsResponse.ONLY
    )
    ws = await station.ws()
    await ws.send_json({"id": 1, "type": "trace/list"})
    result = (await receive(ws, 1))["result"]
    assert result == [{"run_id": "1", "state": "stopped", "entity_id": "automation.a"}]


async def test_check_config_command(station: Station) -> None:
    ws = await station.ws()
    await ws.send_json({"id": 1, "type": "orge/check_config"})
    assert (await receive(ws, 1))["result"]["result"] == "valid"


async def test_subscribe_trigger(station: Station) -> None:
    pytest.importorskip("orge.script.trigger")
    ws = await station.ws()
    await ws.send_json(
        {
            "id": 1,
            "type": "subscribe_trigger",
            "trigger": {"platform": "state", "entity_id": "switch.charging_enabled", "to": "on"},
        }
    )
    assert (await receive(ws, 1))["success"] is True
    await station.hub.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.charging_enabled"}, blocking=True
    )
    event = await receive(ws, 1)
    trigger = event["event"]["variables"]["trigger"]
    assert trigger["entity_id"] == "switch.charging_enabled"
    assert trigger["to_state"]["state"] == "on"
    await ws.send_json({"id": 2, "type": "subscribe_trigger", "trigger": {"platform": "nonsense"}})
    assert (await receive(ws, 2))["error"]["code"] == "invalid_format"


async def test_slow_client_is_dropped_and_hub_keeps_going(make_station) -> None:
    station = await make_station(http_extra="  websocket_max_pending: 50\n")
    slow = await station.ws()  # subscribes to everything and never reads
    await slow.send_json({"id": 1, "type": "subscribe_events"})
    await receive(slow, 1)
    fast = await station.ws()
    await fast.send_json({"id": 1, "type": "subscribe_events", "event_type": "small_event"})
    await receive(fast, 1)
    payload = os.urandom(32 * 1024).hex()  # 64 KB per event: fills socket buffers fast
    received = 0

    async def read_fast() -> None:
        nonlocal received
        while received < 20:
            message = await receive(fast, 1)
            received += message["event"]["event_type"] == "small_event"

    reader = asyncio.create_task(read_fast())
    loop = asyncio.get_running_loop()
    firing = 0.0
    for batch in range(20):
        started = loop.time()
        for _ in range(20):
            station.hub.bus.async_fire("big_event", {"blob": payload})
        station.hub.bus.async_fire("small_event", {"n": batch})
        firing += loop.time() - started
        await asyncio.sleep(0.01)  # a busy station, not one frozen burst
    # firing never waited for a client (a generous bound; this is not a timing benchmark)
    assert firing < 5
    await asyncio.wait_for(reader, 20)
    assert received == 20
    connections = station.hub.data["http"].websockets
    for _ in range(100):
        if len(connections) == 1:
            break
        await asyncio.sleep(0.02)
    assert len(connections) == 1  # the slow one is gone, the fast one stays
    await fast.send_json({"id": 2, "type": "ping"})
    assert (await receive(fast, 2))["type"] == "pong"


async def test_server_stop_closes_websockets(station: Station) -> None:
    ws = await station.ws()
    await station.hub.async_stop()
    message = await asyncio.wait_for(ws.receive(), 5)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


AUTOMATION = """
automation:
  - id: cap_current
    alias: Cap current when enabled
    triggers:
      - trigger: state
        entity_id: switch.charging_enabled
        to: "on"
    actions:
      - action: number.set_value
        target:
          entity_id: number.max_current
        data:
          value: 10
"""


async def test_trace_list_from_real_automations(make_station) -> None:
    station = await make_station(extra=AUTOMATION)
    hub = station.hub
    await hub.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.charging_enabled"}, blocking=True
    )
    await hub.async_block_till_done()
    assert hub.states.get("number.max_current").state == "10"
    ws = await station.ws()
    await ws.send_json({"id": 1, "type": "trace/list"})
    traces = (await receive(ws, 1))["result"]
    mine = [t for t in traces if t["entity_id"] == "automation.cap_current"]
    assert len(mine) == 1
    assert mine[0]["start"] and mine[0]["steps"]
    # the automation's context has the switch change's context as parent (traceable cause)
    number = hub.states.get("number.max_current")
    assert number.context.parent_id == hub.states.get("switch.charging_enabled").context.id


async def test_connections_waiting_for_auth_are_capped(make_station) -> None:
    from components.http.websocket import MAX_AUTHENTICATING

    # Many clients behind a proxy (one address holds only a few slots; test_attacks.py).
    station = await make_station(
        http_extra="  use_x_forwarded_for: true\n  trusted_proxies: [127.0.0.1]\n"
    )
    idle = []
    for number in range(MAX_AUTHENTICATING):
        ws = await station.session.ws_connect(
            station.url + "/api/websocket", headers={"X-Forwarded-For": f"198.51.100.{number}"}
        )
        await ws.receive_json()  # auth_required, then say nothing
        idle.append(ws)
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await station.session.ws_connect(
            station.url + "/api/websocket", headers={"X-Forwarded-For": "203.0.113.1"}
        )
    assert err.value.status == 503
    await idle.pop().close()
    for _ in range(50):
        if station.hub.data["http"].websockets_authenticating < MAX_AUTHENTICATING:
            break
        await asyncio.sleep(0.02)
    ws = await station.ws()  # a slot is free again
    await ws.send_json({"id": 1, "type": "ping"})
    assert (await receive(ws, 1))["type"] == "pong"
    for ws in idle:
        await ws.close()


async def test_coalesced_messages_when_asked(station: Station) -> None:
    ws = await station.ws()
    await ws.send_json(
        {"id": 1, "type": "supported_features", "features": {"coalesce_messages": 1}}
    )
    assert (await receive(ws, 1))["success"] is True
    await ws.send_json({"id": 2, "type": "subscribe_events", "event_type": "burst"})
    await receive(ws, 2)
    # 20 MB in all: more than the kernel's loopback socket buffers can take (they grow to
    # several MB), so messages must queue up in the server while the client is not reading.
    blob = "x" * 100_000
    for n in range(200):
        station.hub.bus.async_fire("burst", {"n": n, "blob": blob})
    seen: list[int] = []
    arrays = 0
    while len(seen) < 200:
        data = json.loads(await asyncio.wait_for(ws.receive_str(), 5))
        if isinstance(data, list):
            arrays += 1
        for item in data if isinstance(data, list) else [data]:
            seen.append(item["event"]["data"]["n"])
    assert seen == list(range(200))  # all of them, in order
    assert arrays > 0
