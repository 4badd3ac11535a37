"""The charger as ORGE sees it: the latest STAT, the link, events, and gated commands.

Commands follow the protocol document's §8/§9 rules:
- a command is only sent in the states where the firmware handles it safely (§9.4);
- one command at a time (a lock around check + send + confirm);
- the stop frame has no answer: it is confirmed by READSTAT showing STATE 7 (Q7);
- silence that means "refused" (AUTH in IDLE, a repeated LOCK/UNLOCK) is never retried;
- after a timeout the effect is checked with READSTAT before any retry (§9.3).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orge.core import Orge, OwnedTasks, callback
from orge.exceptions import OrgeError, ServiceValidationError

from . import protocol as p
from .const import MAX_CURRENT, MIN_CURRENT
from .errors import ControllerError, ControllerNoAnswer, SerialLinkDown
from .link import Esp32Link

_LOGGER = logging.getLogger(__name__)

EVENT_ESP32_STATE_CHANGED = "esp32_state_changed"
EVENT_ESP32_ACK = "esp32_ack"
EVENT_ESP32_INFO = "esp32_info"
EVENT_ESP32_UNKNOWN_LINE = "esp32_unknown_line"
EVENT_ESP32_REBOOTED = "esp32_rebooted"

SESSION_STATES = frozenset(range(0, 9)) - {p.STATE_IDLE}
_MAX_EVENT_TEXT = 200


@dataclass
class Settings:
    name: str
    friendly: str
    baudrate: int
    status_interval: float
    session_status_interval: float
    ack_timeout: float
    retries: int
    max_current: int | None


def _ack_of(command: str) -> Callable[[p.Line], bool]:
    def match(line: p.Line) -> bool:
        return (
            line.kind == "ACK" and line.record is not None and line.record.fields["CMD"] == command
        )

    return match


class Esp32Charger:
    """Owns the link and the picture of the controller; entities read from it."""

    def __init__(self, orge: Orge, port: str, settings: Settings) -> None:
        self.orge = orge
        self.settings = settings
        self.link = Esp32Link(port, settings.baudrate, self._on_line, self._on_connection)
        self.stat: p.Stat | None = None
        self.stat_time: float | None = None  # monotonic time of the latest STAT
        self.available = False
        self.bad_counts: dict[str, int] = dict.fromkeys(p.BAD_KINDS, 0)
        self.stat_missing_fields = 0
        self.stat_extra_fields = 0
        self.last_bad_line: str | None = None
        self.reboots = 0
        self.entities: list[Any] = []
        self._bad_lines_entity: Any = None
        self._link_entity: Any = None
        self._command_lock = asyncio.Lock()
        self._last_lock_command: str | None = None  # the firmware's LOCK/UNLOCK latch
        self._finishing_exits = 0
        self._want_max_current = settings.max_current
        self._max_current_task: asyncio.Task[None] | None = None
        self._max_current_failed = False
        self._tasks = OwnedTasks(orge)  # refreshes and the current limit, ended at shutdown
        self.simulator: Any = None  # the built-in simulator with `port: simulator`

    # --- picture of the controller ----------------------------------------------------

    @property
    def state(self) -> int | None:
        return None if self.stat is None else self.stat.values.get("STATE")

    @property
    def state_name(self) -> str | None:
        return p.state_name(self.state)

    def value(self, key: str) -> int | None:
        return None if self.stat is None else self.stat.values.get(key)

    @property
    def bad_total(self) -> int:
        return sum(self.bad_counts.values())

    def _compute_available(self) -> bool:
        if not self.link.connected or self.stat_time is None:
            return False
        return time.monotonic() - self.stat_time < 3 * self.settings.status_interval

    @callback
    def _write_entities(self) -> None:
        for entity in self.entities:
            entity.async_write_state()

    @callback
    def _refresh_availability(self) -> None:
        available = self._compute_available()
        if available != self.available:
            self.available = available
            if not available:
                _LOGGER.warning(
                    "Charger %s unavailable (%s)",
                    self.settings.name,
                    "link down" if not self.link.connected else "no status",
                )
            self._write_entities()

    # --- lines from the controller ---------------------------------------------------

    @callback
    def _on_line(self, line: p.Line) -> None:
        kind = line.kind
        if kind == "STAT":
            self._on_stat(line.stat)  # type: ignore[arg-type]
        elif kind == "ACK":
            fields = line.record.fields  # type: ignore[union-attr]
            self.orge.bus.async_fire(
                EVENT_ESP32_ACK, {"command": fields["CMD"], "status": fields["STATUS"]}
            )
        elif kind in ("INFO", "WARN", "ERR"):
            self._on_info(line)
        elif kind == "BANNER":
            self._on_banner(line)
        elif kind == "CARD":
            self.orge.bus.async_fire(
                EVENT_ESP32_INFO,
                {
                    "level": "info",
                    "message": "CARD_READ",
                    "value": line.extra.get("passes"),
                    "line": line.text,
                },
            )
        elif kind == "BAD":
            self._on_bad(line)
        # "TEXT": banner continuation and ROM text, nothing to do

    def _on_stat(self, stat: p.Stat) -> None:
        old = self.stat
        self.stat = stat
        self.stat_time = time.monotonic()
        if stat.missing or stat.extra:
            # §9.1: accepted defensively, but noted.
            if stat.missing:
                self.stat_missing_fields += 1
            if stat.extra:
                self.stat_extra_fields += 1
            _LOGGER.info(
                "STAT with missing %s / extra %s fields accepted",
                ",".join(stat.missing) or "-",
                ",".join(stat.extra) or "-",
            )
            if self._bad_lines_entity is not None:
                self._bad_lines_entity.async_write_state()
        old_code = None if old is None else old.values.get("STATE")
        new_code = stat.values["STATE"]
        if old_code != new_code:
            self.orge.bus.async_fire(
                EVENT_ESP32_STATE_CHANGED,
                {
                    "old_state": p.state_name(old_code),
                    "new_state": p.state_name(new_code),
                    "old_code": old_code,
                    "new_code": new_code,
                },
            )
            if new_code not in p.STATE_NAMES:
                _LOGGER.error("Controller in undefined STATE %s (a bad command 4?)", new_code)
        available = self.link.connected
        if old is None or available != self.available:
            self.available = available
            self._write_entities()
        else:
            # Entity values are functions of STAT fields: write only the ones whose
            # fields changed (a STAT usually changes one or two of fourteen).
            old_values, new_values = old.values, stat.values
            changed = {
                key
                for key in old_values.keys() | new_values.keys()
                if old_values.get(key) != new_values.get(key)
            }
            if changed:
                for entity in self.entities:
                    keys = entity.stat_keys
                    if keys is not None and not keys.isdisjoint(changed):
                        entity.async_write_state()
        self._check_cp_alarm(old, stat)
        self._maybe_apply_max_current()

    def _check_cp_alarm(self, old: p.Stat | None, stat: p.Stat) -> None:
        # Q13: the firmware keeps the relay closed when the pilot drops to code 3 (D/E/F)
        # in READY/CHARGING; the host must raise the alarm itself. Edge-triggered.
        def alarm(s: p.Stat | None) -> bool:
            return (
                s is not None
                and s.values.get("CP") == 3
                and s.values.get("STATE") in (p.STATE_READY, p.STATE_CHARGING)
            )

        if alarm(stat) and not alarm(old):
            _LOGGER.warning(
                "Pilot error (CP code 3) while %s: the relay stays closed", self.state_name
            )
            self.orge.bus.async_fire(
                EVENT_ESP32_INFO,
                {
                    "level": "warning",
                    "message": "CP_ERROR_IN_SESSION",
                    "value": stat.values.get("CPV"),
                    "line": "",
                },
            )

    def _on_info(self, line: p.Line) -> None:
        record = line.record
        assert record is not None
        level = {"INFO": "info", "WARN": "warning", "ERR": "error"}[line.kind]
        message = record.fields.get("MSG") or next(iter(record.fields), "")
        if message == "FINISHING_EXIT_STATION_CABLE_DISCONNECTED":
            self._finishing_exits += 1
        if line.kind != "INFO":
            _LOGGER.warning("Controller says %s", record.text)
        self.orge.bus.async_fire(
            EVENT_ESP32_INFO,
            {
                "level": level,
                "message": message,
                "value": record.get_int("VAL"),
                "line": record.text,
            },
        )

    def _on_banner(self, line: p.Line) -> None:
        # §9.6: a reboot. STATE 1, MAX 32, no authorisation, LOCK/UNLOCK latch cleared.
        self.reboots += 1
        self._last_lock_command = None
        self._max_current_failed = False
        _LOGGER.warning("Controller rebooted: %s", line.text)
        self.orge.bus.async_fire(EVENT_ESP32_REBOOTED, {"line": line.text})
        self.orge.bus.async_fire(
            EVENT_ESP32_INFO,
            {"level": "info", "message": "REBOOT", "value": None, "line": line.text},
        )
        self._tasks.async_create_background_task(
            self._quiet_refresh(), "esp32 refresh after reboot"
        )

    def _on_bad(self, line: p.Line) -> None:
        kind = line.bad or p.BAD_GARBAGE
        self.bad_counts[kind] = self.bad_counts.get(kind, 0) + 1
        text = line.text[:_MAX_EVENT_TEXT]
        self.last_bad_line = text
        _LOGGER.debug("Skipped %s line %r: %s", kind, text, line.detail)
        self.orge.bus.async_fire(
            EVENT_ESP32_UNKNOWN_LINE, {"kind": kind, "line": text, "detail": line.detail}
        )
        if self._bad_lines_entity is not None:
            self._bad_lines_entity.async_write_state()

    @callback
    def _on_connection(self, up: bool) -> None:
        if up:
            # §9.6: the latch may have changed while we were away; rebuild from a STAT.
            self._last_lock_command = None
            self._tasks.async_create_background_task(
                self._quiet_refresh(), "esp32 refresh after connect"
            )
        else:
            # The old STAT says nothing about the controller once we are reconnected.
            self.stat_time = None
            self.available = False
            self._write_entities()
        if self._link_entity is not None:
            self._link_entity.async_write_state()

    # --- background work ------------------------------------------------------------

    async def _quiet_refresh(self) -> None:
        try:
            async with self._command_lock:
                await self._readstat()
        except (OrgeError, asyncio.CancelledError):
            return

    async def watchdog(self) -> None:
        """Ask for a STAT when none came for an interval; mark unavailable after 3.

        The poll runs as its own task so a hung controller (each READSTAT waiting its
        full timeout) never delays the availability check.
        """
        settings = self.settings
        tick = max(0.05, min(settings.status_interval, settings.session_status_interval) / 2)
        poll: asyncio.Task[None] | None = None
        while True:
            await asyncio.sleep(tick)
            self._refresh_availability()
            if not self.link.connected or self._command_lock.locked():
                continue
            if poll is not None and not poll.done():
                continue
            interval = (
                settings.session_status_interval
                if self.state in SESSION_STATES
                else settings.status_interval
            )
            age = None if self.stat_time is None else time.monotonic() - self.stat_time
            if age is None or age >= interval:
                poll = self._tasks.async_create_background_task(self._quiet_refresh(), "esp32 poll")

    async def shutdown(self) -> None:
        self._tasks.async_cancel_all()
        await self.link.close()

    def _maybe_apply_max_current(self) -> None:
        want = self._want_max_current
        if (
            want is None
            or self._max_current_failed
            or self.value("MAX") == want
            or self.state != p.STATE_IDLE
            or (self._max_current_task is not None and not self._max_current_task.done())
        ):
            return

        async def apply() -> None:
            try:
                await self.set_max_current(want, remember=False)
                _LOGGER.info("Current limit %s A applied", want)
            except OrgeError as err:
                self._max_current_failed = True
                _LOGGER.error("Cannot apply the current limit of %s A: %s", want, err)

        self._max_current_task = self._tasks.async_create_background_task(
            apply(), "esp32 max current"
        )

    # --- commands -------------------------------------------------------------------

    def _require_link(self) -> None:
        if not self.link.connected:
            detail = f" ({self.link.last_error})" if self.link.last_error else ""
            raise SerialLinkDown(
                f"Charger {self.settings.name}: serial link to {self.link.port} is down{detail}"
            )

    async def _readstat(self) -> p.Stat:
        """READSTAT: the STAT just before `ACK READSTAT` is the answer. Retried freely."""
        match = _ack_of("READSTAT")
        for _ in range(1 + self.settings.retries):
            before = self.stat
            line = await self.link.exchange(p.FRAME_READSTAT, match, self.settings.ack_timeout)
            if line is not None:
                status = line.record.fields["STATUS"]  # type: ignore[union-attr]
                if status != "OK":
                    raise ControllerError(f"READSTAT answered {status}")
                if self.stat is not None and self.stat is not before:
                    return self.stat
                # acknowledged, but its STAT was corrupted and skipped: ask again
        raise ControllerNoAnswer(
            f"no answer to READSTAT within {self.settings.ack_timeout:g} s "
            f"({1 + self.settings.retries} tries)"
        )

    async def _fresh_stat(self, max_age: float = 0.5) -> p.Stat:
        if (
            self.stat is None
            or self.stat_time is None
            or time.monotonic() - self.stat_time > max_age
        ):
            return await self._readstat()
        return self.stat

    def _refuse(self, what: str, why: str) -> ServiceValidationError:
        return ServiceValidationError(f"{what} refused: {why}")

    def _in_state(self, stat: p.Stat) -> str:
        return f"the charger is {p.state_name(stat.state)} (STATE {stat.state})"

    async def refresh(self) -> p.Stat:
        self._require_link()
        async with self._command_lock:
            return await self._readstat()

    async def authorize(self) -> None:
        """AUTH 1, only in STATE 2/3 (Q3, Q4); retried once only if still 2/3 and AUTH=0."""
        self._require_link()
        async with self._command_lock:
            stat = await self._fresh_stat()
            self._gate_authorize(stat)
            if stat.get("AUTH") == 1:
                return  # already authorised; a second AUTH 1 changes nothing
            match = _ack_of("AUTH")
            for _ in range(1 + min(self.settings.retries, 1)):
                line = await self.link.exchange(p.FRAME_AUTHORIZE, match, self.settings.ack_timeout)
                if line is not None:
                    status = line.record.fields["STATUS"]  # type: ignore[union-attr]
                    if status == "OK":
                        return
                    raise ControllerError(f"Authorisation: the controller answered {status}")
                stat = await self._readstat()
                if stat.get("AUTH") == 1 or stat.state in (p.STATE_READY, p.STATE_CHARGING):
                    return  # executed, only the answer was lost
                self._gate_authorize(stat)  # Q3: silence in IDLE means "no cable", not an error
            raise ControllerNoAnswer(
                f"Authorisation: no answer from the controller within {self.settings.ack_timeout:g} s"
            )

    def _gate_authorize(self, stat: p.Stat) -> None:
        if stat.state == p.STATE_IDLE:
            raise self._refuse(
                "Authorisation", "no cable in the socket (the controller ignores AUTH when idle)"
            )
        if stat.state not in (p.STATE_CABLE_DETECT, p.STATE_EV_CONNECTED):
            raise self._refuse(
                "Authorisation",
                f"only sent in cable_detect or ev_connected; {self._in_state(stat)}",
            )

    async def stop_charging(self) -> None:
        """The stop frame (cmd 4 = 7), confirmed by a STAT with STATE 7 (no ACK, Q7)."""
        self._require_link()
        async with self._command_lock:
            stat = await self._fresh_stat()
            state = stat.state
            if state == p.STATE_STOPPED:
                return  # already stopped; a stop there is harmless but pointless
            if state == p.STATE_IDLE:
                raise self._refuse(
                    "Stop",
                    "no session (idle); to drop a stale authorisation use esp32.clear_authorization",
                )
            if state in (p.STATE_FAULT, p.STATE_HARDFAULT_END):
                raise self._refuse(
                    "Stop", f"{self._in_state(stat)}: the relay is already open, wait for idle"
                )
            await self._send_stop("Stop", lambda s, exits: s.state == p.STATE_STOPPED or exits)

    async def clear_authorization(self) -> None:
        """Drop a (pre-)authorisation before charging: the stop frame in STATE 1/2/3 (Q5).

        §9.3 says avoid AUTH 0 (it forces PAUSED); the stop frame does the same job. In 2/3
        the controller then waits in STOPPED until the cable is removed.
        """
        self._require_link()
        async with self._command_lock:
            stat = await self._fresh_stat()
            state = stat.state
            if state in (p.STATE_READY, p.STATE_CHARGING, p.STATE_PAUSED):
                raise self._refuse(
                    "Clearing the authorisation",
                    f"{self._in_state(stat)}; use esp32.stop_charging to end the session",
                )
            if state not in (p.STATE_IDLE, p.STATE_CABLE_DETECT, p.STATE_EV_CONNECTED):
                raise self._refuse(
                    "Clearing the authorisation",
                    f"{self._in_state(stat)}; the controller drops it by itself",
                )
            if stat.get("AUTH") == 0:
                return  # nothing to clear (a card authorisation never shows here, Q6)
            await self._send_stop(
                "Clearing the authorisation",
                lambda s, exits: (
                    s.get("AUTH") == 0 and (s.state in (p.STATE_STOPPED, p.STATE_IDLE))
                ),
                failure="NOT CLEARED",
            )

    async def _send_stop(
        self,
        what: str,
        confirmed: Callable[[p.Stat, bool], bool],
        failure: str = "not confirmed",
    ) -> None:
        exits_before = self._finishing_exits
        for _ in range(1 + max(self.settings.retries, 1)):  # §9.3: resend if not 7 after 3 s
            await self.link.exchange(p.FRAME_STOP, None, 0)
            deadline = time.monotonic() + self.settings.ack_timeout
            while True:
                stat = await self._readstat()
                if confirmed(stat, self._finishing_exits != exits_before):
                    return
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.05)
        raise ControllerNoAnswer(
            f"{what}: {failure}; the controller still reports {p.state_name(stat.state)} "
            f"(STATE {stat.state}, AUTH {stat.get('AUTH')})"
        )

    async def set_max_current(self, current: int, remember: bool = True) -> None:
        """SETMAXAMP, only in STATE 1 (or 2/3, which restart at 1): Q1 forbids it in sessions."""
        if not MIN_CURRENT <= current <= MAX_CURRENT:
            raise self._refuse(
                "Current limit",
                f"{current} A is out of range (the controller accepts "
                f"{MIN_CURRENT}..{MAX_CURRENT} A)",
            )
        self._require_link()
        async with self._command_lock:
            stat = await self._fresh_stat()
            state = stat.state
            if state in (p.STATE_READY, p.STATE_CHARGING, p.STATE_PAUSED):
                raise self._refuse(
                    "Current limit",
                    f"current change during a session ({p.state_name(state)}): the firmware "
                    "would restart its state machine with the relay closed; stop first",
                )
            if state == p.STATE_STOPPED:
                raise self._refuse(
                    "Current limit", "session finishing; set it once the cable is removed"
                )
            if state in (p.STATE_FAULT, p.STATE_HARDFAULT_END):
                raise self._refuse(
                    "Current limit", f"{self._in_state(stat)}; set it once the charger is idle"
                )
            if remember:
                self._want_max_current = current
                self._max_current_failed = False
            if stat.get("MAX") == current:
                return  # every SETMAXAMP restarts the state machine: don't send a no-op
            match = _ack_of("SETMAXAMP")
            for _ in range(1 + min(self.settings.retries, 1)):
                line = await self.link.exchange(
                    p.frame_set_max_current(current), match, self.settings.ack_timeout
                )
                if line is not None:
                    status = line.record.fields["STATUS"]  # type: ignore[union-attr]
                    if status == "OK":
                        return
                    raise ControllerError(
                        f"Current limit {current} A: the controller answered {status}"
                    )
                stat = await self._readstat()
                if stat.get("MAX") == current:
                    return
                if stat.state != p.STATE_IDLE:
                    break  # §9.3: retry only in STATE 1
            raise ControllerNoAnswer(
                f"Current limit {current} A: no answer from the controller "
                f"within {self.settings.ack_timeout:g} s"
            )

    async def lock(self, locked: bool) -> None:
        """LOCK/UNLOCK pulse. Never retried: a repeat is silently ignored (Q8)."""
        name = "LOCK" if locked else "UNLOCK"
        what = "Lock" if locked else "Unlock"
        self._require_link()
        async with self._command_lock:
            stat = await self._fresh_stat()
            allowed = (
                (p.STATE_IDLE, p.STATE_CABLE_DETECT, p.STATE_EV_CONNECTED)
                if locked
                else (
                    p.STATE_IDLE,
                    p.STATE_CABLE_DETECT,
                    p.STATE_EV_CONNECTED,
                    p.STATE_STOPPED,
                    p.STATE_FAULT,
                    p.STATE_HARDFAULT_END,
                )
            )
            if stat.state not in allowed:
                raise self._refuse(
                    what,
                    f"{self._in_state(stat)}; the controller moves the lock itself during a session",
                )
            if self._last_lock_command == name:
                raise self._refuse(
                    what,
                    f"the previous lock command was also {name}; the controller ignores a "
                    f"repeat (send {'UNLOCK' if locked else 'LOCK'} first)",
                )
            line = await self.link.exchange(
                p.FRAME_LOCK if locked else p.FRAME_UNLOCK, _ack_of(name), self.settings.ack_timeout
            )
            if line is None:
                raise ControllerNoAnswer(
                    f"{what}: no answer within {self.settings.ack_timeout:g} s (the controller "
                    "ignores a repeat of its previous lock command; not retried)"
                )
            self._last_lock_command = name
            status = line.record.fields["STATUS"]  # type: ignore[union-attr]
            if status != "OK":
                raise ControllerError(f"{what}: the controller answered {status}")

    def snapshot(self) -> dict[str, Any]:
        """The latest STAT with names, for service responses and diagnostics."""
        return {
            "state": self.state_name,
            "state_code": self.state,
            "link": self.link.connected,
            "stat": dict(self.stat.values) if self.stat else None,
        }
