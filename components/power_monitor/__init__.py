"""Watches the Raspberry Pi's own power supply through `vcgencmd`.

A weak supply shows first as under-voltage (bit 0 of `get_throttled`); a station whose Pi
browns out loses its serial link and its CSMS connection, so operators want to see it and
automations want to react (lower the charge current, raise an alert).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import voluptuous as vol

import orge.validation as cv

DOMAIN = "power_monitor"

CONFIG_SCHEMA = vol.Schema(
    {
        vol.Optional("vcgencmd", default="vcgencmd"): cv.strict_string,
        vol.Optional("name", default="pi"): cv.slug,
        vol.Optional("scan_interval", default=timedelta(seconds=5)): vol.All(
            cv.time_period, vol.Range(min=timedelta(seconds=1))
        ),
        vol.Optional("command_timeout", default=timedelta(seconds=3)): vol.All(
            cv.time_period, vol.Range(min=timedelta(milliseconds=100))
        ),
    }
)


async def async_setup(orge: Any, config: dict[str, Any]) -> bool:
    from components.power_monitor.monitor import PowerMonitor

    monitor = PowerMonitor(orge, config)
    orge.data[DOMAIN] = monitor
    await monitor.async_start()
    return True


def configured_entity_ids(config: dict[str, Any]) -> set[str]:
    """binary_sensor.<name>_<flag> per throttling flag and the three value sensors of
    monitor.py, `sensor.<name>_throttled_flags` / `_cpu_temperature` / `_core_voltage`
    (docs/components.md)."""
    from .monitor import FLAGS

    name = config["name"]
    values = ("throttled_flags", "cpu_temperature", "core_voltage")
    return {f"binary_sensor.{name}_{flag}" for flag in FLAGS} | {
        f"sensor.{name}_{value}" for value in values
    }
