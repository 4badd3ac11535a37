"""Which transactions hold their EVSE: one the controller has ended but whose Ended event
is still being journaled does not (OCA TC_E_04's next driver, a remote start right after
an unplug); one resumed after a restart does."""

from __future__ import annotations

from components.ocpp201.state import Transaction
from components.ocpp_station.evse import EvseBinding, evse_list
from components.ocpp_station.running import running_transactions
from orge.core import Orge


async def test_an_ended_session_frees_its_evse_before_its_end_is_journaled(orge: Orge) -> None:
    configs = evse_list(
        [{"id": 1, "state_entity": "sensor.c1"}, {"id": 2, "state_entity": "sensor.c2"}]
    )
    evses = {c["id"]: EvseBinding(orge, c, lambda *_: None) for c in configs}
    transactions = {1: Transaction("tx-1", 1, 1), 2: Transaction("tx-2", 2, 1)}
    evses[1].session.resume("Charging")  # runs (resumed from the journal)
    evses[2].session.resume("Charging")
    assert running_transactions(transactions, evses) == transactions
    evses[2].session.end_now("EVDisconnected")  # ended, its Ended not yet journaled
    assert running_transactions(transactions, evses) == {1: transactions[1]}
