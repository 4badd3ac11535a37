"""Entities of the esp32 component. Every value comes from the latest STAT line.

Ids are `<domain>.<name>_<suffix>` with `name` from the config (default `charger`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orge.entity import BinarySensorEntity, Entity, NumberEntity, SensorEntity
from orge.exceptions import ServiceValidationError

from . import protocol as p
from .charger import Esp32Charger
from .const import MAX_CURRENT, MIN_CURRENT

Attributes = Callable[[Esp32Charger], dict[str, Any] | None]


@dataclass(frozen=True, kw_only=True)
class Esp32EntityDescription:
    """What one entity is, apart from the charger it reads (Home Assistant's
    `EntityDescription`, helpers/entity.py): its id is `<domain>.<name>_<key>`, its unique
    id `esp32_<name>_<key>`, its name the charger's friendly name and `name`."""

    key: str
    name: str
    icon: str | None = None
    device_class: str | None = None
    unit_of_measurement: str | None = None


@dataclass(frozen=True, kw_only=True)
class Esp32SensorEntityDescription(Esp32EntityDescription):
    """A sensor computed from the latest STAT: `value_fn(charger)` is its state,
    `attributes_fn(charger)` its extra attributes; `stat_keys` the STAT fields they read
    (the entity is written when one of them changes)."""

    value_fn: Callable[[Esp32Charger], Any]
    attributes_fn: Attributes | None = None
    state_class: str | None = None
    stat_keys: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Esp32BinarySensorEntityDescription(Esp32EntityDescription):
    """A binary sensor computed from the latest STAT: `is_on_fn(charger)` (None: unknown)."""

    is_on_fn: Callable[[Esp32Charger], bool | None]
    attributes_fn: Attributes | None = None
    stat_keys: tuple[str, ...]


class _Esp32Entity(Entity):
    # STAT fields the value and attributes depend on; None: not written on each STAT.
    stat_keys: frozenset[str] | None = None

    def __init__(self, charger: Esp32Charger, description: Esp32EntityDescription) -> None:
        self.charger = charger
        self.entity_description = description
        settings = charger.settings
        self._attr_object_id = f"{settings.name}_{description.key}"
        self._attr_name = f"{settings.friendly} {description.name}"
        self._attr_unique_id = f"esp32_{settings.name}_{description.key}"
        if description.icon is not None:
            self._attr_icon = description.icon
        if description.device_class is not None:
            self._attr_device_class = description.device_class
        if description.unit_of_measurement is not None:
            self._attr_unit_of_measurement = description.unit_of_measurement

    @property
    def available(self) -> bool:
        return self.charger.available


class StatSensor(_Esp32Entity, SensorEntity):
    """A sensor computed from the latest STAT (its description says how)."""

    entity_description: Esp32SensorEntityDescription

    def __init__(self, charger: Esp32Charger, description: Esp32SensorEntityDescription) -> None:
        super().__init__(charger, description)
        self.stat_keys = frozenset(description.stat_keys)
        self._attr_state_class = description.state_class

    @property
    def native_value(self) -> Any:
        if self.charger.stat is None:
            return None
        return self.entity_description.value_fn(self.charger)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        attributes_fn = self.entity_description.attributes_fn
        if attributes_fn is None or self.charger.stat is None:
            return None
        return attributes_fn(self.charger)


class StatBinarySensor(_Esp32Entity, BinarySensorEntity):
    """A binary sensor computed from the latest STAT (its description says how)."""

    entity_description: Esp32BinarySensorEntityDescription

    def __init__(
        self, charger: Esp32Charger, description: Esp32BinarySensorEntityDescription
    ) -> None:
        super().__init__(charger, description)
        self.stat_keys = frozenset(description.stat_keys)

    @property
    def is_on(self) -> bool | None:
        if self.charger.stat is None:
            return None
        return self.entity_description.is_on_fn(self.charger)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        attributes_fn = self.entity_description.attributes_fn
        if attributes_fn is None or self.charger.stat is None:
            return None
        return attributes_fn(self.charger)


class LinkSensor(_Esp32Entity, BinarySensorEntity):
    """Serial link up/down; itself always available."""

    @property
    def available(self) -> bool:
        return True

    @property
    def is_on(self) -> bool:
        return self.charger.link.connected

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        link = self.charger.link
        return {
            "port": link.port,
            "last_error": link.last_error,
            "reboots": self.charger.reboots,
        }


class BadLinesSensor(_Esp32Entity, SensorEntity):
    """Lines skipped since start, with a count per kind; always available."""

    _attr_state_class = "total_increasing"

    @property
    def available(self) -> bool:
        return True

    @property
    def native_value(self) -> int:
        return self.charger.bad_total

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        charger = self.charger
        attributes: dict[str, Any] = dict(charger.bad_counts)
        attributes["stat_missing_fields"] = charger.stat_missing_fields
        attributes["stat_extra_fields"] = charger.stat_extra_fields
        attributes["last_bad_line"] = charger.last_bad_line
        return attributes


class MaxCurrentNumber(_Esp32Entity, NumberEntity):
    """The controller's current limit (MAX); setting it goes through the gated command."""

    _attr_native_min_value = MIN_CURRENT
    _attr_native_max_value = MAX_CURRENT
    _attr_native_step = 1
    _attr_mode = "box"
    stat_keys = frozenset({"MAX"})

    @property
    def native_value(self) -> float | None:
        return self.charger.value("MAX")

    async def async_set_native_value(self, value: float) -> None:
        if not float(value).is_integer():
            raise ServiceValidationError(
                f"Current limit refused: {value:g} A is not a whole number of amperes"
            )
        await self.charger.set_max_current(int(value))


def _state_attrs(c: Esp32Charger) -> dict[str, Any]:
    # cp and pb ride along so a consumer (OCPP's status mapping, §10) reads one entity.
    return {"code": c.state, "cp": c.value("CP"), "pb": c.value("PB")}


def _cp_attrs(c: Esp32Charger) -> dict[str, Any]:
    return {"code": c.value("CP")}


def _cp_volts(c: Esp32Charger) -> float | None:
    raw = c.value("CPV")
    return None if raw is None else p.cp_volts(raw)


def _pp_state(c: Esp32Charger) -> str | None:
    pp = c.value("PP")
    return None if pp is None else ("cable" if pp == 1 else "no_cable")


def _pwm_attrs(c: Esp32Charger) -> dict[str, Any]:
    pwm = c.value("PWM")
    if pwm is None:
        return {}
    return {
        "duty_cycle": p.pwm_duty_percent(pwm),
        "offered_current": p.pwm_offered_current(pwm),
    }


def _opt_name(table: dict[int, str], value: int | None) -> str | None:
    return None if value is None else table.get(value, f"code_{value}")


def _flag(key: str) -> Callable[[Esp32Charger], bool | None]:
    def value(c: Esp32Charger) -> bool | None:
        raw = c.value(key)
        return None if raw is None else raw == 1

    return value


def _relay(c: Esp32Charger) -> bool | None:
    # RL is a bookkeeping flag that stays 1 in PAUSED with the relay open (Q12).
    rl = c.value("RL")
    return None if rl is None else (rl == 1 and c.state != p.STATE_PAUSED)


def _locked(c: Esp32Charger) -> bool:
    # LOCK is a sequence flag, not the position (§5.2); the connector is locked from
    # READY through CHARGING and PAUSED and unlocked on STOPPED/FAULT (§6.3).
    return c.state in (p.STATE_READY, p.STATE_CHARGING, p.STATE_PAUSED)


SENSORS: tuple[Esp32SensorEntityDescription, ...] = (
    Esp32SensorEntityDescription(
        key="state",
        name="state",
        icon="mdi:ev-station",
        value_fn=lambda c: c.state_name,
        attributes_fn=_state_attrs,
        stat_keys=("STATE", "CP", "PB"),
    ),
    Esp32SensorEntityDescription(
        key="cp_state",
        name="CP state",
        value_fn=lambda c: _opt_name(p.CP_NAMES, c.value("CP")),
        attributes_fn=_cp_attrs,
        stat_keys=("CP",),
    ),
    Esp32SensorEntityDescription(
        key="cp_voltage",
        name="CP voltage",
        device_class="voltage",
        unit_of_measurement="V",
        value_fn=_cp_volts,
        attributes_fn=lambda c: {"raw_adc": c.value("CPV"), "estimated": True},
        stat_keys=("CPV",),
    ),
    Esp32SensorEntityDescription(
        key="pp_state",
        name="PP state",
        value_fn=_pp_state,
        attributes_fn=lambda c: {"code": c.value("PP"), "raw_adc": c.value("PPV")},
        stat_keys=("PP", "PPV"),
    ),
    Esp32SensorEntityDescription(
        key="cable_current",
        name="cable current",
        device_class="current",
        unit_of_measurement="A",
        value_fn=lambda c: c.value("CABLE"),
        stat_keys=("CABLE",),
    ),
    Esp32SensorEntityDescription(
        key="pwm",
        name="PWM",
        value_fn=lambda c: c.value("PWM"),
        attributes_fn=_pwm_attrs,
        stat_keys=("PWM",),
    ),
    Esp32SensorEntityDescription(
        key="power_board",
        name="power board",
        value_fn=lambda c: _opt_name(p.PB_NAMES, c.value("PB")),
        attributes_fn=lambda c: {"code": c.value("PB")},
        stat_keys=("PB",),
    ),
)

BINARY_SENSORS: tuple[Esp32BinarySensorEntityDescription, ...] = (
    Esp32BinarySensorEntityDescription(
        key="relay",
        name="relay",
        device_class="power",
        is_on_fn=_relay,
        attributes_fn=lambda c: {"rl_flag": c.value("RL")},
        stat_keys=("RL", "STATE"),
    ),
    Esp32BinarySensorEntityDescription(
        key="lock",
        name="lock",
        is_on_fn=_locked,
        attributes_fn=lambda c: {"lock_flag": c.value("LOCK"), "motor_flag": c.value("MOTOR")},
        stat_keys=("LOCK", "MOTOR", "STATE"),
    ),
    Esp32BinarySensorEntityDescription(
        key="authorized", name="authorized", is_on_fn=_flag("AUTH"), stat_keys=("AUTH",)
    ),
    Esp32BinarySensorEntityDescription(
        key="stop_requested", name="stop requested", is_on_fn=_flag("STOP"), stat_keys=("STOP",)
    ),
)

LINK_SENSOR = Esp32EntityDescription(key="link", name="link", device_class="connectivity")
MAX_CURRENT_NUMBER = Esp32EntityDescription(
    key="max_current", name="max current", device_class="current", unit_of_measurement="A"
)
BAD_LINES_SENSOR = Esp32EntityDescription(
    key="bad_lines", name="bad lines", icon="mdi:alert-circle-outline"
)


def build_entities(charger: Esp32Charger) -> list[Entity]:
    """The charger's entities, in the order they are added (ids as in the tables)."""
    link = LinkSensor(charger, LINK_SENSOR)
    bad = BadLinesSensor(charger, BAD_LINES_SENSOR)
    charger._link_entity, charger._bad_lines_entity = link, bad
    return [
        *(StatSensor(charger, description) for description in SENSORS),
        *(StatBinarySensor(charger, description) for description in BINARY_SENSORS),
        link,
        MaxCurrentNumber(charger, MAX_CURRENT_NUMBER),
        bad,
    ]
