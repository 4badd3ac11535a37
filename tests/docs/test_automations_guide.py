"""docs/automations.md stays true: each example, as written, is loaded from a config dir's
automations.yaml into a started station (`start_station`), its entities are driven, the
controllable clock is moved for `for:` and the time of day, and the service call or state
the guide promises is checked.

The esp32, modbus_meter and ngrok entities are set on the state machine with the ids
those components create (the guide's table), so each example runs without hardware;
`esp32.*` services are recorded (`async_mock_service`), `number.charger_max_current` is a
number entity with the controller's range and `persistent_notification` is the real one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orge.core import Orge
from orge.entity import NumberEntity, async_add_entities
from orge.testing import (
    ControlledClock,
    assert_state,
    async_fire_time_changed,
    async_mock_service,
)

from .snippets import snippets, unmarked_blocks

GUIDE = "automations.md"
SNIPPETS = snippets(GUIDE)

STATION = """
orge:
  time_zone: UTC
automation: !include automations.yaml
persistent_notification:
"""

# the esp32 component on orge.testing's simulated controller, fast timings
ESP32 = """
esp32:
  port: {port}
  status_interval: 0.5
  session_status_interval: 0.2
  ack_timeout: 0.4
  max_current: 16
"""

Start = Callable[[str], Any]


@pytest.fixture
def station(config_dir: Callable[..., Path], start_station: Any) -> Start:
    async def start(example: str) -> Orge:
        path = config_dir(STATION, {"automations.yaml": SNIPPETS[example].text})
        hub, result = await start_station(path)
        assert result.errors == {}
        assert hub.states.get(f"automation.{example}") is not None
        return hub

    return start


async def step(hub: Orge, entity_id: str, state: str) -> None:
    hub.states.async_set(entity_id, state)
    await hub.async_block_till_done()


def test_every_yaml_block_is_a_tested_example() -> None:
    assert unmarked_blocks(GUIDE) == []
    assert set(SNIPPETS) == {
        "free_charging_hours",
        "derate_on_under_voltage",
        "notify_on_fault",
        "stop_on_tunnel_loss",
    }, "a new example needs its test here"
    for name, snippet in SNIPPETS.items():
        [automation] = snippet.yaml()
        assert automation["id"] == name  # the automation's entity is automation.<id>


def _next(hour: int, minute: int = 0) -> datetime:
    """The next moment (after now, UTC) at hour:minute."""
    now = datetime.fromtimestamp(time.time(), UTC)
    moment = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return moment if moment > now else moment + timedelta(days=1)


async def test_free_charging_hours(orge_clock: ControlledClock, station: Start) -> None:
    orge_clock.advance(_next(21).timestamp() - time.time())  # 21:00 UTC
    hub = await station("free_charging_hours")
    authorize = async_mock_service(hub, "esp32", "authorize")
    await step(hub, "sensor.charger_state", "idle")

    await step(hub, "sensor.charger_state", "cable_detect")  # 21:00: not free yet
    assert authorize == []
    await async_fire_time_changed(hub, _next(22))
    assert len(authorize) == 1  # the waiting vehicle, at 22:00
    await step(hub, "sensor.charger_state", "charging")
    await step(hub, "sensor.charger_state", "idle")

    await async_fire_time_changed(hub, _next(23))
    await step(hub, "sensor.charger_state", "ev_connected")  # 23:00: free
    assert len(authorize) == 2
    await step(hub, "sensor.charger_state", "idle")

    await async_fire_time_changed(hub, _next(6, 30))
    await step(hub, "sensor.charger_state", "cable_detect")  # 06:30: not free any more
    assert len(authorize) == 2


class ControllerLimit(NumberEntity):
    """number.charger_max_current as esp32 makes it: 6..32 A in whole amperes."""

    _attr_object_id = "charger_max_current"
    _attr_name = "Charger max current"
    _attr_native_min_value = 6
    _attr_native_max_value = 32
    _attr_unit_of_measurement = "A"
    _attr_native_value = 16

    async def async_set_native_value(self, value: float) -> None:
        self._attr_native_value = value
        self.async_write_state()


async def test_derate_on_under_voltage(station: Start) -> None:
    hub = await station("derate_on_under_voltage")
    await async_add_entities(hub, "esp32", [ControllerLimit()])
    await step(hub, "sensor.meter_voltage_l1", "231.2")
    assert_state(hub, "number.charger_max_current", "16")

    await step(hub, "sensor.meter_voltage_l1", "205.0")
    await async_fire_time_changed(hub, 59)
    assert_state(hub, "number.charger_max_current", "16")
    await async_fire_time_changed(hub, 1)
    assert_state(hub, "number.charger_max_current", "10")

    await step(hub, "sensor.meter_voltage_l1", "225.0")
    await async_fire_time_changed(hub, timedelta(minutes=4, seconds=59))
    assert_state(hub, "number.charger_max_current", "10")
    await async_fire_time_changed(hub, 1)
    assert_state(hub, "number.charger_max_current", "16")


async def _until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Real time: the controller answers over a real pty."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _state_is(hub: Orge, entity_id: str, state: str) -> Callable[[], bool]:
    return lambda: (current := hub.states.get(entity_id)) is not None and current.state == state


def _state_is_attr(hub: Orge, entity_id: str, name: str, value: Any) -> Callable[[], bool]:
    return lambda: (
        (current := hub.states.get(entity_id)) is not None
        and (current.attributes.get(name) == value)
    )


async def test_derate_on_under_voltage_with_the_controller(
    config_dir: Callable[..., Path], start_station: Any, esp32_simulator: Any
) -> None:
    """The same example against the esp32 component on the simulated controller: the
    limit reaches the controller outside a session and is refused in one, which the
    automation survives (`continue_on_error`)."""
    sim = esp32_simulator
    path = config_dir(
        STATION + ESP32.format(port=sim.port),
        {"automations.yaml": SNIPPETS["derate_on_under_voltage"].text},
    )
    hub, result = await start_station(path)
    assert result.problems == []
    await _until(_state_is(hub, "number.charger_max_current", "16"), "the start limit")

    await step(hub, "sensor.meter_voltage_l1", "205.0")
    await async_fire_time_changed(hub, 60)
    await _until(lambda: sim.max_current == 10, "SETMAXAMP 10 at the controller")
    await _until(_state_is(hub, "number.charger_max_current", "10"), "the limit read back")

    sim.vehicle_ready()
    await _until(_state_is(hub, "sensor.charger_state", "ev_connected"), "ev_connected")
    await hub.services.async_call("esp32", "authorize", {}, blocking=True)
    sim.vehicle_charging()
    await _until(_state_is(hub, "sensor.charger_state", "charging"), "charging")
    automation = "automation.derate_on_under_voltage"
    triggered = hub.states.get(automation).attributes["last_triggered"]
    await step(hub, "sensor.meter_voltage_l1", "225.0")
    await async_fire_time_changed(hub, timedelta(minutes=5))
    assert hub.states.get(automation).attributes["last_triggered"] != triggered  # it ran
    await _until(_state_is_attr(hub, automation, "current", 0), "the run's end")
    assert sim.max_current == 10  # refused during the session: the limit stays
    assert_state(hub, "sensor.charger_state", "charging")
    assert_state(hub, automation, "on")


async def test_notify_on_fault(station: Start) -> None:
    hub = await station("notify_on_fault")
    await step(hub, "sensor.charger_state", "charging")
    await step(hub, "sensor.charger_power_board", "no_earth")
    assert hub.states.get("persistent_notification.charger_fault") is None

    await step(hub, "sensor.charger_state", "fault")
    await hub.async_block_till_done()
    assert_state(
        hub,
        "persistent_notification.charger_fault",
        "notifying",
        {
            "title": "Charger fault",
            "message": "Charger fault (power board: no_earth); charging stopped.",
        },
    )


async def test_stop_on_tunnel_loss(station: Start) -> None:
    hub = await station("stop_on_tunnel_loss")
    stop = async_mock_service(hub, "esp32", "stop_charging")
    await step(hub, "binary_sensor.ngrok_agent", "on")
    await step(hub, "sensor.charger_state", "charging")

    await step(hub, "binary_sensor.ngrok_agent", "off")  # an agent restart: short
    await async_fire_time_changed(hub, timedelta(minutes=9, seconds=59))
    await step(hub, "binary_sensor.ngrok_agent", "on")
    await async_fire_time_changed(hub, timedelta(minutes=5))
    assert stop == []

    await step(hub, "binary_sensor.ngrok_agent", "off")  # lost
    await async_fire_time_changed(hub, timedelta(minutes=10))
    assert len(stop) == 1

    await step(hub, "sensor.charger_state", "idle")  # no session: nothing to stop
    await step(hub, "binary_sensor.ngrok_agent", "on")
    await step(hub, "binary_sensor.ngrok_agent", "off")
    await async_fire_time_changed(hub, timedelta(minutes=10))
    assert len(stop) == 1
