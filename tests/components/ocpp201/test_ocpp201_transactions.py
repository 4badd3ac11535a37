"""Transactions over a real WebSocket: remote start to unplug, offline queueing, retries,
moving aside, GetTransactionStatus while queued, offline threshold, journal replay."""

from __future__ import annotations

import asyncio
import itertools
import uuid

from ocpp201_helpers import (
    PASSWORD,
    STATION,
    FakeController,
    station_yaml,
    tx_events,
    wait_state,
    wait_until,
)

from tests.ocpp_csms import SILENCE, CallErrorAnswer, OcppCsms


def kind(event_type: str, trigger: str | None = None):
    return lambda p: p["eventType"] == event_type and trigger in (None, p["triggerReason"])


def assert_sequence(events: list[dict]) -> None:
    """Every message of a transaction once, seqNo 0, 1, 2... in order."""
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    assert len({e["transactionInfo"]["transactionId"] for e in events}) == 1


async def test_remote_start_charge_remote_stop_unplug(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), sampled_interval=1)))
        controller = FakeController(hub)
        controller.state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        # Remote start before the EV is there: the controller takes AUTH only with a cable.
        answer = await csms.request_start(STATION, "TOKEN1", evse_id=1, remote_id=42)
        assert answer["status"] == "Accepted"
        await asyncio.sleep(0.1)
        assert not controller.calls
        controller.state("cable_detect", cp=0)
        controller.state("ev_connected", cp=1)
        await wait_until(lambda: controller.calls, what="authorize called")
        assert controller.calls[0][0] == "authorize"
        started = (await csms.wait_for("TransactionEvent", where=kind("Started")))[0].payload
        tx_id = started["transactionInfo"]["transactionId"]
        assert uuid.UUID(tx_id)
        assert started["triggerReason"] == "RemoteStart" and started["seqNo"] == 0
        assert started["transactionInfo"]["remoteStartId"] == 42
        assert started["idToken"] == {"idToken": "TOKEN1", "type": "Central"}
        assert started["evse"] == {"id": 1, "connectorId": 1}
        assert "offline" not in started
        begin = started["meterValue"][0]["sampledValue"][0]
        assert begin["context"] == "Transaction.Begin" and begin["unitOfMeasure"]["unit"] == "Wh"
        await csms.wait_for("TransactionEvent", where=kind("Updated", "ChargingStateChanged"))
        controller.energy(1.25, 7.2)  # kWh and kW on the bus; Wh and W on the wire
        periodic = (
            await csms.wait_for("TransactionEvent", where=kind("Updated", "MeterValuePeriodic"))
        )[0].payload
        values = {v["measurand"]: v for v in periodic["meterValue"][0]["sampledValue"]}
        assert values["Energy.Active.Import.Register"]["value"] == 1250
        assert values["Power.Active.Import"]["value"] == 7200
        assert values["Power.Active.Import"]["context"] == "Sample.Periodic"
        status = await csms.call(STATION, "GetTransactionStatus", {"transactionId": tx_id})
        assert status["ongoingIndicator"] is True
        assert (await csms.request_stop(STATION, tx_id))["status"] == "Accepted"
        assert (await csms.request_stop(STATION, "nope"))["status"] == "Rejected"
        ended = (await csms.wait_for("TransactionEvent", where=kind("Ended")))[0].payload
        assert ended["triggerReason"] == "RemoteStop"
        assert ended["transactionInfo"]["stoppedReason"] == "Remote"
        assert ended["meterValue"][0]["sampledValue"][0]["context"] == "Transaction.End"
        assert ("stop_charging", {}) in controller.calls
        controller.state("idle", cp=0)
        await csms.wait_for(
            "StatusNotification", 2, where=lambda p: p["connectorStatus"] == "Available"
        )
        events = tx_events(csms)
        assert_sequence(events)
        assert next(e["eventType"] for e in events) == "Started"
        assert [e["eventType"] for e in events][-1] == "Ended"
        assert not csms.errors_sent()
        await wait_until(lambda: hub.data["ocpp201"].journal.count_cached == 0, what="empty")
        statuses = [p["connectorStatus"] for p in csms.payloads("StatusNotification")]
        assert statuses == ["Available", "Occupied", "Available"]


async def test_local_session_ends_when_ev_leaves(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        controller = FakeController(hub)
        controller.state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        controller.state("charging", cp=2)  # an RFID card of the controller's own list
        started = (await csms.wait_for("TransactionEvent", where=kind("Started")))[0].payload
        assert started["triggerReason"] == "Authorized" and "idToken" not in started
        controller.state("stopped", cp=0)
        ended = (await csms.wait_for("TransactionEvent", where=kind("Ended")))[0].payload
        assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
        assert ended["triggerReason"] == "EVCommunicationLost"


async def test_csms_drop_mid_transaction_delivers_once_in_order(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        controller = FakeController(hub)
        controller.state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        controller.state("charging", cp=2)
        await csms.wait_for("TransactionEvent", where=kind("Started"))
        await wait_until(lambda: hub.data["ocpp201"].journal.count_cached == 0, what="confirmed")
        await csms.stop()  # the CSMS crashes
        await wait_state(hub, "sensor.ocpp201_connection", "disconnected")
        controller.state("paused", cp=1)
        controller.energy(3.0)
        controller.state("charging", cp=2)
        controller.state("stopped", cp=0)
        await wait_until(lambda: hub.data["ocpp201"].journal.count_cached == 3, what="queued")
        assert hub.states.get("sensor.ocpp201_queue").state == "3"
        await asyncio.sleep(0.3)
        await csms.start()
        await csms.wait_for("TransactionEvent", 4)
        await asyncio.sleep(0.3)
        events = tx_events(csms)
        assert len(events) == 4
        assert_sequence(events)
        assert [e["eventType"] for e in events] == ["Started", "Updated", "Updated", "Ended"]
        assert [e.get("offline", False) for e in events] == [False, True, True, True]
        # Original timestamps, in order.
        stamps = [e["timestamp"] for e in events]
        assert stamps == sorted(stamps)
        assert hub.states.get("sensor.ocpp201_queue").state == "0"


async def test_callerror_retried_then_moved_aside(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        controller = FakeController(hub)
        controller.state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        csms.answer("TransactionEvent", CallErrorAnswer("InternalError"), times=3)
        controller.state("charging", cp=2)
        controller.state("paused", cp=1)
        await csms.wait_for("TransactionEvent", 4)
        started = [m for m in csms.received("TransactionEvent") if m.payload["seqNo"] == 0]
        assert len(started) == 3  # MessageAttempts = 3 transmissions, then aside
        gaps = [b.mono - a.mono for a, b in itertools.pairwise(started)]
        assert 0.18 <= gaps[0] < 0.9  # interval x 1 (upper bound generous for a loaded CI)
        assert 0.38 <= gaps[1] < 1.3  # interval x 2
        journal = hub.data["ocpp201"].journal
        aside = await journal.aside()
        assert [a["payload"]["seqNo"] for a in aside] == [0] and aside[0]["attempts"] == 3
        assert "InternalError" in aside[0]["reason"]
        # The next message goes out after it, once.
        await asyncio.sleep(0.2)
        later = [m.payload["seqNo"] for m in csms.received("TransactionEvent")][3:]
        assert later == [1]
        assert "moved aside" in hub.states.get("sensor.ocpp201_last_error").state


async def test_unanswered_transaction_event_retried(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        yaml = station_yaml(csms.url(), response_timeout=0.3, message_attempts=2)
        hub, _ = await start_station(config_dir(yaml))
        controller = FakeController(hub)
        controller.state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        csms.answer("TransactionEvent", SILENCE, times=2)
        controller.state("charging", cp=2)
        await csms.wait_for("TransactionEvent", 2)
        first, second = csms.received("TransactionEvent")[:2]
        assert first.payload == second.payload
        assert 0.45 <= second.mono - first.mono < 1.5  # timeout 0.3 + interval 0.2
        await wait_until(lambda: hub.data["ocpp201"].journal.count_cached == 0, what="aside")
        assert len(await hub.data["ocpp201"].journal.aside()) == 1
        assert len(csms.received("TransactionEvent")) == 2


async def test_get_transaction_status_while_queued(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        yaml = station_yaml(csms.url(), response_timeout=0.5, message_attempts=20)
        hub, _ = await start_station(config_dir(yaml))
        controller = FakeController(hub)
        controller.state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        csms.answer("TransactionEvent", SILENCE)
        controller.state("charging", cp=2)
        tx_id = (await csms.wait_for("TransactionEvent"))[0].payload["transactionInfo"][
            "transactionId"
        ]
        controller.state("paused", cp=1)
        status = await csms.call(STATION, "GetTransactionStatus", {"transactionId": tx_id})
        assert status == {"messagesInQueue": True, "ongoingIndicator": True}
        assert (await csms.call(STATION, "GetTransactionStatus", {})) == {"messagesInQueue": True}
        other = await csms.call(STATION, "GetTransactionStatus", {"transactionId": "x"})
        assert other == {"messagesInQueue": False, "ongoingIndicator": False}
        csms.reset_answers()
        await wait_until(lambda: hub.data["ocpp201"].journal.count_cached == 0, what="drained")
        status = await csms.call(STATION, "GetTransactionStatus", {"transactionId": tx_id})
        assert status == {"messagesInQueue": False, "ongoingIndicator": True}


async def test_status_of_every_connector_after_offline_threshold(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), offline_threshold=1)))
        FakeController(hub).state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        await wait_until(lambda: hub.data["ocpp201"].last_status, what="status confirmed")
        await csms.drop()  # short outage: unchanged status is not repeated
        await csms.wait_for("Heartbeat")
        await asyncio.sleep(0.2)
        assert len(csms.received("StatusNotification")) == 1
        await csms.stop()
        await asyncio.sleep(1.3)  # longer than OfflineThreshold
        await csms.start()
        await csms.wait_for("StatusNotification", 2, timeout=5)
        assert csms.payloads("StatusNotification")[-1]["connectorStatus"] == "Available"


async def test_restart_replays_journal_and_continues(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        path = config_dir(station_yaml(csms.url()))
        hub, _ = await start_station(path)
        controller = FakeController(hub)
        controller.state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        csms.answer("TransactionEvent", SILENCE)
        controller.state("charging", cp=2)
        await csms.wait_for("TransactionEvent")
        controller.state("paused", cp=1)
        await wait_until(lambda: hub.data["ocpp201"].journal.count_cached == 2, what="queued")
        await hub.async_stop()
        csms.reset_answers()
        hub2, _ = await start_station(path)
        controller2 = FakeController(hub2)
        controller2.state("stopped", cp=0)  # the vehicle left while ORGE was down
        await csms.wait_for("TransactionEvent", where=kind("Ended"))
        delivered = [m.payload for m in csms.received("TransactionEvent")]
        # seq 0 was sent once unanswered before the stop, then replayed
        assert [e["seqNo"] for e in delivered] == [0, 0, 1, 2]
        assert delivered[-1]["transactionInfo"]["stoppedReason"] == "EVDisconnected"
