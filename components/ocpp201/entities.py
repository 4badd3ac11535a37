"""The link's entities: connection state, active protocol, last error, queue length."""

from __future__ import annotations

from typing import Any

from orge.entity import SensorEntity, async_add_entities


class _LinkSensor(SensorEntity):
    def __init__(self, domain: str, key: str, name: str, icon: str, initial: Any) -> None:
        self._attr_object_id = f"{domain}_{key}"
        self._attr_name = name
        self._attr_icon = icon
        self._attr_state = initial

    def update(self, value: Any) -> None:
        if value != self._attr_state:
            self._attr_state = value
            if self.orge is not None and self.entity_id is not None:
                self.async_write_state()


class LinkSensors:
    """sensor.<domain>_connection / _protocol / _last_error / _queue."""

    def __init__(self, orge: Any, domain: str) -> None:
        self.orge = orge
        self.domain = domain
        label = "OCPP 2.0.1" if domain == "ocpp201" else "OCPP 1.6"
        self.connection = _LinkSensor(
            domain, "connection", f"{label} connection", "mdi:lan-connect", "disconnected"
        )
        self.protocol = _LinkSensor(
            domain, "protocol", f"{label} protocol", "mdi:swap-horizontal", "none"
        )
        self.error = _LinkSensor(
            domain, "last_error", f"{label} last error", "mdi:alert-circle-outline", "none"
        )
        self.queue = _LinkSensor(domain, "queue", f"{label} queue length", "mdi:tray-full", 0)
        self.queue._attr_unit_of_measurement = "messages"
        self.queue._attr_state_class = "measurement"

    async def async_add(self) -> None:
        await async_add_entities(
            self.orge, self.domain, [self.connection, self.protocol, self.error, self.queue]
        )

    def set_connection(self, value: str) -> None:
        self.connection.update(value)

    def set_protocol(self, value: str) -> None:
        self.protocol.update(value)

    def set_error(self, value: str) -> None:
        self.error.update(value[:250])

    def set_queue(self, value: int) -> None:
        self.queue.update(value)
