"""Reservations, for both protocols (OCPP 2.0.1 block H; OCPP 1.6 Reservation profile).

A reservation holds one EVSE (2.0.1 `evseId`, 1.6 `connectorId`) or, without one, any
EVSE (2.0.1 ReserveNow without evseId, H01 S1 / S3 with a `connectorType`; 1.6 connectorId
0, §5.13 with ReserveConnectorZeroSupported) for one id token until its expiry:

- Who may use it (2.0.1 H03.FR.01-05; 1.6 §5.13): the reserved id token (compared
  case-insensitively, as RFID uids are), or any token whose group (2.0.1 groupIdToken,
  1.6 parentIdTag, as the CSMS's Authorize answers it) is the reservation's group id
  token. Anyone else is refused on that EVSE (`allows`); an EVSE-less reservation keeps
  as many free EVSEs as there are such reservations (H01.FR.07/09), so an EVSE is held
  for them only when no other free one is left.
- The status: a held EVSE that is otherwise Available reports `Reserved` (1.6
  ChargePointStatus, 2.0.1 ConnectorStatusEnumType; H01.FR.20/23/24); `show()` applies it
  after the answer went out, so the answer precedes the StatusNotification.
- It ends when the vehicle's session with the right token starts (`consume`: its id goes
  into 2.0.1 TransactionEvent Started `reservationId` / 1.6 StartTransaction
  `reservationId`; no status update, H03.FR.06), when the CSMS cancels it
  (`cancel`, H02 / §5.3; no status update), at its expiry (`on_ended(res, "Expired")`,
  2.0.1 ReservationStatusUpdate Expired, H04.FR.01-03; 1.6: the connector's status is
  Available again), or when its EVSE becomes Faulted or Unavailable
  (`on_ended(res, "Removed")`, H01.FR.16/17; 1.6 §3.11 "the reservation ends").
- Durable: each one is a row of its own table (`reservations`) in the journal's SQLite
  file, written before ReserveNow is answered Accepted; `load()` restores them after a
  restart and ends those that expired meanwhile (`on_ended(res, "Expired")`, which the
  protocol journals so the CSMS hears it once connected).

Nothing here sends an OCPP message: the protocols (`ocpp201/reservation.py`,
`ocpp16/reservation.py`) map the payloads and deliver the updates.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from orge.core import Orge, OwnedTasks

from .clock import StationClock, format_time
from .evse import EvseBinding, Status
from .journal import AsyncJournal

_LOGGER = logging.getLogger(__name__)
TABLE = "reservations"
EXPIRED = "Expired"  # 2.0.1 ReservationUpdateStatusEnumType
REMOVED = "Removed"
DEFAULT_CONNECTOR_TYPE = "cType2"  # evse.py's default `connector_type`


@dataclass
class Reservation:
    """One reservation. `expiry` is POSIX seconds (UTC); `evse_id` None = any EVSE;
    `token_type` is the 2.0.1 IdTokenType.type (None for 1.6)."""

    reservation_id: int
    expiry: float
    id_token: str
    group_id_token: str | None = None
    evse_id: int | None = None
    connector_type: str | None = None
    token_type: str | None = None

    def matches(self, id_token: str, group: str | None) -> bool:
        """The presented token (and the group the CSMS gave it) may use this one."""
        if id_token.casefold() == self.id_token.casefold():
            return True
        return bool(self.group_id_token) and group is not None and group == self.group_id_token


class Reservations:
    """The reservations of one station.

    `busy(evse_id)`: the protocol holds something there that a reservation cannot take
    (an open transaction, a held start). `on_ended(reservation, "Expired" | "Removed")`:
    the reservation ended without being used.
    """

    def __init__(
        self,
        orge: Orge,
        journal: AsyncJournal,
        clock: StationClock,
        busy: Callable[[int], bool],
        on_ended: Callable[[Reservation, str], None],
    ) -> None:
        self._journal = journal
        self._clock = clock
        self._busy = busy
        self._on_ended = on_ended
        self.held: dict[int, Reservation] = {}  # reservation id -> reservation
        self._bindings: Mapping[int, EvseBinding] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._tasks = OwnedTasks(orge)  # journal writes (finished, not cancelled, at stop)

    # --- persistence ----------------------------------------------------------------------

    async def load(self, bindings: Mapping[int, EvseBinding]) -> None:
        """Create the table, restore the stored reservations (after the journal opened,
        before the bindings start); those that expired meanwhile end as Expired."""
        self._bindings = bindings
        await self._journal.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY, data TEXT NOT NULL)"
        )
        rows = await self._journal.execute(f"SELECT id, data FROM {TABLE} ORDER BY id")
        now = self._clock.timestamp()
        for _row_id, data in rows:
            try:
                reservation = Reservation(**json.loads(data))
            except (TypeError, ValueError) as err:
                _LOGGER.error("Dropping an unreadable stored reservation %r: %s", data, err)
                await self._journal.execute(f"DELETE FROM {TABLE} WHERE id = ?", (_row_id,))
                continue
            if reservation.expiry <= now:
                await self._journal.execute(
                    f"DELETE FROM {TABLE} WHERE id = ?", (reservation.reservation_id,)
                )
                self._on_ended(reservation, EXPIRED)
                continue
            self.held[reservation.reservation_id] = reservation
            self._arm_timer(reservation)
        for binding in bindings.values():  # no refresh: the bindings have not started
            binding.reserved = binding.evse_id in self._reserved_evses()

    async def _store(self, reservation: Reservation) -> None:
        await self._journal.execute(
            f"INSERT OR REPLACE INTO {TABLE} (id, data) VALUES (?, ?)",
            (reservation.reservation_id, json.dumps(asdict(reservation))),
        )

    async def _delete(self, reservation_id: int) -> None:
        await self._journal.execute(f"DELETE FROM {TABLE} WHERE id = ?", (reservation_id,))

    # --- ReserveNow / CancelReservation -----------------------------------------------------

    async def reserve(self, reservation: Reservation) -> str:
        """Decide and, when Accepted, store (before the answer goes out). Returns the
        answer: Accepted; Faulted / Unavailable (the EVSE, or every EVSE that fits, is);
        Occupied (in use, reserved, or needed by EVSE-less reservations); Rejected (an
        unknown EVSE, no connector of that type, an expiry already past). A reservation
        with the id of a held one replaces it (H01.FR.02, 1.6 §5.13), which stays when
        the new one is refused. Call `show()` after the answer went out."""
        if reservation.expiry <= self._clock.timestamp():
            return "Rejected"
        others = {k: v for k, v in self.held.items() if k != reservation.reservation_id}
        if reservation.evse_id is not None:
            binding = self._bindings.get(reservation.evse_id)
            if binding is None or not self._fits(binding, reservation.connector_type):
                return "Rejected"
            status = self._refusal(binding)
            if status is None and reservation.evse_id in self._specific(others):
                status = "Occupied"
            if status is None:
                # EVSE-less reservations must keep their free EVSEs (H01.FR.07)
                free = self._free(others, exclude=reservation.evse_id)
                if len(free) < self._unspecified_count(others):
                    status = "Occupied"
        else:
            candidates = [
                b for b in self._bindings.values() if self._fits(b, reservation.connector_type)
            ]
            if not candidates:
                return "Rejected"
            free = [b for b in self._free(others) if b in candidates]
            if len(free) > self._unspecified_count(others, reservation.connector_type):
                status = None
            else:
                refusals = {self._refusal(b) for b in candidates}
                status = refusals.pop() if len(refusals) == 1 else "Occupied"
                status = status or "Occupied"
        if status is not None:
            return status
        old = self._timers.pop(reservation.reservation_id, None)
        if old is not None:
            old.cancel()
        self.held[reservation.reservation_id] = reservation
        await self._store(reservation)
        self._arm_timer(reservation)
        _LOGGER.info(
            "Reservation %d for %s on %s until %s",
            reservation.reservation_id,
            reservation.id_token,
            f"EVSE {reservation.evse_id}" if reservation.evse_id is not None else "any EVSE",
            format_time(datetime.fromtimestamp(reservation.expiry, UTC)),
        )
        return "Accepted"

    async def cancel(self, reservation_id: int) -> bool:
        """CancelReservation: True (Accepted) when it was held (H02.FR.02), else False
        (Rejected, H02.FR.01). Call `show()` after the answer went out."""
        reservation = self.held.pop(reservation_id, None)
        if reservation is None:
            return False
        self._drop_timer(reservation_id)
        await self._delete(reservation_id)
        return True

    def show(self) -> None:
        """Apply the Reserved status to the EVSEs held now (after the answer)."""
        reserved = self._reserved_evses()
        for binding in self._bindings.values():
            binding.set_reserved(binding.evse_id in reserved)

    # --- who may use an EVSE ----------------------------------------------------------------

    def holding(self, evse_id: int) -> list[Reservation]:
        """The reservations that hold this EVSE now (its own; EVSE-less ones when no other
        free EVSE is left for them)."""
        own = [r for r in self.held.values() if r.evse_id == evse_id]
        if own:
            return own
        binding = self._bindings.get(evse_id)
        if binding is None:
            return []
        unspecified = [
            r
            for r in self.held.values()
            if r.evse_id is None and self._fits(binding, r.connector_type)
        ]
        if not unspecified:
            return []
        others = self._free(self.held, exclude=evse_id)
        return unspecified if len(others) < len(unspecified) else []

    def allows(self, evse_id: int, id_token: str, group: str | None = None) -> bool:
        """Whether a start with this token (and group) may use the EVSE: it is held by no
        reservation, or by one this token may use."""
        holding = self.holding(evse_id)
        return not holding or any(r.matches(id_token, group) for r in holding)

    def held_for(self, evse_id: int, id_token: str, group: str | None = None) -> bool:
        """A reservation of this EVSE itself is the token's (a start without an EVSE
        goes there first)."""
        return any(r.evse_id == evse_id and r.matches(id_token, group) for r in self.held.values())

    async def consume(self, evse_id: int, id_token: str | None, group: str | None) -> int | None:
        """A transaction started on the EVSE with this token: the reservation it uses
        ends (its id for StartTransaction / TransactionEvent `reservationId`), else None.
        One of the EVSE's own first, else an EVSE-less one of the token."""
        if not id_token:
            return None
        own = [r for r in self.held.values() if r.evse_id == evse_id]
        unspecified = [r for r in self.held.values() if r.evse_id is None]
        for reservation in (*own, *unspecified):
            if reservation.matches(id_token, group):
                del self.held[reservation.reservation_id]
                self._drop_timer(reservation.reservation_id)
                await self._delete(reservation.reservation_id)
                self.show()
                _LOGGER.info("Reservation %d used on EVSE %d", reservation.reservation_id, evse_id)
                return reservation.reservation_id
        return None

    def state_changed(self, binding: EvseBinding) -> None:
        """Call on every EVSE change (inline): an EVSE that became Faulted or Unavailable
        ends the reservations on it (H01.FR.16/17, 1.6 §3.11: Removed); EVSE-less ones
        that no longer have an EVSE left go too. A controller not heard from yet (just
        after a restart) ends nothing."""
        view = binding.current_view()
        down = view.status is Status.FAULTED or (
            view.status is Status.UNAVAILABLE
            and (binding.inoperative or binding.reading.code is not None)
        )
        if down:
            for reservation in list(self.held.values()):
                if reservation.evse_id == binding.evse_id:
                    self._end(reservation, REMOVED)
            unspecified = [r for r in self.held.values() if r.evse_id is None]
            usable = [b for b in self._bindings.values() if self._refusal(b) is None]
            for reservation in unspecified[len(usable) :]:
                self._end(reservation, REMOVED)
        if self._bindings:
            reserved = self._reserved_evses()
            for other in self._bindings.values():
                if other is not binding and (other.evse_id in reserved) != other.reserved:
                    other.set_reserved(other.evse_id in reserved)
            if (binding.evse_id in reserved) != binding.reserved:
                binding.set_reserved(binding.evse_id in reserved)

    # --- timers and helpers -------------------------------------------------------------------

    def _arm_timer(self, reservation: Reservation) -> None:
        delay = max(0.0, reservation.expiry - self._clock.timestamp())
        self._timers[reservation.reservation_id] = asyncio.get_running_loop().call_later(
            delay, self._expiry_due, reservation.reservation_id
        )

    def _expiry_due(self, reservation_id: int) -> None:
        reservation = self.held.get(reservation_id)
        self._timers.pop(reservation_id, None)
        if reservation is None:
            return
        if self._clock.timestamp() < reservation.expiry:  # the clock was set meanwhile
            self._arm_timer(reservation)
            return
        _LOGGER.info("Reservation %d expired", reservation_id)
        self._end(reservation, EXPIRED)

    def _end(self, reservation: Reservation, why: str) -> None:
        if self.held.pop(reservation.reservation_id, None) is None:
            return
        self._drop_timer(reservation.reservation_id)
        self._spawn(self._delete(reservation.reservation_id))
        self.show()
        self._on_ended(reservation, why)

    def _drop_timer(self, reservation_id: int) -> None:
        timer = self._timers.pop(reservation_id, None)
        if timer is not None:
            timer.cancel()

    @staticmethod
    def _fits(binding: EvseBinding, connector_type: str | None) -> bool:
        return connector_type is None or connector_type == binding.config.get(
            "connector_type", DEFAULT_CONNECTOR_TYPE
        )

    def _refusal(self, binding: EvseBinding) -> str | None:
        """Why the EVSE cannot be reserved now (its state), or None."""
        view = binding.current_view()
        if view.status is Status.FAULTED:
            return "Faulted"
        if view.status is Status.UNAVAILABLE:
            return "Unavailable"
        if (
            view.status not in (Status.AVAILABLE, Status.RESERVED)
            or binding.session.active
            or self._busy(binding.evse_id)
        ):
            return "Occupied"
        return None

    @staticmethod
    def _specific(held: Mapping[int, Reservation]) -> set[int]:
        return {r.evse_id for r in held.values() if r.evse_id is not None}

    @staticmethod
    def _unspecified_count(
        held: Mapping[int, Reservation], connector_type: str | None = None
    ) -> int:
        return sum(
            1
            for r in held.values()
            if r.evse_id is None
            and (connector_type is None or r.connector_type in (None, connector_type))
        )

    def _free(
        self, held: Mapping[int, Reservation], exclude: int | None = None
    ) -> list[EvseBinding]:
        """EVSEs that are usable now and not held by a reservation of their own."""
        specific = self._specific(held)
        return [
            b
            for b in self._bindings.values()
            if b.evse_id != exclude and b.evse_id not in specific and self._refusal(b) is None
        ]

    def _reserved_evses(self) -> set[int]:
        """The EVSEs that show Reserved: their own reservation, or every free one when the
        EVSE-less reservations need them all (H01.FR.20/24)."""
        reserved = self._specific(self.held)
        unspecified = self._unspecified_count(self.held)
        free = self._free(self.held)
        if unspecified and len(free) <= unspecified:
            reserved |= {b.evse_id for b in free}
        return reserved

    def _spawn(self, coro: Any) -> None:
        self._tasks.async_create_background_task(coro, "reservation journal write")

    def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
