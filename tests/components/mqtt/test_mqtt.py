"""mqtt against a real Mosquitto (tests/components/mqtt/conftest.py): states, attributes,
events, commands, discovery, TLS, a broker restart and the last will."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

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
