"""orge.testing: what a component's tests need, inside this repository or outside it.

`pip install orge` registers the pytest plugin `orge.testing.plugin` (entry point
`pytest11`), so its fixtures are there in any project: `orge` (a running hub in a
temporary config dir, with a controllable clock), `config_dir`, `start_station`,
`esp32_simulator` (a simulated ESP32 controller on a pty) and `ocpp_csms` (a test CSMS on a
real WebSocket). The functions below are Home Assistant's test helpers
(tests/common.py of Home Assistant core), under the same names.

Importing this package imports only the engine, never a component.
"""

from __future__ import annotations

from orge.testing.clock import ControlledClock, async_fire_time_changed, get_clock
from orge.testing.helpers import (
    assert_state,
    async_capture_events,
    async_mock_service,
    async_setup_component,
    link_custom_component,
    load_component_module,
)

__all__ = [
    "ControlledClock",
    "assert_state",
    "async_capture_events",
    "async_fire_time_changed",
    "async_mock_service",
    "async_setup_component",
    "get_clock",
    "link_custom_component",
    "load_component_module",
]
