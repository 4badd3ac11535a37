"""Polling `vcgencmd` and turning its answers into entities and events.

`vcgencmd get_throttled` prints `throttled=0x50005`; the bits (Raspberry Pi firmware):
0 under-voltage now, 1 ARM frequency capped now, 2 throttled now, 3 soft temperature
limit now; 16-19 the same four "has occurred since boot".
`vcgencmd measure_temp` prints `temp=47.2'C`; `vcgencmd measure_volts core` prints
`volt=0.8563V`. Without access to the firmware it prints `VCHI initialization failed`
and exits non-zero.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any

from orge.core import Orge
from orge.entity import BinarySensorEntity, SensorEntity, async_add_entities
from orge.helpers.event import async_track_time_interval

_LOGGER = logging.getLogger(__name__)

FLAGS = {
    "under_voltage": (0, "Under-voltage", "voltage"),
    "frequency_capped": (1, "Frequency capped", None),
    "throttled": (2, "Throttled", None),
    "soft_temperature_limit": (3, "Soft temperature limit", "heat"),
    "under_voltage_occurred": (16, "Under-voltage occurred", "voltage"),
    "throttling_occurred": (18, "Throttling occurred", None),
}
EVENT_UNDER_VOLTAGE = "power_monitor_under_voltage"
_THROTTLED = re.compile(r"^throttled=(0x[0-9a-fA-F]+)\s*$")
_TEMP = re.compile(r"^temp=(-?\d+(?:\.\d+)?)'C\s*$")
_VOLT = re.compile(r"^volt=(\d+(?:\.\d+)?)V\s*$")


class VcgencmdError(Exception):
    """vcgencmd missing, failing, too slow, or answering something unexpected."""


def parse_throttled(text: str) -> int:
    match = _THROTTLED.match(text.strip())
    if not match:
        raise VcgencmdError(f"unexpected get_throttled answer {text.strip()[:60]!r}")
    return int(match.group(1), 16)


def parse_temperature(text: str) -> float:
    match = _TEMP.match(text.strip())
    if not match:
        raise VcgencmdError(f"unexpected measure_temp answer {text.strip()[:60]!r}")
    return float(match.group(1))


def parse_volts(text: str) -> float:
    match = _VOLT.match(text.strip())
    if not match:
        raise VcgencmdError(f"unexpected measure_volts answer {text.strip()[:60]!r}")
    return float(match.group(1))


@dataclass
class Reading:
    throttled: int | None = None
    temperature: float | None = None
    core_volts: float | None = None
    error: str | None = None


class FlagSensor(BinarySensorEntity):
    def __init__(self, monitor: PowerMonitor, key: str) -> None:
        bit, label, device_class = FLAGS[key]
        self._monitor = monitor
        self._bit = bit
        self._attr_name = f"{monitor.name} {label}"
        self._attr_object_id = f"{monitor.name}_{key}"
        self._attr_device_class = "problem" if device_class else None

    @property
    def available(self) -> bool:
        return self._monitor.reading.throttled is not None

    @property
    def is_on(self) -> bool | None:
        value = self._monitor.reading.throttled
        return None if value is None else bool(value >> self._bit & 1)


class ValueSensor(SensorEntity):
    def __init__(
        self,
        monitor: PowerMonitor,
        key: str,
        label: str,
        unit: str | None,
        device_class: str | None,
    ) -> None:
        self._monitor = monitor
        self._key = key
        self._attr_name = f"{monitor.name} {label}"  # id: sensor.pi_cpu_temperature
        self._attr_unit_of_measurement = unit
        self._attr_device_class = device_class
        self._attr_state_class = "measurement" if unit else None

    @property
    def available(self) -> bool:
        return getattr(self._monitor.reading, self._key) is not None

    @property
    def native_value(self) -> Any:
        value = getattr(self._monitor.reading, self._key)
        if self._key == "throttled" and value is not None:
            return f"0x{value:x}"
        return value

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        if self._key == "throttled":
            return {"last_error": self._monitor.reading.error, "failures": self._monitor.failures}
        return None


class PowerMonitor:
    """Runs vcgencmd every scan interval; a missing tool makes entities unavailable."""

    def __init__(self, orge: Orge, config: dict[str, Any]) -> None:
        self.orge = orge
        self.name: str = config["name"]
        self.command: str = config["vcgencmd"]
        self.interval = config["scan_interval"].total_seconds()
        self.timeout = config["command_timeout"].total_seconds()
        self.reading = Reading()
        self.failures = 0
        self._entities: list[Any] = []
        self._cancel: Any = None
        self._busy = False

    async def async_start(self) -> None:
        self._entities = [FlagSensor(self, key) for key in FLAGS] + [
            ValueSensor(self, "throttled", "Throttled flags", None, None),
            ValueSensor(self, "temperature", "CPU temperature", "°C", "temperature"),
            ValueSensor(self, "core_volts", "Core voltage", "V", "voltage"),
        ]
        await async_add_entities(self.orge, "power_monitor", self._entities)
        self._cancel = async_track_time_interval(self.orge, self._poll, self.interval)
        self.orge.bus.async_listen_once("orge_stop", lambda _e: self._cancel())
        self.orge.async_create_task(self.async_refresh())

    async def _poll(self, _now: float) -> None:
        if not self._busy:  # a hung vcgencmd must not pile up processes
            await self.async_refresh()

    async def _run(self, *args: str) -> str:
        try:
            process = await asyncio.create_subprocess_exec(
                self.command,
                *args,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        except OSError as err:
            raise VcgencmdError(f"cannot run {self.command}: {err.strerror or err}") from None
        try:
            out, _ = await asyncio.wait_for(process.communicate(), self.timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise VcgencmdError(
                f"{self.command} {' '.join(args)} took over {self.timeout:g} s"
            ) from None
        text = out.decode("ascii", "replace")
        if process.returncode != 0:
            raise VcgencmdError(
                f"{self.command} {' '.join(args)} failed ({process.returncode}): {text.strip()[:80]}"
            )
        return text

    async def async_refresh(self) -> None:
        self._busy = True
        try:
            reading = Reading()
            try:
                reading.throttled = parse_throttled(await self._run("get_throttled"))
                reading.temperature = parse_temperature(await self._run("measure_temp"))
                reading.core_volts = parse_volts(await self._run("measure_volts", "core"))
            except VcgencmdError as err:
                reading.error = str(err)
                self.failures += 1
                if self.reading.error != reading.error:
                    _LOGGER.warning("Power monitor: %s", err)
            self._update(reading)
        finally:
            self._busy = False

    def _update(self, reading: Reading) -> None:
        was = self.reading.throttled
        self.reading = reading
        now = reading.throttled
        if now is not None and now & 1 and not (was is not None and was & 1):
            _LOGGER.warning("Raspberry Pi reports under-voltage (throttled=0x%x)", now)
            self.orge.bus.async_fire(EVENT_UNDER_VOLTAGE, {"throttled": f"0x{now:x}"})
        for entity in self._entities:
            entity.async_write_state()
