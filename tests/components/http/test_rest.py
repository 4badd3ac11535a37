"""The REST API against a running server on a real port."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from orge import __version__

from .conftest import Station


async def test_status_needs_a_token_even_from_localhost(station: Station) -> None:
    response = await station.get("/api/", headers={})
    assert response.status == 401
    assert await response.json() == {"message": "Unauthorized"}
    response = await station.get("/api/", headers={"Authorization": "Bearer not-a-token"})
    assert response.status == 401
    response = await station.get("/api/", headers={"Authorization": f"Basic {station.token}"})
    assert response.status == 401
    response = await station.get("/api/")
    assert response.status == 200
    assert await response.json() == {"message": "API running."}


async def test_security_headers_on_every_answer(station: Station) -> None:
    for path, headers in (("/api/", station.auth), ("/api/", {}), ("/", {}), ("/nope", {})):
        response = await station.session.get(station.url + path, headers=headers)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Referrer-Policy"] == "no-referrer"


async def test_config_components_and_openapi(station: Station) -> None:
    config = await (await station.get("/api/config")).json()
    assert config["location_name"] == "Test station"
    assert config["version"] == __version__
    assert "http" in config["components"]
    components = await (await station.get("/api/components")).json()
    assert "charger_demo" in components
    doc = await (await station.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    assert "/api/states/{entity_id}" in doc["paths"]


async def test_openapi_describes_every_route(station: Station) -> None:
    doc = await (await station.get("/api/openapi.json")).json()
    app_routes = set()
    runner = station.hub.data["http"].runner
    for route in runner.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith("/api") and path != "/api/websocket" and route.method != "HEAD":
            app_routes.add((path, route.method.lower()))
    documented = {
        (path, method)
        for path, ops in doc["paths"].items()
        for method in ops
        if method != "parameters"
    }
    assert app_routes == documented


async def test_states(station: Station) -> None:
    states = await (await station.get("/api/states")).json()
    ids = {s["entity_id"] for s in states}
    assert {"sensor.charger_power", "switch.charging_enabled", "number.max_current"} <= ids
    one = await (await station.get("/api/states/number.max_current")).json()
    assert one["state"] == "16"
    assert one["attributes"]["unit_of_measurement"] == "A"
    assert set(one) == {
        "entity_id",
        "state",
        "attributes",
        "last_changed",
        "last_updated",
        "context",
    }
    assert one["last_changed"].endswith("+00:00")
    missing = await station.get("/api/states/sensor.nothing")
    assert missing.status == 404
    assert await missing.json() == {"message": "Entity not found."}


async def test_states_cache_follows_changes(station: Station) -> None:
    await station.get("/api/states")
    station.hub.states.async_set("sensor.extra", "1")
    states = await (await station.get("/api/states")).json()
    assert any(s["entity_id"] == "sensor.extra" for s in states)


async def test_post_and_delete_state(station: Station) -> None:
    response = await station.post(
        "/api/states/sensor.ext", json={"state": 16, "attributes": {"a": 1}}
    )
    assert response.status == 201
    assert response.headers["Location"] == "/api/states/sensor.ext"
    body = await response.json()
    assert body["state"] == "16"
    assert body["context"]["user_id"]
    response = await station.post("/api/states/sensor.ext", json={"state": "17"})
    assert response.status == 200
    assert station.hub.states.get("sensor.ext").state == "17"
    response = await station.post("/api/states/sensor.ext", json={"attributes": {}})
    assert response.status == 400
    assert await response.json() == {"message": "No state specified."}
    response = await station.post("/api/states/not_an_entity", json={"state": "1"})
    assert response.status == 400
    response = await station.post("/api/states/sensor.ext", json={"state": "x" * 300})
    assert response.status == 400
    response = await station.session.delete(
        station.url + "/api/states/sensor.ext", headers=station.auth
    )
    assert response.status == 200
    assert station.hub.states.get("sensor.ext") is None
    response = await station.session.delete(
        station.url + "/api/states/sensor.ext", headers=station.auth
    )
    assert response.status == 404


async def test_malformed_json_and_wrong_shapes(station: Station) -> None:
    for path in (
        "/api/states/sensor.a",
        "/api/services/switch/turn_on",
        "/api/events/x",
        "/api/template",
    ):
        response = await station.post(
            path, data=b"{not json", headers={**station.auth, "Content-Type": "application/json"}
        )
        assert response.status == 400, path
        assert await response.json() == {"message": "Invalid JSON specified."}
    response = await station.post("/api/states/sensor.a", json=[1, 2])
    assert response.status == 400
    response = await station.post("/api/events/x", json="text")
    assert response.status == 400
    response = await station.post("/api/template", json={"nothing": 1})
    assert response.status == 400


async def test_body_too_large(station: Station) -> None:
    big = b'{"state": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = await station.post("/api/states/sensor.big", data=big)
    assert response.status == 413
    assert "too large" in (await response.json())["message"]

    async def chunks():
        for _ in range(40):
            yield b"x" * 65536

    response = await station.post("/api/states/sensor.big", data=chunks())
    assert response.status == 413
    assert station.hub.states.get("sensor.big") is None


async def test_method_not_allowed_and_unknown_path(station: Station) -> None:
    response = await station.session.put(station.url + "/api/states", headers=station.auth)
    assert response.status == 405
    assert "message" in await response.json()
    response = await station.get("/api/nothing/here")
    assert response.status == 404
    assert "message" in await response.json()


async def test_services_list_and_call(station: Station) -> None:
    services = await (await station.get("/api/services")).json()
    by_domain = {item["domain"]: item["services"] for item in services}
    assert "turn_on" in by_domain["switch"]
    assert by_domain["charger_demo"]["authorize"]["fields"]["id_tag"]["example"] == "ABC123"
    assert by_domain["charger_demo"]["echo"]["response"] == {"optional": True}

    response = await station.post(
        "/api/services/switch/turn_on", json={"entity_id": "switch.charging_enabled"}
    )
    assert response.status == 200
    changed = await response.json()
    assert [s["entity_id"] for s in changed] == ["switch.charging_enabled"]
    assert changed[0]["state"] == "on"

    response = await station.post(
        "/api/services/number/set_value", json={"entity_id": "number.max_current", "value": 20}
    )
    assert (await response.json())[0]["state"] == "20"

    response = await station.post("/api/services/charger_demo/echo?return_response", json={"a": 1})
    assert await response.json() == {"changed_states": [], "service_response": {"echo": {"a": 1}}}


async def test_service_errors(station: Station) -> None:
    response = await station.post("/api/services/nope/nothing", json={})
    assert response.status == 404
    assert await response.json() == {"message": "Service nope.nothing not found."}
    response = await station.post(
        "/api/services/number/set_value", json={"entity_id": "number.max_current", "value": 99}
    )
    assert response.status == 400
    assert "outside" in (await response.json())["message"]
    response = await station.post("/api/services/switch/turn_on", json={"entity_id": "switch.nope"})
    assert response.status == 400
    response = await station.post(
        "/api/services/switch/turn_on?return_response",
        json={"entity_id": "switch.charging_enabled"},
    )
    assert response.status == 400


async def test_events(station: Station) -> None:
    seen = []
    station.hub.bus.async_listen("custom_event", lambda e: seen.append(e))
    events = await (await station.get("/api/events")).json()
    assert {"event": "custom_event", "listener_count": 1} in events
    response = await station.post("/api/events/custom_event", json={"x": 1})
    assert await response.json() == {"message": "Event custom_event fired."}
    await station.hub.async_block_till_done()
    assert seen and seen[0].data == {"x": 1} and seen[0].origin == "REMOTE"
    response = await station.post("/api/events/state_changed", json={})
    assert response.status == 400
    response = await station.post("/api/events/orge_stop", json={})
    assert response.status == 400


async def test_template(station: Station) -> None:
    response = await station.post(
        "/api/template", json={"template": "{{ states('number.max_current') | int + 1 }}"}
    )
    assert response.status == 200
    assert await response.text() == "17"
    response = await station.post(
        "/api/template", json={"template": "{{ x * 2 }}", "variables": {"x": 4}}
    )
    assert await response.text() == "8"
    response = await station.post("/api/template", json={"template": "{{ 1 + }}"})
    assert response.status == 400
    assert "template" in (await response.json())["message"].lower()


async def test_error_log_is_text_and_redacted(station: Station) -> None:
    import logging

    from orge.log import RECENT

    root = logging.getLogger()
    added = RECENT not in root.handlers
    if added:
        root.addHandler(RECENT)
    try:
        logging.getLogger("tests").warning("something odd happened")
        response = await station.get("/api/error_log")
    finally:
        if added:
            root.removeHandler(RECENT)
    assert response.content_type == "text/plain"
    text = await response.text()
    assert "something odd happened" in text
    assert station.token not in text


async def test_check_config(station: Station) -> None:
    result = await (await station.post("/api/config/core/check_config")).json()
    assert result == {"result": "valid", "errors": None, "problems": []}
    config = station.path / "configuration.yaml"
    config.write_text(
        config.read_text().replace(f"server_port: {station.port}", "server_port: not_a_port")
    )
    result = await (await station.post("/api/config/core/check_config")).json()
    assert result["result"] == "invalid"
    assert "not_a_port" in result["errors"]


async def test_history_without_recorder_is_a_clear_error(station: Station) -> None:
    response = await station.get("/api/history/period")
    assert response.status == 404
    assert "recorder" in (await response.json())["message"]
    response = await station.get("/api/logbook")
    assert response.status == 404


async def test_history_and_logbook_from_recorder(make_station) -> None:
    station = await make_station(extra="recorder:\n  commit_interval: 0.05\n")
    hub = station.hub
    for value in ("1", "2", "3"):
        hub.states.async_set("sensor.amps", value, {"unit_of_measurement": "A"})
        hub.states.async_set("switch.relay", "on" if value != "2" else "off")
    response = await station.get("/api/history/period?filter_entity_id=sensor.amps")
    history = await response.json()
    assert response.status == 200
    assert [row["state"] for row in history[0]] == ["1", "2", "3"]
    response = await station.get(
        "/api/history/period?filter_entity_id=sensor.amps,switch.relay&minimal_response"
    )
    history = await response.json()
    assert len(history) == 2
    assert set(history[0][1]) == {"state", "last_changed"}
    response = await station.get(
        "/api/history/period/2020-01-01T00:00:00+00:00?end_time=2020-01-02T00:00:00Z"
        "&filter_entity_id=sensor.amps"
    )
    assert await response.json() == []
    response = await station.get("/api/history/period/yesterday")
    assert response.status == 400
    response = await station.get("/api/history/period?filter_entity_id=Not%20An%20Id")
    assert response.status == 400
    logbook = await (await station.get("/api/logbook?entity=switch.relay")).json()
    assert [entry["state"] for entry in logbook] == ["on", "off", "on"]


async def test_cors(make_station) -> None:
    station = await make_station(http_extra="  cors_allowed_origins: https://ops.example\n")
    response = await station.session.options(
        station.url + "/api/states",
        headers={"Origin": "https://ops.example", "Access-Control-Request-Method": "GET"},
    )
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://ops.example"
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    response = await station.get("/api/", headers={**station.auth, "Origin": "https://ops.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://ops.example"
    response = await station.get(
        "/api/", headers={**station.auth, "Origin": "https://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_web_view_files_are_served(station: Station) -> None:
    response = await station.session.get(station.url + "/")
    assert response.status == 200
    html = await response.text()
    assert "/www/app.js" in html and "https://" not in html  # nothing from a CDN
    for name in ("app.js", "style.css"):
        response = await station.session.get(f"{station.url}/www/{name}")
        assert response.status == 200
        assert "http://" not in (await response.text()).replace("http://www.w3.org/2000/svg", "")


async def test_many_parallel_requests(station: Station) -> None:
    async def one() -> int:
        response = await station.get("/api/states")
        await response.read()
        return response.status

    statuses = await asyncio.gather(*(one() for _ in range(50)))
    assert statuses == [200] * 50


async def test_yaml_tokens_and_revocation(make_station) -> None:
    station = await make_station(
        http_extra="  access_tokens:\n    - name: fleet\n      token: !secret fleet_token\n",
        **{"secrets.yaml": "fleet_token: fleet-token-0123456789abcdef\n"},
    )
    response = await station.get(
        "/api/", headers={"Authorization": "Bearer fleet-token-0123456789abcdef"}
    )
    assert response.status == 200
    from components.http.auth import revoke_token

    assert revoke_token(str(station.path), "tests")
    station.hub.data["http"].tokens.reload()
    response = await station.get("/api/")
    assert response.status == 401
    stored = (station.path / ".storage" / "auth_tokens.json").read_text()
    assert "fleet-token" not in stored
    assert json.loads(stored)["tokens"] == []


async def test_client_connection_reuse(station: Station) -> None:
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(5):
            async with session.get(station.url + "/api/", headers=station.auth) as response:
                assert response.status == 200


async def test_states_gzip_and_identity(station: Station) -> None:
    zipped = await station.get("/api/states", headers={**station.auth, "Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    plain = await station.get(
        "/api/states", headers={**station.auth, "Accept-Encoding": "identity"}
    )
    assert "Content-Encoding" not in plain.headers
    assert await zipped.json() == await plain.json()


async def test_config_has_home_assistant_keys(station: Station) -> None:
    config = await (await station.get("/api/config")).json()
    assert config["unit_system"]["temperature"] == "°C"
    for key in ("latitude", "longitude", "elevation", "time_zone", "version", "components"):
        assert key in config
    ws = await station.ws()
    await ws.send_json({"id": 1, "type": "get_config"})
    answer = await ws.receive_json()
    assert answer["result"]["unit_system"]["length"] == "km"


async def test_values_json_does_not_know_are_still_answered(station: Station) -> None:
    from datetime import UTC, datetime

    from orge.core import SupportsResponse

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    station.hub.states.async_set("sensor.odd", "1", {"since": when, "tags": {"a"}})
    states = await (await station.get("/api/states")).json()
    odd = next(s for s in states if s["entity_id"] == "sensor.odd")
    assert odd["attributes"] == {"since": when.isoformat(), "tags": ["a"]}
    assert (await station.get("/api/states/sensor.odd")).status == 200

    async def when_service(call):
        return {"at": when}

    station.hub.services.async_register(
        "charger_demo", "when", when_service, supports_response=SupportsResponse.ONLY
    )
    response = await station.post("/api/services/charger_demo/when?return_response", json={})
    assert (await response.json())["service_response"] == {"at": when.isoformat()}


async def test_history_is_gzipped_for_clients_that_accept_it(make_station) -> None:
    station = await make_station(extra="recorder:\n  commit_interval: 0.05\n")
    for value in range(50):
        station.hub.states.async_set("sensor.amps", str(value), {"unit_of_measurement": "A"})
    headers = {**station.auth, "Accept-Encoding": "gzip"}
    response = await station.get(
        "/api/history/period?filter_entity_id=sensor.amps", headers=headers
    )
    assert response.headers["Content-Encoding"] == "gzip"
    assert len((await response.json())[0]) == 50
