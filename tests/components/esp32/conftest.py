"""Fixtures for the esp32 tests: a simulated controller on a real pty, a station on it."""

from __future__ import annotations

import asyncio
import os
import time
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.esp32.simulator import Esp32Simulator
from orge.core import Event, Orge, callback
from orge.testing.plugin import ESP32_SIM_OPTIONS

# Fast firmware: a pass is 2.5 ms, a STAT every 0.3 s, a fault confirmed in ~0.2 s.
SIM_OPTIONS: dict[str, Any] = ESP32_SIM_OPTIONS

STATION = """
esp32:
  port: {port}
  status_interval: {status_interval}
  session_status_interval: 0.2
  ack_timeout: 0.4
{extra}
"""


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.01)


async def wait_state(orge: Orge, entity_id: str, state: str, timeout: float = 5.0) -> None:
    def check() -> bool:
        current = orge.states.get(entity_id)
        return current is not None and current.state == state

    try:
        await wait_for(check, timeout, f"{entity_id} == {state}")
    except AssertionError:
        current = orge.states.get(entity_id)
        raise AssertionError(
            f"{entity_id} is {current.state if current else None}, wanted {state}"
        ) from None


def record_events(orge: Orge, *event_types: str) -> list[Event]:
    events: list[Event] = []

    @callback
    def listener(event: Event) -> None:
        events.append(event)

    for event_type in event_types:
        orge.bus.async_listen(event_type, listener)
    return events


@pytest.fixture
def sim(esp32_simulator: Esp32Simulator) -> Esp32Simulator:
    """orge.testing's simulated controller, under the name these tests use."""
    return esp32_simulator


@pytest.fixture
def station_config(config_dir: Callable[..., Path]) -> Callable[..., Path]:
    def write(port: str, status_interval: float = 0.5, extra: str = "") -> Path:
        return config_dir(STATION.format(port=port, status_interval=status_interval, extra=extra))

    return write


@pytest.fixture
async def station(
    sim: Esp32Simulator, station_config: Callable[..., Path], start_station: Any
) -> Orge:
    """A station whose esp32 component talks to the simulator through the pty."""
    orge, result = await start_station(station_config(sim.port))
    assert not result.problems
    await wait_state(orge, "sensor.charger_state", "idle")
    return orge


class RawPty:
    """A bare pty: the test writes the controller's side by hand and reads the frames."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def read(self) -> bytes:
        try:
            return os.read(self.master, 4096)
        except BlockingIOError:
            return b""

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def raw_pty() -> Any:
    pty = RawPty()
    yield pty
    pty.close()
