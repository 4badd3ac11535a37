"""The protocol-neutral reservations (`ocpp_station.reservations`) on real EVSE bindings
on the bus and a real SQLite journal file: the Reserved status (2.0.1
ConnectorStatusEnumType / 1.6 ChargePointStatus), who may use a reservation (2.0.1 H03,
1.6 §5.13), EVSE-less reservations (H01.FR.07/09/20), a refused replacement keeping the
held one (H01.FR.02), the end reasons (Expired H04, Removed H01.FR.16/17), restore after
a restart. The protocol answers are tested over the WebSocket in
test_ocpp201_reservations.py / test_ocpp16_reservations.py."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from components.ocpp_station.clock import StationClock
from components.ocpp_station.evse import (
    EvseBinding,
    Reading,
    Status,
    evse_list,
    map_reading,
)
from components.ocpp_station.journal import AsyncJournal
from components.ocpp_station.reservations import TABLE, Reservation, Reservations
from orge.core import Orge


def test_reserved_status_in_the_status_table() -> None:
    """Reserved only where the connector is otherwise Available; a vehicle plugged in is
    Preparing (2.0.1 Occupied); Inoperative wins (Unavailable)."""
    idle, plugged = Reading(1, 0, 0), Reading(3, 1, 0)
    view = map_reading(idle, reserved=True)
    assert view.status is Status.RESERVED and view.connector_status == "Reserved"
    assert map_reading(plugged, reserved=True).connector_status == "Occupied"
    assert map_reading(plugged, reserved=True).status is Status.PREPARING
    assert map_reading(idle, reserved=True, inoperative=True).status is Status.UNAVAILABLE


class _Station:
    """Two EVSE bindings on the bus (EVSE 2 has a cCCS2 connector), a journal file, the
    reservations wired as the protocols wire them."""

    def __init__(self, orge: Orge, path: Path) -> None:
        self.orge = orge
        self.journal = AsyncJournal(str(path))
        self.ended: list[tuple[int, str]] = []
        self.busy: set[int] = set()
        configs = evse_list(
            [
                {"id": 1, "state_entity": "sensor.c1"},
                {"id": 2, "state_entity": "sensor.c2", "connector_type": "cCCS2"},
            ]
        )
        self.bindings = {c["id"]: EvseBinding(orge, c, self._changed) for c in configs}
        self.book = Reservations(
            orge,
            self.journal,
            StationClock(),
            lambda evse: evse in self.busy,
            lambda r, why: self.ended.append((r.reservation_id, why)),
        )

    def _changed(self, binding: EvseBinding, *_: object) -> None:
        self.book.state_changed(binding)

    async def start(self) -> None:
        await self.journal.open()
        await self.book.load(self.bindings)
        for n, binding in self.bindings.items():
            self.orge.states.async_set(f"sensor.c{n}", "idle", {"cp": 0, "pb": 0})
            binding.start()

    def statuses(self) -> dict[int, str]:
        return {n: str(b.current_view().status) for n, b in self.bindings.items()}

    async def stop(self) -> None:
        self.book.stop()
        for binding in self.bindings.values():
            binding.stop()
        await self.journal.close()


def _in(seconds: float) -> float:
    return StationClock().timestamp() + seconds


async def test_who_may_use_a_reservation_and_evse_less_ones(orge: Orge, tmp_path: Path) -> None:
    station = _Station(orge, tmp_path / "j.db")
    await station.start()
    book = station.book
    held = Reservation(1, _in(60), "Card-A", group_id_token="FLEET", evse_id=1)
    assert await book.reserve(held) == "Accepted"
    book.show()
    assert station.statuses() == {1: "Reserved", 2: "Available"}
    assert book.allows(1, "card-a") and not book.allows(1, "CARD-B")
    assert book.allows(1, "CARD-B", "FLEET") and not book.allows(1, "CARD-B", "OTHER")
    assert book.allows(2, "CARD-B")
    # the same id for an unknown EVSE: refused, the held one stays (H01.FR.02)
    assert await book.reserve(Reservation(1, _in(60), "X", evse_id=9)) == "Rejected"
    assert book.held[1] == held
    # without an EVSE, for a connector type only EVSE 2 has: EVSE 2 is then needed
    assert await book.reserve(Reservation(2, _in(60), "Y", connector_type="cType1")) == "Rejected"
    assert await book.reserve(Reservation(2, _in(60), "Y", connector_type="cCCS2")) == "Accepted"
    book.show()
    assert station.statuses() == {1: "Reserved", 2: "Reserved"}
    assert not book.allows(2, "Z") and book.allows(2, "y")
    assert await book.reserve(Reservation(3, _in(60), "Z")) == "Occupied"
    # a busy EVSE (a transaction or a held start of the protocol) is Occupied
    assert await book.cancel(1)
    station.busy.add(1)
    assert await book.reserve(Reservation(4, _in(60), "Z", evse_id=1)) == "Occupied"
    station.busy.clear()
    # the start with the right token uses it, once
    assert await book.consume(2, "Y", None) == 2
    assert await book.consume(2, "Y", None) is None
    assert station.ended == []
    await station.stop()


async def test_restore_expiry_and_removal(orge: Orge, tmp_path: Path) -> None:
    """Stored in their own table of the journal file; after a restart the held ones are
    back (Reserved before the bindings start), one that expired meanwhile ends Expired;
    a fault ends one Removed (and one without an EVSE when no EVSE is left); an expiry
    timer ends one Expired."""
    path = tmp_path / "j.db"
    first = _Station(orge, path)
    await first.start()
    assert await first.book.reserve(Reservation(10, _in(60), "KEPT", evse_id=1)) == "Accepted"
    assert await first.book.reserve(Reservation(11, _in(0.3), "SHORT", evse_id=2)) == "Accepted"
    await first.stop()
    with sqlite3.connect(path) as db:
        assert sorted(r[0] for r in db.execute(f"SELECT id FROM {TABLE}")) == [10, 11]
    await asyncio.sleep(0.4)
    second = _Station(orge, path)
    await second.start()
    assert second.ended == [(11, "Expired")]
    assert set(second.book.held) == {10}
    assert second.statuses() == {1: "Reserved", 2: "Available"}
    orge.states.async_set("sensor.c1", "fault_hard", {"cp": 0, "pb": 2})
    assert second.ended[-1] == (10, "Removed")
    assert second.statuses()[1] == "Faulted"
    assert await second.book.reserve(Reservation(12, _in(0.2), "SOON", evse_id=2)) == "Accepted"
    await asyncio.sleep(0.35)
    assert second.ended[-1] == (12, "Expired")
    assert second.statuses()[2] == "Available"
    # one without an EVSE ends when no EVSE is left for it
    assert await second.book.reserve(Reservation(13, _in(60), "ANY")) == "Accepted"
    orge.states.async_set("sensor.c2", "fault_hard", {"cp": 0, "pb": 1})
    assert second.ended[-1] == (13, "Removed")
    await asyncio.sleep(0.05)  # the row deletions run as tasks
    await second.stop()
    with sqlite3.connect(path) as db:
        assert list(db.execute(f"SELECT id FROM {TABLE}")) == []
