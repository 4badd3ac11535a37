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
        vol.Optional("state_entity", default="sensor.charger_state"): cv.entity_id,
        vol.Optional("charging_states", default=["charging"]): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional("current_entity", default="sensor.charger_cable_current"): cv.entity_id,
        vol.Optional("limit_entity", default="number.charger_max_current"): cv.entity_id,
        vol.Optional("voltage", default=230): vol.All(vol.Coerce(float), vol.Range(100, 480)),
        vol.Optional("phases", default=3): vol.In([1, 3]),
        vol.Optional("update_interval", default=1): vol.All(vol.Coerce(float), vol.Range(min=0.05)),
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
