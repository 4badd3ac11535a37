"""Entities: ids, states, customize, availability, and the domain services routed to them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from orge.core import Context, Orge
from orge.entity import (
    BinarySensorEntity,
    ButtonEntity,
    NumberEntity,
    SelectEntity,
    SensorEntity,
    SwitchEntity,
    async_add_entities,
    entity_component,
)
from orge.exceptions import OrgeError, ServiceValidationError
from orge.testing.clock import async_fire_time_changed


class Temperature(SensorEntity):
    _attr_name = "Board temperature"
    _attr_unit_of_measurement = "°C"
    _attr_device_class = "temperature"
    _attr_should_poll = False

    def __init__(self) -> None:
        self.reads = 0
        self._attr_state = 41.5

    async def async_update(self) -> None:
        self.reads += 1
        self._attr_state = 42.25


class Relay(SwitchEntity):
    _attr_name = "Relay"
    _attr_is_on = False

    async def async_turn_on(self, **kwargs: Any) -> None:
        self._attr_is_on = True

    async def async_turn_off(self, **kwargs: Any) -> None:
        self._attr_is_on = False


class MaxCurrent(NumberEntity):
    _attr_name = "Max current"
    _attr_native_min_value = 6
    _attr_native_max_value = 32
    _attr_native_value = 16.0
    _attr_unit_of_measurement = "A"

    async def async_set_native_value(self, value: float) -> None:
        self._attr_native_value = value


class Refresh(ButtonEntity):
    _attr_name = "Refresh"
    presses = 0

    async def async_press(self) -> None:
        self.presses += 1


class Mode(SelectEntity):
    _attr_name = "Mode"
    _attr_options = ["eco", "fast"]
    _attr_current_option = "eco"

    async def async_select_option(self, option: str) -> None:
        self._attr_current_option = option


async def test_ids_states_and_attributes(orge: Orge) -> None:
    orge.config.customize = {"sensor.board_temperature": {"friendly_name": "Pi board"}}
    first, second = Temperature(), Temperature()
    await async_add_entities(orge, "power_monitor", [first, second])
    assert first.entity_id == "sensor.board_temperature"
    assert second.entity_id == "sensor.board_temperature_2"
    state = orge.states.get("sensor.board_temperature")
    assert state.state == "41.5"
    assert state.attributes == {
        "unit_of_measurement": "°C",
        "device_class": "temperature",
        "friendly_name": "Pi board",
    }
    assert entity_component(orge, "sensor.board_temperature") == "power_monitor"
    await orge.services.async_call(
        "orge", "update_entity", {"entity_id": "sensor.board_temperature"}, blocking=True
    )
    assert first.reads == 1 and orge.states.get("sensor.board_temperature").state == "42.25"
    first._attr_available = False
    first.async_write_state()
    assert orge.states.get("sensor.board_temperature").state == "unavailable"


async def test_binary_sensor_and_unknown_state(orge: Orge) -> None:
    sensor = BinarySensorEntity()
    sensor._attr_name = "Plug"
    await async_add_entities(orge, "demo", [sensor])
    assert orge.states.get("binary_sensor.plug").state == "unknown"
    sensor._attr_is_on = True
    sensor.async_write_state()
    assert orge.states.get("binary_sensor.plug").state == "on"


async def test_switch_number_button_select_services(orge: Orge) -> None:
    relay, current, refresh, mode = Relay(), MaxCurrent(), Refresh(), Mode()
    await async_add_entities(orge, "demo", [relay, current, refresh, mode])
    context = Context()
    await orge.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.relay"}, blocking=True, context=context
    )
    state = orge.states.get("switch.relay")
    assert state.state == "on" and state.context is context
    await orge.services.async_call("switch", "toggle", {"entity_id": "switch.relay"}, blocking=True)
    assert orge.states.get("switch.relay").state == "off"

    number = orge.states.get("number.max_current")
    assert number.state == "16" and number.attributes["min"] == 6 and number.attributes["max"] == 32
    await orge.services.async_call(
        "number", "set_value", {"entity_id": "number.max_current", "value": 10}, blocking=True
    )
    assert orge.states.get("number.max_current").state == "10"
    with pytest.raises(ServiceValidationError, match="outside 6..32"):
        await orge.services.async_call(
            "number", "set_value", {"entity_id": "number.max_current", "value": 40}, blocking=True
        )

    assert orge.states.get("button.refresh").state == "unknown"
    await orge.services.async_call(
        "button", "press", {"entity_id": "button.refresh"}, blocking=True
    )
    assert refresh.presses == 1
    assert orge.states.get("button.refresh").state.endswith("+00:00")

    assert orge.states.get("select.mode").attributes["options"] == ["eco", "fast"]
    await orge.services.async_call(
        "select", "select_option", {"entity_id": "select.mode", "option": "fast"}, blocking=True
    )
    assert orge.states.get("select.mode").state == "fast"
    with pytest.raises(ServiceValidationError, match="not one of eco, fast"):
        await orge.services.async_call(
            "select",
            "select_option",
            {"entity_id": "select.mode", "option": "turbo"},
            blocking=True,
        )
    with pytest.raises(ServiceValidationError, match="switch.nothing not found"):
        await orge.services.async_call(
            "switch", "turn_on", {"entity_id": "switch.nothing"}, blocking=True
        )


async def test_explicit_id_collision_is_an_error(orge: Orge) -> None:
    relay = Relay()
    relay.entity_id = "switch.main"
    await async_add_entities(orge, "demo", [relay])
    again = Relay()
    again.entity_id = "switch.main"
    with pytest.raises(OrgeError, match="already taken"):
        await async_add_entities(orge, "demo", [again])


async def test_remove(orge: Orge) -> None:
    relay = Relay()
    await async_add_entities(orge, "demo", [relay])
    await relay.async_remove()
    assert orge.states.get("switch.relay") is None
    assert entity_component(orge, "switch.relay") is None


async def test_async_on_remove_runs_last_added_first_before_will_remove(orge: Orge) -> None:
    """Home Assistant's Entity.async_on_remove: the functions run at removal, the last
    added first, before async_will_remove_from_orge."""
    calls: list[str] = []

    class Tracked(Relay):
        async def async_will_remove_from_orge(self) -> None:
            calls.append("will_remove")

    relay = Tracked()
    relay.async_on_remove(lambda: calls.append("first"))
    relay.async_on_remove(lambda: calls.append("second"))
    await async_add_entities(orge, "demo", [relay])
    await relay.async_remove()
    assert calls == ["second", "first", "will_remove"]


async def test_polling_stops_when_the_entity_is_removed(orge: Orge) -> None:
    sensor = Temperature()
    sensor._attr_should_poll = True
    sensor.scan_interval = timedelta(seconds=30)
    await async_add_entities(orge, "demo", [sensor])
    await async_fire_time_changed(orge, 30)
    assert sensor.reads == 1
    assert orge.states.get("sensor.board_temperature").state == "42.25"
    await sensor.async_remove()
    await async_fire_time_changed(orge, 90)
    assert sensor.reads == 1
