"""check-config for the esp32 block, and `port: simulator` with its simulate service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orge.exceptions import ServiceNotFound, ServiceValidationError
from orge.setup import check_configuration

from .conftest import wait_state

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("block", "line", "words"),
    [
        ("esp32:\n  port: /dev/ttyUSB9\n  baudrate: 12345\n", 3, ["baudrate 12345", "115200"]),
        ("esp32:\n  port: /dev/ttyUSB9\n  baudrate: fast\n", 3, ["baudrate must be a number"]),
        ("esp32:\n  port: /dev/ttyUSB9\n  max_current: 40\n", 3, ["max_current 40 A", "6..32"]),
        ("esp32:\n  port: /dev/ttyUSB9\n  max_current: 5\n", 3, ["outside 6..32"]),
        ("esp32:\n  port: 123\n", 2, ["port must be a device path", "int"]),
        ("esp32:\n  baudrate: 115200\n", 2, ["port"]),
        ("esp32:\n  port: /dev/ttyUSB9\n  simulator: {}\n", 3, ["port: simulator"]),
    ],
)
def test_check_config_rejects_bad_block(
    config_dir, block: str, line: int, words: list[str]
) -> None:
    path = config_dir("orge:\n  name: t\n" + block)
    result = check_configuration(str(path))
    problems = result.errors.get("esp32")
    assert problems, result.errors
    text = " ".join(problems)
    assert f"configuration.yaml, line {line + 2}" in text, text
    for word in words:
        assert word in text, text


def test_check_config_never_opens_the_port(config_dir) -> None:
    """A valid block with a device that does not exist passes: nothing is opened."""
    path = config_dir("esp32:\n  port: /dev/serial/by-id/usb-nothing-here\n  max_current: 16\n")
    result = check_configuration(str(path))
    assert result.problems == []
    block = result.blocks["esp32"]
    assert block["ack_timeout"] == 3.0 and block["status_interval"] == 10.0
    assert block["retries"] == 1 and block["baudrate"] == 115200 and block["name"] == "charger"


def test_cli_check_config_exit_code(config_dir) -> None:
    path = config_dir("esp32:\n  port: /dev/ttyUSB0\n  baudrate: 1234\n  max_current: 99\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "orge", "check-config", "-c", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "configuration.yaml, line 3" in done.stdout
    assert "baudrate 1234" in done.stdout and "max_current 99" in done.stdout


SIMULATED = """
esp32:
  port: simulator
  name: Bay 2
  status_interval: 0.5
  session_status_interval: 0.2
  ack_timeout: 0.5
  simulator:
    time_scale: 0.02
    stat_interval: 0.3
    fault_report_interval: 0.02
"""


async def test_port_simulator_and_simulate_service(config_dir, start_station) -> None:
    orge, result = await start_station(config_dir(SIMULATED))
    assert not result.problems
    await wait_state(orge, "sensor.bay_2_state", "idle")
    assert orge.states.get("binary_sensor.bay_2_link").attributes["port"].endswith("ttyESP32")

    async def simulate(event: str) -> None:
        await orge.services.async_call("esp32", "simulate", {"event": event}, blocking=True)

    await simulate("plug_in")
    await wait_state(orge, "sensor.bay_2_state", "cable_detect")
    await simulate("vehicle_ready")
    await wait_state(orge, "sensor.bay_2_state", "ev_connected")
    await orge.services.async_call("esp32", "authorize", {}, blocking=True)
    await simulate("vehicle_charging")
    await wait_state(orge, "sensor.bay_2_state", "charging")
    await simulate("fault_phase")
    await wait_state(orge, "sensor.bay_2_power_board", "no_phase")
    await wait_state(orge, "sensor.bay_2_state", "fault")
    await simulate("clear_fault")
    await simulate("unplug")
    await wait_state(orge, "sensor.bay_2_state", "idle", timeout=10)
    with pytest.raises(ServiceValidationError, match="unknown simulator event"):
        await orge.services.async_call("esp32", "simulate", {"event": "explode"}, blocking=True)
    service = orge.services.services["esp32"]["set_max_current"]
    assert "current" in service.description["fields"]


async def test_no_simulate_service_on_a_real_port(sim, station_config, start_station) -> None:
    orge, _ = await start_station(station_config(sim.port))
    await wait_state(orge, "sensor.charger_state", "idle")
    with pytest.raises(ServiceNotFound):
        await orge.services.async_call("esp32", "simulate", {"event": "plug_in"}, blocking=True)


async def test_absent_device_is_not_a_setup_failure(
    station_config, start_station, tmp_path
) -> None:
    orge, _ = await start_station(station_config(str(tmp_path / "missing-tty")))
    assert "esp32" in orge.config.components
    assert orge.states.get("binary_sensor.charger_link").state == "off"
    assert orge.states.get("sensor.charger_state").state == "unavailable"
    with pytest.raises(Exception, match="is down"):
        await orge.services.async_call("esp32", "refresh", {}, blocking=True)


def test_default_config_esp32_block_is_valid() -> None:
    result = check_configuration(str(REPO / "config"))
    assert "esp32" not in result.errors
