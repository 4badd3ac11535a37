"""Reservations for OCPP 2.0.1 (block H): ReserveNow (H01), CancelReservation (H02),
ReservationStatusUpdate (H01.FR.16/17 Removed, H04 Expired), the device model's
ReservationCtrlr, mapped onto the protocol-neutral `ocpp_station.reservations`.

ReservationStatusUpdate goes through the journal (kind `other`): one due while the link
is down, or found expired at start-up, is delivered once connected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.v201 import call_result

from components.ocpp_station.clock import parse_time
from components.ocpp_station.journal import KIND_OTHER
from components.ocpp_station.reservations import Reservation, Reservations

from .smart_charging import _info

if TYPE_CHECKING:
    from components.ocpp_station.evse import EvseBinding

    from .state import ReservationState


class Reservation201:
    """The reservations of one `Station201` (`book`) and its ReserveNow / CancelReservation
    answers."""

    def __init__(self, station: ReservationState) -> None:
        self.station = station
        self.book = Reservations(
            station.orge, station.journal, station.clock, self._busy, self._ended
        )

    def _busy(self, evse_id: int) -> bool:
        return evse_id in self.station.transactions or evse_id in self.station.arming.held

    async def load(self) -> None:
        """After the journal opened, before the EVSE bindings start."""
        await self.book.load(self.station.evses)

    def _ended(self, reservation: Reservation, why: str) -> None:
        station = self.station
        payload = {
            "reservationId": reservation.reservation_id,
            "reservationUpdateStatus": why,
        }
        station.orge.async_create_task(self._queue(payload))

    async def _queue(self, payload: dict[str, Any]) -> None:
        station = self.station
        await station.journal.append(
            "ReservationStatusUpdate", payload, KIND_OTHER, time_synced=station.clock.synced
        )
        station.sender.wake()

    async def reserve_now(
        self,
        id: int,
        expiry_date_time: str,
        id_token: dict[str, Any],
        connector_type: str | None = None,
        evse_id: int | None = None,
        group_id_token: dict[str, Any] | None = None,
    ) -> Any:
        """ReserveNow (H01): Accepted / Faulted / Occupied / Rejected / Unavailable.
        Rejected when ReservationCtrlr.Enabled is false (TC_H_22), without evseId when
        NonEvseSpecific is false, for an unknown EVSE or connectorType or a past expiry."""
        model = self.station.model
        if not model.value("ReservationCtrlr", "Enabled"):
            return call_result.ReserveNow(
                status="Rejected", status_info=_info("Disabled", "ReservationCtrlr.Enabled")
            )
        if not evse_id and not model.value("ReservationCtrlr", "NonEvseSpecific"):
            return call_result.ReserveNow(
                status="Rejected",
                status_info=_info("MissingParam", "evseId (NonEvseSpecific is false)"),
            )
        try:
            expiry = parse_time(expiry_date_time).timestamp()
        except ValueError:
            return call_result.ReserveNow(status="Rejected", status_info=_info("InvalidValue"))
        reservation = Reservation(
            reservation_id=id,
            expiry=expiry,
            id_token=str(id_token.get("id_token", "")),
            group_id_token=(group_id_token or {}).get("id_token"),
            evse_id=evse_id or None,
            connector_type=connector_type,
            token_type=id_token.get("type"),
        )
        status = await self.book.reserve(reservation)
        return call_result.ReserveNow(status=status)

    async def cancel_reservation(self, reservation_id: int) -> Any:
        """CancelReservation (H02): Accepted when held, else Rejected."""
        accepted = await self.book.cancel(reservation_id)
        return call_result.CancelReservation(status="Accepted" if accepted else "Rejected")

    def usable(
        self, binding: EvseBinding, evse_id: int | None, id_token: str, group: str | None
    ) -> EvseBinding:
        """The EVSE a driver's authorized token may start on: `binding` unless a
        reservation holds it for another token (then, when no EVSE was asked for, another
        free one it may use). ServiceValidationError when there is none (H03.FR.02)."""
        from orge.exceptions import ServiceValidationError

        station = self.station
        if self.book.allows(binding.evse_id, id_token, group):
            return binding
        if evse_id is None:
            for other in station.evses.values():
                if other.evse_id not in station.transactions and self.book.allows(
                    other.evse_id, id_token, group
                ):
                    return other
        raise ServiceValidationError(
            f"EVSE {binding.evse_id} is reserved for another id token; {id_token} may not use it"
        )

    def after_answer(self) -> None:
        """The answer is out: the Reserved status follows (StatusNotification)."""
        self.book.show()
