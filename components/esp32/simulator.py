"""A model of the ESP32 charge controller (firmware v4.8.0) behind a real pseudo-terminal.

It follows ../shared/docs/esp32-serial-protocol.md: one frame per main-loop pass, the
charging state machine of §6.1 with its quirks (§8), ACK lines, periodic STAT lines, the
power-board fault counting of §6.4 and the boot banner of §4.1.

Usage (tests, benchmarks, or `port: simulator`):

    sim = Esp32Simulator(time_scale=0.05, stat_interval=0.5)
    port = await sim.start_pty(link="/tmp/x/ttyESP32")   # a path pyserial can open
    sim.plug_in()            # cable into the socket        -> STATE 2 (cable_detect)
    sim.vehicle_ready()      # EV connected, CP state B     -> STATE 3 (ev_connected)
    ... host sends AUTH 1                                     -> STATE 4 (ready)
    sim.vehicle_charging()   # EV requests energy, CP C     -> STATE 5 (charging)
    sim.pause()              # EV back to B                 -> STATE 6 (paused)
    sim.unplug()             # EV and cable gone            -> 7 then 1 (idle)
    sim.power_board_fault("phase" | "earth"); sim.clear_fault()
    await sim.reboot()
    sim.disconnect_usb(); await sim.reconnect_usb()        # the port disappears / returns
    await sim.wait_for_state(5)
    await sim.stop()

Vehicle-side calls change the inputs only; the controller reacts at its next pass, as the
real one would. `time_scale` scales every firmware duration (pass ≈125 ms, lock pulses,
boot); `stat_interval` is the periodic STAT period in seconds (7.5 on the real firmware).
The simulator never imports the esp32 component's runtime, only its protocol module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import tty
from collections.abc import Callable

from . import protocol as p
from .const import MAX_CURRENT, MIN_CURRENT

_LOGGER = logging.getLogger(__name__)

CP_A, CP_B, CP_C = "A", "B", "C"
_CPV = {CP_A: 3925, CP_B: 2890, CP_C: 1847}
_PPV_NO_CABLE = 2456
_PPV_BY_RATING = {6: 2050, 13: 1900, 20: 1540, 32: 910, 63: 500}
FAULT_PHASE = "phase"
FAULT_EARTH = "earth"
_PB_CODE = {FAULT_PHASE: 1, FAULT_EARTH: 2}
_FAULT_PREFIX = {FAULT_PHASE: "PF", FAULT_EARTH: "GF"}

BOOT_BANNER = (
    b"CSRPI Charging Station v4.8.0 - Dual UART\r\n"
    b"USB: Monitoring | GPIO: Commands\r\n"
    b"GPIO UART: RX=GPIO34, TX=GPIO21, Baud=115200\n"
    b"This code scan the MIFARE Classsic NUID.\r\n"
    b"Using the following key: FF FF FF FF FF FF"
)


def cp_code(cpv: int) -> int:
    if cpv > 3000:
        return 0
    if cpv > 2000:
        return 1
    if cpv > 1500:
        return 2
    return 3


def cable_from_ppv(ppv: int) -> tuple[int, int]:
    """PPV -> (PP, CABLE) per §5.3."""
    if ppv > 2100 or ppv <= 300:
        return 0, 0
    if ppv > 2000:
        return 1, 6
    if ppv > 1800:
        return 1, 13
    if ppv > 1300:
        return 1, 20
    if ppv > 750:
        return 1, 32
    return 1, 63


class Esp32Simulator:
    """The controller model. All public methods run on the event loop."""

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        stat_interval: float = 7.5,
        cable_rating: int = 20,
        fault_report_interval: float = 1.0,
        hardfault_end_passes: int = 101,
        boot_banner: bool = True,
    ) -> None:
        self.time_scale = time_scale
        self.pass_time = 0.125 * time_scale
        self.stat_interval = stat_interval
        self.cable_rating = cable_rating
        self.fault_report_interval = fault_report_interval
        self.hardfault_end_passes = hardfault_end_passes
        self.boot_banner = boot_banner
        # Test hooks: frames the host sent, answers to suppress, forced ACK statuses.
        self.received_frames: list[bytes] = []
        self.mute_answers = False  # swallow every answer (frames still execute)
        self.ignore_frames = False  # frames are read and dropped (a hung controller)
        self.forced_status: dict[str, str] = {}  # e.g. {"SETMAXAMP": "ERR"}
        self.corrupt_next = 0  # next n frames read with a bad separator (INVALID_COMMA)
        self.state_listeners: list[Callable[[int, int], None]] = []

        self._master: int | None = None
        self._slave: int | None = None
        self._slave_path: str | None = None
        self._link: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._rx = bytearray()
        self._after_block: list[bytes] = []
        self._state_event = asyncio.Event()
        # vehicle side
        self._cp = CP_A
        self._ppv = _PPV_NO_CABLE
        self._fault: str | None = None
        self._fault_pending_clear = False
        self._reset_controller()

    # --- controller state -----------------------------------------------------------

    def _reset_controller(self) -> None:
        self.state = p.STATE_IDLE
        self._prev_state = -1
        self.max_current = 32
        self.authorized = False  # session authorisation (host AUTH 1 or a card)
        self.auth_flag = 0
        self.rl = 0
        self.lock_flag = 0
        self.motor = 0
        self.pwm = 255
        self.pb = 0
        self.pp, self.cable = 0, 0
        self._pp_ppv = _PPV_NO_CABLE  # PPV as last sampled (frozen in some states)
        self.relay_closed = False
        self._relay_switched_at = -1e9
        self._lock_latch: str | None = None
        self._fault_count = 0
        self._last_fault_report = -1e9
        self._hardfault_passes = 0
        self._last_stat = time.monotonic()
        self._booted_at = time.monotonic()

    @property
    def state_name(self) -> str | None:
        return p.state_name(self.state)

    def stat_values(self) -> dict[str, int]:
        return {
            "CP": cp_code(_CPV[self._cp]),
            "CPV": _CPV[self._cp],
            "PP": self.pp,
            "PPV": self._pp_ppv,
            "RL": self.rl,
            "LOCK": self.lock_flag,
            "MOTOR": self.motor,
            "PWM": self.pwm,
            "MAX": self.max_current,
            "CABLE": self.cable,
            "AUTH": self.auth_flag,
            "STATE": self.state,
            "PB": self.pb,
            "STOP": 0,
        }

    # --- the port ---------------------------------------------------------------------

    @property
    def port(self) -> str | None:
        """The path the host should open (the link if one was given, else the pty slave)."""
        return self._link or self._slave_path

    async def start_pty(self, link: str | None = None) -> str:
        """Open a pseudo-terminal, boot the controller, return the path to open.

        With `link`, a symlink at that path points to the current pty (like a
        /dev/serial/by-id name), so the port can disappear and come back under one name.
        """
        self._link = link
        self._open_pty()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="esp32 simulator")
        return self.port or ""

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        # Raw at once: an echoing slave would reflect our own output back as "frames".
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self._slave_path = os.ttyname(slave)
        if self._link:
            tmp = f"{self._link}.new"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.symlink(self._slave_path, tmp)
            os.replace(tmp, self._link)
        asyncio.get_running_loop().add_reader(master, self._read_ready)
        self._rx.clear()

    def _close_pty(self) -> None:
        if self._master is None:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._master)
        if self._link:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._link)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)  # type: ignore[arg-type]
        self._master = self._slave = None

    def disconnect_usb(self) -> None:
        """The USB cable is pulled: the port disappears (the host sees EOF/EIO)."""
        self._close_pty()

    async def reconnect_usb(self, reboot: bool = True) -> str:
        """The USB cable is back: a new pty (same link path), and a reboot when powered by USB."""
        if self._master is None:
            self._open_pty()
        if reboot:
            await self.reboot()
        return self.port or ""

    @property
    def connected(self) -> bool:
        return self._master is not None

    def _read_ready(self) -> None:
        try:
            data = os.read(self._master, 4096)  # type: ignore[arg-type]
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""  # EIO: no slave open right now; keep waiting
        self._rx += data

    def write(self, data: bytes) -> None:
        """Write raw bytes to the host (tests inject noise, split lines... with this)."""
        if self._master is None:
            return
        try:
            os.write(self._master, data)
        except OSError as err:
            _LOGGER.debug("Simulator write failed: %s", err)

    def _say(self, line: bytes) -> None:
        if not self.mute_answers:
            self.write(line)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._close_pty()

    # --- vehicle and power board (test/UI drivers) -----------------------------------

    def plug_in(self, cable_rating: int | None = None) -> None:
        """A cable is put into the socket (EV side not connected yet: CP stays A)."""
        rating = cable_rating or self.cable_rating
        self._ppv = _PPV_BY_RATING.get(rating, _PPV_BY_RATING[20])

    def vehicle_ready(self) -> None:
        """The EV is connected and not requesting energy (CP state B). Plugs a cable if none."""
        if self._ppv == _PPV_NO_CABLE:
            self.plug_in()
        self._cp = CP_B

    def vehicle_charging(self) -> None:
        """The EV requests energy (CP state C)."""
        if self._ppv == _PPV_NO_CABLE:
            self.plug_in()
        self._cp = CP_C

    def pause(self) -> None:
        """The EV stops requesting energy (back to B)."""
        self._cp = CP_B if self._ppv != _PPV_NO_CABLE else CP_A

    def unplug_vehicle(self) -> None:
        """Only the EV side is unplugged (CP A); the cable stays in the socket."""
        self._cp = CP_A

    def unplug(self) -> None:
        """EV and cable are both removed."""
        self._cp = CP_A
        self._ppv = _PPV_NO_CABLE

    def power_board_fault(self, kind: str) -> None:
        """The power board starts reporting `phase` or `earth` missing (~1 report/s)."""
        if kind not in _PB_CODE:
            raise ValueError(f"fault kind must be {FAULT_PHASE!r} or {FAULT_EARTH!r}")
        self._fault = kind

    def clear_fault(self) -> None:
        """The power board reports "no fault" again."""
        self._fault = None
        self._fault_pending_clear = True

    def card_read(self, passes: int = 37) -> None:
        """An RFID card is read: the `of<n>` line (LF only). Cards do not authorise here."""
        self.write(f"of{passes}\n".encode())

    async def reboot(self) -> None:
        """A reset: banner, defaults (STATE 1, MAX 32, no authorisation, latch cleared)."""
        self._reset_controller()
        self._booted_at = time.monotonic() + 1.9 * self.time_scale
        self._last_stat = self._booted_at
        if self.boot_banner:
            self.write(BOOT_BANNER)
            self.write(b"Kart 0 Valid=255 ID=0;\r\nKart 1 Valid=170 ID=3735928559;\r\n")
        self._rx.clear()

    async def wait_for_state(self, state: int, timeout: float = 5.0) -> None:
        """Wait until the controller's STATE is `state` (raises TimeoutError)."""
        deadline = time.monotonic() + timeout
        while self.state != state:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"simulator stayed in {self.state}, wanted {state}")
            self._state_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._state_event.wait(), remaining)

    # --- the main loop ------------------------------------------------------------------

    async def _run(self) -> None:
        await self.reboot()
        while True:
            delay = self._booted_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            extra = self._pass()
            await asyncio.sleep(self.pass_time + extra * self.time_scale)
            while self._after_block:  # answers printed after a blocking action (LOCK)
                self._say(self._after_block.pop(0))

    def _set_relay(self, closed: bool) -> None:
        if closed != self.relay_closed:
            self.relay_closed = closed
            self._relay_switched_at = time.monotonic()

    def _pass(self) -> float:
        """One main-loop pass (§7.1). Returns extra blocking time in firmware seconds."""
        extra = 0.0
        now = time.monotonic()
        before = self.state
        extra += self._power_board(now)
        cp = cp_code(_CPV[self._cp])
        entering = self.state != self._prev_state
        self._prev_state = self.state
        # PWM (§5.4), computed before the state machine from the current inputs.
        if cp != 0 and self.cable > 0 and self.state not in (p.STATE_STOPPED, p.STATE_FAULT):
            self.pwm = p.expected_pwm(min(self.cable, self.max_current))
        else:
            self.pwm = 255
        extra += self._state_machine(cp, entering)
        if self.state in (p.STATE_IDLE, p.STATE_CABLE_DETECT, p.STATE_EV_CONNECTED, 7):
            # PP is sampled only in these states; the code lags the reading by one pass.
            self.pp, self.cable = cable_from_ppv(self._pp_ppv)
            self._pp_ppv = self._ppv
        if self.state in (p.STATE_STOPPED, p.STATE_FAULT):
            self.pwm = 255
        extra += self._one_frame()
        if self.state != before:
            extra += 0.26  # LED colour change
            self._notify(before, self.state)
        if time.monotonic() - self._last_stat >= self.stat_interval:
            self._say(p.stat_line(self.stat_values()))
            self._last_stat = time.monotonic()
        return extra

    def _notify(self, old: int, new: int) -> None:
        self._state_event.set()
        for listener in list(self.state_listeners):
            listener(old, new)

    def _state_machine(self, cp: int, entering: bool) -> float:
        state, extra = self.state, 0.0
        pp = self.pp
        if state == p.STATE_IDLE:
            self.lock_flag = self.motor = 0
            if pp == 1:
                self.state = p.STATE_CABLE_DETECT
        elif state == p.STATE_CABLE_DETECT:
            if entering:
                extra += 0.4
            if cp == 1:
                self.state = p.STATE_EV_CONNECTED
            if pp == 0:
                self.state = p.STATE_IDLE
        elif state == p.STATE_EV_CONNECTED:
            if self.authorized:
                self.state = p.STATE_READY
            if cp == 0 or pp == 0:
                self.state = p.STATE_IDLE
        elif state == p.STATE_READY:
            if entering:
                self._set_relay(True)
                self.rl = self.lock_flag = 1
                extra += 0.8
            if cp == 0:
                self.state = p.STATE_FAULT
            elif cp == 2:
                self.state = p.STATE_CHARGING
        elif state == p.STATE_CHARGING:
            if cp == 1:
                self.state = p.STATE_PAUSED
                self._set_relay(False)
                self.lock_flag = 0
            elif not self.authorized or cp == 0:
                self.state = p.STATE_STOPPED
        elif state == p.STATE_PAUSED:
            if cp == 2:
                self.state = p.STATE_READY
            elif not self.authorized or cp == 0:
                self.state = p.STATE_STOPPED
        elif state == p.STATE_STOPPED:
            self.auth_flag = 0
            self._set_relay(False)
            # The relay output is re-driven every pass: power-board reports stay masked.
            self._relay_switched_at = time.monotonic()
            self.rl = 0
            if entering:
                self.lock_flag = 1  # unlock pulse done: connector free
                extra += 1.2
            else:
                extra += 0.4
            if pp == 0:
                self.state = p.STATE_IDLE
                self.authorized = False
                self._say(b"<INFO;MSG=FINISHING_EXIT_STATION_CABLE_DISCONNECTED;>\r\n")
        elif state == p.STATE_FAULT:
            if entering:
                self._set_relay(False)
                self.rl = self.lock_flag = 0
                self.motor = 1
                extra += 1.0
            self.authorized = False
            self.auth_flag = 0
            if self.pb == 0:
                self.state = p.STATE_HARDFAULT_END
                self._hardfault_passes = 0
        elif state == p.STATE_HARDFAULT_END:
            self._hardfault_passes += 1
            if self._hardfault_passes >= self.hardfault_end_passes:
                self.state = p.STATE_IDLE
        # other values (after a bad command 4) freeze the machine
        return extra

    def _power_board(self, now: float) -> float:
        if self._fault is None and self._fault_pending_clear:
            self._fault_pending_clear = False
            self.pb = 0
            if self._fault_count:
                self._fault_count = 0
                self._say(b"<INFO;MSG=FAULT_CLEARED;>\r\n")
            return 0.0
        if self._fault is None or now - self._last_fault_report < self.fault_report_interval:
            return 0.0
        self._last_fault_report = now
        prefix = _FAULT_PREFIX[self._fault]
        if now - self._relay_switched_at < 2.0 * self.time_scale:
            self._say(f"<WARN;MSG={prefix}_IGNORED_RELAY_MASK;>\r\n".encode())
            return 0.0
        self._fault_count += 1
        self._say(f"<INFO;MSG={prefix}_COUNT;VAL={self._fault_count};>\r\n".encode())
        if self._fault_count >= 10:
            self._fault_count = 0
            self._say(f"<WARN;MSG={prefix}_CONFIRMED;>\r\n".encode())
            self.pb = _PB_CODE[self._fault]
            if self.state != p.STATE_FAULT:
                self.state = p.STATE_FAULT
        return 0.0

    def _one_frame(self) -> float:
        """§3: resync on 0x41, take 5 bytes if available, check the separator, execute."""
        rx = self._rx
        start = rx.find(p.HEADER)
        if start < 0:
            rx.clear()
            return 0.0
        del rx[:start]
        if len(rx) < 5:
            return 0.0
        data = bytes(rx[:5])
        del rx[:5]
        self.received_frames.append(data)
        if self.ignore_frames:
            return 0.0
        if self.corrupt_next > 0:
            self.corrupt_next -= 1
            data = data[:2] + b"!" + data[3:]
        if data[2] != p.SEPARATOR:
            self._say(b"<ERR;INVALID_COMMA>\r\n")
            return 0.0
        return self._execute(data[1], data[3])

    def _ack(self, command: str, status: str) -> None:
        self._say(p.ack_line(command, self.forced_status.get(command, status)))

    def _execute(self, command: int, value: int) -> float:
        if command == p.CMD_READSTAT:
            self._say(p.stat_line(self.stat_values()))
            self._ack("READSTAT", "OK")
        elif command == p.CMD_AUTH:
            if value == 1:
                if self.state == p.STATE_IDLE:
                    return 0.0  # Q3: no answer at all in IDLE
                self.authorized = True
                self.auth_flag = 1
                self.lock_flag = self.rl = 0
                if self.state in (p.STATE_READY, p.STATE_STOPPED):
                    self._prev_state = -1  # Q4: repeats the entry pulses
                self._ack("AUTH", "OK")
            else:
                self.authorized = False
                self.auth_flag = 0
                self.state = p.STATE_PAUSED  # Q2
                self._ack("AUTH", "CLEARED")
        elif command == p.CMD_SETMAXAMP:
            ok = MIN_CURRENT <= value <= MAX_CURRENT
            if ok:
                self.max_current = value
            self.state = p.STATE_IDLE  # Q1: valid or not, the state machine restarts
            self._ack("SETMAXAMP", "OK" if ok else "ERR")
        elif command == p.CMD_LOCK:
            name = "LOCK" if value else "UNLOCK"
            if self._lock_latch == name:
                return 0.0  # Q8: a repeat is silently ignored
            self._lock_latch = name
            self._after_block.append(p.ack_line(name, self.forced_status.get(name, "OK")))
            return 0.5
        elif command == p.CMD_SET_STATE:
            self.state = value  # Q7: unchecked, no answer
            self.lock_flag = self.rl = 0
        else:
            self._ack("UNKNOWN", "ERR")
        return 0.0


# --- stand-alone process: `python -m components.esp32.simulator --pty PATH` ---------------

_COMMANDS = (
    "plug_in",
    "vehicle_ready",
    "vehicle_charging",
    "pause",
    "unplug_vehicle",
    "unplug",
    "clear_fault",
)


async def _serve(argv: list[str] | None = None) -> None:
    """The simulator as its own process, so the controller outlives a station killed
    with SIGKILL (as the ESP32 does when the Raspberry Pi dies). Vehicle commands come
    one per line on stdin (`plug_in`, `vehicle_ready`, `vehicle_charging`, `pause`,
    `unplug_vehicle`, `unplug`, `clear_fault`, `fault phase|earth`); stdout says
    `READY <path>`, then `STATE <n>` on every state change and `OK <command>`."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m components.esp32.simulator")
    parser.add_argument("--pty", required=True, help="symlink to create for the pty")
    parser.add_argument("--time-scale", type=float, default=0.05)
    parser.add_argument("--stat-interval", type=float, default=0.5)
    args = parser.parse_args(argv)
    sim = Esp32Simulator(time_scale=args.time_scale, stat_interval=args.stat_interval)
    path = await sim.start_pty(link=args.pty)
    sim.state_listeners.append(lambda _old, new: print(f"STATE {new}", flush=True))
    print(f"READY {path}", flush=True)
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break  # stdin closed: the test is done
            words = line.split()
            if not words:
                continue
            if words[0] in _COMMANDS:
                getattr(sim, words[0])()
            elif words[0] == "fault" and len(words) == 2:
                sim.power_board_fault(words[1])
            else:
                print(f"ERR {line.strip()}", flush=True)
                continue
            print(f"OK {words[0]}", flush=True)
    finally:
        await sim.stop()


if __name__ == "__main__":
    asyncio.run(_serve())
