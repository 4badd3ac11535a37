"""Where a Raspberry Pi tells about its power supply, and how to read each place.

The throttled word (Raspberry Pi firmware, documented with `vcgencmd get_throttled`):
bit 0 under-voltage now, 1 ARM frequency capped now, 2 throttled now, 3 soft temperature
limit now; bits 16-19 the same four "has occurred since boot". It is read from, in order:

1. sysfs: `/sys/devices/platform/soc/soc:firmware/get_throttled` (the firmware driver's
   attribute, a hex word such as `50005`);
2. `vcgencmd get_throttled`, which prints `throttled=0x50005`;
3. hwmon: `in0_lcrit_alarm` of the device whose `name` is `rpi_volt`
   (`/sys/class/hwmon/hwmon*/`), `0` or `1`: under-voltage now only (bit 0).

Also: the CPU temperature in millidegrees Celsius (`/sys/class/thermal/thermal_zone0/temp`,
else `vcgencmd measure_temp` -> `temp=47.2'C`), the core voltage (`vcgencmd measure_volts
core` -> `volt=0.8563V`), and the kernel's under-voltage messages since boot, in the
formats `hwmon hwmon1: Undervoltage detected!` (rpi_volt driver) and
`Under-voltage detected! (0x00050005)` (older firmware driver).

Every path starts at `sysfs_root` so that tests (and containers) can point it elsewhere.
Errors are `SourceError` with a message that stays the same from one poll to the next.
"""

from __future__ import annotations

import asyncio
import errno
import glob
import os
import re
import shutil
from dataclasses import dataclass

SYSFS_THROTTLED = "sys/devices/platform/soc/soc:firmware/get_throttled"
HWMON_GLOB = "sys/class/hwmon/hwmon*"
HWMON_NAME = "rpi_volt"
THERMAL_ZONE = "sys/class/thermal/thermal_zone0/temp"
ALL_BITS = 0x000F000F  # the eight bits the firmware defines
UNDER_VOLTAGE_BIT = 0x1

_THROTTLED = re.compile(r"^throttled=(0x[0-9a-fA-F]+)\s*$")
_TEMP = re.compile(r"^temp=(-?\d+(?:\.\d+)?)'C\s*$")
_VOLT = re.compile(r"^volt=(\d+(?:\.\d+)?)V\s*$")
UNDER_VOLTAGE_MESSAGE = re.compile(rb"under-?voltage detected!", re.IGNORECASE)


class SourceError(Exception):
    """A source missing, failing, too slow, or answering something unexpected."""


@dataclass(frozen=True)
class Throttled:
    """A throttled word and which of its bits the source knows (`mask`)."""

    word: int
    mask: int
    source: str


def parse_hex_word(text: str) -> int:
    """`50005`, `0x50005` -> 0x50005; SourceError otherwise."""
    try:
        return int(text.strip(), 16)
    except ValueError:
        raise SourceError(f"unexpected get_throttled value {text.strip()[:60]!r}") from None


def parse_throttled(text: str) -> int:
    match = _THROTTLED.match(text.strip())
    if not match:
        raise SourceError(f"unexpected get_throttled answer {text.strip()[:60]!r}")
    return int(match.group(1), 16)


def parse_temperature(text: str) -> float:
    match = _TEMP.match(text.strip())
    if not match:
        raise SourceError(f"unexpected measure_temp answer {text.strip()[:60]!r}")
    return float(match.group(1))


def parse_volts(text: str) -> float:
    match = _VOLT.match(text.strip())
    if not match:
        raise SourceError(f"unexpected measure_volts answer {text.strip()[:60]!r}")
    return float(match.group(1))


def read_text(path: str) -> str:
    """A small file's text (blocking: run in the executor); SourceError if unreadable."""
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read()
    except OSError as err:
        raise SourceError(f"cannot read {path}: {err.strerror or err}") from None


def find_hwmon_alarm(sysfs_root: str) -> str | None:
    """The `in0_lcrit_alarm` file of the `rpi_volt` hwmon device, if there is one."""
    for device in sorted(glob.glob(os.path.join(sysfs_root, HWMON_GLOB))):
        try:
            with open(os.path.join(device, "name"), encoding="ascii") as handle:
                if handle.read().strip() != HWMON_NAME:
                    continue
        except OSError:
            continue
        alarm = os.path.join(device, "in0_lcrit_alarm")
        if os.path.exists(alarm):
            return alarm
    return None


def read_millidegrees(path: str) -> float:
    """`/sys/class/thermal/thermal_zone*/temp` (millidegrees Celsius) -> degrees Celsius."""
    text = read_text(path)
    try:
        return int(text.strip()) / 1000
    except ValueError:
        raise SourceError(f"unexpected temperature {text.strip()[:60]!r} in {path}") from None


class Command:
    """Runs a tool (`vcgencmd`, `dmesg`) with a timeout; SourceError when it is missing or fails."""

    def __init__(self, command: str, timeout: float) -> None:
        self.command = command
        self.timeout = timeout

    def present(self) -> bool:
        return shutil.which(self.command) is not None

    async def run(self, *args: str) -> str:
        try:
            process = await asyncio.create_subprocess_exec(
                self.command,
                *args,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        except OSError as err:
            raise SourceError(f"cannot run {self.command}: {err.strerror or err}") from None
        try:
            out, _ = await asyncio.wait_for(process.communicate(), self.timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise SourceError(
                f"{self.command} {' '.join(args)} took over {self.timeout:g} s"
            ) from None
        text = out.decode("ascii", "replace")
        if process.returncode != 0:
            raise SourceError(
                f"{self.command} {' '.join(args)} failed ({process.returncode}): {text.strip()[:80]}"
            )
        return text


class KernelLog:
    """Counts the kernel's under-voltage messages since boot.

    `source` is either a file, read incrementally from where the last read stopped
    (`/dev/kmsg`: one record per read, starting at the oldest record the ring buffer holds;
    or a plain file in the `dmesg` format), or a command printing the whole log (`dmesg`).
    """

    def __init__(self, source: str, timeout: float) -> None:
        self.source = source
        self.is_file = os.path.isabs(source)
        self.count = 0
        self._fd: int | None = None
        self._partial = b""
        self._command = Command(source, timeout) if not self.is_file else None

    async def read(self, loop: asyncio.AbstractEventLoop) -> int:
        """The number of under-voltage messages so far; SourceError if the log is unreadable."""
        if self._command is not None:
            text = await self._command.run()
            self.count = len(UNDER_VOLTAGE_MESSAGE.findall(text.encode()))
            return self.count
        return await loop.run_in_executor(None, self._read_file)

    def _read_file(self) -> int:
        if self._fd is None:
            try:
                self._fd = os.open(self.source, os.O_RDONLY | os.O_NONBLOCK)
            except OSError as err:
                raise SourceError(f"cannot read {self.source}: {err.strerror or err}") from None
        while True:
            try:
                chunk = os.read(self._fd, 16384)
            except BlockingIOError:
                break  # /dev/kmsg: no new record
            except OSError as err:
                if err.errno == errno.EPIPE:
                    continue  # /dev/kmsg: records overwritten before we read them
                self.close()
                raise SourceError(f"cannot read {self.source}: {err.strerror or err}") from None
            if not chunk:
                break  # a plain file: its end, for now
            lines = (self._partial + chunk).split(b"\n")
            self._partial = lines.pop()
            self.count += sum(1 for line in lines if UNDER_VOLTAGE_MESSAGE.search(line))
        return self.count

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
