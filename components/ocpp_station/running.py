"""Which transactions still hold their EVSE / connector: one notion for both protocols.

A protocol keeps a transaction in its table (2.0.1 `transactions`, 1.6 `txs`, EVSE or
connector id -> transaction) until the message that ends it (TransactionEvent Ended,
StopTransaction) is in the journal: an Immediate reset (`recovery.reset_now`) waits for
an empty table, so it never restarts before the end is journaled. Between the
controller's end of the session and that journal write the transaction no longer holds
its EVSE: a token presented or a remote start sent meanwhile, e.g. right after the
unplug's Available, starts the next session (OCA TC_E_04's next driver).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from .evse import EvseBinding

T = TypeVar("T")


def running_transactions(
    transactions: Mapping[int, T], bindings: Mapping[int, EvseBinding]
) -> dict[int, T]:
    """The transactions whose session still runs (EVSE / connector id -> transaction);
    those the controller has ended but whose end is not journaled yet are left out."""
    return {
        evse: tx
        for evse, tx in transactions.items()
        if evse in bindings and bindings[evse].session.active
    }
