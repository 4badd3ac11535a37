"""The registration state of a station at its CSMS, and the wait between boot attempts.

One policy for both protocols (OCPP 1.6 §4.2 / §5.17, OCPP 2.0.1 B02 / B03 / F06):

- a BootNotification answered `Pending` or `Rejected` is sent again after the answer's
  `interval` (or the station's own retry interval when it is 0), not earlier, unless the
  CSMS asks for it with `TriggerMessage(BootNotification)`: then it goes out at once
  (`trigger()` wakes `wait()`), and once it is Accepted the session starts at once
  (connectors' status first) instead of at the next attempt;
- while not Accepted the station sends no other request than BootNotification, except
  what the CSMS triggers; CSMS requests that would start or stop a transaction are
  Rejected (`refuses_transactions`; 1.6 §4.2 "Pending", OCA TC_B_02);
- while Rejected the station does not serve the CSMS's requests (`csms_call_refusal`):
  1.6 §4.2 "the Charge Point SHALL NOT respond to any Central System initiated message"
  (dropped unanswered); 2.0.1 B03.FR.08: answered with a CALLERROR SecurityError.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .connection import NO_ANSWER, OCPP16

ACCEPTED = "Accepted"
PENDING = "Pending"
REJECTED = "Rejected"


class Registration:
    """Where this station's registration stands on the current connection.

    `status` is None before the first answer on a connection, else the last
    BootNotification status ("Accepted" / "Pending" / "Rejected").
    """

    def __init__(self) -> None:
        self.status: str | None = None
        # what the last Accepted boot carried (kept across connections in this process;
        # cleared by Pending / Rejected or `forget`): unchanged -> no new boot on reconnect
        self.accepted_content: Any = None
        self._now = asyncio.Event()

    def connected(self) -> None:
        """A new connection: nothing answered on it yet, no stale trigger."""
        self.status = None
        self._now.clear()

    def forget(self) -> None:
        """The next connection boots again whatever it carries (e.g. a new password)."""
        self.accepted_content = None

    def answered(self, status: str) -> None:
        self.status = status
        self._now.clear()

    @property
    def refuses_transactions(self) -> bool:
        """True while the CSMS answered Pending or Rejected: remote start/stop are Rejected."""
        return self.status in (PENDING, REJECTED)

    def csms_call_refusal(self, subprotocol: str) -> str | None:
        """How a CSMS CALL on a connection speaking `subprotocol` is met now (the
        `Connection.call_gate` verdict): None = served; while Rejected, `NO_ANSWER` under
        1.6 (§4.2), "SecurityError" under 2.0.1 (B03.FR.08)."""
        if self.status != REJECTED:
            return None
        return NO_ANSWER if subprotocol == OCPP16 else "SecurityError"

    def gate(self, subprotocol: str) -> Callable[[str], str | None]:
        """The `Connection.call_gate` of a connection speaking `subprotocol`."""

        def verdict(_action: str) -> str | None:
            return self.csms_call_refusal(subprotocol)

        return verdict

    def trigger(self) -> bool:
        """TriggerMessage(BootNotification): send the next boot now. False (and nothing
        done) when the station is not waiting to boot again (already Accepted)."""
        if self.status in (PENDING, REJECTED):
            self._now.set()
            return True
        return False

    async def wait(self, closed: asyncio.Future[Any], seconds: float) -> bool:
        """Wait `seconds` before the next BootNotification, or less when triggered.
        `closed` is the connection's closed future (left as it is). Returns True when
        the connection closed meanwhile."""
        woken = asyncio.ensure_future(self._now.wait())
        try:
            await asyncio.wait({closed, woken}, timeout=seconds, return_when="FIRST_COMPLETED")
        finally:
            woken.cancel()
        self._now.clear()
        return closed.done()
