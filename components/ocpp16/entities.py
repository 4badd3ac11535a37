"""The link's entities: connection state, protocol, last error, queue length."""

from __future__ import annotations

from typing import Any

from orge.entity import SensorEntity


class LinkSensor(SensorEntity):
    """A sensor the station runtime writes; `set()` only writes on change."""

    def __init__(self, name: str, object_id: str, icon: str, unit: str | None = None) -> None:
        self._attr_name = name
        self._attr_object_id = object_id
        self._attr_icon = icon
        self._attr_unit_of_measurement = unit
        self._attr_extra_state_attributes = {}

    def set(self, value: Any, **attributes: Any) -> None:
        if value == self._attr_state and attributes == self._attr_extra_state_attributes:
            return
        self._attr_state = value
        self._attr_extra_state_attributes = attributes
        if self.orge is not None and self.entity_id is not None:
            self.async_write_state()


def make_sensors() -> dict[str, LinkSensor]:
    sensors = {
        "connection": LinkSensor("OCPP 1.6 connection", "ocpp16_connection", "mdi:lan-connect"),
        "protocol": LinkSensor("OCPP 1.6 protocol", "ocpp16_protocol", "mdi:swap-horizontal"),
        "last_error": LinkSensor("OCPP 1.6 last error", "ocpp16_last_error", "mdi:alert-circle"),
        "queue": LinkSensor("OCPP 1.6 queue length", "ocpp16_queue", "mdi:tray-full", "messages"),
    }
    sensors["connection"]._attr_state = "disconnected"
    sensors["protocol"]._attr_state = "none"
    sensors["last_error"]._attr_state = "none"
    sensors["queue"]._attr_state = 0
    sensors["queue"]._attr_state_class = "measurement"
    return sensors
