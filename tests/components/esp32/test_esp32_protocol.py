"""Frames, line splitting and line parsing (pure functions), and the simulator's firmware model."""

from __future__ import annotations

import asyncio
import os

from hypothesis import given
from hypothesis import strategies as st

from components.esp32 import protocol as p
from components.esp32.simulator import Esp32Simulator

from .conftest import SIM_OPTIONS, wait_for

STAT = b"<STAT;CP=2;CPV=1847;PP=1;PPV=1520;RL=1;LOCK=1;MOTOR=0;PWM=66;MAX=16;CABLE=20;AUTH=1;STATE=5;PB=0;STOP=0;>"


def test_frames_match_the_document() -> None:
    assert p.FRAME_READSTAT == bytes.fromhex("41 00 2C 00 10")
    assert p.FRAME_AUTHORIZE == bytes.fromhex("41 01 2C 01 10")
    assert p.FRAME_STOP == bytes.fromhex("41 04 2C 07 10")
    assert p.frame_set_max_current(16) == bytes.fromhex("41 02 2C 10 10")
    assert p.FRAME_LOCK == bytes.fromhex("41 03 2C 01 10")
    assert p.FRAME_UNLOCK == bytes.fromhex("41 03 2C 00 10")


def test_pwm_table() -> None:
    table = {6: 25, 8: 33, 10: 40, 13: 53, 16: 66, 20: 84, 25: 104, 32: 135}
    assert {amps: p.expected_pwm(amps) for amps in table} == table
    assert p.pwm_duty_percent(255) is None
    assert p.pwm_offered_current(66) == 15.5


def test_parse_stat() -> None:
    line = p.parse_line(STAT)
    assert line.kind == "STAT"
    assert line.stat.values["STATE"] == 5 and line.stat.values["MAX"] == 16
    assert line.stat.missing == () and line.stat.extra == ()
    assert p.stat_line(line.stat.values) == STAT + b"\r\n"


def test_parse_records_and_text() -> None:
    ack = p.parse_line(b"<ACK;CMD=SETMAXAMP;STATUS=ERR;>")
    assert ack.kind == "ACK" and ack.record.fields == {"CMD": "SETMAXAMP", "STATUS": "ERR"}
    err = p.parse_line(b"<ERR;INVALID_COMMA>")
    assert err.kind == "ERR" and "INVALID_COMMA" in err.record.fields
    info = p.parse_line(b"<INFO;MSG=PF_COUNT;VAL=3;>")
    assert info.kind == "INFO" and info.record.get_int("VAL") == 3
    assert p.parse_line(b"CSRPI Charging Station v4.8.0 - Dual UART").kind == "BANNER"
    assert p.parse_line(b"of37").kind == "CARD"
    glued = p.parse_line(b"Using the following key: FF FF FF FF FF FFKart 0 Valid=255 ID=0;")
    assert glued.kind == "TEXT"
    noisy = p.parse_line(b"\x00\xffxx" + STAT)
    assert noisy.kind == "STAT"
    assert p.parse_line(b"<NEW;A=1;>").bad == p.BAD_UNKNOWN_RECORD
    assert p.parse_line(b"<STAT;CP=2;STATE=-1;>").bad == p.BAD_STAT
    assert p.parse_line(b"\xc3\xa9t\xc3\xa9").bad == p.BAD_NON_ASCII
    assert p.parse_line(b"hello").bad == p.BAD_GARBAGE


@given(st.lists(st.integers(min_value=1, max_value=40), max_size=30))
def test_line_buffer_any_split(cuts: list[int]) -> None:
    data = STAT + b"\r\n" + b"<ACK;CMD=AUTH;STATUS=OK;>\n" + b"of3\n" + STAT + b"\r\n"
    buffer = p.LineBuffer()
    lines: list[bytes] = []
    position = 0
    for cut in cuts:
        lines += buffer.feed(data[position : position + cut])
        position += cut
    lines += buffer.feed(data[position:])
    assert lines == [STAT, b"<ACK;CMD=AUTH;STATUS=OK;>", b"of3", STAT]


@given(st.binary(max_size=2000))
def test_parse_never_raises_and_buffer_is_bounded(data: bytes) -> None:
    buffer = p.LineBuffer(max_line=64)
    for raw in buffer.feed(data):
        assert len(raw) <= 64
        p.parse_line(raw)
    assert len(buffer._buffer) <= 64


def test_overlong_line_dropped_with_its_tail() -> None:
    buffer = p.LineBuffer(max_line=16)
    assert buffer.feed(b"x" * 40) == []
    assert buffer.feed(b"yyy\r\nok\r\n") == [b"ok"]
    assert buffer.overlong == 1


# --- the simulator's firmware model, talked to through its pty --------------------------


async def _controller() -> tuple[Esp32Simulator, int]:
    sim = Esp32Simulator(**SIM_OPTIONS)
    path = await sim.start_pty()
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    await asyncio.sleep(0.1)  # boot
    return sim, fd


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b""


async def test_simulator_quirks() -> None:
    sim, fd = await _controller()
    try:
        _read(fd)
        # Q3: AUTH 1 in IDLE gets no answer
        os.write(fd, p.FRAME_AUTHORIZE)
        await asyncio.sleep(0.05)
        assert b"ACK" not in _read(fd)
        # Q5: a pre-authorisation survives the cable leaving
        sim.plug_in()
        await sim.wait_for_state(p.STATE_CABLE_DETECT)
        os.write(fd, p.FRAME_AUTHORIZE)
        await wait_for(lambda: b"<ACK;CMD=AUTH;STATUS=OK;>" in _read(fd))
        sim.unplug()
        await sim.wait_for_state(p.STATE_IDLE)
        assert sim.authorized and sim.auth_flag == 1
        # ... so the next EV starts without a new AUTH
        sim.vehicle_ready()
        await sim.wait_for_state(p.STATE_READY)
        sim.vehicle_charging()
        await sim.wait_for_state(p.STATE_CHARGING)
        assert sim.rl == 1 and sim.relay_closed
        # Q1: SETMAXAMP during charging resets to IDLE with the relay still closed
        os.write(fd, p.frame_set_max_current(10))
        await wait_for(lambda: sim.max_current == 10)
        assert sim.relay_closed and sim.rl == 1
        # Q19: an EV in C stays in CABLE_DETECT
        await sim.wait_for_state(p.STATE_CABLE_DETECT)
        await asyncio.sleep(0.05)
        assert sim.state == p.STATE_CABLE_DETECT
        # Q2: AUTH 0 forces PAUSED, answers CLEARED
        _read(fd)
        os.write(fd, p.FRAME_DEAUTHORIZE)
        await wait_for(lambda: b"STATUS=CLEARED" in _read(fd))
        await sim.wait_for_state(p.STATE_STOPPED)  # 6 -> 7 (the pause has no authorisation)
        # invalid SETMAXAMP: ERR and still back to 1
        os.write(fd, p.frame_set_max_current(40))
        await wait_for(lambda: b"<ACK;CMD=SETMAXAMP;STATUS=ERR;>" in _read(fd))
        assert sim.max_current == 10
        # unknown command and bad separator
        os.write(fd, p.frame(0x07, 0))
        await wait_for(lambda: b"<ACK;CMD=UNKNOWN;STATUS=ERR;>" in _read(fd))
        os.write(fd, b"\x41\x00\x00\x00\x10")
        await wait_for(lambda: b"<ERR;INVALID_COMMA>" in _read(fd))
        # Q8: LOCK twice answers once
        os.write(fd, p.FRAME_LOCK)
        await wait_for(lambda: b"CMD=LOCK" in _read(fd))
        os.write(fd, p.FRAME_LOCK)
        await asyncio.sleep(0.1)
        assert b"CMD=LOCK" not in _read(fd)
        # READSTAT: a STAT and then its ACK
        os.write(fd, p.FRAME_READSTAT)
        out = b""

        def got() -> bool:
            nonlocal out
            out += _read(fd)
            return b"CMD=READSTAT" in out

        await wait_for(got)
        assert out.index(b"<STAT;") < out.index(b"CMD=READSTAT")
    finally:
        os.close(fd)
        await sim.stop()


async def test_simulator_cp_loss_in_ready_is_a_hard_fault() -> None:
    """Q26/Q15: EV gone in READY -> 8 -> 0 -> (hold-off) -> 1."""
    sim, fd = await _controller()
    try:
        sim.vehicle_ready()
        await sim.wait_for_state(p.STATE_EV_CONNECTED)
        os.write(fd, p.FRAME_AUTHORIZE)
        await sim.wait_for_state(p.STATE_READY)
        seen: list[int] = []
        sim.state_listeners.append(lambda old, new: seen.append(new))
        sim.unplug()
        await sim.wait_for_state(p.STATE_IDLE)
        assert seen[:2] == [p.STATE_FAULT, p.STATE_HARDFAULT_END]
        assert not sim.authorized
    finally:
        os.close(fd)
        await sim.stop()
