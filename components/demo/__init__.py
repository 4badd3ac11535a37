"""A simulated energy meter, so a demo station (or one without a meter yet) reports power
and energy to the CSMS: power follows the charger's state and offered current, energy is
its integral. The meter reading survives restarts (`.storage/demo_meter.json`), as a real
meter's register would."""

from __future__ import annotations

from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Orge

DOMAIN = "demo"

CONFIG_SCHEMA = vol.Schema(
    {
        vol.Optional(
            "state_entity",
            default="sensor.charger_state",
            description="The charger's state entity the simulated meter follows.",
        ): cv.entity_id,
        vol.Optional(
            "charging_states",
            default=["charging"],
            description="States of state_entity in which the vehicle draws power.",
        ): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional(
            "current_entity",
            default="sensor.charger_cable_current",
            description="Cable current entity; the power uses the lower of this and limit_entity.",
        ): cv.entity_id,
        vol.Optional(
            "limit_entity",
            default="number.charger_max_current",
            description="Current limit entity; the power uses the lower of this and current_entity.",
        ): cv.entity_id,
        vol.Optional(
            "voltage",
            default=230,
            description=cv.describe("Phase voltage of the simulated supply.", unit="V"),
        ): vol.All(vol.Coerce(float), vol.Range(100, 480)),
        vol.Optional(
            "phases", default=3, description="Number of phases the vehicle draws on: 1 or 3."
        ): vol.In([1, 3]),
        vol.Optional(
            "update_interval",
            default=1,
            description=cv.describe("Time between meter updates.", unit="s"),
        ): vol.All(vol.Coerce(float), vol.Range(min=0.05)),
    }
)


async def async_setup(orge: Orge, config: dict[str, Any]) -> bool:
    from components.demo.meter import DemoMeter

    meter = DemoMeter(orge, config)
    orge.data[DOMAIN] = meter
    await meter.async_start()
    return True


def configured_entity_ids(config: dict[str, Any]) -> set[str]:
    """The meter's two sensors, named "Meter power" and "Meter energy" in meter.py
    (docs/components.md)."""
    return {"sensor.meter_power", "sensor.meter_energy"}
