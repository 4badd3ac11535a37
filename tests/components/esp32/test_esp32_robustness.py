"""Point 5 of the issue: bad input on the line, the port vanishing and coming back."""

from __future__ import annotations

import asyncio
import time

import pytest

from components.esp32 import protocol as p
from components.esp32.simulator import Esp32Simulator
from orge.core import Orge
from orge.exceptions import OrgeError

from .conftest import RawPty, record_events, wait_for, wait_state

STAT_VALUES = {
    "CP": 1, "CPV": 2890, "PP": 1, "PPV": 1540, "RL": 0, "LOCK": 0, "MOTOR": 0, "PWM": 84,
    "MAX": 32, "CABLE": 20, "AUTH": 0, "STATE": 3, "PB": 0, "STOP": 0,
}  # fmt: skip


def stat(**changes: int) -> bytes:
    return p.stat_line({**STAT_VALUES, **changes})


@pytest.fixture
async def raw_station(raw_pty: RawPty, station_config, start_station) -> Orge:
    """A station on a bare pty the test writes by hand (no controller answers frames)."""
    orge, result = await start_station(station_config(raw_pty.path, status_interval=30))
    assert not result.problems
    await wait_state(orge, "binary_sensor.charger_link", "on")
    raw_pty.write(stat())
    await wait_state(orge, "sensor.charger_state", "ev_connected")
    return orge


def bad(orge: Orge) -> dict:
    return dict(orge.states.get("sensor.charger_bad_lines").attributes)


async def test_split_and_joined_lines(raw_station: Orge, raw_pty: RawPty) -> None:
    orge = raw_station
    line = stat(STATE=5, CP=2, CPV=1847)
    for part in (line[:7], line[7:40], line[40:-1], line[-1:]):  # split across reads
        raw_pty.write(part)
        await asyncio.sleep(0.02)
    await wait_state(orge, "sensor.charger_state", "charging")
    # several lines in one read, LF-only and CRLF endings
    raw_pty.write(
        stat(STATE=6).replace(b"\r\n", b"\n")
        + b"<ACK;CMD=AUTH;STATUS=OK;>\r\n"
        + b"of37\n"
        + stat(STATE=7, PWM=255)
    )
    await wait_state(orge, "sensor.charger_state", "stopped")
    assert orge.states.get("sensor.charger_pwm").state == "255"
    assert orge.states.get("sensor.charger_bad_lines").state == "0"


async def test_garbage_is_skipped_and_counted(raw_station: Orge, raw_pty: RawPty) -> None:
    orge = raw_station
    events = record_events(orge, "esp32_unknown_line", "esp32_info")
    raw_pty.write(b"\xff\xfe\x80 noise\r\n")  # non-UTF-8 bytes
    raw_pty.write(b"zzz~~~garbage\r\n")  # garbage between lines
    raw_pty.write(b"<FOO;X=1;>\r\n")  # unknown line kind
    raw_pty.write(b"<STAT;CP=2;STATE=x5;>\r\n")  # non-integer field
    raw_pty.write(b"<STAT;CP=2;CPV=1847;>\r\n")  # STATE missing: unusable
    raw_pty.write(b"<ACK;STATUS=OK;>\r\n")  # an ACK without CMD
    raw_pty.write(b"A" * 3000)  # over-long, no LF ...
    raw_pty.write(b"tail of the long line\r\n")  # ... its tail is dropped with it
    raw_pty.write(b"\x00\xff<STAT;" + stat(STATE=4, RL=1, LOCK=1)[6:])  # noise before '<'
    await wait_state(orge, "sensor.charger_state", "ready")
    counts = bad(orge)
    assert counts["non_ascii"] == 1
    assert counts["garbage"] == 1
    assert counts["unknown_record"] == 1
    assert counts["bad_stat"] == 2
    assert counts["bad_record"] == 1
    assert counts["overlong"] == 1
    assert orge.states.get("sensor.charger_bad_lines").state == "7"
    kinds = [e.data["kind"] for e in events if e.event_type == "esp32_unknown_line"]
    assert sorted(kinds) == sorted(
        ["non_ascii", "garbage", "unknown_record", "bad_stat", "bad_stat", "bad_record", "overlong"]
    )
    assert all(len(e.data["line"]) <= 200 for e in events)
    # the boot banner and ROM text are known free text, not bad lines
    raw_pty.write(b"ets Jun  8 2016 00:22:57\r\nrst:0x1 (POWERON_RESET),boot:0x13\r\n")
    raw_pty.write(b"GPIO UART: RX=GPIO34, TX=GPIO21, Baud=115200\n")
    raw_pty.write(b"<WARN;MSG=PF_IGNORED_RELAY_MASK;>\r\n")
    await wait_for(lambda: any(e.data.get("level") == "warning" for e in events))
    assert orge.states.get("sensor.charger_bad_lines").state == "7"


async def test_stat_with_missing_or_extra_fields(raw_station: Orge, raw_pty: RawPty) -> None:
    """§9.1: accepted defensively, noted; a missing value reads unknown."""
    orge = raw_station
    line = stat(STATE=5, CP=2).replace(b"PWM=84;", b"")
    raw_pty.write(line)
    await wait_state(orge, "sensor.charger_state", "charging")
    assert orge.states.get("sensor.charger_pwm").state == "unknown"
    raw_pty.write(b"<STAT;ID=3;" + stat(STATE=6)[6:].replace(b">", b"FOO=9;>"))
    await wait_state(orge, "sensor.charger_state", "paused")
    assert orge.states.get("sensor.charger_pwm").state == "84"
    counts = bad(orge)
    assert counts["stat_missing_fields"] == 1
    assert counts["stat_extra_fields"] == 1


async def test_no_status_for_three_intervals_is_unavailable(
    sim: Esp32Simulator, station_config, start_station
) -> None:
    orge, _ = await start_station(station_config(sim.port, status_interval=0.3))
    await wait_state(orge, "sensor.charger_state", "idle")
    sim.mute_answers = True  # the controller hangs: no STAT, no answers
    started = time.monotonic()
    await wait_state(orge, "sensor.charger_state", "unavailable", timeout=3)
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 1.5  # ~3 status intervals, not delayed by the hung polls
    assert orge.states.get("binary_sensor.charger_link").state == "on"
    assert orge.states.get("number.charger_max_current").state == "unavailable"
    assert orge.states.get("sensor.charger_bad_lines").state == "0"  # always available
    sim.mute_answers = False
    await wait_state(orge, "sensor.charger_state", "idle")


async def test_port_disappears_and_comes_back(station: Orge, sim: Esp32Simulator) -> None:
    orge = station
    charger = orge.data["esp32"]["charger"]
    sim.vehicle_ready()
    await wait_state(orge, "sensor.charger_state", "ev_connected")

    sim.disconnect_usb()  # pty master closed, device path gone
    await wait_state(orge, "binary_sensor.charger_link", "off")
    for entity_id in ("sensor.charger_state", "sensor.charger_pwm", "binary_sensor.charger_relay"):
        assert orge.states.get(entity_id).state == "unavailable"
    started = time.monotonic()
    with pytest.raises(OrgeError, match="serial link to .* is down"):
        await orge.services.async_call("esp32", "authorize", {}, blocking=True)
    assert time.monotonic() - started < 0.1  # fails at once, nothing queued
    assert charger.link.last_error

    await asyncio.sleep(1.2)  # let the back-off grow: 0.5 s, then 1 s
    assert charger.link.next_retry_in is not None and charger.link.next_retry_in >= 1.0
    assert sim.received_frames.count(p.FRAME_AUTHORIZE) == 0

    await sim.reconnect_usb()  # same path, new pty; the controller rebooted (USB power)
    await wait_state(orge, "binary_sensor.charger_link", "on", timeout=5)
    # the EV is still there: the rebooted controller walks 1 -> 2 -> 3 again
    await wait_state(orge, "sensor.charger_state", "ev_connected", timeout=3)
    assert orge.states.get("binary_sensor.charger_authorized").state == "off"
    await orge.services.async_call("esp32", "authorize", {}, blocking=True)
    await wait_state(orge, "sensor.charger_state", "ready")


async def test_link_down_during_a_command(station: Orge, sim: Esp32Simulator) -> None:
    orge = station
    sim.ignore_frames = True
    task = asyncio.ensure_future(
        orge.services.async_call("esp32", "set_max_current", {"current": 16}, blocking=True)
    )
    await asyncio.sleep(0.1)
    sim.disconnect_usb()
    with pytest.raises(OrgeError, match="lost|down"):
        await task


async def test_late_and_unrelated_acks_are_not_matched(raw_pty: RawPty) -> None:
    """§9.2: answers are matched by CMD name; a late ACK after a timeout is dropped."""
    from components.esp32.charger import _ack_of
    from components.esp32.link import Esp32Link

    lines: list[p.Line] = []
    link = Esp32Link(raw_pty.path, 115200, lines.append, lambda up: None, late_grace=0.1)
    runner = asyncio.ensure_future(link.run())
    await wait_for(lambda: link.connected)

    async def answer(*chunks: bytes) -> None:
        for chunk in chunks:
            await asyncio.sleep(0.02)
            raw_pty.write(chunk)

    feeder = asyncio.ensure_future(
        answer(b"<ACK;CMD=SETMAXAMP;STATUS=OK;>\r\n", b"<ACK;CMD=AUTH;STATUS=OK;>\r\n")
    )
    line = await link.exchange(p.FRAME_AUTHORIZE, _ack_of("AUTH"), 1.0)
    await feeder
    assert line is not None and line.record.fields["CMD"] == "AUTH"

    # timeout, then the late ACK arrives inside the grace period and is not taken by the
    # next command
    assert await link.exchange(p.FRAME_LOCK, _ack_of("LOCK"), 0.05) is None
    raw_pty.write(b"<ACK;CMD=LOCK;STATUS=OK;>\r\n")
    await asyncio.sleep(0.15)
    assert await link.exchange(p.FRAME_LOCK, _ack_of("LOCK"), 0.05) is None
    # one frame outstanding at a time: concurrent exchanges go out one after the other
    raw_pty.read()
    first = asyncio.ensure_future(link.exchange(p.FRAME_READSTAT, _ack_of("READSTAT"), 0.3))
    second = asyncio.ensure_future(link.exchange(p.FRAME_UNLOCK, _ack_of("UNLOCK"), 0.3))
    await asyncio.sleep(0.1)
    assert raw_pty.read() == p.FRAME_READSTAT  # the second frame waits
    raw_pty.write(b"<ACK;CMD=READSTAT;STATUS=OK;>\r\n")
    assert (await first) is not None
    await asyncio.sleep(0.05)
    assert raw_pty.read() == p.FRAME_UNLOCK
    assert await second is None
    await link.close()
    runner.cancel()


async def test_pilot_error_in_session_raises_an_alarm(raw_station: Orge, raw_pty: RawPty) -> None:
    """Q13: CP code 3 in CHARGING keeps the relay closed; the host says so (once)."""
    orge = raw_station
    events = record_events(orge, "esp32_info")
    raw_pty.write(stat(STATE=5, CP=2, CPV=1847, RL=1))
    await wait_state(orge, "sensor.charger_state", "charging")
    raw_pty.write(stat(STATE=5, CP=3, CPV=1200, RL=1) + stat(STATE=5, CP=3, CPV=1190, RL=1))
    await wait_state(orge, "sensor.charger_cp_state", "error")
    await wait_for(
        lambda: orge.states.get("sensor.charger_cp_voltage").attributes["raw_adc"] == 1190
    )
    alarms = [e for e in events if e.data["message"] == "CP_ERROR_IN_SESSION"]
    assert len(alarms) == 1 and alarms[0].data["level"] == "warning"
