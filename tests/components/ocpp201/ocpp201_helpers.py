"""Shared by the ocpp201 tests: a station config pointing at the test CSMS, and a stand-in
controller on the bus (its state entity and services) so sessions can be driven."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from orge.core import Orge, ServiceCall

STATION = "CP201"
PASSWORD = "pw-201-secret"


def station_yaml(url: str, evse: bool = True, **options: Any) -> str:
    """configuration.yaml of a test station with short intervals."""
    values: dict[str, Any] = {
        "url": url,
        "station_id": STATION,
        "password": PASSWORD,
        "heartbeat_interval": 30,
        "response_timeout": 1,
        "retry_backoff_wait_minimum": 0.1,
        "retry_backoff_random_range": 0.1,
        "retry_backoff_repeat_times": 2,
        "boot_retry_interval": 0.2,
        "sampled_interval": 0,
        "aligned_interval": 0,
        "message_attempts": 3,
        "message_attempt_interval": 0.2,
        "offline_threshold": 0,
        "ping_interval": 0,
    }
    values.update(options)
    lines = ["orge:", f"  station_id: {STATION}", "ocpp201:"]
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        lines.append(f"  {key}: {value}")
    if evse:
        lines += [
            "  evse:",
            "    - id: 1",
            "      connector_id: 1",
            "      energy_entity: sensor.meter_energy",
            "      power_entity: sensor.meter_power",
            "      authorize_action: {action: fake.authorize}",
            "      stop_action: {action: fake.stop_charging}",
            "      current_limit_entity: number.fake_limit",
            "      unlock_action: {action: fake.unlock}",
        ]
    return "\n".join(lines) + "\n"


def ocpp16_yaml(url: str, **extra: object) -> str:
    """An ocpp16 block (the fallback) appended to `station_yaml`: short intervals."""
    lines = [
        "ocpp16:",
        f"  url: {url}",
        f"  station_id: {STATION}",
        f"  password: {PASSWORD}",
        "  fallback: true",
        "  response_timeout: 1",
        "  retry_backoff_wait_minimum: 0.1",
        "  retry_backoff_random_range: 0.1",
        "  retry_backoff_repeat_times: 1",
        "  meter_values_sample_interval: 0",
    ]
    lines += [f"  {k}: {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


class FakeController:
    """Plays the esp32 component on the bus: state entity, meter, services.

    `authorize` moves a controller with an EV (ev_connected) to `ready`, then `charging`
    if the EV asks for energy; `stop_charging` moves it to `stopped`.
    """

    def __init__(self, hub: Orge, ev_charges: bool = True) -> None:
        self.hub = hub
        self.ev_charges = ev_charges
        self.calls: list[tuple[str, dict[str, Any]]] = []
        for service in ("authorize", "stop_charging", "unlock"):
            hub.services.async_register("fake", service, self._handler)
        hub.services.async_register("number", "set_value", self._set_value)
        self.energy(0)
        hub.states.async_set("number.fake_limit", "32", {})

    async def _handler(self, call: ServiceCall) -> None:
        self.calls.append((call.service, dict(call.data)))
        if call.service == "authorize":
            self.state("ready", cp=1)
            if self.ev_charges:
                await asyncio.sleep(0.05)
                self.state("charging", cp=2)
        elif call.service == "stop_charging":
            self.state("stopped", cp=1)

    async def _set_value(self, call: ServiceCall) -> None:
        self.calls.append(("set_value", dict(call.data)))
        self.hub.states.async_set(call.data["entity_id"], str(call.data["value"]), {})

    def state(self, name: str, **attributes: Any) -> None:
        attributes.setdefault("pb", 0)
        self.hub.states.async_set("sensor.charger_state", name, attributes)

    def energy(self, kwh: float, power_kw: float = 0.0) -> None:
        self.hub.states.async_set("sensor.meter_energy", str(kwh), {"unit_of_measurement": "kWh"})
        self.hub.states.async_set(
            "sensor.meter_power", str(power_kw), {"unit_of_measurement": "kW"}
        )


async def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "") -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"not reached within {timeout} s: {what}")
        await asyncio.sleep(0.02)


async def wait_state(hub: Orge, entity_id: str, value: str, timeout: float = 5.0) -> None:
    await wait_until(
        lambda: (s := hub.states.get(entity_id)) is not None and s.state == value,
        timeout,
        f"{entity_id} == {value} (is {getattr(hub.states.get(entity_id), 'state', None)})",
    )


def tx_events(csms: Any) -> list[dict[str, Any]]:
    return csms.payloads("TransactionEvent")
