"""The recorder against a real SQLite file, and a real `orge run` process killed with SIGKILL."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import voluptuous as vol

from orge.core import Orge


def rows(path: Path, sql: str, *args: object) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


async def history(hub: Orge, **data: object) -> dict:
    response = await hub.services.async_call(
        "recorder", "get_history", data, blocking=True, return_response=True
    )
    return response["history"]


async def test_records_states_and_events(config_dir, start_station) -> None:
    path = config_dir("recorder:\n  commit_interval: 0.05\n")
    hub, _ = await start_station(path)
    hub.states.async_set("sensor.power", "10", {"unit_of_measurement": "W"})
    hub.states.async_set("sensor.power", "11", {"unit_of_measurement": "W"})
    hub.states.async_set("sensor.power", "11", {"unit_of_measurement": "W", "x": 1})
    hub.bus.async_fire("charging_started", {"connector": 1})
    await hub.data["recorder"].async_block_till_done()
    db = path / ".storage" / "orge.db"
    states = rows(db, "SELECT state FROM states WHERE entity_id = 'sensor.power' ORDER BY state_id")
    assert states == [("10",), ("11",), ("11",)]
    # identical attributes are stored once (rows of this sensor's attributes only: the
    # engine's own entities, binary_sensor.configuration_problem, are recorded too)
    power_attrs = "SELECT COUNT(*) FROM state_attributes WHERE shared_attrs LIKE '%\"W\"%'"
    assert rows(db, power_attrs)[0][0] == 2
    events = rows(db, "SELECT event_data FROM events WHERE event_type = 'charging_started'")
    assert json.loads(events[0][0]) == {"connector": 1}
    assert rows(db, "PRAGMA journal_mode")[0][0] == "wal"

    result = await history(hub, entity_ids=["sensor.power"])
    assert [r["state"] for r in result["sensor.power"]] == ["10", "11", "11"]
    result = await history(hub, entity_ids=["sensor.power"], significant_changes_only=True)
    assert [r["state"] for r in result["sensor.power"]] == ["10", "11"]
    result = await history(hub, entity_ids=["sensor.power"], no_attributes=True)
    assert result["sensor.power"][0]["attributes"] == {}  # HA: present and empty


async def test_history_starts_with_the_state_at_start(config_dir, start_station) -> None:
    path = config_dir("recorder:\n  commit_interval: 0.05\n")
    hub, _ = await start_station(path)
    old = time.time() - 7200
    hub.states.async_set("sensor.t", "1", timestamp=old)
    hub.states.async_set("sensor.t", "2", timestamp=old + 10)
    hub.states.async_set("sensor.t", "3")
    start = datetime.now(UTC) - timedelta(hours=1)
    result = await history(hub, entity_ids=["sensor.t"], start_time=start.isoformat())
    states = result["sensor.t"]
    assert [s["state"] for s in states] == ["2", "3"]
    assert datetime.fromisoformat(states[0]["last_changed"]) == start


async def test_history_survives_a_restart(config_dir, start_station) -> None:
    path = config_dir("recorder:\n  commit_interval: 30\n")
    hub, _ = await start_station(path)
    hub.states.async_set("sensor.kept", "5")
    await hub.async_stop()  # orge_final_write flushes despite the long interval
    hub2, _ = await start_station(path)
    result = await history(hub2, entity_ids=["sensor.kept"])
    assert result["sensor.kept"][0]["state"] == "5"


async def test_filters(config_dir, start_station) -> None:
    path = config_dir(
        """
        recorder:
          commit_interval: 0.05
          include:
            domains: [sensor, switch]
            entities: [light.kept]
          exclude:
            entities: [sensor.noisy]
            entity_globs: ["sensor.debug_*"]
            event_types: [chatter]
        """
    )
    hub, _ = await start_station(path)
    for entity_id in (
        "sensor.a",
        "sensor.noisy",
        "sensor.debug_x",
        "switch.b",
        "light.kept",
        "light.other",
    ):
        hub.states.async_set(entity_id, "1")
    hub.bus.async_fire("chatter")
    hub.bus.async_fire("kept_event")
    await hub.data["recorder"].async_block_till_done()
    db = path / ".storage" / "orge.db"
    recorded = {r[0] for r in rows(db, "SELECT DISTINCT entity_id FROM states")}
    assert recorded == {"sensor.a", "switch.b", "light.kept"}
    types = {r[0] for r in rows(db, "SELECT DISTINCT event_type FROM events")}
    assert "kept_event" in types and "chatter" not in types


async def test_purge(config_dir, start_station) -> None:
    path = config_dir("recorder:\n  commit_interval: 0.05\n  purge_keep_days: 3\n")
    hub, _ = await start_station(path)
    old = time.time() - 5 * 86400
    hub.states.async_set("sensor.p", "old", {"a": 1}, timestamp=old)
    hub.states.async_set("sensor.p", "new", {"a": 2})
    await hub.data["recorder"].async_block_till_done()
    await hub.services.async_call("recorder", "purge", {}, blocking=True)
    db = path / ".storage" / "orge.db"
    assert rows(db, "SELECT state FROM states WHERE entity_id = 'sensor.p'") == [("new",)]
    # the old attributes went with the old state (only sensor.p's rows counted)
    p_attrs = "SELECT COUNT(*) FROM state_attributes WHERE shared_attrs LIKE '%\"a\":%'"
    assert rows(db, p_attrs)[0][0] == 1
    await hub.services.async_call(
        "recorder", "purge", {"keep_days": 0, "repack": True}, blocking=True
    )
    assert rows(db, "SELECT COUNT(*) FROM states WHERE entity_id = 'sensor.p'")[0][0] == 0


async def test_logbook(config_dir, start_station) -> None:
    path = config_dir("recorder:\n  commit_interval: 0.05\n")
    hub, _ = await start_station(path)
    hub.states.async_set("switch.relay", "on", {"friendly_name": "Relay"})
    hub.states.async_set("switch.relay", "on", {"friendly_name": "Relay", "x": 1})  # attrs only
    hub.states.async_set("switch.relay", "off", {"friendly_name": "Relay"})
    hub.states.async_set("sensor.power", "5", {"unit_of_measurement": "W"})
    hub.bus.async_fire(
        "automation_triggered",
        {"name": "Stop at night", "entity_id": "automation.night", "source": "time"},
    )
    response = await hub.services.async_call(
        "recorder", "get_logbook", {}, blocking=True, return_response=True
    )
    entries = response["entries"]
    relay = [(e["name"], e["state"]) for e in entries if e.get("entity_id") == "switch.relay"]
    assert relay == [("Relay", "on"), ("Relay", "off")]
    assert not any(e.get("entity_id") == "sensor.power" for e in entries)
    assert any(e.get("message") == "triggered by time" for e in entries)


async def test_services_validate(config_dir, start_station) -> None:
    from orge.exceptions import ServiceValidationError

    hub, _ = await start_station(config_dir("recorder:\n"))
    with pytest.raises(ServiceValidationError):
        await history(hub, start_time="yesterday")
    with pytest.raises(ServiceValidationError):
        await history(hub, start_time="2024-01-02T00:00:00Z", end_time="2024-01-01T00:00:00Z")
    with pytest.raises(ServiceValidationError):
        await hub.services.async_call("recorder", "get_history", {}, blocking=True)


async def test_corrupt_file_is_moved_aside(config_dir, start_station, caplog) -> None:
    path = config_dir("recorder:\n  commit_interval: 0.05\n")
    storage = path / ".storage"
    storage.mkdir()
    (storage / "orge.db").write_bytes(b"this is not a database" * 200)
    caplog.set_level(logging.ERROR)
    hub, _ = await start_station(path)
    assert "recorder" in hub.config.components
    moved = list(storage.glob("orge.db.corrupt.*"))
    assert len(moved) == 1
    assert moved[0].read_bytes().startswith(b"this is not a database")
    assert "corrupt" in caplog.text
    hub.states.async_set("sensor.after", "ok")
    result = await history(hub, entity_ids=["sensor.after"])
    assert result["sensor.after"][0]["state"] == "ok"


async def test_corrupted_pages_are_detected(config_dir, start_station) -> None:
    path = config_dir("recorder:\n  commit_interval: 0.05\n")
    hub, _ = await start_station(path)
    for i in range(300):
        hub.states.async_set("sensor.fill", str(i), {"pad": "x" * 200})
    await hub.async_stop()
    db = path / ".storage" / "orge.db"
    data = bytearray(db.read_bytes())
    page = 4096
    for offset in range(2 * page, len(data) - page, page):  # leave the header page intact
        data[offset : offset + 64] = b"\xff" * 64
    db.write_bytes(bytes(data))
    hub2, _ = await start_station(path)
    assert list((path / ".storage").glob("orge.db.corrupt.*"))
    hub2.states.async_set("sensor.after", "ok")
    assert (await history(hub2, entity_ids=["sensor.after"]))["sensor.after"]


def test_schema() -> None:
    from components.recorder import CONFIG_SCHEMA, database_path

    config = CONFIG_SCHEMA({})
    assert config["commit_interval"] == 1.0
    assert database_path("/cfg", config) == "/cfg/.storage/orge.db"
    config = CONFIG_SCHEMA({"db_url": "sqlite:///data/x.db"})
    assert database_path("/cfg", config) == "/cfg/data/x.db"
    with pytest.raises(vol.Invalid):
        CONFIG_SCHEMA({"db_url": "postgresql://x"})
    with pytest.raises(vol.Invalid):
        CONFIG_SCHEMA({"commit_interval": -1})


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(url: str, token: str, body: dict) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status


def test_sigkill_loses_at_most_one_commit_interval(tmp_path: Path) -> None:
    """A real `orge run`, fed over HTTP, killed with SIGKILL in the middle of writing."""
    from components.http.auth import create_token

    interval = 0.5
    port = _free_port()
    (tmp_path / "configuration.yaml").write_text(
        f"http:\n  server_host: 127.0.0.1\n  server_port: {port}\n"
        f"recorder:\n  commit_interval: {interval}\n"
    )
    token = create_token(str(tmp_path), "kill-test")
    process = subprocess.Popen(
        [sys.executable, "-m", "orge", "run", "-c", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/states/sensor.counter"
        deadline = time.monotonic() + 30
        while True:
            try:
                _post(url, token, {"state": "0"})
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError("station did not start") from None
                time.sleep(0.1)
        acknowledged: list[tuple[float, int]] = []
        started = time.monotonic()
        value = 0
        while time.monotonic() - started < 2.2:
            value += 1
            assert _post(url, token, {"state": str(value)}) == 200
            acknowledged.append((time.monotonic(), value))
            time.sleep(0.01)
        killed_at = time.monotonic()
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    db = tmp_path / ".storage" / "orge.db"
    stored = {
        int(r[0]) for r in rows(db, "SELECT state FROM states WHERE entity_id = 'sensor.counter'")
    }
    # Everything acknowledged more than one commit interval (plus scheduling slack on a
    # busy 2-core machine) before the kill must be on disk.
    slack = 0.5
    must_have = {v for t, v in acknowledged if t < killed_at - interval - slack}
    assert must_have, "the test wrote nothing early enough to check"
    assert must_have <= stored, sorted(must_have - stored)[:10]
    # and the file is a healthy database
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]


async def test_locked_database_keeps_rows_for_a_retry(config_dir, start_station, caplog) -> None:
    path = config_dir("recorder:\n  commit_interval: 0.05\n")
    hub, _ = await start_station(path)
    recorder = hub.data["recorder"]
    await recorder.submit(lambda conn: conn.execute("PRAGMA busy_timeout = 20"))
    db = path / ".storage" / "orge.db"
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
    caplog.set_level(logging.ERROR)
    try:
        hub.states.async_set("sensor.during_lock", "1")
        for _ in range(100):
            await asyncio.sleep(0.02)
            if recorder.retained:
                break
        assert recorder.retained, "the write should have failed and been kept"
        assert "keeping" in caplog.text
    finally:
        other.execute("ROLLBACK")
        other.close()
    hub.states.async_set("sensor.after_lock", "2")
    await recorder.async_block_till_done()
    stored = {r[0] for r in rows(db, "SELECT entity_id FROM states")}
    assert {"sensor.during_lock", "sensor.after_lock"} <= stored
