"""The demo meter follows the charger's state and keeps its register across restarts."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orge.core import EVENT_STATE_CHANGED, Event, callback

CONFIG = "demo:\n  update_interval: 0.05\n"


async def test_power_follows_state_and_energy_integrates(
    config_dir: Callable[..., Path], start_station: Callable[..., Any]
) -> None:
    path = config_dir(CONFIG)
    orge, result = await start_station(path)
    assert result.problems == []
    orge.states.async_set("sensor.charger_state", "ev_connected")
    orge.states.async_set("sensor.charger_cable_current", "20")
    orge.states.async_set("number.charger_max_current", "16")
    await asyncio.sleep(0.12)
    assert orge.states.get("sensor.meter_power").state == "0.0"
    orge.states.async_set("sensor.charger_state", "charging")
    await asyncio.sleep(0.5)
    assert orge.states.get("sensor.meter_power").state == "11040.0"  # 230 V x 16 A x 3
    energy = float(orge.states.get("sensor.meter_energy").state)
    assert 0.0005 < energy < 0.003  # about 11 kW for ~0.45 s
    assert orge.states.get("sensor.meter_energy").attributes["state_class"] == "total_increasing"
    orge.states.async_set("sensor.charger_state", "stopped")
    await asyncio.sleep(0.15)
    assert orge.states.get("sensor.meter_power").state == "0.0"
    await orge.async_stop()

    again, _ = await start_station(path)
    restored = float(again.states.get("sensor.meter_energy").state)
    assert restored >= energy  # the register never goes back


async def test_corrupt_register_starts_at_zero_with_error(
    config_dir: Callable[..., Path], start_station: Callable[..., Any], caplog: Any
) -> None:
    path = config_dir(CONFIG, files={".storage/demo_meter.json": "{not json"})
    orge, _ = await start_station(path)
    assert orge.states.get("sensor.meter_energy").state == "0.0"
    assert "unreadable" in caplog.text


async def test_meter_writes_its_states_on_the_loop(
    config_dir: Callable[..., Path], start_station: Callable[..., Any]
) -> None:
    """The meter's tick is a callback: its state writes happen on the loop's thread (a
    plain function given to async_track_time_interval would run on an executor thread)."""
    orge, _ = await start_station(config_dir(CONFIG))
    threads: set[int] = set()

    @callback
    def seen(event: Event) -> None:
        if event.data["entity_id"] == "sensor.meter_power":
            threads.add(threading.get_ident())

    orge.bus.async_listen(EVENT_STATE_CHANGED, seen)
    orge.states.async_set("sensor.charger_state", "charging")
    orge.states.async_set("number.charger_max_current", "16")
    await asyncio.sleep(0.2)
    assert orge.states.get("sensor.meter_power").state == "11040.0"
    assert threads == {threading.get_ident()}
    await orge.async_stop()
