"""Held starts: one remote-start (and identification-first) policy for both protocols.

A start the CSMS accepted (1.6 RemoteStartTransaction, 2.0.1 RequestStartTransaction) or
an id token a driver presented and the CSMS authorized is *held* on its EVSE until the
vehicle is plugged in, for at most the connection timeout (1.6 ConnectionTimeOut §9.1,
2.0.1 TxCtrlr.EVConnectionTimeOut). The controller takes an authorization only with a
cable (CABLE_DETECT / EV_CONNECTED), so the authorize action runs when the state gets
there (or at once if it already is). When the transaction starts, `take()` hands its id
token and remoteStartId to the protocol. When the time runs out the held start is
dropped, and an authorization the controller already holds is cleared with the stop
action (the controller keeps it until a stop; the next vehicle must not start on it).

Nothing here sends an OCPP message: `arm()` is called while answering, `release()` after
the answer went out (so the answer precedes everything the start causes).

Local stop (`local_stop_allowed`): a token presented while a transaction runs stops it
when it is the token that started it (no Authorize needed), or, when the starting token
belongs to a group (1.6 parentIdTag, 2.0.1 groupIdToken), when the CSMS authorizes the
presented token with the same group (1.6 §3.5.x "Stop Transaction", OCA TC_068_CS /
TC_069_CS; 2.0.1 C01/C09, TC_C_39_CS). A different token without a group never stops it and
is not even sent to the CSMS (TC_068_CS step 1, TC_C_04_CS).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from orge.core import Orge, OwnedTasks

from .evse import ControllerState, EvseBinding

_LOGGER = logging.getLogger(__name__)
# The controller accepts AUTH in these states only (protocol document, 6.2).
READY_STATES = (ControllerState.CABLE_DETECT, ControllerState.EV_CONNECTED)


@dataclass
class HeldStart:
    """One held start: the protocol's id token (1.6 idTag string, 2.0.1 IdTokenType dict),
    the 2.0.1 remoteStartId (None for 1.6 or a local authorization)."""

    evse_id: int
    id_token: Any
    remote_start_id: int | None
    remote: bool
    released: bool = False  # False while the answer is not out yet (see release())
    authorized: bool = False  # the controller's authorize action ran
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)
    group: str | None = None  # the token's group, when the CSMS told it (local stop)
    expires: float = 0.0  # wall clock (s since the epoch) the held start lapses at
    journaled: bool = False  # stored for a restart (see `persist`)


class StartArming:
    """The held starts of one station, one per EVSE.

    `timeout()` gives the connection timeout in seconds (read when a start is armed);
    `on_error(message)` reports a failed controller action (e.g. to a last-error sensor).
    """

    def __init__(
        self,
        orge: Orge,
        timeout: Callable[[], float],
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._timeout = timeout
        self._on_error = on_error
        self.held: dict[int, HeldStart] = {}
        self._bindings: dict[int, EvseBinding] = {}
        self._tasks = OwnedTasks(orge)  # controller actions and journal writes, ended at stop
        # Crash safety (`recovery.SessionRecovery` sets these): `persist(held)` stores a
        # start durably before the controller is authorized; `forget(evse_id)` drops it
        # once its session has ended or the start lapsed.
        self.persist: Callable[[HeldStart], Awaitable[None]] | None = None
        self.forget: Callable[[int], Awaitable[None]] | None = None
        self._persisted: dict[int, bool] = {}  # evse id -> its session was seen active

    def arm(
        self,
        binding: EvseBinding,
        id_token: Any,
        remote_start_id: int | None = None,
        *,
        remote: bool = True,
        released: bool = False,
        group: str | None = None,
        timeout: float | None = None,
    ) -> HeldStart:
        """Hold a start on the binding's EVSE (replacing one held there) for `timeout`
        seconds (default: the connection timeout). With `released=False` nothing
        happens until `release()`; the session's start is reported as a remote start
        when `remote`."""
        self.take(binding.evse_id)
        delay = max(0.0, float(self._timeout() if timeout is None else timeout))
        held = HeldStart(
            binding.evse_id,
            id_token,
            remote_start_id,
            remote,
            released,
            group=group,
            expires=time.time() + delay,
        )
        held.timer = asyncio.get_running_loop().call_later(delay, self._expired, binding, held)
        self.held[binding.evse_id] = held
        self._bindings[binding.evse_id] = binding
        binding.session.remote_start_pending = remote
        if released:
            binding.set_start_held(True)
            self._spawn(self._authorize_if_ready(binding, held))
        return held

    def release(self, binding: EvseBinding, only: HeldStart | None = None) -> None:
        """The answer is out: authorize the controller as soon as the vehicle is there.
        With `only`, nothing happens unless that start is still the one held (a newer
        request may have replaced it meanwhile)."""
        held = self.held.get(binding.evse_id)
        if only is not None and held is not only:
            return
        if held is not None and not held.released:
            held.released = True
            binding.set_start_held(True)
            self._spawn(self._authorize_if_ready(binding, held))

    async def async_release(self, binding: EvseBinding) -> None:
        """`release()`, awaiting the controller's authorization when the vehicle is
        already there (a local authorization has no OCPP answer to let go first)."""
        held = self.held.get(binding.evse_id)
        if held is not None:
            held.released = True
            binding.set_start_held(True)
            await self._authorize_if_ready(binding, held)

    def state_changed(self, binding: EvseBinding) -> None:
        """Call on every controller change of the EVSE (inline)."""
        evse_id = binding.evse_id
        if evse_id in self._persisted:
            if binding.session.active:
                self._persisted[evse_id] = True
            elif self._persisted[evse_id]:  # its session ended: the stored start is spent
                self._drop_persisted(evse_id)
        held = self.held.get(binding.evse_id)
        if held is not None and held.released and not held.authorized:
            self._spawn(self._authorize_if_ready(binding, held))

    def take(self, evse_id: int) -> HeldStart | None:
        """The session started: the held start it fulfils (its token for the transaction)."""
        held = self.held.pop(evse_id, None)
        if held is not None and held.timer is not None:
            held.timer.cancel()
        binding = self._bindings.get(evse_id)
        if held is not None and binding is not None:
            binding.start_held = False  # the session's own view takes over (no refresh)
        return held

    def cancel(self, binding: EvseBinding, only: HeldStart | None = None) -> HeldStart | None:
        """Drop a held start that was never authorized at the controller (e.g. the CSMS
        refused its id tag); with `only`, only if that start is still the one held."""
        if only is not None and self.held.get(binding.evse_id) is not only:
            return None
        held = self.take(binding.evse_id)
        if held is not None:
            binding.session.remote_start_pending = False
            binding.refresh()
            if not binding.session.active:
                self._drop_persisted(binding.evse_id)
        return held

    async def _authorize_if_ready(self, binding: EvseBinding, held: HeldStart) -> None:
        if self.held.get(binding.evse_id) is not held or held.authorized:
            return
        if not held.journaled and binding.reading.state not in READY_STATES:
            # the driver badged (or the CSMS started) before plugging in: journaled
            # now, so a restart holds it again for what is left of its time, as the
            # reservation it may use is kept (a second badge is not asked for)
            held.journaled = True
            await self._journal(binding, held)
        if self.held.get(binding.evse_id) is not held or held.authorized:
            return
        if binding.reading.state not in READY_STATES:
            return  # held until the vehicle is plugged in
        held.authorized = True
        held.journaled = True
        # journaled before the controller may charge: a restart finds its token
        await self._journal(binding, held)
        try:
            await binding.async_authorize()
        except Exception as err:
            self.cancel(binding)
            self._report(f"authorize action failed on EVSE {binding.evse_id}: {err}")

    async def _journal(self, binding: EvseBinding, held: HeldStart) -> None:
        if self.persist is None:
            return
        try:
            await self.persist(held)
            self._persisted[binding.evse_id] = binding.session.active
        except Exception as err:
            self._report(f"could not journal the start on EVSE {binding.evse_id}: {err}")

    def _expired(self, binding: EvseBinding, held: HeldStart) -> None:
        if self.held.get(binding.evse_id) is not held:
            return
        del self.held[binding.evse_id]
        binding.session.remote_start_pending = False
        binding.set_start_held(False)
        _LOGGER.info(
            "Held start on EVSE %d expired: no vehicle within the connection timeout",
            binding.evse_id,
        )
        if held.authorized and not binding.session.active:
            self._spawn(self._clear_authorization(binding))
            self._drop_persisted(binding.evse_id)
        elif not held.authorized:
            self._drop_persisted(binding.evse_id)  # lapsed before any vehicle came

    def restored(self, evse_id: int) -> None:
        """A start restored from the journal after a restart: dropped like a new one."""
        self._persisted[evse_id] = False

    def _drop_persisted(self, evse_id: int) -> None:
        if self._persisted.pop(evse_id, None) is not None and self.forget is not None:
            self._spawn(self.forget(evse_id))

    async def _clear_authorization(self, binding: EvseBinding) -> None:
        try:
            await binding.async_run_action("stop_action")
        except Exception as err:
            self._report(
                f"could not clear the stale authorization of EVSE {binding.evse_id}: {err}"
            )
        binding.session.stop_requested = None

    def _report(self, message: str) -> None:
        _LOGGER.error("%s", message)
        if self._on_error is not None:
            self._on_error(message)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        self._tasks.async_create_background_task(coro, "held start")

    def stop(self) -> None:
        for held in self.held.values():
            if held.timer is not None:
                held.timer.cancel()
        self._tasks.async_cancel_all()


async def local_stop_allowed(
    started_token: str,
    started_group: str | None,
    presented: str,
    authorize: Callable[[str], Awaitable[tuple[str, str | None]]],
) -> bool:
    """Whether the `presented` token may stop the transaction `started_token` began
    (tokens compared as the strings a driver presents, case-insensitively as RFID uids
    are). `authorize(token)` asks the CSMS: (status, group of the token or None); it is
    called only when the starting token has a group and the presented one differs."""
    if presented.casefold() == started_token.casefold():
        return True
    if not started_group:
        return False
    status, group = await authorize(presented)
    return status == "Accepted" and group is not None and group == started_group
