"""orge.testing: the clock moves the hub's timers without sleeping; the helpers see states,
events and service calls; the fixtures give a simulated ESP32 and a test CSMS."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from orge.core import Orge
from orge.helpers.event import async_call_later, async_track_time_interval
from orge.testing import (
    assert_state,
    async_capture_events,
    async_fire_time_changed,
    async_mock_service,
    async_setup_component,
)


async def test_call_later_fires_when_the_clock_reaches_it(orge: Orge) -> None:
    fired: list[float] = []
    async_call_later(orge, timedelta(minutes=10), fired.append)
    started = time.monotonic()
    await async_fire_time_changed(orge, timedelta(minutes=9, seconds=59))
    assert fired == []
    await async_fire_time_changed(orge, 1)
    assert len(fired) == 1
    # The action got the moved wall clock, 10 minutes ahead of the real one.
    assert fired[0] - time.time() == pytest.approx(0, abs=1)
    assert fired[0] - (started + 0) > 0
    assert time.monotonic() - started < 60  # no real wait; the clock is the loop's


async def test_interval_ticks_once_per_step(orge: Orge) -> None:
    ticks: list[float] = []
    cancel = async_track_time_interval(orge, ticks.append, 30)
    for _ in range(3):
        await async_fire_time_changed(orge, 30)
    assert len(ticks) == 3
    cancel()
    await async_fire_time_changed(orge, 300)
    assert len(ticks) == 3


async def test_a_jump_over_several_ticks_fires_one(orge: Orge) -> None:
    """As on a blocked loop, an interval skips the ticks it missed (orge/helpers/event.py)."""
    ticks: list[float] = []
    async_track_time_interval(orge, ticks.append, 10)
    await async_fire_time_changed(orge, 95)
    assert len(ticks) == 1


async def test_datetime_moves_the_wall_clock(orge: Orge) -> None:
    fired: list[float] = []
    async_call_later(orge, timedelta(hours=2), fired.append)
    target = datetime.now(UTC) + timedelta(hours=2)
    await async_fire_time_changed(orge, target)
    assert len(fired) == 1
    assert time.time() == pytest.approx(target.timestamp(), abs=1)
    with pytest.raises(ValueError, match="aware"):
        await async_fire_time_changed(orge, datetime(2030, 1, 1))


async def test_state_trigger_for_without_sleeping(orge: Orge) -> None:
    """A state trigger's `for:` (Home Assistant: fires once the state held that long)."""
    calls = async_mock_service(orge, "test", "fault_notify")
    config = {
        "automation": [
            {
                "id": "fault",
                "triggers": [
                    {
                        "trigger": "state",
                        "entity_id": "sensor.charger_state",
                        "to": "fault",
                        "for": "00:05:00",
                    }
                ],
                "actions": [{"action": "test.fault_notify", "data": {"what": "fault"}}],
            }
        ]
    }
    assert await async_setup_component(orge, "automation", config)
    orge.states.async_set("sensor.charger_state", "fault")
    await orge.async_block_till_done()
    await async_fire_time_changed(orge, timedelta(minutes=4, seconds=59))
    assert calls == []
    await async_fire_time_changed(orge, 1)
    assert [call.data for call in calls] == [{"what": "fault"}]


async def test_script_delay_without_sleeping(orge: Orge) -> None:
    calls = async_mock_service(orge, "test", "done")
    config = {"script": {"later": {"sequence": [{"delay": {"hours": 1}}, {"action": "test.done"}]}}}
    assert await async_setup_component(orge, "script", config)
    await orge.services.async_call(
        "script", "turn_on", {"entity_id": "script.later"}, blocking=True
    )
    await async_fire_time_changed(orge)  # the script runs up to its delay
    await async_fire_time_changed(orge, timedelta(minutes=59))
    assert calls == []
    await async_fire_time_changed(orge, timedelta(minutes=1))
    assert len(calls) == 1


async def test_capture_events_and_assert_state(orge: Orge) -> None:
    events = async_capture_events(orge, "charging_fault")
    orge.bus.async_fire("charging_fault", {"code": 4})
    orge.states.async_set("sensor.power", "7.4", {"unit_of_measurement": "kW"})
    await orge.async_block_till_done()
    assert [event.data for event in events] == [{"code": 4}]
    assert_state(orge, "sensor.power", "7.4", {"unit_of_measurement": "kW"})
    with pytest.raises(AssertionError, match="sensor.power is '7.4', wanted '0'"):
        assert_state(orge, "sensor.power", "0")
    with pytest.raises(AssertionError, match="sensor.none does not exist"):
        assert_state(orge, "sensor.none", "0")


async def test_mock_service_records_and_answers(orge: Orge) -> None:
    calls = async_mock_service(orge, "ocpp", "status", response={"ok": True})
    answer = await orge.services.async_call(
        "ocpp", "status", {"evse": 1}, blocking=True, return_response=True
    )
    assert answer == {"ok": True}
    assert [(call.domain, call.service, call.data) for call in calls] == [
        ("ocpp", "status", {"evse": 1})
    ]


async def test_setup_component_validates(orge: Orge) -> None:
    assert await async_setup_component(orge, "timer", {"timer": {"charge": {"duration": 60}}})
    assert_state(orge, "timer.charge", "idle")
    assert await async_setup_component(orge, "timer", {})  # already set up
    assert not await async_setup_component(orge, "input_number", {"input_number": {"x": {}}})
    assert "input_number" in orge.config.setup_errors
    assert not await async_setup_component(orge, "no_such_thing", {})
    assert "not found" in orge.config.setup_errors["no_such_thing"]


async def test_timer_finishes_without_sleeping(orge: Orge) -> None:
    """Home Assistant's timer: active, then idle and `timer.finished` after its duration."""
    assert await async_setup_component(orge, "timer", {"timer": {"charge": {"duration": 3600}}})
    finished = async_capture_events(orge, "timer.finished")
    await orge.services.async_call("timer", "start", {"entity_id": "timer.charge"}, blocking=True)
    assert_state(orge, "timer.charge", "active")
    await async_fire_time_changed(orge, 3600)
    assert_state(orge, "timer.charge", "idle")
    assert [event.data["entity_id"] for event in finished] == ["timer.charge"]


async def test_esp32_simulator_fixture(esp32_simulator, config_dir, start_station) -> None:
    path = config_dir(f"esp32:\n  port: {esp32_simulator.port}\n  status_interval: 0.5\n")
    station, result = await start_station(path)
    assert not result.problems
    for _ in range(200):
        state = station.states.get("sensor.charger_state")
        if state is not None and state.state == "idle":
            break
        await asyncio.sleep(0.025)
    assert_state(station, "sensor.charger_state", "idle")


async def test_ocpp_csms_fixture(ocpp_csms) -> None:
    url = ocpp_csms.url("CP1")
    assert url.startswith("ws://127.0.0.1:") and url.endswith("/CP1")
    _reader, writer = await asyncio.open_connection(
        "127.0.0.1", int(url.split(":")[2].split("/")[0])
    )
    writer.close()
    await writer.wait_closed()
