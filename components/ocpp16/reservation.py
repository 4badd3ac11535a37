"""Reservations for OCPP 1.6 (Reservation profile, §3.11, §5.3 CancelReservation, §5.13
ReserveNow) mapped onto the protocol-neutral `ocpp_station.reservations`.

1.6 has no reservation status message: an expired or removed reservation shows as the
connector's StatusNotification going from Reserved to Available (or to what it is).
connectorId 0 reserves any connector (ReserveConnectorZeroSupported is true).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..ocpp_station.clock import parse_time
from ..ocpp_station.reservations import Reservation, Reservations
from ..ocpp_station.running import running_transactions

if TYPE_CHECKING:
    from ..ocpp_station.evse import EvseBinding
    from .state import ReservationState

_LOGGER = logging.getLogger(__name__)


class Reservation16:
    """The reservations of one `Ocpp16Station` (`book`) and its ReserveNow /
    CancelReservation answers."""

    def __init__(self, station: ReservationState) -> None:
        self.station = station
        self.book = Reservations(
            station.orge, station.journal, station.clock, self._busy, self._ended
        )

    def _busy(self, connector: int) -> bool:
        running = running_transactions(self.station.txs, self.station.bindings)
        return connector in running or connector in self.station.arming.held

    async def load(self) -> None:
        """After the journal opened, before the connector bindings start."""
        await self.book.load(self.station.bindings)

    @staticmethod
    def _ended(reservation: Reservation, why: str) -> None:
        # 1.6: the connector's StatusNotification tells the Central System
        _LOGGER.info("Reservation %d ended: %s", reservation.reservation_id, why)

    async def reserve_now(
        self,
        connector_id: int,
        expiry_date: str,
        id_tag: str,
        reservation_id: int,
        parent_id_tag: str | None = None,
    ) -> str:
        """ReserveNow.conf status (§5.13): Accepted / Faulted / Occupied / Unavailable;
        Rejected for an unknown connector, connectorId 0 without
        ReserveConnectorZeroSupported, an expiryDate already past."""
        station = self.station
        if connector_id == 0:
            if not station.keys.flag("ReserveConnectorZeroSupported"):
                return "Rejected"
        elif connector_id not in station.bindings:
            return "Rejected"
        try:
            expiry = parse_time(expiry_date).timestamp()
        except ValueError:
            return "Rejected"
        reservation = Reservation(
            reservation_id=reservation_id,
            expiry=expiry,
            id_token=id_tag,
            group_id_token=parent_id_tag,
            evse_id=connector_id or None,
        )
        return await self.book.reserve(reservation)

    async def cancel_reservation(self, reservation_id: int) -> str:
        """CancelReservation.conf status (§5.3): Accepted when held, else Rejected."""
        return "Accepted" if await self.book.cancel(reservation_id) else "Rejected"

    def after_answer(self) -> None:
        """The answer is out: the Reserved status follows (StatusNotification)."""
        self.book.show()

    def usable(self, binding: EvseBinding, id_tag: str, parent: str | None) -> bool:
        """Whether an authorized id tag (with the parentIdTag the Central System gave it)
        may start on the connector (§5.13: the reserved idTag or its parentIdTag)."""
        return self.book.allows(binding.evse_id, id_tag, parent)
