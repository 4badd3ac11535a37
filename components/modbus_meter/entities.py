"""Entities of modbus_meter: one sensor per register, the link, and the error counts.

Ids are `<domain>.<name>_<key>` with `name` from the config (default `meter`):
sensor.meter_energy, sensor.meter_power, binary_sensor.meter_link, sensor.meter_errors.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from orge.entity import BinarySensorEntity, Entity, SensorEntity

from .naming import ERRORS_KEY, LINK_KEY, object_id
from .reader import MeterReader
from .registers import Register


class _MeterEntity(Entity):
    def __init__(self, reader: MeterReader, name: str, key: str, label: str) -> None:
        self.reader = reader
        self._attr_object_id = object_id(name, key)
        self._attr_name = f"{name.replace('_', ' ').capitalize()} {label}"
        self._attr_unique_id = f"modbus_meter_{name}_{key}"


class RegisterSensor(_MeterEntity, SensorEntity):
    """A register's latest accepted value in its unit; unavailable while the meter is."""

    def __init__(self, reader: MeterReader, name: str, register: Register) -> None:
        super().__init__(reader, name, register.key, register.name)
        self.key = register.key
        self._attr_unit_of_measurement = register.unit_of_measurement
        self._attr_device_class = register.device_class
        self._attr_state_class = register.state_class

    @property
    def available(self) -> bool:
        return self.reader.available and self.key in self.reader.values

    @property
    def native_value(self) -> str | None:
        # str(): every digit of a meter reading (the engine's float format keeps only 6
        # significant ones, too few for a register above 999999).
        value = self.reader.values.get(self.key)
        return None if value is None else str(value)


class LinkSensor(_MeterEntity, BinarySensorEntity):
    """On while the meter answers; off after max_failures failed reads. Always available."""

    _attr_device_class = "connectivity"

    def __init__(self, reader: MeterReader, name: str) -> None:
        super().__init__(reader, name, LINK_KEY, "link")

    @property
    def is_on(self) -> bool:
        return self.reader.available

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        reader = self.reader
        config = reader.config
        last_read = (
            datetime.fromtimestamp(reader.last_read, UTC).isoformat()
            if reader.last_read is not None
            else None
        )
        return {
            "address": reader.where,
            "slave": config["slave"],
            "model": config.get("model", "registers"),
            "consecutive_failures": reader.failures,
            "last_error": reader.last_error,
            "last_read": last_read,
        }


class ErrorsSensor(_MeterEntity, SensorEntity):
    """Failed reads and refused readings since start, with a count per kind."""

    _attr_icon = "mdi:alert-circle-outline"
    _attr_state_class = "total_increasing"

    def __init__(self, reader: MeterReader, name: str) -> None:
        super().__init__(reader, name, ERRORS_KEY, "errors")

    @property
    def native_value(self) -> int:
        return sum(self.reader.errors.values())

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        reader = self.reader
        attributes: dict[str, Any] = dict(reader.errors)
        attributes["exception_codes"] = dict(reader.exception_codes)
        attributes["last_error"] = reader.last_error
        attributes["last_refused"] = dict(reader.last_refused) if reader.last_refused else None
        return attributes


def build_entities(reader: MeterReader, name: str) -> list[Entity]:
    entities: list[Entity] = [RegisterSensor(reader, name, r) for r in reader.registers]
    entities += [LinkSensor(reader, name), ErrorsSensor(reader, name)]
    return entities
