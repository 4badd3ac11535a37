"""The steps of one connection's session, shared by both protocols: boot, heartbeat, and
which connectors' status goes out when the station (re)connects.

The lifecycle (`lifecycle.py`) dials and hands the socket to the protocol's
`run_session`; that runs these steps with its own payloads (`BootHooks`):

1. boot (`boot_until_accepted`): BootNotification until Accepted, at the CSMS's interval
   while Pending / Rejected (1.6 §4.2 / §5.17, 2.0.1 B01-B03), at once when triggered
   (`Registration.trigger`); a reconnect in the same process with unchanged boot content
   sends no BootNotification (the station is still registered), the protocol's
   `on_boot_skipped` runs instead;
2. status: every connector at the first connection and after an offline period longer
   than the threshold (1.6 `offline_threshold`, 2.0.1 OCPPCommCtrlr.OfflineThreshold),
   else only those that changed (`resend_every_status`);
3. heartbeat (`heartbeat_loop`): every HeartbeatInterval on the monotonic clock; a new
   interval applies at once (`timers.SettingsWake`), 0 = off; the answer's currentTime
   sets the station clock.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .boot import ACCEPTED, Registration
from .clock import StationClock
from .sender import CallRejected, LinkDown, NoAnswer
from .timers import SettingsWake, every

_LOGGER = logging.getLogger(__name__)

Call = Callable[[str, dict[str, Any]], Awaitable[Any]]
"""Send one CALL on the open link: (action, payload) -> the answer's payload; raises
LinkDown / NoAnswer / CallRejected (`sender.py`)."""


class BootHooks(Protocol):
    """What a protocol gives the shared boot step: its payload and what follows an answer."""

    registration: Registration
    clock: StationClock

    def boot_payload(self) -> dict[str, Any]:
        """The BootNotification payload (read again before each attempt: a 2.0.1 reason
        may have become Triggered meanwhile)."""
        ...

    def boot_content(self, payload: dict[str, Any]) -> Any:
        """The part of the payload whose change needs a new BootNotification on reconnect
        (2.0.1: chargingStation, not the reason; 1.6: the whole payload)."""
        ...

    async def on_boot_skipped(self, call: Call) -> None:
        """A reconnect with unchanged content: no BootNotification was sent."""
        ...

    async def on_boot_accepted(self, interval: int) -> None:
        """Accepted; `interval` is the answer's heartbeat interval in s (0: keep ours)."""
        ...

    def on_boot_refused(self, status: str, wait: float) -> None:
        """Pending / Rejected: show it; the next attempt follows in `wait` s."""
        ...

    def report_error(self, message: str) -> None: ...


def sync_time(clock: StationClock, current_time: Any, report_error: Callable[[str], None]) -> None:
    """Take a CSMS answer's currentTime (BootNotification, Heartbeat) into the station
    clock; an unreadable one keeps the clock and is reported."""
    if not current_time:
        return
    try:
        clock.set_from_csms(current_time)
    except (TypeError, ValueError) as err:
        _LOGGER.warning("CSMS sent an unreadable currentTime %r", current_time)
        report_error(f"unusable currentTime: {err}")


async def boot_until_accepted(
    call: Call, closed: asyncio.Future[Any], hooks: BootHooks, retry_interval: float
) -> bool:
    """Boot on this connection: True once Accepted (or skipped, unchanged), False when the
    connection closed first. A BootNotification without an answer is retried after
    `retry_interval` s; Pending / Rejected after the answer's interval (else
    `retry_interval`), or at once when the CSMS triggers it."""
    registration = hooks.registration
    registration.connected()
    if registration.accepted_content is not None and registration.accepted_content == (
        hooks.boot_content(hooks.boot_payload())
    ):
        registration.answered(ACCEPTED)
        await hooks.on_boot_skipped(call)
        return True
    while True:
        payload = hooks.boot_payload()
        try:
            answer = await call("BootNotification", payload)
        except (NoAnswer, CallRejected) as err:
            _LOGGER.warning("BootNotification failed (%s); retrying", err)
            hooks.report_error(f"BootNotification: {err}")
            await asyncio.wait({closed}, timeout=retry_interval)
            if closed.done():
                return False
            continue
        sync_time(hooks.clock, answer.get("currentTime"), hooks.report_error)
        status = str(answer.get("status"))
        interval = int(answer.get("interval") or 0)
        registration.answered(status)
        if status == ACCEPTED:
            registration.accepted_content = hooks.boot_content(payload)
            await hooks.on_boot_accepted(interval)
            return True
        # Pending / Rejected: not registered; nothing but the boot goes out meanwhile
        registration.accepted_content = None
        wait = interval if interval > 0 else retry_interval
        hooks.on_boot_refused(status, wait)
        _LOGGER.warning("BootNotification %s; retrying in %s s", status, wait)
        if await registration.wait(closed, wait):
            return False


async def heartbeat(call: Call, clock: StationClock, report_error: Callable[[str], None]) -> None:
    """One Heartbeat; the answer's currentTime sets the station clock.
    Raises LinkDown / NoAnswer / CallRejected."""
    answer = await call("Heartbeat", {})
    sync_time(clock, (answer or {}).get("currentTime"), report_error)


async def heartbeat_loop(
    call: Call,
    clock: StationClock,
    settings: SettingsWake,
    interval: Callable[[], float],
    report_error: Callable[[str], None],
) -> None:
    """Heartbeat every `interval()` s (read again whenever a setting changes; 0 = off)
    until the link is down. An unanswered heartbeat is reported and the loop goes on."""
    last = time.monotonic()
    while True:
        await settings.sleep_until(every(last, interval))
        last = time.monotonic()
        try:
            await heartbeat(call, clock, report_error)
        except LinkDown:
            return
        except (NoAnswer, CallRejected) as err:
            _LOGGER.warning("Heartbeat not answered: %s", err)
            report_error(f"Heartbeat: {err}")


def resend_every_status(
    first_connection: bool, offline_since: float | None, now: float, threshold: float
) -> bool:
    """After a (re)connection: True when every connector's status is sent again (the first
    connection, or offline for longer than `threshold` s: 1.6 `offline_threshold`, 2.0.1
    OCPPCommCtrlr.OfflineThreshold), False when only the changed ones are."""
    offline_for = math.inf if offline_since is None else now - offline_since
    return first_connection or offline_for > threshold
