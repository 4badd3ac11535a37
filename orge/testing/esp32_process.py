"""The ESP32 controller simulator in a process of its own, for tests that kill the station.

The real ESP32 outlives the Raspberry Pi: a station killed with SIGKILL comes back to a
controller in whatever state the vehicle left it. `SimulatorProcess` runs
`python -m components.esp32.simulator --pty PATH` (a real pseudo-terminal the station's
esp32 component opens as its serial port) and drives the vehicle over the process's stdin;
every controller state change it prints (`STATE <n>`, the numbers of
../shared/docs/esp32-serial-protocol.md: 4 ready, 5 charging, 7 stopped ...) is kept in
`states`.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

# The checkout the simulator module is run from (components/ is a top-level package).
REPO = Path(__file__).resolve().parents[2]


class SimulatorProcess:
    """One simulator process; `await SimulatorProcess.start(link)` returns once the pty
    link exists. `close()` ends it (stdin closed, then killed after 5 s)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.states: list[int] = []
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(
        cls, link: Path, time_scale: float = 0.05, stat_interval: float = 0.3
    ) -> SimulatorProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "components.esp32.simulator", "--pty", str(link),
            "--time-scale", str(time_scale), "--stat-interval", str(stat_interval),
            cwd=REPO, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        sim = cls(proc)
        await sim.wait(link.exists, "the pty link")
        return sim

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            words = line.decode().split()
            if words[:1] == ["STATE"]:
                self.states.append(int(words[1]))

    async def send(self, command: str) -> None:
        """A vehicle command: plug_in, vehicle_ready, vehicle_charging, pause,
        unplug_vehicle, unplug, clear_fault, `fault phase|earth`."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{command}\n".encode())
        await self.proc.stdin.drain()

    @property
    def state(self) -> int | None:
        """The controller's last reported state number."""
        return self.states[-1] if self.states else None

    async def wait(self, predicate: Callable[[], object], what: str, timeout: float = 15.0) -> None:
        """Wait until `predicate()` is truthy; TimeoutError naming `what` otherwise."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"simulator: no {what} within {timeout} s ({self.states})")
            await asyncio.sleep(0.005)

    async def wait_state(self, state: int, timeout: float = 15.0) -> None:
        """Wait until the controller's last reported state is `state`."""
        await self.wait(lambda: self.state == state, f"STATE {state}", timeout)

    async def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 5)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self._reader.cancel()
