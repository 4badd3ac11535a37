"""power_monitor against a stand-in `vcgencmd` executable printing the real tool's format."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orge.core import Event, callback
from orge.setup import check_configuration

FAKE_VCGENCMD = """#!/bin/sh
# Answers like the Pi's vcgencmd; the test writes what to answer into files beside it.
dir=$(dirname "$0")
if [ -f "$dir/fail" ]; then echo "VCHI initialization failed"; exit 255; fi
case "$1" in
  get_throttled) cat "$dir/throttled" ;;
  measure_temp) echo "temp=47.2'C" ;;
  measure_volts) echo "volt=0.8563V" ;;
  *) echo "Command not registered"; exit 255 ;;
esac
"""


def fake_tool(tmp_path: Path, throttled: str = "throttled=0x0") -> Path:
    tool = tmp_path / "bin" / "vcgencmd"
    tool.parent.mkdir()
    tool.write_text(FAKE_VCGENCMD)
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    (tool.parent / "throttled").write_text(throttled + "\n")
    return tool


async def wait_for_state(orge: Any, entity_id: str, state: str, timeout: float = 5) -> None:
    for _ in range(int(timeout / 0.02)):
        current = orge.states.get(entity_id)
        if current is not None and current.state == state:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{entity_id} is {orge.states.get(entity_id)}, expected {state}")


async def test_readings_and_under_voltage_event(
    tmp_path: Path, config_dir: Callable[..., Path], start_station: Callable[..., Any]
) -> None:
    tool = fake_tool(tmp_path)
    path = config_dir(f"power_monitor:\n  vcgencmd: {tool}\n  scan_interval: 1\n")
    orge, result = await start_station(path)
    assert result.problems == []
    events: list[Event] = []
    orge.bus.async_listen("power_monitor_under_voltage", callback(lambda e: events.append(e)))
    await wait_for_state(orge, "sensor.pi_cpu_temperature", "47.2")
    assert orge.states.get("binary_sensor.pi_under_voltage").state == "off"
    assert orge.states.get("sensor.pi_core_voltage").attributes["unit_of_measurement"] == "V"
    assert orge.states.get("sensor.pi_throttled_flags").state == "0x0"

    (tool.parent / "throttled").write_text("throttled=0x50005\n")
    await wait_for_state(orge, "binary_sensor.pi_under_voltage", "on")
    assert orge.states.get("binary_sensor.pi_throttled").state == "on"
    assert orge.states.get("binary_sensor.pi_under_voltage_occurred").state == "on"
    assert orge.states.get("binary_sensor.pi_frequency_capped").state == "off"
    assert [e.data for e in events] == [{"throttled": "0x50005"}]

    (tool.parent / "throttled").write_text("throttled=0x50000\n")
    await wait_for_state(orge, "binary_sensor.pi_under_voltage", "off")
    assert orge.states.get("binary_sensor.pi_under_voltage_occurred").state == "on"
    assert len(events) == 1


async def test_failing_tool_makes_entities_unavailable_then_recovers(
    tmp_path: Path, config_dir: Callable[..., Path], start_station: Callable[..., Any]
) -> None:
    tool = fake_tool(tmp_path)
    (tool.parent / "fail").write_text("")
    path = config_dir(f"power_monitor:\n  vcgencmd: {tool}\n  scan_interval: 1\n")
    orge, _ = await start_station(path)
    await wait_for_state(orge, "sensor.pi_throttled_flags", "unavailable")
    await asyncio.sleep(0.05)
    assert orge.states.get("binary_sensor.pi_under_voltage").state == "unavailable"
    assert "power_monitor" in orge.config.components  # unavailable, not a failed setup
    (tool.parent / "fail").unlink()
    (tool.parent / "throttled").write_text("garbage here\n")
    await asyncio.sleep(1.2)
    flags = orge.states.get("sensor.pi_throttled_flags")
    assert flags.state == "unavailable"
    (tool.parent / "throttled").write_text("throttled=0x0\n")
    await wait_for_state(orge, "binary_sensor.pi_under_voltage", "off")
    assert orge.states.get("sensor.pi_throttled_flags").attributes["failures"] >= 2


async def test_missing_tool(
    tmp_path: Path, config_dir: Callable[..., Path], start_station: Callable[..., Any]
) -> None:
    path = config_dir(f"power_monitor:\n  vcgencmd: {tmp_path}/nowhere/vcgencmd\n")
    orge, _ = await start_station(path)
    await asyncio.sleep(0.2)
    await orge.async_block_till_done()
    state = orge.states.get("sensor.pi_throttled_flags")
    assert state.state == "unavailable"
    assert "power_monitor" in orge.config.components


def test_check_config_rejects_bad_options(config_dir: Callable[..., Path]) -> None:
    path = config_dir("power_monitor:\n  scan_interval: 0\n  name: Pi Board\n")
    problems = check_configuration(str(path)).problems
    assert any("line 2" in p and "scan_interval" in p for p in problems), problems
    assert any("line 3" in p and "invalid slug" in p for p in problems), problems
