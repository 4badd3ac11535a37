"""Shared by the ocpp16 tests: a station config pointing at the test CSMS, and a stand-in
controller (services + sensor.charger_state) so sessions can be driven from the tests."""

from __future__ import annotations

import asyncio
from typing import Any

from orge.core import Orge, ServiceCall

STATION = "CP16"
PASSWORD = "s3cret-pw"


def station_yaml(url: str, **options: Any) -> str:
    """configuration.yaml of a test station: short intervals, the fake controller."""
    values: dict[str, Any] = {
        "url": url,
        "password": PASSWORD,
        "heartbeat_interval": 30,
        "response_timeout": 1,
        "retry_backoff_wait_minimum": 0.05,
        "retry_backoff_random_range": 0.05,
        "retry_backoff_repeat_times": 2,
        "boot_retry_interval": 0.2,
        "meter_values_sample_interval": 0,
        "transaction_message_attempts": 3,
        "transaction_message_retry_interval": 0.2,
        "offline_threshold": 0,
    }
    values.update(options)
    lines = ["orge:", f"  station_id: {STATION}", "ocpp16:"]
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        lines.append(f"  {key}: {value}")
    lines += [
        "  evse:",
        "    - id: 1",
        "      energy_entity: sensor.meter_energy",
        "      power_entity: sensor.meter_power",
        "      authorize_action: {action: fake.authorize}",
        "      stop_action: {action: fake.stop_charging}",
        "      current_limit_entity: number.fake_limit",
        "      unlock_action: {action: fake.unlock}",
    ]
    return "\n".join(lines) + "\n"


class FakeController:
    """Plays the esp32 component on the bus: its state entity and its services.

    `authorize` moves an EV-connected controller to charging; `stop_charging` to stopped.
    """

    def __init__(self, hub: Orge) -> None:
        self.hub = hub
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail: set[str] = set()
        for service in ("authorize", "stop_charging", "unlock"):
            hub.services.async_register("fake", service, self._handler)
        hub.services.async_register("number", "set_value", self._set_value)
        self.energy(0)
        hub.states.async_set("sensor.meter_power", "0", {"unit_of_measurement": "W"})
        hub.states.async_set("number.fake_limit", "32", {})

    async def _handler(self, call: ServiceCall) -> None:
        self.calls.append((call.service, dict(call.data)))
        if call.service in self.fail:
            raise RuntimeError(f"controller refused {call.service}")
        if call.service == "authorize":
            self.state("charging")
        elif call.service == "stop_charging":
            self.state("stopped")

    async def _set_value(self, call: ServiceCall) -> None:
        self.calls.append(("set_value", dict(call.data)))
        self.hub.states.async_set(call.data["entity_id"], str(call.data["value"]), {})

    def state(self, name: str, **attributes: Any) -> None:
        self.hub.states.async_set("sensor.charger_state", name, attributes)

    def energy(self, wh: float, power: float | None = None) -> None:
        self.hub.states.async_set("sensor.meter_energy", str(wh), {"unit_of_measurement": "Wh"})
        if power is not None:
            self.hub.states.async_set(
                "sensor.meter_power", str(power), {"unit_of_measurement": "W"}
            )


async def wait_state(hub: Orge, entity_id: str, value: str, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        state = hub.states.get(entity_id)
        if state is not None and state.state == value:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{entity_id} is {state.state if state else None}, not {value}")
        await asyncio.sleep(0.02)
