"""power_monitor against a fake sysfs tree (the firmware's get_throttled, the rpi_volt hwmon
device, the thermal zone), a fake `vcgencmd` on PATH and a fake kernel log, each in the
format the real one uses."""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orge.core import EVENT_ORGE_STOP, callback
from orge.setup import check_configuration
from orge.testing import async_fire_time_changed

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

FAKE_DMESG = """#!/bin/sh
# Prints the kernel log as dmesg does, and notes that it was run.
dir=$(dirname "$0")
echo run >> "$dir/dmesg_runs"
cat "$dir/kernel.log"
"""

# `dmesg` format: both kernels' under-voltage messages, and lines that must not count.
DMESG_LOG = """\
[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x410fd083]
[    5.130412] hwmon hwmon1: Undervoltage detected!
[    9.377017] hwmon hwmon1: Voltage normalised
[  133.600511] Under-voltage detected! (0x00050005)
[  137.760591] Voltage normalised (0x00000000)
[  201.001000] usb 1-1.3: new high-speed USB device number 4 using dwc_otg
"""

# /dev/kmsg format: "priority,sequence,microseconds,flags;message".
KMSG_LOG = """\
6,0,0,-;Booting Linux on physical CPU 0x0000000000 [0x410fd083]
2,812,5130412,-;hwmon hwmon1: Undervoltage detected!
6,813,9377017,-;hwmon hwmon1: Voltage normalised
"""


def sysfs_tree(
    root: Path,
    throttled: str | None = None,
    hwmon_alarm: str | None = None,
    millidegrees: str | None = "47236\n",
) -> Path:
    """A fake /sys: only the files given exist."""
    if throttled is not None:
        path = root / "sys/devices/platform/soc/soc:firmware/get_throttled"
        path.parent.mkdir(parents=True)
        path.write_text(throttled)
    if hwmon_alarm is not None:
        other = root / "sys/class/hwmon/hwmon0"
        other.mkdir(parents=True)
        (other / "name").write_text("cpu_thermal\n")
        (other / "in0_lcrit_alarm").write_text("1\n")  # not the supply: must be ignored
        volt = root / "sys/class/hwmon/hwmon1"
        volt.mkdir(parents=True)
        (volt / "name").write_text("rpi_volt\n")
        (volt / "in0_lcrit_alarm").write_text(hwmon_alarm)
    if millidegrees is not None:
        path = root / "sys/class/thermal/thermal_zone0/temp"
        path.parent.mkdir(parents=True)
        path.write_text(millidegrees)
    root.mkdir(parents=True, exist_ok=True)
    return root


def tool(directory: Path, name: str, script: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def put_on_path(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")


def config(root: Path, kernel_log: str, vcgencmd: str = "vcgencmd", interval: int = 3600) -> str:
    return (
        "power_monitor:\n"
        f"  sysfs_root: {root}\n"
        f"  vcgencmd: {vcgencmd}\n"
        f"  kernel_log: {kernel_log}\n"
        f"  scan_interval: {interval}\n"
    )


async def refresh(orge: Any) -> None:
    await orge.data["power_monitor"].async_refresh()
    await orge.async_block_till_done()


def state(orge: Any, entity_id: str) -> str:
    return orge.states.get(entity_id).state


def problems(orge: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    orge.bus.async_listen("power_monitor_problem", callback(lambda e: events.append(e.data)))
    return events


async def test_sysfs_every_bit_temperature_kernel_log_and_event(
    tmp_path: Path, config_dir: Callable[..., Path], start_station: Callable[..., Any]
) -> None:
    root = sysfs_tree(tmp_path / "root", throttled="0\n")
    kmsg = tmp_path / "kmsg"
    kmsg.write_text(KMSG_LOG)
    path = config_dir(config(root, str(kmsg), vcgencmd=f"{tmp_path}/nowhere/vcgencmd"))
    orge, result = await start_station(path)
    assert result.problems == []
    events = problems(orge)
    await refresh(orge)

    assert state(orge, "sensor.pi_power_monitor_source") == "sysfs"
    assert state(orge, "sensor.pi_throttled_flags") == "0x0"
    for key in (
        "under_voltage",
        "frequency_capped",
        "throttled",
        "soft_temperature_limit",
        "under_voltage_occurred",
        "frequency_capping_occurred",
        "throttling_occurred",
        "soft_temperature_limit_occurred",
    ):
        assert state(orge, f"binary_sensor.pi_{key}") == "off", key
    temperature = orge.states.get("sensor.pi_cpu_temperature")
    assert temperature.state == "47.236"
    assert temperature.attributes["unit_of_measurement"] == "°C"
    assert state(orge, "sensor.pi_core_voltage") == "unavailable"  # vcgencmd only
    messages = orge.states.get("sensor.pi_under_voltage_messages")
    assert messages.state == "1"
    assert messages.attributes["state_class"] == "total_increasing"

    # Under-voltage and throttled now, both also "since boot" (the firmware's 0x50005).
    (root / "sys/devices/platform/soc/soc:firmware/get_throttled").write_text("50005\n")
    with kmsg.open("a") as log:
        log.write("2,977,133600511,-;hwmon hwmon1: Undervoltage detected!\n")
    await refresh(orge)
    assert state(orge, "sensor.pi_throttled_flags") == "0x50005"
    assert state(orge, "binary_sensor.pi_under_voltage") == "on"
    assert state(orge, "binary_sensor.pi_throttled") == "on"
    assert state(orge, "binary_sensor.pi_frequency_capped") == "off"
    assert state(orge, "binary_sensor.pi_under_voltage_occurred") == "on"
    assert state(orge, "binary_sensor.pi_throttling_occurred") == "on"
    assert state(orge, "binary_sensor.pi_frequency_capping_occurred") == "off"
    assert state(orge, "sensor.pi_under_voltage_messages") == "2"
    assert events == [
        {"problems": ["under_voltage", "throttled"], "throttled": "0x50005", "source": "sysfs"}
    ]

    # Still under-voltage, now also the soft temperature limit: only the new bit is news.
    (root / "sys/devices/platform/soc/soc:firmware/get_throttled").write_text("d000d\n")
    await refresh(orge)
    assert state(orge, "binary_sensor.pi_soft_temperature_limit") == "on"
    assert state(orge, "binary_sensor.pi_soft_temperature_limit_occurred") == "on"
    assert events[1:] == [
        {"problems": ["soft_temperature_limit"], "throttled": "0xd000d", "source": "sysfs"}
    ]

    (root / "sys/devices/platform/soc/soc:firmware/get_throttled").write_text("50000\n")
    await refresh(orge)
    assert state(orge, "binary_sensor.pi_under_voltage") == "off"
    assert state(orge, "binary_sensor.pi_under_voltage_occurred") == "on"
    assert len(events) == 2


async def test_vcgencmd_on_path_fails_and_recovers(
    tmp_path: Path,
    config_dir: Callable[..., Path],
    start_station: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = sysfs_tree(tmp_path / "root", millidegrees=None)  # no sysfs value, no thermal zone
    bin_dir = tmp_path / "bin"
    tool(bin_dir, "vcgencmd", FAKE_VCGENCMD)
    (bin_dir / "throttled").write_text("throttled=0x50005\n")
    put_on_path(monkeypatch, bin_dir)
    kmsg = tmp_path / "kmsg"
    kmsg.write_text("")
    orge, _ = await start_station(config_dir(config(root, str(kmsg))))
    events = problems(orge)
    await refresh(orge)
    assert state(orge, "sensor.pi_power_monitor_source") == "vcgencmd"
    assert state(orge, "sensor.pi_throttled_flags") == "0x50005"
    assert state(orge, "binary_sensor.pi_under_voltage") == "on"
    assert state(orge, "sensor.pi_cpu_temperature") == "47.2"
    voltage = orge.states.get("sensor.pi_core_voltage")
    assert voltage.state == "0.8563" and voltage.attributes["unit_of_measurement"] == "V"
    assert state(orge, "sensor.pi_under_voltage_messages") == "0"
    assert events == []  # the first reading at start already announced it

    (bin_dir / "fail").write_text("")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="components.power_monitor"):
        for _ in range(3):
            await refresh(orge)
    assert state(orge, "binary_sensor.pi_under_voltage") == "unavailable"
    assert state(orge, "sensor.pi_throttled_flags") == "unavailable"
    source = orge.states.get("sensor.pi_power_monitor_source")
    assert source.state == "error"
    assert "VCHI initialization failed" in source.attributes["last_error"]
    assert source.attributes["failures"] == 3
    # one line per failing reading (throttled, temperature, core voltage), not per poll
    assert len(caplog.records) == 3, [r.getMessage() for r in caplog.records]
    assert "power_monitor" in orge.config.components  # unavailable, not a failed setup

    (bin_dir / "fail").unlink()
    (bin_dir / "throttled").write_text("garbage here\n")
    await refresh(orge)
    assert (
        "unexpected get_throttled answer 'garbage here'"
        in (orge.states.get("sensor.pi_power_monitor_source").attributes["last_error"])
    )
    (bin_dir / "throttled").write_text("throttled=0x50005\n")
    await refresh(orge)
    assert state(orge, "binary_sensor.pi_under_voltage") == "on"
    assert events == []  # under-voltage did not rise again: it never ended


async def test_sources_tried_in_order(
    tmp_path: Path,
    config_dir: Callable[..., Path],
    start_station: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = sysfs_tree(tmp_path / "root", throttled="0\n", hwmon_alarm="1\n")
    bin_dir = tmp_path / "bin"
    tool(bin_dir, "vcgencmd", FAKE_VCGENCMD)
    (bin_dir / "throttled").write_text("throttled=0x20002\n")
    put_on_path(monkeypatch, bin_dir)
    kmsg = tmp_path / "kmsg"
    kmsg.write_text("")
    orge, _ = await start_station(config_dir(config(root, str(kmsg))))
    source = orge.states.get("sensor.pi_power_monitor_source")
    assert source.state == "sysfs"
    assert source.attributes["sources"] == ["sysfs", "vcgencmd", "hwmon"]
    assert state(orge, "sensor.pi_cpu_temperature") == "47.236"  # thermal zone first

    (root / "sys/devices/platform/soc/soc:firmware/get_throttled").unlink()
    await refresh(orge)
    assert state(orge, "sensor.pi_power_monitor_source") == "vcgencmd"
    assert state(orge, "binary_sensor.pi_frequency_capped") == "on"

    (bin_dir / "fail").write_text("")
    await refresh(orge)
    assert state(orge, "sensor.pi_power_monitor_source") == "hwmon"
    assert state(orge, "binary_sensor.pi_under_voltage") == "on"


async def test_hwmon_rpi_volt_knows_only_under_voltage_now(
    tmp_path: Path, config_dir: Callable[..., Path], start_station: Callable[..., Any]
) -> None:
    root = sysfs_tree(tmp_path / "root", hwmon_alarm="0\n")
    kmsg = tmp_path / "kmsg"
    kmsg.write_text("")
    path = config_dir(config(root, str(kmsg), vcgencmd=f"{tmp_path}/nowhere/vcgencmd"))
    orge, _ = await start_station(path)
    events = problems(orge)
    assert state(orge, "sensor.pi_power_monitor_source") == "hwmon"
    assert state(orge, "binary_sensor.pi_under_voltage") == "off"
    assert state(orge, "binary_sensor.pi_throttled") == "unavailable"
    assert state(orge, "binary_sensor.pi_under_voltage_occurred") == "unavailable"
    assert state(orge, "sensor.pi_throttled_flags") == "unavailable"

    (root / "sys/class/hwmon/hwmon1/in0_lcrit_alarm").write_text("1\n")
    await refresh(orge)
    assert state(orge, "binary_sensor.pi_under_voltage") == "on"
    assert events == [{"problems": ["under_voltage"], "throttled": "0x1", "source": "hwmon"}]


async def test_dmesg_command_as_kernel_log(
    tmp_path: Path,
    config_dir: Callable[..., Path],
    start_station: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = sysfs_tree(tmp_path / "root", throttled="0\n")
    bin_dir = tmp_path / "bin"
    tool(bin_dir, "dmesg", FAKE_DMESG)
    (bin_dir / "kernel.log").write_text(DMESG_LOG)
    put_on_path(monkeypatch, bin_dir)
    path = config_dir(config(root, "dmesg", vcgencmd=f"{tmp_path}/nowhere/vcgencmd"))
    orge, _ = await start_station(path)
    # both formats: the rpi_volt hwmon driver's and the older firmware driver's
    assert state(orge, "sensor.pi_under_voltage_messages") == "2"
    with (bin_dir / "kernel.log").open("a") as log:
        log.write("[  302.000100] hwmon hwmon1: Undervoltage detected!\n")
    await refresh(orge)
    assert state(orge, "sensor.pi_under_voltage_messages") == "3"


async def test_not_a_pi_says_unsupported_once_and_does_not_poll(
    tmp_path: Path,
    config_dir: Callable[..., Path],
    start_station: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = sysfs_tree(tmp_path / "root")  # a thermal zone, as any Linux PC has
    bin_dir = tmp_path / "bin"
    tool(bin_dir, "dmesg", FAKE_DMESG)
    (bin_dir / "kernel.log").write_text(DMESG_LOG)
    put_on_path(monkeypatch, bin_dir)
    path = config_dir(config(root, "dmesg", vcgencmd=f"{tmp_path}/nowhere/vcgencmd", interval=1))
    with caplog.at_level(logging.INFO, logger="components.power_monitor"):
        orge, result = await start_station(path)
        await async_fire_time_changed(orge, 1.3)  # past the first 1 s poll
        await orge.async_block_till_done()
    assert result.problems == []
    assert "power_monitor" in orge.config.components
    assert state(orge, "sensor.pi_power_monitor_source") == "unsupported"
    assert state(orge, "binary_sensor.pi_under_voltage") == "unavailable"
    assert state(orge, "sensor.pi_cpu_temperature") == "unavailable"
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("components.")]
    assert len(lines) == 1 and "unsupported" in lines[0], lines
    assert not (bin_dir / "dmesg_runs").exists()  # nothing read, nothing polled


def test_check_config_rejects_bad_options(config_dir: Callable[..., Path]) -> None:
    path = config_dir(
        "power_monitor:\n  scan_interval: 0\n  name: Pi Board\n  sysfs_root: fake/sys\n"
    )
    problems = check_configuration(str(path)).problems
    assert any("line 2" in p and "scan_interval" in p for p in problems), problems
    assert any("line 3" in p and "invalid slug" in p for p in problems), problems
    assert any("line 4" in p and "absolute path" in p for p in problems), problems


async def test_stop_cancels_polling_on_the_loop_at_once(
    tmp_path: Path,
    config_dir: Callable[..., Path],
    start_station: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The orge_stop listener is a callback: it cancels the poll timer and closes the
    kernel log inline on the loop's thread (a plain function would run on an executor
    thread, cancelling a loop timer from outside the loop)."""
    root = sysfs_tree(tmp_path / "root", throttled="0\n")
    bin_dir = tmp_path / "bin"
    tool(bin_dir, "dmesg", FAKE_DMESG)
    (bin_dir / "kernel.log").write_text(DMESG_LOG)
    put_on_path(monkeypatch, bin_dir)
    path = config_dir(config(root, "dmesg", vcgencmd=f"{tmp_path}/nowhere/vcgencmd", interval=1))
    orge, _ = await start_station(path)
    await async_fire_time_changed(orge, 1.3)
    await orge.async_block_till_done()
    runs = (bin_dir / "dmesg_runs").read_text().count("run")
    assert runs >= 2  # the start's read and the first poll's
    monitor = orge.data["power_monitor"]
    closed_on: list[int] = []
    close = monitor.kernel_log.close

    def record_close() -> None:
        closed_on.append(threading.get_ident())
        close()

    monkeypatch.setattr(monitor.kernel_log, "close", record_close)
    orge.bus.async_fire(EVENT_ORGE_STOP)
    assert closed_on == [threading.get_ident()]  # ran inside async_fire, on this thread
    await async_fire_time_changed(orge, 5)
    await orge.async_block_till_done()
    assert (bin_dir / "dmesg_runs").read_text().count("run") == runs  # no poll after stop
