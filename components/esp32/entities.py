"""Entities of the esp32 component. Every value comes from the latest STAT line.

Ids are `<domain>.<name>_<suffix>` with `name` from the config (default `charger`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orge.entity import BinarySensorEntity, Entity, NumberEntity, SensorEntity
from orge.exceptions import ServiceValidationError

from . import protocol as p
from .charger import Esp32Charger

Values = Callable[[Esp32Charger], Any]


class _Esp32Entity(Entity):
    # STAT fields the value and attributes depend on; None: not written on each STAT.
    stat_keys: frozenset[str] | None = None

    def __init__(self, charger: Esp32Charger, suffix: str, label: str) -> None:
        self.charger = charger
        settings = charger.settings
        self._attr_object_id = f"{settings.name}_{suffix}"
        self._attr_name = f"{settings.friendly} {label}"
        self._attr_unique_id = f"esp32_{settings.name}_{suffix}"

    @property
    def available(self) -> bool:
        return self.charger.available


class StatSensor(_Esp32Entity, SensorEntity):
    """A sensor computed from the latest STAT by `value` (and `attributes`)."""

    def __init__(
        self,
        charger: Esp32Charger,
        suffix: str,
        label: str,
        value: Values,
        attributes: Callable[[Esp32Charger], dict[str, Any] | None] | None = None,
        unit: str | None = None,
        device_class: str | None = None,
        icon: str | None = None,
        keys: tuple[str, ...] = (),
    ) -> None:
        super().__init__(charger, suffix, label)
        self.stat_keys = frozenset(keys)
        self._value = value
        self._attributes = attributes
        self._attr_unit_of_measurement = unit
        self._attr_device_class = device_class
        self._attr_icon = icon

    @property
    def native_value(self) -> Any:
        if self.charger.stat is None:
            return None
        return self._value(self.charger)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        if self._attributes is None or self.charger.stat is None:
            return None
        return self._attributes(self.charger)


class StatBinarySensor(_Esp32Entity, BinarySensorEntity):
    def __init__(
        self,
        charger: Esp32Charger,
        suffix: str,
        label: str,
        value: Callable[[Esp32Charger], bool | None],
        attributes: Callable[[Esp32Charger], dict[str, Any] | None] | None = None,
        device_class: str | None = None,
        keys: tuple[str, ...] = (),
    ) -> None:
        super().__init__(charger, suffix, label)
        self.stat_keys = frozenset(keys)
        self._value = value
        self._attributes = attributes
        self._attr_device_class = device_class

    @property
    def is_on(self) -> bool | None:
        if self.charger.stat is None:
            return None
        return self._value(self.charger)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        if self._attributes is None or self.charger.stat is None:
            return None
        return self._attributes(self.charger)


class LinkSensor(_Esp32Entity, BinarySensorEntity):
    """Serial link up/down; itself always available."""

    _attr_device_class = "connectivity"

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

    _attr_icon = "mdi:alert-circle-outline"
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

    _attr_native_min_value = p.MIN_CURRENT
    _attr_native_max_value = p.MAX_CURRENT
    _attr_native_step = 1
    _attr_mode = "box"
    _attr_unit_of_measurement = "A"
    _attr_device_class = "current"
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


def build_entities(charger: Esp32Charger) -> list[Entity]:
    c = charger
    link = LinkSensor(c, "link", "link")
    bad = BadLinesSensor(c, "bad_lines", "bad lines")
    c._link_entity, c._bad_lines_entity = link, bad
    return [
        StatSensor(
            c,
            "state",
            "state",
            lambda c: c.state_name,
            _state_attrs,
            icon="mdi:ev-station",
            keys=("STATE", "CP", "PB"),
        ),
        StatSensor(
            c,
            "cp_state",
            "CP state",
            lambda c: _opt_name(p.CP_NAMES, c.value("CP")),
            _cp_attrs,
            keys=("CP",),
        ),
        StatSensor(
            c,
            "cp_voltage",
            "CP voltage",
            _cp_volts,
            lambda c: {"raw_adc": c.value("CPV"), "estimated": True},
            unit="V",
            device_class="voltage",
            keys=("CPV",),
        ),
        StatSensor(
            c,
            "pp_state",
            "PP state",
            _pp_state,
            lambda c: {"code": c.value("PP"), "raw_adc": c.value("PPV")},
            keys=("PP", "PPV"),
        ),
        StatSensor(
            c,
            "cable_current",
            "cable current",
            lambda c: c.value("CABLE"),
            unit="A",
            device_class="current",
            keys=("CABLE",),
        ),
        StatSensor(c, "pwm", "PWM", lambda c: c.value("PWM"), _pwm_attrs, keys=("PWM",)),
        StatSensor(
            c,
            "power_board",
            "power board",
            lambda c: _opt_name(p.PB_NAMES, c.value("PB")),
            lambda c: {"code": c.value("PB")},
            keys=("PB",),
        ),
        StatBinarySensor(
            c,
            "relay",
            "relay",
            _relay,
            lambda c: {"rl_flag": c.value("RL")},
            device_class="power",
            keys=("RL", "STATE"),
        ),
        StatBinarySensor(
            c,
            "lock",
            "lock",
            _locked,
            lambda c: {"lock_flag": c.value("LOCK"), "motor_flag": c.value("MOTOR")},
            keys=("LOCK", "MOTOR", "STATE"),
        ),
        StatBinarySensor(c, "authorized", "authorized", _flag("AUTH"), keys=("AUTH",)),
        StatBinarySensor(c, "stop_requested", "stop requested", _flag("STOP"), keys=("STOP",)),
        link,
        MaxCurrentNumber(c, "max_current", "max current"),
        bad,
    ]
