"""A driver's id tag at a 1.6 station (`ocpp16.authorize`): stop a transaction it may
stop, else identification first.

- A transaction runs and the tag may stop it (`arming.local_stop_allowed`: the same tag,
  or one the CSMS authorizes with the same parentIdTag): the transaction stops with
  reason Local and StopTransaction carries the presented tag (1.6 §4.10; OCA TC_068_CS,
  TC_069_CS).
- Otherwise the tag is authorized (at the CSMS, §4.2, else by the local list, the cache
  and the offline rules: authorization.py) and, when Accepted, held on the
  connector until the vehicle is plugged in, for at most ConnectionTimeOut (TC_004_1_CS,
  TC_004_2_CS).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orge.exceptions import ServiceValidationError

from ..ocpp_station.arming import local_stop_allowed
from ..ocpp_station.running import running_transactions

if TYPE_CHECKING:
    from .state import DriverState


async def present_id_tag(
    station: DriverState, connector_id: int | None, id_tag: str
) -> dict[str, Any]:
    """The answer of `ocpp16.authorize`: {"status": IdTagInfo status}; when the tag
    stopped a transaction, also "connector_id" and "stopped": True (as `ocpp201.authorize`
    answers with "evse_id"). ServiceValidationError when the connector is unknown or a
    transaction runs there that this tag may not stop."""
    if connector_id is not None and connector_id not in station.bindings:
        raise ServiceValidationError("ocpp16.authorize: unknown connector")
    held = running_transactions(station.txs, station.bindings)  # not one being ended
    running = [tx for connector, tx in held.items() if connector_id in (None, connector)]
    for tx in running:
        if await local_stop_allowed(
            tx.id_tag, tx.extra.get("parent"), id_tag, station.authorize_id_tag_info
        ):
            tx.extra["stop_id_tag"] = id_tag
            await station.run_stop(station.bindings[tx.connector], "Local")
            return {"status": "Accepted", "connector_id": tx.connector, "stopped": True}
    connector = connector_id
    if connector is None:
        free = [c for c in station.bindings if c not in held]
        connector = free[0] if free else None
    if connector is None or connector in held:
        raise ServiceValidationError(
            f"ocpp16.authorize: id tag {id_tag} may not stop the transaction running on "
            f"connector {connector_id or next(iter(held))}"
        )
    # the CSMS when connected, else the local list / cache / offline rules
    status, parent = await station.authorize_id_tag_info(id_tag)
    if status == "Accepted":
        # identification first: held until the vehicle is plugged in (ConnectionTimeOut)
        binding = station.bindings[connector]
        if not station.reservation.usable(binding, id_tag, parent):  # §5.13
            raise ServiceValidationError(
                f"ocpp16.authorize: connector {connector} is reserved for another id tag"
            )
        station.arming.arm(binding, id_tag, remote=False, group=parent)
        await station.arming.async_release(binding)
    return {"status": status}
