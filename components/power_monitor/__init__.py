"""Watches the Raspberry Pi's own power supply continuously, as the field checklist does by hand.

A weak supply shows first as under-voltage (bit 0 of the firmware's throttled word); a
station whose Pi browns out loses its serial link and its CSMS connection, so operators want
to see it and automations want to react (lower the charge current, raise an alert).
Sources, entities and the event: see `components/power_monitor/monitor.py` and `sources.py`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Orge

DOMAIN = "power_monitor"


def _absolute_path(value: Any) -> str:
    path = cv.strict_string(value)
    if not path.startswith("/"):
        raise vol.Invalid(f"expected an absolute path, got {path!r}")
    return path


CONFIG_SCHEMA = vol.Schema(
    {
        vol.Optional("name", default="pi"): cv.slug,
        vol.Optional("scan_interval", default=timedelta(seconds=5)): vol.All(
            cv.time_period, vol.Range(min=timedelta(seconds=1))
        ),
        # a vcgencmd or dmesg that hangs longer counts as a failure
        vol.Optional("command_timeout", default=timedelta(seconds=3)): vol.All(
            cv.time_period, vol.Range(min=timedelta(milliseconds=100))
        ),
        vol.Optional("vcgencmd", default="vcgencmd"): cv.strict_string,
        # where /sys is found: every sysfs path starts here (a test tree, a container mount)
        vol.Optional("sysfs_root", default="/"): _absolute_path,
        # an absolute path is read as a file (/dev/kmsg, read from where it stopped);
        # anything else is a command printing the whole kernel log (dmesg)
        vol.Optional("kernel_log", default="/dev/kmsg"): cv.strict_string,
    }
)


async def async_setup(orge: Orge, config: dict[str, Any]) -> bool:
    from components.power_monitor.monitor import PowerMonitor

    monitor = PowerMonitor(orge, config)
    orge.data[DOMAIN] = monitor
    await monitor.async_start()
    return True


def configured_entity_ids(config: dict[str, Any]) -> set[str]:
    """binary_sensor.<name>_<flag> per throttling flag and the sensors of monitor.py
    (docs/components.md; tests/orge/test_configured_entity_ids.py holds them to setup)."""
    from .monitor import FLAGS

    name = config["name"]
    values = (
        "throttled_flags",
        "cpu_temperature",
        "core_voltage",
        "under_voltage_messages",
        "power_monitor_source",
    )
    return {f"binary_sensor.{name}_{flag}" for flag in FLAGS} | {
        f"sensor.{name}_{value}" for value in values
    }
