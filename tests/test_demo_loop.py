"""The default station's demo vehicle (config/configuration.yaml): it comes by itself, is
authorised by the demo CSMS (a real OCPP 2.0.1 RequestStartTransaction over a real
WebSocket), charges, and stays away once input_boolean.demo_vehicle_loop is off."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

import pytest

from orge.core import Orge
from tests.conftest import REPO


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _wait_state(hub: Orge, entity_id: str, value: str, timeout: float) -> float:
    """Seconds until `entity_id` is `value`."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        state = hub.states.get(entity_id)
        if state is not None and state.state == value:
            return loop.time() - start
        if loop.time() - start > timeout:
            raise TimeoutError(f"{entity_id} not {value} in {timeout} s (is {state})")
        await asyncio.sleep(0.1)


async def test_demo_vehicle_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_station
) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config, ignore=shutil.ignore_patterns(".storage"))
    csms = _free_port()
    monkeypatch.setenv("ORGE_HTTP_PORT", str(_free_port()))
    monkeypatch.setenv("ORGE_DEMO_CSMS_PORT", str(csms))
    monkeypatch.setenv("OCPP_201_URL", f"ws://127.0.0.1:{csms}/ocpp")
    monkeypatch.setenv("OCPP_16_URL", f"ws://127.0.0.1:{csms}/ocpp")
    hub, result = await start_station(config)
    assert not result.problems, result.problems

    await _wait_state(hub, "sensor.charger_state", "charging", 60)
    # Authorised by the CSMS, as the README says: the demo CSMS saw the transaction.
    assert int(hub.states.get("sensor.demo_csms_transactions").state) >= 1

    await hub.services.async_call(
        "input_boolean",
        "turn_off",
        {"entity_id": "input_boolean.demo_vehicle_loop"},
        blocking=True,
    )
    await _wait_state(hub, "sensor.charger_state", "idle", 15)
    # The loop would come back 15 s after the charger is idle; switched off, it does not.
    await asyncio.sleep(20)
    assert hub.states.get("sensor.charger_state").state == "idle"

    await hub.services.async_call(
        "input_boolean", "turn_on", {"entity_id": "input_boolean.demo_vehicle_loop"}, blocking=True
    )
    await _wait_state(hub, "sensor.charger_state", "ev_connected", 15)
