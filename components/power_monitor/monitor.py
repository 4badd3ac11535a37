"""The Pi's power supply watched continuously: entities and the problem event.

Entities (with `name: pi`):
- `binary_sensor.pi_under_voltage`, `pi_frequency_capped`, `pi_throttled`,
  `pi_soft_temperature_limit` (bits 0-3, now) and `pi_under_voltage_occurred`,
  `pi_frequency_capping_occurred`, `pi_throttling_occurred`,
  `pi_soft_temperature_limit_occurred` (bits 16-19, since boot), device class `problem`;
  `unavailable` when the source does not know the bit (hwmon knows only bit 0);
- `sensor.pi_throttled_flags`: the raw word, `0x50005`;
- `sensor.pi_cpu_temperature` (°C), `sensor.pi_core_voltage` (V, from vcgencmd only);
- `sensor.pi_under_voltage_messages`: kernel under-voltage messages since boot;
- `sensor.pi_power_monitor_source`: `sysfs`, `vcgencmd` or `hwmon` (the source that
  answered), `error` (none answered; `last_error`, `failures`) or `unsupported`.

Event `power_monitor_problem` `{"problems": ["under_voltage", ...], "throttled": "0x50005",
"source": "sysfs"}` when any "now" bit rises (including a first reading that finds it set).

Not a Raspberry Pi (no sysfs value, no vcgencmd, no rpi_volt hwmon): one log line, the
source sensor says `unsupported`, the others are `unavailable`, and nothing polls.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from orge.core import EVENT_ORGE_STOP, Orge, callback
from orge.entity import BinarySensorEntity, SensorEntity, async_add_entities
from orge.helpers.event import async_track_time_interval

from .sources import (
    ALL_BITS,
    SYSFS_THROTTLED,
    THERMAL_ZONE,
    UNDER_VOLTAGE_BIT,
    Command,
    KernelLog,
    SourceError,
    Throttled,
    find_hwmon_alarm,
    parse_hex_word,
    parse_temperature,
    parse_throttled,
    parse_volts,
    read_millidegrees,
    read_text,
)

_LOGGER = logging.getLogger(__name__)

# key: (bit, label) - labels after the firmware's own descriptions of get_throttled
FLAGS: dict[str, tuple[int, str]] = {
    "under_voltage": (0, "Under-voltage"),
    "frequency_capped": (1, "Frequency capped"),
    "throttled": (2, "Throttled"),
    "soft_temperature_limit": (3, "Soft temperature limit"),
    "under_voltage_occurred": (16, "Under-voltage occurred"),
    "frequency_capping_occurred": (17, "Frequency capping occurred"),
    "throttling_occurred": (18, "Throttling occurred"),
    "soft_temperature_limit_occurred": (19, "Soft temperature limit occurred"),
}
NOW_BITS = 0xF
EVENT_PROBLEM = "power_monitor_problem"
SOURCE_UNSUPPORTED = "unsupported"
SOURCE_ERROR = "error"


@dataclass
class Reading:
    """One poll's values; None where unknown, `errors` saying why."""

    throttled: Throttled | None = None
    temperature: float | None = None
    core_volts: float | None = None
    under_voltage_messages: int | None = None
    errors: dict[str, str] = field(default_factory=dict)


class FlagSensor(BinarySensorEntity):
    _attr_device_class = "problem"

    def __init__(self, monitor: PowerMonitor, key: str) -> None:
        bit, label = FLAGS[key]
        self._monitor = monitor
        self._mask = 1 << bit
        self._attr_name = f"{monitor.name} {label}"
        self._attr_object_id = f"{monitor.name}_{key}"

    @property
    def available(self) -> bool:
        throttled = self._monitor.reading.throttled
        return throttled is not None and bool(throttled.mask & self._mask)

    @property
    def is_on(self) -> bool | None:
        throttled = self._monitor.reading.throttled
        return None if throttled is None else bool(throttled.word & self._mask)


class ThrottledSensor(SensorEntity):
    def __init__(self, monitor: PowerMonitor) -> None:
        self._monitor = monitor
        self._attr_name = f"{monitor.name} Throttled flags"
        self._attr_object_id = f"{monitor.name}_throttled_flags"

    @property
    def available(self) -> bool:
        throttled = self._monitor.reading.throttled
        return throttled is not None and throttled.mask == ALL_BITS

    @property
    def native_value(self) -> str | None:
        throttled = self._monitor.reading.throttled
        return None if throttled is None else f"0x{throttled.word:x}"


class ValueSensor(SensorEntity):
    def __init__(
        self,
        monitor: PowerMonitor,
        key: str,
        label: str,
        unit: str | None,
        device_class: str | None,
        state_class: str,
    ) -> None:
        self._monitor = monitor
        self._key = key
        self._attr_name = f"{monitor.name} {label}"  # id: sensor.pi_cpu_temperature
        self._attr_unit_of_measurement = unit
        self._attr_device_class = device_class
        self._attr_state_class = state_class

    @property
    def available(self) -> bool:
        return getattr(self._monitor.reading, self._key) is not None

    @property
    def native_value(self) -> Any:
        return getattr(self._monitor.reading, self._key)


class SourceSensor(SensorEntity):
    _attr_icon = "mdi:power-plug"

    def __init__(self, monitor: PowerMonitor) -> None:
        self._monitor = monitor
        self._attr_name = f"{monitor.name} Power monitor source"
        self._attr_object_id = f"{monitor.name}_power_monitor_source"

    @property
    def native_value(self) -> str:
        if not self._monitor.sources:
            return SOURCE_UNSUPPORTED
        throttled = self._monitor.reading.throttled
        return throttled.source if throttled else SOURCE_ERROR

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        errors = self._monitor.reading.errors
        return {
            "sources": list(self._monitor.sources),
            "kernel_log": self._monitor.kernel_log.source,
            "last_error": "; ".join(f"{k}: {v}" for k, v in errors.items()) or None,
            "failures": self._monitor.failures,
        }


class PowerMonitor:
    """Reads every source each scan interval; a failing source makes its entities unavailable."""

    def __init__(self, orge: Orge, config: dict[str, Any]) -> None:
        self.orge = orge
        self.name: str = config["name"]
        self.interval = config["scan_interval"].total_seconds()
        root = config["sysfs_root"]
        timeout = config["command_timeout"].total_seconds()
        self.vcgencmd = Command(config["vcgencmd"], timeout)
        self.sysfs_throttled = os.path.join(root, SYSFS_THROTTLED)
        self.thermal_zone = os.path.join(root, THERMAL_ZONE)
        self.sysfs_root = root
        self.hwmon_alarm: str | None = None
        self.kernel_log = KernelLog(config["kernel_log"], timeout)
        self.sources: list[str] = []
        self.reading = Reading()
        self.failures = 0
        self._last_now_bits = 0
        self._entities: list[Any] = []
        self._busy = False

    def _detect_sources(self) -> None:
        """Which sources this machine has (blocking file checks: run in the executor)."""
        self.hwmon_alarm = find_hwmon_alarm(self.sysfs_root)
        if os.path.exists(self.sysfs_throttled):
            self.sources.append("sysfs")
        if self.vcgencmd.present():
            self.sources.append("vcgencmd")
        if self.hwmon_alarm is not None:
            self.sources.append("hwmon")

    async def async_start(self) -> None:
        await self.orge.async_add_executor_job(self._detect_sources)
        self._entities = [
            *(FlagSensor(self, key) for key in FLAGS),
            ThrottledSensor(self),
            ValueSensor(self, "temperature", "CPU temperature", "°C", "temperature", "measurement"),
            ValueSensor(self, "core_volts", "Core voltage", "V", "voltage", "measurement"),
            ValueSensor(
                self,
                "under_voltage_messages",
                "Under-voltage messages",
                None,
                None,
                "total_increasing",
            ),
            SourceSensor(self),
        ]
        await async_add_entities(self.orge, "power_monitor", self._entities)
        if not self.sources:
            _LOGGER.warning(
                "Power monitor unsupported: not a Raspberry Pi (no %s, no %s on PATH, "
                "no %s hwmon device); not polling",
                self.sysfs_throttled,
                self.vcgencmd.command,
                "rpi_volt",
            )
            return
        cancel = async_track_time_interval(self.orge, self._poll, self.interval)

        @callback
        def stop(_event: Any) -> None:
            cancel()
            self.kernel_log.close()

        self.orge.bus.async_listen_once(EVENT_ORGE_STOP, stop)
        self.orge.async_create_task(self.async_refresh())

    async def _poll(self, _now: float) -> None:
        if not self._busy:  # a hung vcgencmd must not pile up processes
            await self.async_refresh()

    async def _executor(self, func: Any, *args: Any) -> Any:
        return await self.orge.async_add_executor_job(func, *args)

    async def read_throttled(self) -> Throttled:
        """The word from the first source that answers, in order; SourceError if none does."""
        errors = []
        for source in self.sources:
            try:
                if source == "sysfs":
                    text = await self._executor(read_text, self.sysfs_throttled)
                    return Throttled(parse_hex_word(text), ALL_BITS, source)
                if source == "vcgencmd":
                    text = await self.vcgencmd.run("get_throttled")
                    return Throttled(parse_throttled(text), ALL_BITS, source)
                assert self.hwmon_alarm is not None  # "hwmon" is a source only if found
                text = (await self._executor(read_text, self.hwmon_alarm)).strip()
                if text not in ("0", "1"):
                    raise SourceError(f"unexpected in0_lcrit_alarm value {text[:20]!r}")
                return Throttled(int(text), UNDER_VOLTAGE_BIT, source)
            except SourceError as err:
                errors.append(str(err))
        raise SourceError("; ".join(errors))

    async def read_temperature(self) -> float:
        if os.path.exists(self.thermal_zone) or "vcgencmd" not in self.sources:
            return float(await self._executor(read_millidegrees, self.thermal_zone))
        return parse_temperature(await self.vcgencmd.run("measure_temp"))

    async def async_refresh(self) -> None:
        """Read every value now and update the entities; never raises."""
        self._busy = True
        try:
            reading = Reading()
            steps: list[tuple[str, Any]] = [
                ("throttled", self.read_throttled),
                ("temperature", self.read_temperature),
                ("under_voltage_messages", lambda: self.kernel_log.read(self.orge.loop)),
            ]
            if "vcgencmd" in self.sources:
                steps.append(("core_volts", self._core_volts))
            for key, read in steps:
                try:
                    setattr(reading, key, await read())
                except SourceError as err:
                    reading.errors[key] = str(err)
            if reading.throttled is None:
                self.failures += 1
            for key, error in reading.errors.items():
                if self.reading.errors.get(key) != error:  # once, not once per poll
                    _LOGGER.warning("Power monitor: %s", error)
            self._update(reading)
        finally:
            self._busy = False

    async def _core_volts(self) -> float:
        return parse_volts(await self.vcgencmd.run("measure_volts", "core"))

    def _update(self, reading: Reading) -> None:
        self.reading = reading
        now = reading.throttled
        if now is not None:
            # against the last word read, so a source failing in between does not re-announce
            risen = now.word & now.mask & NOW_BITS & ~self._last_now_bits
            self._last_now_bits = now.word & now.mask & NOW_BITS
            if risen:
                problems = [key for key, (bit, _label) in FLAGS.items() if risen >> bit & 1]
                _LOGGER.warning(
                    "Raspberry Pi reports %s (throttled=0x%x, from %s)",
                    ", ".join(problems),
                    now.word,
                    now.source,
                )
                self.orge.bus.async_fire(
                    EVENT_PROBLEM,
                    {"problems": problems, "throttled": f"0x{now.word:x}", "source": now.source},
                )
        for entity in self._entities:
            entity.async_write_state()
