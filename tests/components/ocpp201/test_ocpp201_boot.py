"""ocpp201 boot states against the test CSMS over a real WebSocket (issue 10 points 4, 8).

OCPP 2.0.1 B02 (Pending), B03 (Rejected), F06 (TriggerMessage BootNotification): the next
BootNotification goes out after the CSMS's interval or at once when triggered (reason
`Triggered`); once Accepted the connectors' status follows at once; while not Accepted the
station sends nothing but its boot and CSMS requests that start or stop a transaction are
Rejected.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest
from ocpp.exceptions import SecurityError
from ocpp201_helpers import PASSWORD, STATION, FakeController, station_yaml, wait_state

from tests.ocpp_csms import OCPP201, OcppCsms


async def test_tc_b_02_pending_then_triggered_boot_reports_status_at_once(
    config_dir, start_station
) -> None:
    async with OcppCsms(
        passwords={STATION: PASSWORD}, boot_status="Pending", boot_interval=60
    ) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        FakeController(hub).state("idle", cp=0)
        await csms.wait_for("BootNotification")
        await wait_state(hub, "sensor.ocpp201_connection", "pending")
        # While Pending the CSMS may configure the station ...
        answer = await csms.get_variables(STATION, ("OCPPCommCtrlr", "HeartbeatInterval"))
        assert answer["getVariableResult"][0]["attributeStatus"] == "Accepted"
        # ... but requests that start or stop a transaction are Rejected (TC_B_02)
        start = await csms.request_start(STATION, "TAG1", evse_id=1, remote_id=7)
        assert start["status"] == "Rejected"
        stop = await csms.request_stop(STATION, "no-such-tx")
        assert stop["status"] == "Rejected"
        await asyncio.sleep(0.3)
        assert [m.action for m in csms.received() if m.direction == "in"] == ["BootNotification"]
        # Triggered: a BootNotification at once (not after 60 s), reason Triggered
        csms.boot_status = "Accepted"
        trigger = await csms.trigger_message(STATION, "BootNotification")
        assert trigger["status"] == "Accepted"
        boots = await csms.wait_for("BootNotification", 2, timeout=2)
        assert boots[1].payload["reason"] == "Triggered"
        # Accepted: the connectors' status at once, without waiting for a next attempt
        status = (await csms.wait_for("StatusNotification", timeout=2))[0]
        assert status.mono - boots[1].mono < 1.0
        assert status.payload["connectorStatus"] == "Available"
        await wait_state(hub, "sensor.ocpp201_connection", "connected")
        # Accepted now: a further TriggerMessage(BootNotification) is Rejected (F06.FR.17)
        again = await csms.trigger_message(STATION, "BootNotification")
        assert again["status"] == "Rejected"
        # and transactions may start
        start = await csms.request_start(STATION, "TAG1", evse_id=1, remote_id=8)
        assert start["status"] == "Accepted"


async def test_rejected_sends_nothing_but_its_boot_at_the_csms_interval(
    config_dir, start_station
) -> None:
    async with OcppCsms(
        passwords={STATION: PASSWORD}, boot_status="Rejected", boot_interval=1
    ) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), heartbeat_interval=1)))
        controller = FakeController(hub)
        controller.state("idle", cp=0)
        boots = await csms.wait_for("BootNotification", 3, timeout=5)
        controller.state("cable_detect", cp=0)  # a status change while Rejected
        await asyncio.sleep(1.2)
        gaps = [b.mono - a.mono for a, b in itertools.pairwise(boots)]
        assert all(0.9 <= gap < 1.6 for gap in gaps), gaps  # the CSMS's interval
        assert {m.action for m in csms.received() if m.direction == "in"} == {"BootNotification"}
        assert hub.states.get("sensor.ocpp201_connection").state == "rejected"
        csms.boot_status = "Accepted"
        await csms.wait_connected(STATION, OCPP201)
        status = await csms.wait_for(
            "StatusNotification", where=lambda p: p["connectorStatus"] == "Occupied"
        )
        assert status


async def test_tc_b_21_scheduled_reset_boots_with_reason_scheduled_reset(
    config_dir, start_station
) -> None:
    """Reset OnIdle during a transaction is Scheduled; the station restarts when the
    transaction has ended, and its next BootNotification says ScheduledReset (B11/B12)."""
    from orge.core import callback

    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        path = config_dir(station_yaml(csms.url()))
        hub, _ = await start_station(path)
        controller = FakeController(hub)
        controller.state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        resets: list[dict] = []
        hub.bus.async_listen("ocpp_reset", callback(lambda e: resets.append(dict(e.data))))
        controller.state("charging", cp=2)  # a session the controller started
        await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started")
        assert (await csms.reset(STATION, "OnIdle"))["status"] == "Scheduled"
        await asyncio.sleep(0.3)
        assert not resets  # waits for the transaction
        controller.state("idle", cp=0)  # unplugged
        await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
        deadline = asyncio.get_running_loop().time() + 5
        while not resets and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        assert resets == [{"type": "OnIdle", "domain": "ocpp201"}]
        await hub.async_stop()
        hub2, _ = await start_station(path)
        FakeController(hub2).state("idle", cp=0)
        boot = (await csms.wait_for("BootNotification", 2))[1].payload
        assert boot["reason"] == "ScheduledReset"


async def test_rejected_station_answers_the_csms_with_security_error(
    config_dir, start_station
) -> None:
    """B03.FR.08: while its boot is Rejected the station answers a CSMS request with a
    CALLERROR SecurityError (and does not act on it); once Accepted it serves them."""
    async with OcppCsms(
        passwords={STATION: PASSWORD}, boot_status="Rejected", boot_interval=1
    ) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        controller = FakeController(hub)
        controller.state("idle", cp=0)
        await wait_state(hub, "sensor.ocpp201_connection", "rejected")  # the answer taken in
        for action, payload in (
            ("GetVariables", {"getVariableData": [GET_HEARTBEAT]}),
            ("RequestStartTransaction", START),
        ):
            with pytest.raises(SecurityError):
                await csms.call(STATION, action, payload, 2.0)
        assert controller.calls == []
        csms.boot_status = "Accepted"
        await csms.wait_for("StatusNotification", timeout=5)
        answer = await csms.call(STATION, "GetVariables", {"getVariableData": [GET_HEARTBEAT]})
        assert answer["getVariableResult"][0]["attributeStatus"] == "Accepted"


GET_HEARTBEAT = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
START = {"idToken": {"idToken": "TAG1", "type": "Central"}, "remoteStartId": 3}
