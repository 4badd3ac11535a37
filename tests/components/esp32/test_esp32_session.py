"""A whole charging session and every service, against the simulator through a real pty."""

from __future__ import annotations

import time

import pytest

from components.esp32 import protocol as p
from components.esp32.simulator import Esp32Simulator
from orge.core import Orge
from orge.exceptions import OrgeError, ServiceValidationError

from .conftest import record_events, wait_for, wait_state


def frames(sim: Esp32Simulator, command: int) -> list[bytes]:
    return [f for f in sim.received_frames if f[1] == command]


async def call(orge: Orge, service: str, **data: object) -> None:
    await orge.services.async_call("esp32", service, data, blocking=True)


async def test_whole_session_plug_in_to_unplug(station: Orge, sim: Esp32Simulator) -> None:
    orge = station
    events = record_events(orge, "esp32_state_changed", "esp32_ack", "esp32_info")
    assert orge.states.get("binary_sensor.charger_link").state == "on"
    attributes = orge.states.get("sensor.charger_state").attributes
    assert (attributes["code"], attributes["cp"], attributes["pb"]) == (1, 0, 0)

    sim.plug_in()
    await wait_state(orge, "sensor.charger_state", "cable_detect")
    assert orge.states.get("sensor.charger_pp_state").state == "cable"
    assert orge.states.get("sensor.charger_cable_current").state == "20"

    sim.vehicle_ready()
    await wait_state(orge, "sensor.charger_state", "ev_connected")
    assert orge.states.get("sensor.charger_cp_state").state == "B"
    # PWM is offered before authorisation (Q19): min(20 A cable, 32 A) -> 84
    assert orge.states.get("sensor.charger_pwm").state == "84"
    assert orge.states.get("sensor.charger_pwm").attributes["duty_cycle"] == 32.9
    assert orge.states.get("binary_sensor.charger_authorized").state == "off"

    await call(orge, "authorize")
    assert frames(sim, p.CMD_AUTH) == [p.FRAME_AUTHORIZE]
    await wait_state(orge, "sensor.charger_state", "ready")
    assert orge.states.get("binary_sensor.charger_authorized").state == "on"
    assert orge.states.get("binary_sensor.charger_relay").state == "on"
    assert orge.states.get("binary_sensor.charger_lock").state == "on"

    sim.vehicle_charging()
    await wait_state(orge, "sensor.charger_state", "charging")
    assert orge.states.get("sensor.charger_cp_state").state == "C"
    assert float(orge.states.get("sensor.charger_cp_voltage").state) == pytest.approx(6.0, abs=0.2)

    sim.pause()
    await wait_state(orge, "sensor.charger_state", "paused")
    # RL stays 1 in PAUSED although the relay is open (Q12): the entity says off.
    relay = orge.states.get("binary_sensor.charger_relay")
    assert relay.state == "off" and relay.attributes["rl_flag"] == 1
    assert orge.states.get("binary_sensor.charger_lock").state == "on"

    sim.vehicle_charging()  # resume goes through READY (Q11)
    await wait_state(orge, "sensor.charger_state", "charging")

    await call(orge, "stop_charging")
    assert frames(sim, p.CMD_SET_STATE) == [p.FRAME_STOP]
    assert orge.states.get("sensor.charger_state").state == "stopped"
    assert orge.states.get("binary_sensor.charger_relay").state == "off"
    assert orge.states.get("binary_sensor.charger_lock").state == "off"
    assert orge.states.get("binary_sensor.charger_authorized").state == "off"

    sim.unplug()
    await wait_state(orge, "sensor.charger_state", "idle")
    assert orge.states.get("sensor.charger_pwm").state == "255"

    changes = [
        (e.data["old_state"], e.data["new_state"])
        for e in events
        if e.event_type == "esp32_state_changed"
    ]
    seen = [new for _, new in changes]
    for state in ("cable_detect", "ev_connected", "ready", "charging", "paused", "stopped", "idle"):
        assert state in seen, (state, changes)
    assert seen.index("cable_detect") < seen.index("charging") < seen.index("stopped")
    first = next(
        e
        for e in events
        if e.event_type == "esp32_state_changed" and e.data["new_state"] == "charging"
    )
    assert first.data["new_code"] == 5
    acks = [(e.data["command"], e.data["status"]) for e in events if e.event_type == "esp32_ack"]
    assert ("AUTH", "OK") in acks and ("READSTAT", "OK") in acks
    infos = [e.data["message"] for e in events if e.event_type == "esp32_info"]
    assert "FINISHING_EXIT_STATION_CABLE_DISCONNECTED" in infos


async def test_authorize_gating(station: Orge, sim: Esp32Simulator) -> None:
    orge = station
    with pytest.raises(ServiceValidationError, match="no cable in the socket"):
        await call(orge, "authorize")
    assert frames(sim, p.CMD_AUTH) == []  # refused before sending

    # Q3: the picture says cable_detect, the controller is already idle again: AUTH goes
    # out, the silence means "no cable" and it is not retried.
    sim.plug_in()
    await wait_state(orge, "sensor.charger_state", "cable_detect")
    await call(orge, "refresh")
    sim.unplug()
    await sim.wait_for_state(p.STATE_IDLE)
    with pytest.raises(ServiceValidationError, match="no cable"):
        await call(orge, "authorize")
    assert len(frames(sim, p.CMD_AUTH)) <= 1

    # Never in a session (Q4)
    sim.vehicle_ready()
    await wait_state(orge, "sensor.charger_state", "ev_connected")
    await call(orge, "authorize")
    sim.vehicle_charging()
    await wait_state(orge, "sensor.charger_state", "charging")
    sent = len(frames(sim, p.CMD_AUTH))
    with pytest.raises(ServiceValidationError, match="only sent in cable_detect or ev_connected"):
        await call(orge, "authorize")
    assert len(frames(sim, p.CMD_AUTH)) == sent


async def test_authorize_error_answer_and_no_answer(station: Orge, sim: Esp32Simulator) -> None:
    orge = station
    sim.vehicle_ready()
    await wait_state(orge, "sensor.charger_state", "ev_connected")
    sim.forced_status["AUTH"] = "ERR"
    with pytest.raises(OrgeError, match="answered ERR"):
        await call(orge, "authorize")
    sim.forced_status.clear()

    # A controller that reads frames but never executes them: one retry (state still 3,
    # AUTH 0), then "no answer".
    sim.ignore_frames = True
    start = len(frames(sim, p.CMD_AUTH))
    with pytest.raises(OrgeError, match="no answer"):
        await call(orge, "authorize")
    assert len(frames(sim, p.CMD_AUTH)) - start == 1  # the READSTAT check failed first
    sim.ignore_frames = False


async def test_authorize_answer_lost_but_executed(station: Orge, sim: Esp32Simulator) -> None:
    """§9.3: a timeout is checked with READSTAT before any retry."""
    orge = station
    sim.vehicle_ready()
    await wait_state(orge, "sensor.charger_state", "ev_connected")
    sim.mute_answers = True
    original = sim._execute

    def execute_then_unmute(command: int, value: int) -> float:
        result = original(command, value)
        if command == p.CMD_AUTH:
            sim.mute_answers = False  # the AUTH ACK was lost; later answers come through
        return result

    sim._execute = execute_then_unmute  # type: ignore[method-assign]
    await call(orge, "authorize")
    assert len(frames(sim, p.CMD_AUTH)) == 1  # not resent: READSTAT showed AUTH=1
    await wait_state(orge, "binary_sensor.charger_authorized", "on")


async def test_set_max_current(station: Orge, sim: Esp32Simulator) -> None:
    orge = station
    await call(orge, "set_max_current", current=16)
    assert frames(sim, p.CMD_SETMAXAMP) == [p.frame_set_max_current(16)]
    await call(orge, "refresh")
    assert orge.states.get("number.charger_max_current").state == "16"
    number = orge.states.get("number.charger_max_current")
    assert (number.attributes["min"], number.attributes["max"]) == (6, 32)

    # the same value is not sent again (every SETMAXAMP restarts the state machine)
    await call(orge, "set_max_current", current=16)
    assert len(frames(sim, p.CMD_SETMAXAMP)) == 1

    with pytest.raises(ServiceValidationError, match=r"40 A is out of range .*6\.\.32"):
        await call(orge, "set_max_current", current=40)
    with pytest.raises(ServiceValidationError, match="out of range"):
        await call(orge, "set_max_current", current=5)
    with pytest.raises(ServiceValidationError, match="whole number"):
        await call(orge, "set_max_current", current=10.5)

    sim.forced_status["SETMAXAMP"] = "ERR"
    with pytest.raises(OrgeError, match="answered ERR"):
        await call(orge, "set_max_current", current=20)
    sim.forced_status.clear()

    # the number entity uses the same gated path
    await orge.services.async_call(
        "number",
        "set_value",
        {"entity_id": "number.charger_max_current", "value": 10},
        blocking=True,
    )
    assert sim.max_current == 10
    await wait_state(orge, "number.charger_max_current", "10")

    # never during a session (Q1)
    sim.vehicle_ready()
    await wait_state(orge, "sensor.charger_state", "ev_connected")
    await call(orge, "authorize")
    sim.vehicle_charging()
    await wait_state(orge, "sensor.charger_state", "charging")
    # PWM now offers min(20 A cable, 10 A limit)
    assert orge.states.get("sensor.charger_pwm").state == str(p.expected_pwm(10))
    sent = len(frames(sim, p.CMD_SETMAXAMP))
    with pytest.raises(ServiceValidationError, match="current change during a session"):
        await call(orge, "set_max_current", current=16)
    with pytest.raises(ServiceValidationError, match="current change during a session"):
        await orge.services.async_call(
            "number",
            "set_value",
            {"entity_id": "number.charger_max_current", "value": 16},
            blocking=True,
        )
    assert len(frames(sim, p.CMD_SETMAXAMP)) == sent
    assert sim.state == p.STATE_CHARGING


async def test_set_max_current_no_answer(station: Orge, sim: Esp32Simulator) -> None:
    orge = station
    sim.ignore_frames = True
    with pytest.raises(OrgeError, match="no answer"):
        await call(orge, "set_max_current", current=16)
    sim.ignore_frames = False
    assert len(frames(sim, p.CMD_SETMAXAMP)) == 1


async def test_stop_and_clear_authorization_gating(station: Orge, sim: Esp32Simulator) -> None:
    orge = station
    events = record_events(orge, "esp32_info")
    with pytest.raises(ServiceValidationError, match="no session"):
        await call(orge, "stop_charging")
    await call(orge, "clear_authorization")  # nothing to clear: returns, sends nothing
    assert frames(sim, p.CMD_SET_STATE) == []

    # Q5: a pre-authorisation survives the cable leaving; clear it in IDLE
    sim.plug_in()
    await wait_state(orge, "sensor.charger_state", "cable_detect")
    await call(orge, "authorize")
    sim.unplug()
    await wait_state(orge, "sensor.charger_state", "idle")
    assert orge.states.get("binary_sensor.charger_authorized").state == "on"
    await call(orge, "clear_authorization")
    assert frames(sim, p.CMD_SET_STATE) == [p.FRAME_STOP]
    assert orge.states.get("binary_sensor.charger_authorized").state == "off"
    assert orge.states.get("sensor.charger_state").state == "idle"
    assert "FINISHING_EXIT_STATION_CABLE_DISCONNECTED" in [e.data["message"] for e in events]

    # during a session clearing is refused, stop is the way
    sim.vehicle_ready()
    await wait_state(orge, "sensor.charger_state", "ev_connected")
    await call(orge, "authorize")
    sim.vehicle_charging()
    await wait_state(orge, "sensor.charger_state", "charging")
    with pytest.raises(ServiceValidationError, match="use esp32.stop_charging"):
        await call(orge, "clear_authorization")
    await call(orge, "stop_charging")
    assert sim.state == p.STATE_STOPPED
    sent = len(frames(sim, p.CMD_SET_STATE))
    await call(orge, "stop_charging")  # already stopped: nothing sent
    assert len(frames(sim, p.CMD_SET_STATE)) == sent
    with pytest.raises(ServiceValidationError, match="set it once the cable is removed"):
        await call(orge, "set_max_current", current=16)


async def test_stop_not_confirmed(station: Orge, sim: Esp32Simulator) -> None:
    """The stop frame has no answer: a STAT that never shows STATE 7 is an error."""
    orge = station
    sim.vehicle_ready()
    await wait_state(orge, "sensor.charger_state", "ev_connected")
    original = sim._execute

    def drop_stop(command: int, value: int) -> float:
        if command == p.CMD_SET_STATE:
            return 0.0  # the frame is lost on the line
        return original(command, value)

    sim._execute = drop_stop  # type: ignore[method-assign]
    with pytest.raises(OrgeError, match="Stop: not confirmed"):
        await call(orge, "stop_charging")
    assert len(frames(sim, p.CMD_SET_STATE)) == 2  # resent once (§9.3)


async def test_lock_unlock(station: Orge, sim: Esp32Simulator) -> None:
    orge = station
    started = time.monotonic()
    await call(orge, "lock")
    assert time.monotonic() - started >= 0.5 * sim.time_scale  # ACK after the pulse (Q8)
    with pytest.raises(ServiceValidationError, match="previous lock command was also LOCK"):
        await call(orge, "lock")
    assert len(frames(sim, p.CMD_LOCK)) == 1
    await call(orge, "unlock")
    assert frames(sim, p.CMD_LOCK) == [p.FRAME_LOCK, p.FRAME_UNLOCK]

    sim.forced_status["LOCK"] = "ERR"
    with pytest.raises(OrgeError, match="Lock: the controller answered ERR"):
        await call(orge, "lock")
    sim.forced_status.clear()

    # silence is never retried (a repeat would be ignored anyway)
    await call(orge, "unlock")
    sim._lock_latch = "LOCK"  # the controller's latch differs from what we believe
    before = len(frames(sim, p.CMD_LOCK))
    with pytest.raises(OrgeError, match="no answer"):
        await call(orge, "lock")
    assert len(frames(sim, p.CMD_LOCK)) == before + 1

    sim.vehicle_ready()
    await wait_state(orge, "sensor.charger_state", "ev_connected")
    await call(orge, "authorize")
    await wait_state(orge, "sensor.charger_state", "ready")
    with pytest.raises(ServiceValidationError, match="during a session"):
        await call(orge, "unlock")


async def test_refresh_and_invalid_comma(station: Orge, sim: Esp32Simulator) -> None:
    orge = station
    before = len(frames(sim, p.CMD_READSTAT))
    await call(orge, "refresh")
    assert len(frames(sim, p.CMD_READSTAT)) > before
    # a frame corrupted on the line: <ERR;INVALID_COMMA>, resent once, then it works
    sim.corrupt_next = 1
    events = record_events(orge, "esp32_info")
    await call(orge, "refresh")
    assert any(e.data["level"] == "error" and "INVALID_COMMA" in e.data["line"] for e in events)
    # twice corrupted: a clear error
    sim.corrupt_next = 2
    with pytest.raises(OrgeError, match="corrupted frame twice"):
        await call(orge, "refresh")

    sim.mute_answers = True
    with pytest.raises(OrgeError, match="no answer to READSTAT"):
        await call(orge, "refresh")
    sim.mute_answers = False


async def test_unknown_command_answer(station: Orge, sim: Esp32Simulator) -> None:
    """The controller's answer to an unknown command reaches the bus as an ACK event."""
    orge = station
    events = record_events(orge, "esp32_ack")
    charger = orge.data["esp32"]["charger"]
    line = await charger.link.exchange(
        p.frame(0x09, 0),
        lambda line: line.kind == "ACK" and line.record.fields["CMD"] == "UNKNOWN",
        1.0,
    )
    assert line is not None and line.record.fields["STATUS"] == "ERR"
    assert {"command": "UNKNOWN", "status": "ERR"} in [dict(e.data) for e in events]


async def test_power_board_fault(station: Orge, sim: Esp32Simulator) -> None:
    orge = station
    events = record_events(orge, "esp32_info", "esp32_state_changed")
    sim.vehicle_ready()
    await wait_state(orge, "sensor.charger_state", "ev_connected")
    await call(orge, "authorize")
    sim.vehicle_charging()
    await wait_state(orge, "sensor.charger_state", "charging")
    sim.power_board_fault("earth")
    await wait_state(orge, "sensor.charger_state", "fault")
    assert orge.states.get("sensor.charger_power_board").state == "no_earth"
    assert orge.states.get("binary_sensor.charger_authorized").state == "off"
    messages = [e.data["message"] for e in events if e.event_type == "esp32_info"]
    assert "GF_COUNT" in messages and "GF_CONFIRMED" in messages
    with pytest.raises(ServiceValidationError, match="relay is already open"):
        await call(orge, "stop_charging")
    with pytest.raises(ServiceValidationError, match="only sent in cable_detect"):
        await call(orge, "authorize")
    sim.clear_fault()
    await wait_state(orge, "sensor.charger_power_board", "ok")
    sim.unplug()
    await wait_state(orge, "sensor.charger_state", "idle")
    seen = [e.data["new_state"] for e in events if e.event_type == "esp32_state_changed"]
    assert "fault" in seen


async def test_reboot_reapplies_current_limit(
    sim: Esp32Simulator, station_config, start_station
) -> None:
    orge, result = await start_station(station_config(sim.port, extra="  max_current: 16"))
    assert not result.problems
    await wait_for(lambda: sim.max_current == 16, what="limit applied at start")
    await wait_state(orge, "number.charger_max_current", "16")
    events = record_events(orge, "esp32_rebooted")
    await sim.reboot()
    assert sim.max_current == 32
    await wait_for(lambda: events, what="reboot event")
    await wait_for(lambda: sim.max_current == 16, what="limit re-applied after reboot")
    await wait_state(orge, "number.charger_max_current", "16")


async def test_clear_authorization_not_cleared(station: Orge, sim: Esp32Simulator) -> None:
    """The stop frame lost twice: the stale authorisation is reported NOT CLEARED."""
    orge = station
    sim.plug_in()
    await wait_state(orge, "sensor.charger_state", "cable_detect")
    await call(orge, "authorize")
    sim.unplug()
    await wait_state(orge, "sensor.charger_state", "idle")
    original = sim._execute

    def drop_stop(command: int, value: int) -> float:
        return 0.0 if command == p.CMD_SET_STATE else original(command, value)

    sim._execute = drop_stop  # type: ignore[method-assign]
    with pytest.raises(OrgeError, match="NOT CLEARED.*AUTH 1"):
        await call(orge, "clear_authorization")
    assert len(frames(sim, p.CMD_SET_STATE)) == 2
    assert orge.states.get("binary_sensor.charger_authorized").state == "on"
