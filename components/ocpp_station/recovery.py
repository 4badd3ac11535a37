"""Crash and reset recovery: one policy for both protocols (issue 10 point 6).

The station may die (kill -9, power cut) between any two steps of a session; the
controller (the ESP32) runs on. Two rules keep every charge billed:

- An accepted start (1.6 RemoteStartTransaction, 2.0.1 RequestStartTransaction, or a
  local authorization) is journaled once released, before the vehicle is there, and again
  before the controller is authorized (`StartArming.persist`, stored here as the setting
  `held_start/<evse id>` with `authorized` and its wall-clock `expires`), and dropped
  once its session has ended or the start lapsed. A start only held (no vehicle yet) is
  held again after a restart for what is left of its connection timeout, as the
  reservation it may use is kept (`reservations.py`); one that lapsed meanwhile is not.
- On start-up, after the protocol resumed the transactions its journal holds open
  (`restore`): a journaled start without a transaction is held again, so the session the
  controller runs (or starts when the vehicle is there) opens its transaction with that
  id token and remoteStartId; a controller found authorized or charging with no open
  transaction opens one at once (the `started` event of `EvseBinding.refresh`). A
  transaction is never missed, and never has to wait for the controller's next change.

`reset_now` is the Immediate reset (2.0.1 B11/B12 `Reset Immediate`, 1.6 §5.14 Hard /
Soft reset) done the same way every time: stop the charges, end their transactions with
the reset's reason (the station ends them itself if the controller does not stop in
time), let the journal deliver within a bound, then restart — always, never left armed.
What the CSMS confirmed is deleted from the journal before the process ends, so it is
never sent again after the restart (`JournalSender.settle` on stop).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Container, Iterable, Mapping
from typing import Any

from .arming import HeldStart, StartArming
from .evse import EvseBinding

_LOGGER = logging.getLogger(__name__)
HELD_KEY = "held_start/"
STOP_GRACE = 5.0  # s for the controller to stop before the station ends the session itself
DELIVER_GRACE = 10.0  # s for the journal to reach the CSMS before the restart


class SessionRecovery:
    """Journals held starts of `arming` in `journal` (an `AsyncJournal`) and restores
    them after a restart."""

    def __init__(self, journal: Any, arming: StartArming) -> None:
        self.journal = journal
        self.arming = arming
        arming.persist = self._persist
        arming.forget = self._forget

    async def _persist(self, held: HeldStart) -> None:
        await self.journal.set_setting(
            f"{HELD_KEY}{held.evse_id}",
            {
                "id_token": held.id_token,
                "remote_start_id": held.remote_start_id,
                "remote": held.remote,
                "group": held.group,  # who may stop it locally, after a restart too
                "authorized": held.authorized,  # the controller was authorized
                "expires": held.expires,  # wall clock; a restart holds it until then
            },
        )

    async def _forget(self, evse_id: int) -> None:
        await self.journal.delete_setting(f"{HELD_KEY}{evse_id}")

    async def restore(self, bindings: Mapping[int, EvseBinding], open_tx: Container[int]) -> None:
        """After the protocol resumed its open transactions (`open_tx`: the EVSE ids of
        those the journal held, even if one has been ended since)
        and started the bindings: hold journaled starts again and open a transaction for
        every controller found in a session without one. Call after the role started:
        a component on standby opens the transaction when it takes over
        (`adopt_sessions`, with the held token)."""
        stored = await self.journal.settings(HELD_KEY)
        for key, record in stored.items():
            evse_id = int(key[len(HELD_KEY) :])
            binding = bindings.get(evse_id)
            if binding is None or evse_id in open_tx:
                # its transaction was journaled (it carries the token) or the EVSE is gone
                await self._forget(evse_id)
                continue
            remaining: float | None = None
            if not record.get("authorized", True):
                # only held (no vehicle yet): for what was left of its connection
                # timeout; one that lapsed while the station was down is not revived
                remaining = float(record.get("expires") or 0) - time.time()
                if remaining <= 0:
                    _LOGGER.info("EVSE %d: the start held before the restart lapsed", evse_id)
                    await self._forget(evse_id)
                    continue
            _LOGGER.warning(
                "EVSE %d: a start accepted before the restart has no transaction yet; "
                "holding it again",
                evse_id,
            )
            # released: authorizes again if the vehicle waits, and the session the
            # controller runs takes this token when it is reported started
            self.arming.restored(evse_id)
            self.arming.arm(
                binding,
                record.get("id_token"),
                record.get("remote_start_id"),
                remote=bool(record.get("remote")),
                released=True,
                group=record.get("group"),
                timeout=remaining,
            )
        for evse_id, binding in bindings.items():
            if evse_id in open_tx or binding.session.active:
                continue
            binding.refresh()  # a controller already in a session: `started` now
            if binding.session.active:
                _LOGGER.warning(
                    "EVSE %d: the controller is in a session with no open transaction "
                    "after a restart; opening one",
                    evse_id,
                )


async def reset_now(
    bindings: Iterable[EvseBinding],
    reason: str,
    *,
    journaled: Callable[[], bool],
    delivered: Callable[[], bool],
    restart: Callable[[], Awaitable[None]],
    stop_grace: float = STOP_GRACE,
    deliver_grace: float = DELIVER_GRACE,
) -> None:
    """An Immediate reset: stop every session with `reason` (ReasonEnumType, e.g.
    "ImmediateReset"), end those the controller did not stop within `stop_grace`, wait
    up to `deliver_grace` until `journaled()` (every end is in the journal) and
    `delivered()` (the journal is empty or the link is down), then `restart()`."""
    active = [b for b in bindings if b.session.active]
    for binding in active:
        try:
            await asyncio.wait_for(binding.async_stop(reason), stop_grace)
        except Exception as err:  # the reset goes on: the session is ended below
            _LOGGER.warning("Reset: stopping EVSE %d failed: %s", binding.evse_id, err)
    deadline = time.monotonic() + stop_grace
    while any(b.session.active for b in active) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for binding in active:
        if binding.session.active:
            _LOGGER.warning(
                "Reset: EVSE %d did not stop within %.0f s; ending its transaction",
                binding.evse_id,
                stop_grace,
            )
            binding.end_session(reason)
    deadline = time.monotonic() + deliver_grace
    while not (journaled() and delivered()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await restart()
