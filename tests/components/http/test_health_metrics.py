"""GET /api/health (no token, nothing identifying) and GET /api/metrics (token, Prometheus
text format parsed by prometheus_client's own parser), on real stations over real HTTP."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from components.http.auth import create_token
from orge import __version__
from tests.components.ocpp201.ocpp201_helpers import PASSWORD, STATION, station_yaml, wait_until
from tests.ocpp_csms import OcppCsms

from .conftest import Station, free_port

HEALTH_KEYS = {
    "status",
    "version",
    "uptime_s",
    "failed_components",
    "csms_connected",
    "last_good_config",
}


async def health_of(station: Station, **kwargs: Any) -> dict[str, Any]:
    response = await station.session.get(station.url + "/api/health", **kwargs)
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    return await response.json()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of a Prometheus text answer."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def metrics_of(station: Station) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await station.get("/api/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return samples(await response.text())


async def test_health_answers_without_a_token(station: Station) -> None:
    answer = await health_of(station, headers={})
    assert set(answer) == HEALTH_KEYS
    assert answer["status"] == "ok"
    assert answer["version"] == __version__
    assert 0 < answer["uptime_s"] < 3600
    assert answer["failed_components"] == []
    assert answer["csms_connected"] is None  # no OCPP component configured
    assert answer["last_good_config"] is False


async def test_health_is_not_a_login_attempt(make_station) -> None:
    # One failed attempt bans; a probe with a stale or wrong token must never count.
    station = await make_station(http_extra="  login_attempts_threshold: 1\n")
    for _ in range(3):
        await health_of(station, headers={"Authorization": "Bearer wrong-token-guess"})
    assert (await station.get("/api/")).status == 200  # not banned
    assert (
        not (station.path / ".storage" / "ip_bans.yaml").exists()
        or "127.0.0.1" not in (station.path / ".storage" / "ip_bans.yaml").read_text()
    )


async def test_health_names_a_failed_component(make_station) -> None:
    # The demo CSMS cannot listen on a port another program holds: its setup fails.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        station = await make_station(extra=f"demo_csms:\n  host: 127.0.0.1\n  port: {port}\n")
        answer = await health_of(station)
    assert answer["status"] == "degraded"
    assert answer["failed_components"] == ["demo_csms"]


async def test_health_in_recovery_mode(config_dir, start_station) -> None:
    port = free_port()
    path = config_dir(
        f"http:\n  server_host: 127.0.0.1\n  server_port: {port}\nesp32:\n  baudrate: fast\n"
    )
    hub, _ = await start_station(path)
    assert "http" in hub.config.components
    async with aiohttp.ClientSession() as session:
        response = await session.get(f"http://127.0.0.1:{port}/api/health")
        answer = await response.json()
    assert answer["status"] == "recovery"
    assert answer["last_good_config"] is False


async def test_health_follows_the_csms_link_and_reveals_nothing(config_dir, start_station) -> None:
    port = free_port()
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        yaml = station_yaml(csms.url()) + (
            f"\nhttp:\n  server_host: 127.0.0.1\n  server_port: {port}\n"
        )
        path: Path = config_dir(yaml)
        token = create_token(str(path), "monitor")
        hub, result = await start_station(path)
        assert not result.problems, result.problems
        url = f"http://127.0.0.1:{port}/api/health"
        async with aiohttp.ClientSession() as session:

            async def answer() -> dict[str, Any]:
                return await (await session.get(url)).json()

            await wait_until(
                lambda: (
                    (s := hub.states.get("sensor.ocpp201_connection")) and s.state == "connected"
                )
            )
            connected = await answer()
            assert connected["csms_connected"] is True
            assert connected["status"] == "ok"
            text = await (await session.get(url)).text()
            for secret in (STATION, PASSWORD, csms.url(), str(path), str(csms.port), token):
                assert secret not in text
            assert "127.0.0.1" not in text and "ws://" not in text
            await csms.stop()
            await wait_until(
                lambda: hub.states.get("sensor.ocpp201_connection").state != "connected"
            )
            assert (await answer())["csms_connected"] is False


async def test_metrics_need_a_token(station: Station) -> None:
    response = await station.session.get(station.url + "/api/metrics")
    assert response.status == 401


async def test_metrics_parse_and_count(station: Station) -> None:
    for _ in range(2):
        response = await station.post("/api/services/charger_demo/echo", json={"x": 1})
        assert response.status == 200
    assert (await station.session.get(station.url + "/api/states")).status == 401
    ws = await station.ws()
    found = await metrics_of(station)
    await ws.close()

    assert (
        found[("orge_service_calls_total", (("domain", "charger_demo"), ("service", "echo")))] == 2
    )
    assert found[("orge_http_requests_total", (("status", "401"),))] == 1
    assert found[("orge_http_requests_total", (("status", "200"),))] >= 2
    assert found[("orge_websocket_clients", ())] == 1
    bus = station.hub.bus.fired
    events = found[("orge_events_total", (("event_type", "state_changed"),))]
    assert 0 < events <= bus["state_changed"]
    loaded = found[("orge_events_total", (("event_type", "component_loaded"),))]
    assert loaded == len(station.hub.config.components)
    assert found[("orge_events_total", (("event_type", "orge_started"),))] == 1
    assert 0 < found[("orge_state_writes_total", ())] <= station.hub.states.writes
    assert found[("orge_entities", ())] == len(station.hub.states.async_all())


async def test_metrics_of_the_controller_and_the_recorder(make_station) -> None:
    station = await make_station(
        extra=(
            "esp32:\n  port: simulator\n  name: Bay 2\n  status_interval: 0.5\n"
            "  simulator:\n    time_scale: 0.02\n    stat_interval: 0.3\n"
            "recorder:\n  commit_interval: 0\n"
        )
    )
    hub = station.hub
    await wait_until(lambda: (s := hub.states.get("sensor.bay_2_state")) and s.state == "idle")
    ((name, charger),) = hub.data["esp32"].items()
    await wait_until(lambda: charger.link.frames_sent > 0 and charger.link.lines_received > 0)
    await hub.data["recorder"].async_block_till_done()
    found = await metrics_of(station)
    assert found[("orge_esp32_frames_sent_total", (("charger", name),))] >= 1
    assert found[("orge_esp32_lines_received_total", (("charger", name),))] >= 1
    assert found[("orge_esp32_link_up", (("charger", name),))] == 1
    bad = {labels: v for (n, labels), v in found.items() if n == "orge_esp32_bad_lines_total"}
    assert bad and all(value == 0 for value in bad.values())
    assert found[("orge_recorder_commit_seconds_count", ())] >= 1
    assert found[("orge_recorder_rows_written_total", ())] >= 1
    assert ("orge_recorder_queue_rows", ()) in found
