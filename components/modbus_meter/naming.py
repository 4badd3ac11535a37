"""Entity ids of modbus_meter, in one place for the entities and for check-config:
`sensor.<name>_<register key>`, `binary_sensor.<name>_link`, `sensor.<name>_errors`."""

from __future__ import annotations

from collections.abc import Iterable

from .registers import Register

LINK_KEY = "link"  # binary_sensor
ERRORS_KEY = "errors"  # sensor: a register key may not take this one


def object_id(name: str, key: str) -> str:
    return f"{name}_{key}"


def entity_ids(name: str, registers: Iterable[Register]) -> set[str]:
    ids = {f"sensor.{object_id(name, register.key)}" for register in registers}
    ids.add(f"binary_sensor.{object_id(name, LINK_KEY)}")
    ids.add(f"sensor.{object_id(name, ERRORS_KEY)}")
    return ids
