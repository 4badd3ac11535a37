"""Delivering the journal: oldest message first, one at a time, retried, moved aside.

`JournalSender.run(send)` runs while a connection is up. `send(entry, payload)` performs
one CALL and returns the CSMS's answer, raising `CallRejected` for a CALLERROR,
`NoAnswer` for a timeout and `LinkDown` when the connection is gone. A rejected or
unanswered message is retried up to `RetryPolicy.attempts` transmissions in total,
waiting `interval * failures so far` between them (OCPP's MessageAttemptInterval /
TransactionMessageRetryInterval), then moved aside. A dropped link is not an attempt:
the message stays first in line for the next connection.

Transaction messages (kinds start/update/end/meter) are never given up early: 1.6J
§4.10 and 2.0.1 E12/E13 make the station retry them on any CALLERROR. A message that is
not a transaction message (kind `other`) answered with CALLERROR NotImplemented or
NotSupported (OCPP-J §4.2.3: the CSMS does not do that action, so sending it again
cannot succeed) is moved aside at once, and one of them waiting for its retry is
stepped over (see `JournalSender._next`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from orge.exceptions import OrgeError

from .journal import KIND_OTHER, AsyncJournal, Entry
from .timers import SettingsWake

_LOGGER = logging.getLogger(__name__)


class OcppError(OrgeError):
    """Base of the OCPP layer's errors: a call to the CSMS that did not end in its answer.
    The class names are part of what the journal keeps of a failure ("NoAnswer: ...").
    (The ESP32 layer has its own family, components/esp32/errors.py.)"""


class CallRejected(OcppError):
    """The CSMS answered with a CALLERROR (OCPP-J: `code` is its errorCode)."""

    def __init__(self, code: str, description: str = "") -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code


class NoAnswer(OcppError):
    """The CSMS did not answer within the response timeout."""


class LinkDown(OcppError):
    """The connection to the CSMS is gone; the message stays queued."""


@dataclass
class RetryPolicy:
    attempts: int = 3  # transmissions in total, the first included
    interval: float = 60.0
    linear: bool = True  # wait interval x failures so far (as OCPP specifies)

    def delay(self, failures: int) -> float:
        return self.interval * max(1, failures) if self.linear else self.interval


SendFunc = Callable[[Entry, dict[str, Any]], Awaitable[Any]]

# CALLERROR codes meaning "the CSMS does not do this action" (OCPP-J 1.6 §4.2.3, 2.0.1
# Part 4 §4.2.3): NotImplemented = the action is unknown, NotSupported = known but not
# supported. The same message can never be accepted, so retrying it only costs time.
UNSUPPORTED_CODES = frozenset({"NotImplemented", "NotSupported"})


@dataclass
class _Waiting:
    """A non-transaction message waiting for its retry (stepped over meanwhile)."""

    entry: Entry
    failed_at: float  # time.monotonic() of the failed attempt
    failures: int


def _log_failure(entry: Entry) -> Callable[[asyncio.Future[None]], None]:
    """A failed confirmation is logged even when nobody awaits it any more (its `run`
    was cancelled by a dropped link)."""

    def done(future: asyncio.Future[None]) -> None:
        if not future.cancelled() and future.exception() is not None:
            _LOGGER.error("Confirming %s %d failed: %r", entry.action, entry.id, future.exception())

    return done


class JournalSender:
    """Drains an `AsyncJournal` over whatever connection the caller provides."""

    def __init__(
        self,
        journal: AsyncJournal,
        policy: Callable[[Entry], RetryPolicy],
        *,
        prepare: Callable[[Entry], Awaitable[dict[str, Any]] | dict[str, Any]] | None = None,
        on_confirmed: Callable[[Entry, Any], Awaitable[None] | None] | None = None,
        on_aside: Callable[[Entry, str], None] | None = None,
    ) -> None:
        self.journal = journal
        self.policy = policy
        # notified when a setting changes (shared with the station's other timers)
        self.settings = SettingsWake()
        self.prepare = prepare
        self.on_confirmed = on_confirmed
        self.on_aside = on_aside
        self.on_retry: Callable[[Entry], None] | None = None  # a failed message is retried
        self._wake = asyncio.Event()
        self.in_flight: Entry | None = None
        # The confirmation of an answered message (on_confirmed + delete), shielded: it
        # finishes even if the session cancels `run` meanwhile, and the next `run` waits
        # for it before reading the journal.
        self._confirming: asyncio.Future[None] | None = None
        # non-transaction messages waiting for their retry, by journal id (see `_next`)
        self._waiting: dict[int, _Waiting] = {}

    def wake(self) -> None:
        """A new message was journaled."""
        self._wake.set()

    async def run(self, send: SendFunc) -> None:
        """Deliver until cancelled or the link drops (then `LinkDown` propagates)."""
        if self._confirming is not None and not self._confirming.done():
            # the previous connection was cut while a confirmation was being stored
            with contextlib.suppress(Exception):  # logged by its done callback
                await asyncio.shield(self._confirming)
        # A new connection retries at once whatever waited for its retry (as the head of
        # the queue always did).
        self._waiting.clear()
        while True:
            self._wake.clear()
            entry = await self._next()
            if entry is None:
                await self._idle()
                continue
            payload: Any = entry.payload
            if self.prepare is not None:
                payload = self.prepare(entry)
                if asyncio.iscoroutine(payload):
                    payload = await payload
            self.in_flight = entry
            try:
                response = await send(entry, payload)
            except LinkDown:
                raise
            except (CallRejected, NoAnswer) as err:
                await self._failed(entry, err)
                continue
            except Exception as err:  # a bug or a payload the schema refuses: never block
                _LOGGER.exception("Sending %s %d failed unexpectedly", entry.action, entry.id)
                await self._failed(entry, err)
                continue
            finally:
                self.in_flight = None
            # The CSMS has the message now. If the session cancelled this task while the
            # journal still had to delete it (an executor job that had not started), the
            # delete would be dropped and the message sent again on the next connection:
            # a duplicate at the CSMS. So the confirmation runs shielded, to its end.
            self._confirming = asyncio.ensure_future(self._confirm(entry, response))
            self._confirming.add_done_callback(_log_failure(entry))
            await asyncio.shield(self._confirming)

    async def settle(self, timeout: float) -> None:
        """Before the link closes for a stop or restart: let the message in flight get its
        answer and its confirmation stored (within `timeout` s), so what the CSMS
        confirmed is never sent again after the restart."""
        deadline = time.monotonic() + timeout
        while self.in_flight is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        confirming = self._confirming
        if confirming is not None and not confirming.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    asyncio.shield(confirming), max(0.1, deadline - time.monotonic())
                )

    def _retry_at(self, waiting: _Waiting) -> float:
        # the spacing follows the setting as it is now (a new retry interval applies at once)
        return waiting.failed_at + self.policy(waiting.entry).delay(waiting.failures)

    async def _next(self) -> Entry | None:
        """The oldest message to send now, or None.

        Ordering: every message goes oldest first, except that a non-transaction message
        (kind `other`) waiting for its retry is stepped over until its retry is due; it
        then goes before anything younger. Why: a status/log/security notification the
        CSMS refused once must not hold up a TransactionEvent or StartTransaction behind
        it for minutes (and nothing follows from such a notification that the CSMS must
        see after it). A transaction message waiting for its retry is not stepped over:
        it holds up everything behind it, as before, so transaction messages stay
        strictly in order among themselves (seqNo, Started before Ended, 1.6's
        transactionId learnt from StartTransaction) and a StatusNotification Available
        never reaches the CSMS before the StopTransaction that preceded it.
        """
        now = time.monotonic()
        skip: list[int] = []
        for entry_id, waiting in list(self._waiting.items()):
            if self._retry_at(waiting) > now:
                skip.append(entry_id)
            else:  # due: back in line (or already gone from the journal)
                del self._waiting[entry_id]
        entry: Entry | None = await self.journal.first(skip)
        return entry

    async def _idle(self) -> None:
        """Nothing to send now: wait for a new message or a stepped-over retry's moment."""
        if not self._waiting:
            await self._wake.wait()
            return

        def earliest() -> float | None:
            return min((self._retry_at(w) for w in self._waiting.values()), default=None)

        waiters = {
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(self.settings.sleep_until(earliest)),
        }
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _confirm(self, entry: Entry, response: Any) -> None:
        if self.on_confirmed is not None:
            result = self.on_confirmed(entry, response)
            if asyncio.iscoroutine(result):
                await result
        await self.journal.confirm(entry.id)

    async def _failed(self, entry: Entry, err: Exception) -> None:
        policy = self.policy(entry)
        reason = f"{type(err).__name__}: {err}"
        failures = await self.journal.record_attempt(entry.id, reason)
        # The CSMS does not do this action: sending it again cannot succeed. Only for
        # non-transaction messages: a transaction message is retried on any CALLERROR
        # (1.6J §4.10 TransactionMessageAttempts, 2.0.1 E12/E13), never lost early.
        unsupported = (
            entry.kind == KIND_OTHER
            and isinstance(err, CallRejected)
            and err.code in UNSUPPORTED_CODES
        )
        if unsupported or failures >= policy.attempts:
            _LOGGER.error(
                "%s %d (transaction %s) failed %d time(s) (%s); moved aside, not retried",
                entry.action,
                entry.id,
                entry.tx_id,
                failures,
                reason,
            )
            await self.journal.move_aside(entry.id, reason)
            if self.on_aside is not None:
                self.on_aside(entry, reason)
            return
        if self.on_retry is not None:
            self.on_retry(entry)
        delay = policy.delay(failures)
        _LOGGER.warning(
            "%s %d failed (%s), attempt %d of %d; retrying in %.1f s",
            entry.action,
            entry.id,
            reason,
            failures,
            policy.attempts,
            delay,
        )
        waiting = _Waiting(entry, time.monotonic(), failures)
        if entry.kind == KIND_OTHER:
            self._waiting[entry.id] = waiting  # stepped over until due (see `_next`)
            return
        await self.settings.sleep_until(lambda: self._retry_at(waiting))
