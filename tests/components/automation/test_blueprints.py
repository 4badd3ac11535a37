"""The shipped blueprints end to end (fake esp32 and number services), and bad inputs."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

import orge.validation as cv
from orge.core import ServiceCall, callback
from orge.setup import check_configuration
from orge.testing import async_fire_time_changed


def hhmmss(delta: timedelta) -> str:
    return (datetime.now() + delta).strftime("%H:%M:%S")


def free_hours(start: timedelta, end: timedelta) -> str:
    return f"""
    automation:
      - id: free_hours
        use_blueprint:
          path: orge/free_hours_authorize.yaml
          input:
            free_from: "{hhmmss(start)}"
            free_until: "{hhmmss(end)}"
    """


async def test_free_hours_authorize_on_plug_in(station: Any) -> None:
    hub, fakes, _path = await station(free_hours(timedelta(hours=-1), timedelta(hours=1)))
    fakes.add("esp32", "authorize")
    hub.states.async_set("sensor.charger_state", "idle")
    hub.states.async_set("sensor.charger_state", "charging")
    await hub.async_block_till_done()
    assert fakes.names() == []
    hub.states.async_set("sensor.charger_state", "cable_detect")
    await hub.async_block_till_done()
    assert fakes.names() == ["esp32.authorize"]
    hub.states.async_set("sensor.charger_state", "ev_connected")
    await hub.async_block_till_done()
    assert fakes.names() == ["esp32.authorize"] * 2
    assert hub.states.get("automation.free_hours").attributes["friendly_name"] == "free_hours"


async def test_free_hours_outside_window_and_window_start(station: Any) -> None:
    start = (datetime.now() + timedelta(seconds=2)).replace(microsecond=0)
    hub, fakes, _path = await station(free_hours(start - datetime.now(), timedelta(hours=1)))
    fakes.add("esp32", "authorize")
    hub.states.async_set("sensor.charger_state", "ev_connected")  # before the free hours
    await hub.async_block_till_done()
    assert fakes.names() == []
    # the free hours start with the vehicle still plugged in
    await asyncio.sleep((start - datetime.now()).total_seconds() + 0.6)
    await hub.async_block_till_done()
    assert fakes.names() == ["esp32.authorize"]


LIMIT = """
automation:
  - id: current_limit
    use_blueprint:
      path: orge/current_limit.yaml
      input:
        under_voltage_sensor: binary_sensor.pi_under_voltage
        reduced_current: 10
        normal_current: 32
        window_start: "{start}"
        window_end: "{end}"
"""


def fake_number(hub: Any, fakes: Any) -> None:
    """number.set_value as the esp32 component provides it: records and writes the state."""

    @callback
    def set_value(call: ServiceCall) -> None:
        fakes.calls.append(("number.set_value", dict(call.data)))
        if "number.set_value" in fakes.refuse:
            from orge.exceptions import ServiceValidationError

            raise ServiceValidationError("refused during a session")
        for entity_id in cv.entity_ids(call.data["entity_id"]):
            hub.states.async_set(entity_id, str(int(call.data["value"])))

    hub.services.async_register("number", "set_value", set_value)


async def test_current_limit_follows_under_voltage(station: Any) -> None:
    hub, fakes, _path = await station(
        LIMIT.format(start=hhmmss(timedelta(hours=2)), end=hhmmss(timedelta(hours=3)))
    )
    fake_number(hub, fakes)
    hub.states.async_set("number.charger_max_current", "32")
    hub.states.async_set("binary_sensor.pi_under_voltage", "off")
    await hub.async_block_till_done()
    hub.states.async_set("binary_sensor.pi_under_voltage", "on")
    await hub.async_block_till_done()
    assert hub.states.get("number.charger_max_current").state == "10"
    hub.states.async_set("binary_sensor.pi_under_voltage", "off")
    await hub.async_block_till_done()
    assert hub.states.get("number.charger_max_current").state == "32"
    # the sensor's first state (off) counts as a change too
    assert [(data["entity_id"], data["value"]) for _n, data in fakes.calls] == [
        ("number.charger_max_current", 32),
        ("number.charger_max_current", 10),
        ("number.charger_max_current", 32),
    ]


async def test_current_limit_window_and_refusal(station: Any) -> None:
    hub, fakes, _path = await station(
        LIMIT.format(start=hhmmss(timedelta(hours=-1)), end=hhmmss(timedelta(hours=1)))
    )
    fake_number(hub, fakes)
    hub.states.async_set("binary_sensor.pi_under_voltage", "off")
    await hub.services.async_call(
        "automation", "trigger", {"entity_id": "automation.current_limit"}, blocking=True
    )
    assert hub.states.get("number.charger_max_current").state == "10"  # inside the window
    fakes.refuse.add("number.set_value")
    await hub.services.async_call(
        "automation", "trigger", {"entity_id": "automation.current_limit"}, blocking=True
    )
    answer = await hub.services.async_call(
        "automation", "get_traces", {}, blocking=True, return_response=True
    )
    last = answer["traces"]["automation.current_limit"][-1]
    assert last["script_execution"] == "finished"  # a refusal is logged, not fatal
    assert any("refused" in (step["error"] or "") for step in last["steps"])


FAULT = """
input_boolean:
  charger_alert: {}
automation:
  - id: fault_alert
    use_blueprint:
      path: orge/fault_alert.yaml
      input:
        fault_for: {seconds: 0.4}
        alert_flag: input_boolean.charger_alert
"""


async def test_fault_alert_stops_and_alerts(station: Any) -> None:
    hub, fakes, _path = await station(FAULT)
    fakes.add("esp32", "stop_charging")
    fakes.refuse.add("esp32.stop_charging")  # the controller refuses a stop in fault
    alerts: list[dict[str, Any]] = []
    hub.bus.async_listen("orge_charger_alert", callback(lambda e: alerts.append(dict(e.data))))
    hub.states.async_set("sensor.charger_state", "charging")
    hub.states.async_set("sensor.charger_state", "fault")
    await async_fire_time_changed(hub, 0.05)
    hub.states.async_set("sensor.charger_state", "hardfault_end")  # a blip: no alert
    await async_fire_time_changed(hub, 0.5)
    await hub.async_block_till_done()
    assert alerts == [] and fakes.names() == []
    hub.states.async_set("sensor.charger_state", "fault")
    await async_fire_time_changed(hub, 0.39)
    assert fakes.names() == []  # not yet: the fault has lasted 0.39 s of its 0.4
    await async_fire_time_changed(hub, 0.01)
    await hub.async_block_till_done()
    assert fakes.names() == ["esp32.stop_charging"]
    assert alerts == [
        {
            "entity_id": "sensor.charger_state",
            "state": "fault",
            "previous": "hardfault_end",
            "message": "Charge controller fault (fault); charging stopped",
        }
    ]
    assert hub.states.get("input_boolean.charger_alert").state == "on"


CUSTOM = """
blueprint:
  name: Notify
  domain: automation
  input:
    target_event:
      name: Event to fire
    sensor:
      default: sensor.x
      selector:
        entity: {domain: sensor}
triggers:
  - trigger: state
    entity_id: !input sensor
actions:
  - event: !input target_event
"""


async def test_custom_blueprint_from_config_dir(station: Any) -> None:
    hub, _fakes, _path = await station(
        """
        automation:
          - alias: Custom
            use_blueprint:
              path: mine/notify.yaml
              input: {target_event: sensor_moved}
        """,
        **{"blueprints/automation/mine/notify.yaml": CUSTOM},
    )
    seen: list[str] = []
    hub.bus.async_listen("sensor_moved", callback(lambda e: seen.append(e.event_type)))
    hub.states.async_set("sensor.x", "1")
    await hub.async_block_till_done()
    assert seen == ["sensor_moved"]


BAD = {
    "missing input": (
        "      input: {sensor: sensor.y}\n",
        "configuration.yaml, line 5",
        "needs input 'target_event', which is missing",
    ),
    "mistyped input": (
        "      input: {target_event: x, sensor: binary_sensor.y}\n",
        "configuration.yaml, line 5",
        "entity binary_sensor.y is not in domain sensor",
    ),
    "unknown input": (
        "      input:\n        target_event: x\n        sensr: sensor.z\n",
        "configuration.yaml, line 7",
        "has no input 'sensr'",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_blueprint_inputs_reported(config_dir: Any, case: str) -> None:
    inputs, where, what = BAD[case]
    text = (
        "automation:\n  - alias: Custom\n    use_blueprint:\n"
        "      path: mine/notify.yaml\n" + inputs
    )
    path = config_dir(text, **{"blueprints/automation/mine/notify.yaml": CUSTOM})
    problems = check_configuration(str(path)).problems
    assert len(problems) == 1, problems
    assert where in problems[0] and what in problems[0], problems[0]


def test_shipped_blueprints_and_example_config_check(config_dir: Any) -> None:
    path = config_dir(
        """
        automation:
          - use_blueprint: {path: orge/free_hours_authorize.yaml}
          - use_blueprint: {path: orge/current_limit.yaml}
          - use_blueprint: {path: orge/fault_alert.yaml}
          - use_blueprint: {path: ../../configuration.yaml}
        """
    )
    problems = check_configuration(str(path)).problems
    assert len(problems) == 1 and "not found" in problems[0]  # no escaping the folder
