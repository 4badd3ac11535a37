"""A CSMS that answers a non-transaction message with CALLERROR NotImplemented (it does not
do that action, OCPP-J 2.0.1 Part 4 §4.2.3) never holds up a TransactionEvent queued
behind it: the refused message is moved aside after one transmission."""

from __future__ import annotations

from typing import Any

from ocpp201_helpers import PASSWORD, STATION, FakeController, station_yaml, wait_until

from tests.ocpp_csms import CallErrorAnswer, OcppCsms

TOKEN = {"idToken": "ALICE", "type": "ISO14443"}


async def test_not_implemented_security_event_does_not_hold_up_started(
    config_dir: Any, start_station: Any
) -> None:
    async with OcppCsms(passwords={STATION: "not-the-station-password"}) as csms:
        csms.answer("SecurityEventNotification", CallErrorAnswer("NotImplemented"))
        # a retry would wait 30 s: the TransactionEvent must not wait for it
        yaml = station_yaml(csms.url(), message_attempt_interval=30)
        hub, _ = await start_station(config_dir(yaml))
        station = hub.data["ocpp201"]
        controller = FakeController(hub)
        controller.state("idle", cp=0)

        async def queued(action: str) -> bool:
            return any(e.action == action for e in await station.journal.pending())

        # The CSMS refuses the password (HTTP 401): FailedToAuthenticateAtCsms is
        # journaled, then a local session's Started behind it.
        await csms.wait_until(
            lambda: any(a.outcome == "unauthorized" for a in csms.attempts), 8, "refusal"
        )
        await wait_until(lambda: station.journal.count_cached > 0, what="event journaled")
        assert await queued("SecurityEventNotification")
        controller.state("charging", cp=2)  # a local session while offline
        await wait_until(
            lambda: station.journal.count_cached > 1, what="TransactionEvent journaled"
        )
        assert await queued("TransactionEvent")
        csms.passwords = {STATION: PASSWORD}  # the CSMS lets the station in

        started = (await csms.wait_for("TransactionEvent", timeout=10))[0]
        assert started.payload["eventType"] == "Started"
        events = csms.received("SecurityEventNotification")
        assert events[0].payload["type"] == "FailedToAuthenticateAtCsms"
        assert events[0].mono < started.mono  # it was ahead of Started in the queue
        assert started.mono - events[0].mono < 2.0  # and Started did not wait for a retry
        # every refused message moved aside after its one transmission, none retried
        await wait_until(lambda: station.journal.count_cached == 0, what="queue drained")
        aside = [a for a in await station.journal.aside() if a["kind"] == "other"]
        assert {a["action"] for a in aside} == {"SecurityEventNotification"}
        assert len(aside) == len(csms.received("SecurityEventNotification"))
        assert all(a["attempts"] == 1 for a in aside)
        assert all(a["reason"].startswith("CallRejected: NotImplemented") for a in aside)
        assert "moved aside" in hub.states.get("sensor.ocpp201_last_error").state


async def test_not_implemented_customer_information_moved_aside(
    config_dir: Any, start_station: Any
) -> None:
    """The tester's case: NotifyCustomerInformation (N09) refused with NotImplemented is
    sent once and moved aside; the session's TransactionEvent goes out at once."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        csms.answer("NotifyCustomerInformation", CallErrorAnswer("NotImplemented"))
        yaml = station_yaml(csms.url(), message_attempt_interval=30)
        hub, _ = await start_station(config_dir(yaml))
        station = hub.data["ocpp201"]
        controller = FakeController(hub)
        controller.state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        request = {"requestId": 3, "report": True, "clear": False, "idToken": TOKEN}
        assert await csms.call(STATION, "CustomerInformation", request) == {"status": "Accepted"}
        controller.state("charging", cp=2)  # a session starts meanwhile
        (notified,) = await csms.wait_for("NotifyCustomerInformation")
        started = (await csms.wait_for("TransactionEvent", timeout=5))[0]
        assert started.payload["eventType"] == "Started"
        assert abs(started.mono - notified.mono) < 2.0
        await wait_until(lambda: station.journal.count_cached == 0, what="queue drained")
        (aside,) = await station.journal.aside()
        assert aside["action"] == "NotifyCustomerInformation" and aside["attempts"] == 1
        assert aside["reason"].startswith("CallRejected: NotImplemented")
        assert aside["payload"]["requestId"] == 3
        assert len(csms.received("NotifyCustomerInformation")) == 1  # not retried


async def test_csms_answers_notify_customer_information(
    config_dir: Any, start_station: Any
) -> None:
    """The test CSMS answers NotifyCustomerInformation itself (an empty confirmation,
    2.0.1 NotifyCustomerInformationResponse) and records what it got."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        FakeController(hub).state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        request = {"requestId": 9, "report": True, "clear": False, "idToken": TOKEN}
        assert await csms.call(STATION, "CustomerInformation", request) == {"status": "Accepted"}
        (notified,) = await csms.wait_for("NotifyCustomerInformation")
        assert notified.payload["requestId"] == 9 and notified.payload["seqNo"] == 0
        assert csms.payloads("NotifyCustomerInformation") == [notified.payload]

        def answers() -> list[Any]:
            return [
                m
                for m in csms.messages
                if m.direction == "out" and m.action == "NotifyCustomerInformation"
            ]

        (answer,) = await csms.wait_until(answers)
        assert answer.kind == "result" and answer.payload == {}
        assert csms.errors_sent() == []
        await wait_until(lambda: hub.data["ocpp201"].journal.count_cached == 0, what="confirmed")
        assert await hub.data["ocpp201"].journal.aside() == []
