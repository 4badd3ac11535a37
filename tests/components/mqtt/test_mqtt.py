"""mqtt against a real Mosquitto (tests/components/mqtt/conftest.py): states, attributes,
events, commands, discovery, TLS, a broker restart and the last will."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import orge
from tests.conftest import REPO

from .conftest import PASSWORD, USER, Broker, Watcher

STATION = "ST_TEST_1"
BASE = f"orge/{STATION}"


def station_yaml(broker: Broker, extra: str = "", mqtt_extra: str = "") -> str:
    return f"""\
orge:
  name: Test station
  station_id: {STATION}
esp32:
  port: simulator
input_boolean:
  test_flag:
  hidden_flag:
{extra}
mqtt:
  broker: 127.0.0.1
  port: {broker.port}
  username: {USER}
  password: !secret mqtt_password
  min_interval: 0
  reconnect_min: 0.05
  reconnect_max: 0.5
  exclude:
    entities: [input_boolean.hidden_flag]
  allowed_services:
    - input_boolean.turn_on
    - number.set_value
    - esp32.authorize
    - esp32.stop_charging
  buttons:
    start_charging: {{name: Start charging, action: esp32.authorize}}
    stop_charging: {{name: Stop charging, action: esp32.stop_charging}}
{mqtt_extra}"""


async def start(
    broker: Broker, config_dir: Callable[..., Path], start_station: Any, **kw: str
) -> Any:
    path = config_dir(
        station_yaml(broker, **kw), files={"secrets.yaml": f"mqtt_password: {PASSWORD}\n"}
    )
    hub, result = await start_station(path)
    assert not result.problems, result.problems
    return hub


async def until(check: Callable[[], Any], timeout: float = 10) -> Any:
    for _ in range(int(timeout / 0.02)):
        found = check()
        if found:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError("condition never held")


async def command(watcher: Watcher, payload: bytes | dict[str, Any]) -> dict[str, Any]:
    """Send on the command topic; the answer on the response topic."""
    before = len(watcher.messages)
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    await watcher.publish(f"{BASE}/command", body)

    def answer() -> dict[str, Any] | None:
        for topic, data, _retain in watcher.messages[before:]:
            if topic == f"{BASE}/response":
                return json.loads(data)
        return None

    return await until(answer)


async def test_states_attributes_and_commands(
    broker: Broker,
    watcher: Watcher,
    config_dir: Callable[..., Path],
    start_station: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    hub = await start(broker, config_dir, start_station)
    assert await watcher.until(f"{BASE}/availability", b"online")
    assert await watcher.until(f"{BASE}/input_boolean/test_flag/state", b"off")
    attributes = json.loads(await watcher.until(f"{BASE}/input_boolean/test_flag/attributes"))
    assert attributes == dict(hub.states.get("input_boolean.test_flag").attributes)
    assert attributes["friendly_name"] == "Test flag"
    current = json.loads(await watcher.until(f"{BASE}/number/charger_max_current/attributes"))
    number = hub.states.get("number.charger_max_current")
    assert current == json.loads(json.dumps(dict(number.attributes)))
    assert current["unit_of_measurement"] == "A"
    assert await watcher.until(f"{BASE}/number/charger_max_current/state") == (
        number.state.encode()
    )
    assert f"{BASE}/input_boolean/hidden_flag/state" not in watcher.last  # excluded

    # Allowed: executed, answered with the call's context.
    answer = await command(
        watcher,
        {"id": 1, "domain": "input_boolean", "service": "turn_on",
         "data": {"entity_id": "input_boolean.test_flag"}},
    )  # fmt: skip
    assert answer["id"] == 1 and answer["success"] is True, answer
    assert set(answer["result"]["context"]) == {"id", "parent_id", "user_id"}
    assert hub.states.get("input_boolean.test_flag").state == "on"
    assert await watcher.until(f"{BASE}/input_boolean/test_flag/state", b"on")

    # Not on the allow-list: refused, counted, not executed.
    answer = await command(
        watcher,
        {"id": "two", "domain": "input_boolean", "service": "turn_off",
         "data": {"entity_id": "input_boolean.test_flag"}},
    )  # fmt: skip
    assert answer == {
        "id": "two",
        "success": False,
        "error": {
            "code": "unauthorized",
            "message": "Service input_boolean.turn_off is not allowed over MQTT",
        },
    }
    assert hub.states.get("input_boolean.test_flag").state == "on"
    # Malformed: answered and counted.
    answer = await command(watcher, b"{not json")
    assert answer["success"] is False and answer["error"]["code"] == "invalid_format"
    assert answer["id"] is None
    answer = await command(watcher, {"id": 3, "domain": "input_boolean"})
    assert answer["id"] == 3 and answer["error"]["code"] == "invalid_format"
    rejected = hub.states.get("sensor.mqtt_rejected_commands")
    assert rejected.state == "3"
    assert rejected.attributes["unauthorized"] == 1 and rejected.attributes["invalid_format"] == 2
    assert await watcher.until(f"{BASE}/sensor/mqtt_rejected_commands/state", b"3")
    # Allowed but the service does not exist / the data is wrong: an error, not a crash.
    answer = await command(
        watcher, {"id": 4, "domain": "number", "service": "set_value", "data": {"value": "x"}}
    )
    assert answer["id"] == 4 and answer["error"]["code"] == "service_validation_error"

    # Home Assistant's number control writes a bare value on the command topic.
    await watcher.publish(f"{BASE}/number/charger_max_current/set", b"10")
    await until(lambda: hub.states.get("number.charger_max_current").state == "10")
    assert await watcher.until(f"{BASE}/number/charger_max_current/state", b"10")

    assert hub.states.get("binary_sensor.mqtt_connected").state == "on"
    assert PASSWORD not in caplog.text


HA_PYTHON = REPO / ".venv-ha" / "bin" / "python"

# Runs inside Home Assistant 2024.3.3's venv (benchmarks/ha_venv.sh): every discovery
# message goes through what HA's mqtt discovery does with it - the topic matcher, the
# abbreviations, then the component's DISCOVERY_SCHEMA - and what HA kept is printed.
HA_VALIDATE = """
import importlib, json, sys
from homeassistant.components.mqtt import discovery
from homeassistant.components.mqtt.abbreviations import ABBREVIATIONS, DEVICE_ABBREVIATIONS
out = []
for topic, payload in json.load(open(sys.argv[1])):
    match = discovery.TOPIC_MATCHER.match(topic.replace("homeassistant/", "", 1))
    assert match, topic
    component = match.group("component")
    assert component in discovery.SUPPORTED_COMPONENTS, component
    payload = {ABBREVIATIONS.get(k, k): v for k, v in payload.items()}
    payload["device"] = {DEVICE_ABBREVIATIONS.get(k, k): v for k, v in payload["device"].items()}
    platform = importlib.import_module("homeassistant.components.mqtt." + component)
    try:
        valid = platform.DISCOVERY_SCHEMA(payload)
    except Exception as err:
        out.append({"topic": topic, "error": str(err)})
        continue
    kept = {k: (v if isinstance(v, (str, int, float, bool, list, dict)) or v is None else str(v))
            for k, v in valid.items()}
    out.append({"topic": topic, "node_id": match.group("node_id"),
                "object_id": match.group("object_id"), "kept": sorted(kept), "valid": kept})
print(json.dumps(out))
"""


@pytest.mark.skipif(
    not HA_PYTHON.exists(),
    reason="Home Assistant's venv (.venv-ha, made by benchmarks/ha_venv.sh) is absent: "
    "the discovery payloads cannot be run through HA's own schemas",
)
async def test_discovery_accepted_by_home_assistant(
    broker: Broker,
    watcher: Watcher,
    config_dir: Callable[..., Path],
    start_station: Any,
    tmp_path: Path,
) -> None:
    hub = await start(broker, config_dir, start_station)
    await watcher.until(f"homeassistant/button/{STATION}/action_stop_charging/config")
    await watcher.until(f"homeassistant/number/{STATION}/charger_max_current/config")
    await watcher.until(f"homeassistant/sensor/{STATION}/mqtt_rejected_commands/config")
    configs = {
        topic: json.loads(payload)
        for topic, payload in watcher.last.items()
        if topic.startswith("homeassistant/") and payload
    }
    assert len(configs) > 10
    source = tmp_path / "discovery.json"
    source.write_text(json.dumps(list(configs.items())))
    done = await asyncio.create_subprocess_exec(
        str(HA_PYTHON), "-c", HA_VALIDATE, str(source),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(done.communicate(), 120)
    assert done.returncode == 0, err.decode()[-3000:]
    results = {found["topic"]: found for found in json.loads(out)}
    assert set(results) == set(configs)
    for topic, found in results.items():
        assert "error" not in found, found
        assert found["node_id"] == STATION
        # HA drops keys it does not know (REMOVE_EXTRA): every key we sent must be kept.
        assert set(configs[topic]) <= set(found["kept"]), (topic, configs[topic])
        assert found["valid"]["availability_topic"] == f"{BASE}/availability"
        assert configs[topic]["device"] == {
            "identifiers": [STATION],
            "name": "Test station",
            "model": "ORGE AC charging station",
            "manufacturer": "ORGE",
            "sw_version": orge.__version__,
        }

    number = configs[f"homeassistant/number/{STATION}/charger_max_current/config"]
    limit = hub.states.get("number.charger_max_current").attributes
    assert number["command_topic"] == f"{BASE}/number/charger_max_current/set"
    assert number["state_topic"] == f"{BASE}/number/charger_max_current/state"
    assert (number["min"], number["max"], number["step"]) == (limit["min"], limit["max"], 1)
    assert number["unit_of_measurement"] == "A" and number["device_class"] == "current"
    assert number["unique_id"] == f"{STATION}_charger_max_current"
    start_button = configs[f"homeassistant/button/{STATION}/action_start_charging/config"]
    assert start_button["command_topic"] == f"{BASE}/action/start_charging"
    assert start_button["name"] == "Start charging"
    rejected = configs[f"homeassistant/sensor/{STATION}/mqtt_rejected_commands/config"]
    assert rejected["state_class"] == "total_increasing"
    link = configs[f"homeassistant/binary_sensor/{STATION}/mqtt_connected/config"]
    assert link["device_class"] == "connectivity"
    assert (link["payload_on"], link["payload_off"]) == ("on", "off")
    measured = [c for c in configs.values() if c.get("device_class") == "voltage"]
    assert measured and all(c["unit_of_measurement"] == "V" for c in measured)
    # An excluded entity is not announced; a flag has no HA control (not allowed): none.
    assert not any("hidden_flag" in topic or "input_boolean" in topic for topic in configs)

    # Home Assistant pressing "Stop charging" reaches the allowed service.
    stopped: list[Any] = []
    original = hub.services.async_services()["esp32"]["stop_charging"].handler

    async def spy(call: Any) -> Any:
        stopped.append(call)
        return await original(call) if asyncio.iscoroutinefunction(original) else original(call)

    hub.services.async_services()["esp32"]["stop_charging"].handler = spy
    await watcher.publish(start_button["command_topic"].replace("start", "stop"), b"PRESS")
    await until(lambda: stopped)


async def test_tls_with_client_certificate_and_mqtt5(
    broker: Broker, watcher: Watcher, config_dir: Callable[..., Path], start_station: Any
) -> None:
    """The TLS listener wants a certificate from the fleet's CA; the station gives one.
    The files are named relative to the configuration folder (the station runs elsewhere),
    as check-config finds them."""
    certs = broker.certs
    path = config_dir(
        f"""\
orge:
  station_id: {STATION}
input_boolean:
  test_flag:
mqtt:
  broker: 127.0.0.1
  port: {broker.tls_port}
  protocol: 5
  username: {USER}
  password: {PASSWORD}
  certificate: certs/ca.pem
  client_cert: certs/client.pem
  client_key: certs/client.key
"""
    )
    (path / "certs").mkdir()
    for name in ("ca", "client", "client_key"):
        shutil.copy(certs[name], path / "certs" / certs[name].name)
    assert not (Path.cwd() / "certs").exists()
    hub, result = await start_station(path)
    assert not result.problems
    assert await watcher.until(f"{BASE}/availability", b"online")
    assert await watcher.until(f"{BASE}/input_boolean/test_flag/state", b"off")
    assert hub.states.get("binary_sensor.mqtt_connected").state == "on"


async def test_tls_refuses_a_broker_of_another_ca(
    broker: Broker,
    config_dir: Callable[..., Path],
    start_station: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A broker whose certificate the CA file does not vouch for is not talked to; the
    station runs on, says so once, and keeps trying."""
    from .conftest import make_certificates

    (tmp_path / "other").mkdir()
    other = make_certificates(tmp_path / "other")
    certs = broker.certs
    path = config_dir(
        f"""\
orge:
  station_id: {STATION}
mqtt:
  broker: 127.0.0.1
  port: {broker.tls_port}
  username: {USER}
  password: {PASSWORD}
  certificate: {other["ca"]}
  client_cert: {certs["client"]}
  client_key: {certs["client_key"]}
  reconnect_min: 0.05
  reconnect_max: 0.1
"""
    )
    hub, _result = await start_station(path)
    await until(lambda: "MQTT broker 127.0.0.1" in caplog.text)
    await asyncio.sleep(0.5)  # several attempts
    assert hub.states.get("binary_sensor.mqtt_connected").state == "off"
    assert caplog.text.count("MQTT broker 127.0.0.1") == 1
    assert PASSWORD not in caplog.text


async def test_rate_limit_sends_the_latest_value_when_the_interval_ends(
    broker: Broker, watcher: Watcher, config_dir: Callable[..., Path], start_station: Any
) -> None:
    hub = await start(
        broker, config_dir, start_station,
        mqtt_extra="  entity_min_interval:\n    input_boolean.test_flag: 0.6\n",
    )  # fmt: skip
    topic = f"{BASE}/input_boolean/test_flag/state"
    await watcher.until(topic, b"off")
    await asyncio.sleep(0.7)  # the first publication's interval is over
    before = len(watcher.messages)
    for service in ("turn_on", "turn_off", "turn_on", "turn_off", "turn_on"):
        await hub.services.async_call(
            "input_boolean", service, {"entity_id": "input_boolean.test_flag"}, blocking=True
        )
    await asyncio.sleep(0.3)
    sent = [p for t, p, _r in watcher.messages[before:] if t == topic]
    assert sent == [b"on"]  # the first change went at once; the rest wait
    await asyncio.sleep(0.6)
    sent = [p for t, p, _r in watcher.messages[before:] if t == topic]
    assert sent == [b"on"]  # the latest value equals the last sent: nothing to send
    await hub.services.async_call(
        "input_boolean", "turn_off", {"entity_id": "input_boolean.test_flag"}, blocking=True
    )
    await hub.services.async_call(
        "input_boolean", "turn_on", {"entity_id": "input_boolean.test_flag"}, blocking=True
    )
    await hub.services.async_call(
        "input_boolean", "turn_off", {"entity_id": "input_boolean.test_flag"}, blocking=True
    )
    await until(lambda: [p for t, p, _r in watcher.messages[before:] if t == topic] != [b"on"])
    await asyncio.sleep(0.8)
    sent = [p for t, p, _r in watcher.messages[before:] if t == topic]
    assert sent == [b"on", b"off"]  # only the latest of the three


async def test_events_out(
    broker: Broker, watcher: Watcher, config_dir: Callable[..., Path], start_station: Any
) -> None:
    hub = await start(broker, config_dir, start_station)
    await watcher.until(f"{BASE}/availability", b"online")
    hub.bus.async_fire("power_monitor_problem", {"problem": "under_voltage", "source": "hwmon"})
    hub.bus.async_fire("not_for_the_fleet", {"x": 1})
    hub.bus.async_fire("ngrok_tunnel_changed", {"name": "ssh", "public_url": "tcp://a:1"})
    found = json.loads(await watcher.until(f"{BASE}/event/ngrok_tunnel_changed"))
    assert found["data"] == {"name": "ssh", "public_url": "tcp://a:1"}
    found = json.loads(await watcher.until(f"{BASE}/event/power_monitor_problem"))
    assert found["event_type"] == "power_monitor_problem"
    assert found["data"] == {"problem": "under_voltage", "source": "hwmon"}
    assert found["time_fired"].endswith("+00:00")
    assert f"{BASE}/event/not_for_the_fleet" not in watcher.last
    retained = {t: r for t, _p, r in watcher.messages}
    assert retained[f"{BASE}/event/power_monitor_problem"] is False


async def test_broker_restart_loses_only_intermediate_values(
    broker: Broker, watcher: Watcher, config_dir: Callable[..., Path], start_station: Any
) -> None:
    """The broker goes away (and forgets its retained messages: no persistence); the
    station keeps the latest value of each entity and sends it when the broker returns."""
    hub = await start(broker, config_dir, start_station)
    await watcher.until(f"{BASE}/input_boolean/test_flag/state", b"off")
    await watcher.stop()
    broker.stop()
    await until(lambda: hub.states.get("binary_sensor.mqtt_connected").state == "off")
    for service in ("turn_on", "turn_off", "turn_on"):
        await hub.services.async_call(
            "input_boolean", service, {"entity_id": "input_boolean.test_flag"}, blocking=True
        )
    hub.states.async_set("sensor.meter_energy", "10.5", {"unit_of_measurement": "kWh"})
    hub.states.async_set("sensor.meter_energy", "10.7", {"unit_of_measurement": "kWh"})
    await asyncio.sleep(0.3)
    broker.start()
    after = Watcher(broker)
    await after.start("orge/#")
    try:
        assert await after.until(f"{BASE}/availability", b"online")
        assert await after.until(f"{BASE}/input_boolean/test_flag/state", b"on")
        assert await after.until(f"{BASE}/sensor/meter_energy/state", b"10.7")
        await asyncio.sleep(0.3)
        # Every entity's current value is there again, and no intermediate one.
        for state in hub.states.async_all():
            if state.entity_id == "input_boolean.hidden_flag":
                continue
            domain, _, object_id = state.entity_id.partition(".")
            topic = f"{BASE}/{domain}/{object_id}/state"
            assert after.last.get(topic) == str(state.state).encode(), topic
        energy = [p for t, p, _r in after.messages if t == f"{BASE}/sensor/meter_energy/state"]
        assert energy == [b"10.7"]
        flag = [p for t, p, _r in after.messages if t.endswith("input_boolean/test_flag/state")]
        assert flag == [b"on"]
        assert hub.states.get("binary_sensor.mqtt_connected").attributes["connects"] == 2
    finally:
        await after.stop()


async def test_last_will_fires_when_orge_run_is_killed(broker: Broker, tmp_path: Path) -> None:
    """A real `orge run` killed with SIGKILL: the broker publishes its will `offline`."""
    (tmp_path / "secrets.yaml").write_text(f"mqtt_password: {PASSWORD}\n")
    (tmp_path / "configuration.yaml").write_text(
        f"orge:\n  station_id: {STATION}\ninput_boolean:\n  test_flag:\n"
        f"mqtt:\n  broker: 127.0.0.1\n  port: {broker.port}\n  username: {USER}\n"
        "  password: !secret mqtt_password\n  keepalive: 60\n"
    )
    seen = Watcher(broker)
    await seen.start("orge/#")
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "orge", "run", "-c", str(tmp_path),
            cwd=REPO, stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    try:
        assert await seen.until(f"{BASE}/availability", b"online", timeout=30)
        assert await seen.until(f"{BASE}/input_boolean/test_flag/state", b"off")
        proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 20)
        # Not after the keepalive (60 s): the broker sees the socket close and sends the will.
        assert await seen.until(f"{BASE}/availability", b"offline", timeout=5)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await seen.stop()
    # Retained: a Home Assistant that connects later sees the station offline too.
    later = Watcher(broker)
    await later.start(f"{BASE}/availability")
    try:
        assert await later.until(f"{BASE}/availability", b"offline")
        assert later.messages[0][2] is True
    finally:
        await later.stop()
    text = log.read_text()
    assert PASSWORD not in text
    assert "Traceback" not in text, text[-2000:]


async def test_clean_stop_says_offline_and_removal_clears(
    broker: Broker, watcher: Watcher, config_dir: Callable[..., Path], start_station: Any
) -> None:
    """An entity removed clears its retained topics and its discovery; a clean stop
    publishes `offline` itself (the will only fires on an unclean end)."""
    hub = await start(broker, config_dir, start_station)
    hub.states.async_set("sensor.spare", "1", {"unit_of_measurement": "W", "device_class": "power"})
    config_topic = f"homeassistant/sensor/{STATION}/spare/config"
    assert json.loads(await watcher.until(config_topic))["device_class"] == "power"
    await watcher.until(f"{BASE}/sensor/spare/state", b"1")
    hub.states.async_remove("sensor.spare")
    await watcher.until(f"{BASE}/sensor/spare/state", b"")
    await watcher.until(f"{BASE}/sensor/spare/attributes", b"")
    await watcher.until(config_topic, b"")
    await watcher.until(f"{BASE}/availability", b"online")
    await hub.async_stop()
    assert await watcher.until(f"{BASE}/availability", b"offline")


async def test_commands_beyond_the_in_flight_bound_are_refused(
    broker: Broker, watcher: Watcher, config_dir: Callable[..., Path], start_station: Any
) -> None:
    """A flood of commands on a slow service: 32 run, the rest are answered `busy`."""
    from components.mqtt.commands import MAX_IN_FLIGHT

    path = config_dir(
        f"orge:\n  station_id: {STATION}\nmqtt:\n  broker: 127.0.0.1\n  port: {broker.port}\n"
        f"  username: {USER}\n  password: {PASSWORD}\n  allowed_services: [fleet.slow]\n"
    )
    hub, _result = await start_station(path)
    release = asyncio.Event()
    started: list[int] = []

    async def slow(call: Any) -> None:
        started.append(call.data["n"])
        await release.wait()

    hub.services.async_register("fleet", "slow", slow)
    await watcher.until(f"{BASE}/availability", b"online")
    for n in range(MAX_IN_FLIGHT + 5):
        body = {"id": n, "domain": "fleet", "service": "slow", "data": {"n": n}}
        await watcher.publish(f"{BASE}/command", json.dumps(body).encode())

    def answers() -> list[dict[str, Any]]:
        return [json.loads(p) for t, p, _r in watcher.messages if t == f"{BASE}/response"]

    await until(lambda: len(answers()) == 5)
    assert all(a["error"]["code"] == "busy" and a["id"] is None for a in answers())
    assert sorted(started) == list(range(MAX_IN_FLIGHT))
    release.set()
    await until(lambda: len(answers()) == MAX_IN_FLIGHT + 5)
    assert sorted(a["id"] for a in answers() if a["success"]) == list(range(MAX_IN_FLIGHT))
    assert hub.states.get("sensor.mqtt_rejected_commands").attributes["busy"] == 5
