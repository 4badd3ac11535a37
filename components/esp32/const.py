"""The esp32 component's names and limits, in a leaf: the light package face
(`__init__.py`, read by check-config), the protocol and the runtime all import them
from here, so no submodule imports the package that loads it.
"""

from __future__ import annotations

DOMAIN = "esp32"
PORT_SIMULATOR = "simulator"  # `port: simulator`: the built-in simulated controller

# The current limit the firmware accepts, in amperes (SETMAXAMP, §6.4).
MIN_CURRENT = 6
MAX_CURRENT = 32

# What `esp32.simulate` can do to the built-in simulator.
SIMULATE_EVENTS = (
    "plug_in",
    "vehicle_ready",
    "vehicle_charging",
    "pause",
    "unplug",
    "unplug_vehicle",
    "fault_phase",
    "fault_earth",
    "clear_fault",
    "card_read",
    "reboot",
)
