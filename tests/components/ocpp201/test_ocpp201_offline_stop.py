"""OCA TC_E_44_CS (Part 6, E08 "Offline behaviour - Stop transaction during offline
period"): a transaction stopped by the driver's own idToken while the CSMS is
unreachable; after the reconnection every queued TransactionEvent has offline true and
one Ended ends that transaction (E08/E06: triggerReason StopAuthorized, stoppedReason
Local, the presented idToken)."""

from __future__ import annotations

import time
from typing import Any

from ocpp201_helpers import PASSWORD, STATION, FakeController, station_yaml, wait_until

from tests.ocpp_csms import OcppCsms


def _token(value: str) -> dict[str, str]:
    return {"idToken": value, "type": "ISO14443"}


async def _present(hub: Any, id_token: str) -> dict[str, Any]:
    answer: dict[str, Any] = await hub.services.async_call(
        "ocpp201", "authorize", {"id_token": id_token}, blocking=True, return_response=True
    )
    return answer


async def test_tc_e_44_stop_transaction_during_offline_period(
    config_dir: Any, start_station: Any
) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        station = hub.data["ocpp201"]
        controller = FakeController(hub)
        controller.state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        # Before: EnergyTransferStarted with the driver's token
        assert (await _present(hub, "CARD-44"))["status"] == "Accepted"
        controller.state("ev_connected", cp=1)
        started = (await csms.wait_for("TransactionEvent"))[0].payload
        assert started["eventType"] == "Started"
        tx_id = started["transactionInfo"]["transactionId"]
        await wait_until(
            lambda: hub.states.get("sensor.charger_state").state == "charging", what="charging"
        )
        authorizes = len(csms.received("Authorize"))
        # Step 1: the CSMS closes the connection and refuses to reconnect
        await csms.stop()
        await wait_until(lambda: station.link is None, what="offline")
        # Manual actions: the same idToken stops it (locally, no Authorize), EV unplugged
        answer = await _present(hub, "CARD-44")
        assert answer == {"status": "Accepted", "evse_id": 1, "stopped": True}
        await wait_until(
            lambda: hub.states.get("sensor.charger_state").state == "stopped", what="stopped"
        )
        controller.state("idle", cp=0)
        await wait_until(lambda: not station.transactions, what="Ended journaled")
        # Step 2: the CSMS accepts the reconnection; steps 3-4: the queue is emptied
        back = time.monotonic()
        await csms.start()
        ended = (
            await csms.wait_for(
                "TransactionEvent", where=lambda p: p["eventType"] == "Ended", timeout=10
            )
        )[0].payload
        queued = [m.payload for m in csms.received("TransactionEvent") if m.mono >= back]
        assert queued and all(p["offline"] is True for p in queued)
        assert [p["eventType"] for p in queued].count("Ended") == 1
        assert ended["transactionInfo"]["transactionId"] == tx_id
        assert ended["triggerReason"] == "StopAuthorized"
        assert ended["transactionInfo"]["stoppedReason"] == "Local"
        assert ended["idToken"] == _token("CARD-44")
        assert [p["seqNo"] for p in csms.payloads("TransactionEvent")] == list(
            range(len(csms.payloads("TransactionEvent")))
        )
        assert len(csms.received("Authorize")) == authorizes  # the same token: not asked
        assert not csms.errors_sent()
