"""REST and WebSocket parameters of history, logbook and templates mean what they mean in
Home Assistant (components/history/__init__.py and websocket_api.py, components/logbook/
rest_api.py and websocket_api.py, components/websocket_api/commands.py), over a real
HTTP server and a real SQLite recorder.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from .conftest import Station

RECORDER = "recorder:\n  commit_interval: 0.05\n"


def _iso(moment: datetime) -> str:
    return quote(moment.isoformat())


def _ours(entry: dict[str, Any]) -> bool:
    return entry.get("entity_id") in ("switch.relay", "switch.other")


async def _flush(station: Station) -> None:
    await station.hub.data["recorder"].async_block_till_done()


async def test_history_period_parameters(make_station: Any) -> None:
    station = await make_station(extra=RECORDER)
    hub = station.hub
    before = time.time() - 600
    hub.states.async_set("sensor.amps", "5", {"phase": 1}, timestamp=before)
    start = datetime.now(UTC) - timedelta(seconds=60)
    hub.states.async_set("sensor.amps", "6", {"phase": 1})
    hub.states.async_set("sensor.amps", "6", {"phase": 2})  # attribute-only change
    hub.states.async_set("sensor.amps", "7", {"phase": 2})
    await _flush(station)
    base = f"/api/history/period/{_iso(start)}?filter_entity_id=sensor.amps"

    async def states(query: str) -> list[Any]:
        response = await station.get(base + query)
        assert response.status == 200, await response.text()
        (rows,) = await response.json()
        return [(row["state"], (row.get("attributes") or {}).get("phase")) for row in rows]

    # Absent: significant changes only (the default); only "0" turns it off.
    assert await states("") == [("5", 1), ("6", 1), ("7", 2)]
    assert await states("&significant_changes_only=1") == [("5", 1), ("6", 1), ("7", 2)]
    assert await states("&significant_changes_only=false") == [("5", 1), ("6", 1), ("7", 2)]
    assert await states("&significant_changes_only=0") == [
        ("5", 1),
        ("6", 1),
        ("6", 2),
        ("7", 2),
    ]
    # skip_initial_state: present means on, whatever the value.
    assert await states("&skip_initial_state=0") == [("6", 1), ("7", 2)]
    # no_attributes: attributes stay, empty; present means on, even "=0".
    response = await station.get(base + "&no_attributes=0")
    (rows,) = await response.json()
    assert {tuple(sorted(row["attributes"])) for row in rows} == {()}
    # minimal_response: the first state whole, then {state, last_changed} for new states.
    response = await station.get(base + "&minimal_response&significant_changes_only=0")
    (rows,) = await response.json()
    assert rows[0]["entity_id"] == "sensor.amps" and rows[0]["attributes"] == {"phase": 1}
    assert rows[1:] == [
        {"state": "6", "last_changed": rows[1]["last_changed"]},
        {"state": "7", "last_changed": rows[2]["last_changed"]},
    ]
    # end_time bounds the period; the initial state is timed at the start.
    response = await station.get(
        base + f"&end_time={_iso(start + timedelta(seconds=1))}&no_attributes"
    )
    (rows,) = await response.json()
    assert [row["state"] for row in rows] == ["5"]
    assert datetime.fromisoformat(rows[0]["last_updated"]) == start


async def test_history_period_errors_and_empty_answers(make_station: Any) -> None:
    station = await make_station(extra=RECORDER)
    response = await station.get("/api/history/period")
    assert response.status == 400
    assert (await response.json())["message"] == "filter_entity_id is missing"
    response = await station.get("/api/history/period?filter_entity_id=")
    assert response.status == 400
    response = await station.get("/api/history/period?filter_entity_id=not%20an%20id")
    assert (response.status, (await response.json())["message"]) == (
        400,
        "Invalid filter_entity_id",
    )
    response = await station.get("/api/history/period/not-a-time?filter_entity_id=sensor.a")
    assert (response.status, (await response.json())["message"]) == (400, "Invalid datetime")
    response = await station.get("/api/history/period?filter_entity_id=sensor.a&end_time=x")
    assert (response.status, (await response.json())["message"]) == (400, "Invalid end_time")
    future = datetime.now(UTC) + timedelta(days=2)
    response = await station.get(f"/api/history/period/{_iso(future)}?filter_entity_id=sensor.a")
    assert (response.status, await response.json()) == (200, [])


async def test_logbook_parameters(make_station: Any) -> None:
    station = await make_station(extra=RECORDER)
    hub = station.hub
    now = time.time()
    hub.states.async_set("switch.relay", "off", timestamp=now - 3 * 86400 + 60)
    hub.states.async_set("switch.relay", "on", timestamp=now - 86400 - 3600)
    hub.states.async_set("switch.relay", "off")
    hub.states.async_set("switch.other", "on")
    context_id = hub.states.get("switch.other").context.id
    await _flush(station)

    async def logbook(path: str) -> list[Any]:
        response = await station.get(path)
        assert response.status == 200, await response.text()
        entries = await response.json()  # ours (the demo component's and events aside)
        return [(entry["entity_id"], entry["state"]) for entry in entries if _ours(entry)]

    # No start: from the start of the local day (not the last 24 hours).
    # (the "on" of 25 hours ago is always before today's midnight)
    expected_today = [("switch.relay", "off"), ("switch.other", "on")]
    assert await logbook("/api/logbook") == expected_today
    assert await logbook("/api/logbook?entity=switch.relay") == [
        entry for entry in expected_today if entry[0] == "switch.relay"
    ]
    # period=N days ends N days after (start - (N - 1) days): the last 4 days up to now.
    start = datetime.fromtimestamp(now, UTC)
    assert await logbook(f"/api/logbook/{_iso(start)}?period=4&entity=switch.relay") == [
        ("switch.relay", "off"),
        ("switch.relay", "on"),
        ("switch.relay", "off"),
    ]
    # end_time: from the start to that time, whatever the period.
    early = datetime.fromtimestamp(now - 4 * 86400, UTC)
    late = datetime.fromtimestamp(now - 86400, UTC)
    assert await logbook(f"/api/logbook/{_iso(early)}?end_time={_iso(late)}&period=9") == [
        ("switch.relay", "off"),
        ("switch.relay", "on"),
    ]
    assert await logbook(f"/api/logbook?context_id={context_id}") == [("switch.other", "on")]
    response = await station.get(f"/api/logbook?entity=switch.relay&context_id={context_id}")
    assert response.status == 400
    response = await station.get("/api/logbook/yesterday")
    assert (response.status, (await response.json())["message"]) == (400, "Invalid datetime")


async def _ws_call(station: Station, message: dict[str, Any]) -> dict[str, Any]:
    ws = await station.ws()
    try:
        await ws.send_json({"id": 1, **message})
        return await ws.receive_json()
    finally:
        await ws.close()


async def test_ws_history_during_period(make_station: Any) -> None:
    station = await make_station(extra=RECORDER)
    hub = station.hub
    hub.states.async_set("sensor.amps", "5", {"phase": 1}, timestamp=time.time() - 600)
    start = datetime.now(UTC) - timedelta(seconds=60)
    hub.states.async_set("sensor.amps", "6", {"phase": 1})
    hub.states.async_set("sensor.amps", "6", {"phase": 2})
    await _flush(station)
    message = {
        "type": "history/history_during_period",
        "start_time": start.isoformat(),
        "entity_ids": ["sensor.amps"],
    }
    answer = await _ws_call(station, message)
    assert answer["success"], answer
    rows = answer["result"]["sensor.amps"]
    assert [(row["s"], row["a"]) for row in rows] == [("5", {"phase": 1}), ("6", {"phase": 1})]
    assert rows[0]["lu"] == start.timestamp()  # the initial state, timed at the start
    assert isinstance(rows[1]["lu"], float) and "lc" not in rows[1]
    answer = await _ws_call(
        station,
        {
            **message,
            "significant_changes_only": False,
            "include_start_time_state": False,
            "no_attributes": True,
        },
    )
    rows = answer["result"]["sensor.amps"]
    assert [(row["s"], row["a"]) for row in rows] == [("6", {}), ("6", {})]
    assert rows[1]["lc"] < rows[1]["lu"]  # an attribute-only update keeps last_changed
    answer = await _ws_call(station, {**message, "minimal_response": True})
    assert [set(row) for row in answer["result"]["sensor.amps"]] == [{"s", "a", "lu"}, {"s", "lu"}]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    answer = await _ws_call(station, {**message, "start_time": future})
    assert answer["result"] == {}
    answer = await _ws_call(station, {**message, "start_time": "soon"})
    assert answer["error"] == {"code": "invalid_start_time", "message": "Invalid start_time"}
    answer = await _ws_call(station, {**message, "end_time": "later"})
    assert answer["error"]["code"] == "invalid_end_time"
    answer = await _ws_call(station, {"type": "history/history_during_period"})
    assert answer["error"]["code"] == "invalid_format"


async def test_ws_logbook_get_events(make_station: Any) -> None:
    station = await make_station(extra=RECORDER)
    hub = station.hub
    start = datetime.now(UTC) - timedelta(seconds=5)
    hub.states.async_set("switch.relay", "on")
    hub.states.async_set("switch.other", "on")
    context_id = hub.states.get("switch.other").context.id
    await _flush(station)
    message = {"type": "logbook/get_events", "start_time": start.isoformat()}

    async def changed(extra: dict[str, Any]) -> list[str]:
        answer = await _ws_call(station, {**message, **extra})
        assert answer["success"], answer
        entries = [entry for entry in answer["result"] if _ours(entry)]
        assert all(isinstance(entry["when"], float) for entry in entries)
        return [entry["entity_id"] for entry in entries]

    assert await changed({}) == ["switch.relay", "switch.other"]
    assert await changed({"entity_ids": ["switch.relay"]}) == ["switch.relay"]
    assert await changed({"context_id": context_id}) == ["switch.other"]
    answer = await _ws_call(station, {**message, "end_time": start.isoformat()})
    assert answer["result"] == []
    answer = await _ws_call(station, {**message, "start_time": "x"})
    assert answer["error"]["code"] == "invalid_start_time"


async def test_ws_render_template_parameters(station: Station) -> None:
    ws = await station.ws()

    async def answer(msg_id: int) -> dict[str, Any]:
        while True:
            message = await ws.receive_json()
            if message["id"] == msg_id:
                return message

    base = {"type": "render_template"}
    await ws.send_json(
        {**base, "id": 1, "template": "{{ limit * 2 }} A", "variables": {"limit": 8}}
    )
    assert (await answer(1))["success"] is True
    assert (await answer(1))["event"]["result"] == "16 A"
    # strict: a name that is not defined is an error (without strict, HA renders it empty
    # with a warning: that is the template engine's rule, tested with it).
    await ws.send_json({**base, "id": 3, "template": "[{{ nothing }}]", "strict": True})
    error = (await answer(3))["error"]
    assert error["code"] == "template_error" and "'nothing' is undefined" in error["message"]
    await ws.send_json(
        {**base, "id": 4, "template": "{{ x }}", "strict": True, "variables": {"x": 1}}
    )
    assert (await answer(4))["success"] is True
    assert (await answer(4))["event"]["result"] == "1"
    # report_errors: a successful result, then the error as an event with its level.
    await ws.send_json(
        {**base, "id": 5, "template": "{{ nothing }}", "strict": True, "report_errors": True}
    )
    assert (await answer(5))["success"] is True
    event = (await answer(5))["event"]
    assert event["level"] == "ERROR" and "'nothing' is undefined" in event["error"]
    # timeout: a first render that takes longer is refused with HA's message.
    slow = "{% for i in range(300000) %}{% endfor %}done"
    await ws.send_json({**base, "id": 6, "template": slow, "timeout": 0.000001})
    error = (await answer(6))["error"]
    assert error == {
        "code": "template_error",
        "message": "Exceeded maximum execution time of 1e-06s",
    }
    await ws.send_json({**base, "id": 7, "template": "ok", "timeout": 3, "entity_ids": []})
    assert (await answer(7))["success"] is True
    # strict knows the template globals and functions: they are defined.
    template = "{{ states('sensor.none') }} {{ now().year > 2000 }} {{ float(x) }}"
    await ws.send_json(
        {**base, "id": 9, "template": template, "strict": True, "variables": {"x": 1}}
    )
    assert (await answer(9))["success"] is True
    assert (await answer(9))["event"]["result"] == "unknown True 1.0"
    await ws.send_json({**base, "id": 10, "template": "ok", "strict": "yes"})
    assert (await answer(10))["error"]["code"] == "invalid_format"
    await ws.close()


async def test_rest_template_variables(station: Station) -> None:
    response = await station.post(
        "/api/template", json={"template": "{{ a + b }}", "variables": {"a": 1, "b": 2}}
    )
    assert (response.status, await response.text()) == (200, "3")
    response = await station.post("/api/template", json={"template": "{{ 1 + }}"})
    assert response.status == 400
