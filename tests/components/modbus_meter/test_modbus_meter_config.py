"""check-config for the modbus_meter block: a bad register map is reported with file and
line, a valid one passes without opening anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orge.setup import check_configuration

REPO = Path(__file__).resolve().parents[3]

USER_MAP = """\
modbus_meter:
  host: 192.0.2.10
  slave: 3
  registers:
    - key: energy
      address: 0x5000
      input_type: holding
      data_type: uint64
      scale: 0.01
      unit_of_measurement: kWh
      device_class: energy
      state_class: total_increasing
    - key: power
      address: 20
      data_type: {data_type}
      count: {count}
      word_order: little
      unit_of_measurement: W
"""


def _problems(config_dir, text: str) -> str:
    result = check_configuration(str(config_dir(text)))
    problems = result.errors.get("modbus_meter")
    assert problems, result.errors
    return " ".join(problems)


@pytest.mark.parametrize(
    ("data_type", "count", "line", "words"),
    [
        ("float32", 4, 16, ["count 4 does not fit data_type float32", "2 registers"]),
        ("float64", 4, 15, ["float64", "data_type"]),
    ],
)
def test_bad_register_map_names_file_and_line(
    config_dir, data_type: str, count: int, line: int, words: list[str]
) -> None:
    text = _problems(config_dir, USER_MAP.format(data_type=data_type, count=count))
    assert f"configuration.yaml, line {line}" in text, text
    for word in words:
        assert word in text, text


@pytest.mark.parametrize(
    ("block", "line", "words"),
    [
        ("modbus_meter:\n  port: /dev/ttyUSB1\n  model: abb_b99\n", 3, ["abb_b99"]),
        ("modbus_meter:\n  model: abb_b23\n", 2, ["either port", "or host"]),
        (
            "modbus_meter:\n  port: /dev/ttyUSB1\n  host: gw\n  model: abb_b23\n",
            2,
            ["not both"],
        ),
        ("modbus_meter:\n  port: /dev/ttyUSB1\n", 2, ["either model", "registers"]),
        ("modbus_meter:\n  host: gw\n  baudrate: 9600\n  model: abb_b23\n", 3, ["serial option"]),
        ("modbus_meter:\n  port: x\n  model: abb_b23\n  scan_interval: 0.5\n", 4, ["at least 1"]),
        ("modbus_meter:\n  port: x\n  model: abb_b23\n  parity: X\n", 4, ["parity must be N"]),
        (
            "modbus_meter:\n  port: x\n  registers:\n    - {key: Energy, address: 1, "
            "data_type: uint16}\n",
            4,
            ["key must be lower-case"],
        ),
        (
            "modbus_meter:\n  port: x\n  registers:\n    - {key: a, address: 1, data_type: int16}\n"
            "    - {key: a, address: 2, data_type: int16}\n",
            5,
            ["key 'a' is used twice"],
        ),
        (
            "modbus_meter:\n  port: x\n  registers:\n    - {key: errors, address: 1, "
            "data_type: int16}\n",
            4,
            ["key 'errors' is taken"],
        ),
    ],
)
def test_bad_block(config_dir, block: str, line: int, words: list[str]) -> None:
    text = _problems(config_dir, block)
    assert f"configuration.yaml, line {line}" in text, text
    for word in words:
        assert word in text, text


def test_valid_blocks_open_nothing(config_dir) -> None:
    path = config_dir(USER_MAP.format(data_type="float32", count=2))
    result = check_configuration(str(path))
    assert result.problems == []
    block = result.blocks["modbus_meter"]
    assert block["tcp_port"] == 502 and block["scan_interval"] == 5.0
    assert block["max_power"] == 32 * 3 * 230
    energy, power = block["registers"]
    assert (energy.address, energy.count, energy.scale) == (0x5000, 4, 0.01)
    assert (power.input_type, power.word_order, power.count) == ("holding", "little", 2)
    path = config_dir("modbus_meter:\n  port: /dev/serial/by-id/nothing-here\n  model: abb_b23\n")
    result = check_configuration(str(path))
    assert result.problems == []
    block = result.blocks["modbus_meter"]
    assert (block["baudrate"], block["parity"], block["stopbits"]) == (9600, "N", 1)


def test_cli_check_config_exit_code(config_dir) -> None:
    path = config_dir(USER_MAP.format(data_type="float32", count=3))
    done = subprocess.run(
        [sys.executable, "-m", "orge", "check-config", "-c", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "configuration.yaml, line 16" in done.stdout, done.stdout
    assert "count 3 does not fit data_type float32" in done.stdout
