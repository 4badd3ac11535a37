"""Every CSMS order ocpp16 handles, sent by the test CSMS over a real WebSocket."""

from __future__ import annotations

import json

import pytest
from ocpp.exceptions import NotSupportedError as OcppNotSupported
from ocpp16_helpers import PASSWORD, STATION, FakeController, station_yaml, wait_state

from orge.core import Orge
from orge.setup import async_from_config_dir
from tests.ocpp_csms import OcppCsms


@pytest.fixture
async def linked(config_dir, start_station):
    """(csms, hub, controller, path) with the station booted and idle."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        path = config_dir(station_yaml(csms.url(), reset_action="{action: fake.reboot}"))
        hub, _ = await start_station(path)
        controller = FakeController(hub)
        controller.state("idle")
        await csms.wait_for("StatusNotification", 2)
        yield csms, hub, controller, path


def _profile(limit: float, purpose: str = "TxDefaultProfile", **extra) -> dict:
    schedule = {
        "chargingRateUnit": extra.pop("unit", "A"),
        "chargingSchedulePeriod": extra.pop("periods", [{"startPeriod": 0, "limit": limit}]),
    }
    return {
        "chargingProfileId": extra.pop("profile_id", 7),
        "stackLevel": 0,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute" if "startSchedule" in extra else "Relative",
        "chargingSchedule": {**schedule, **extra},
    }


async def test_configuration_get_and_change_persisted(linked, config_dir) -> None:
    csms, hub, _, path = linked
    answer = await csms.get_configuration(STATION)
    keys = {k["key"]: k for k in answer["configurationKey"]}
    assert keys["TransactionMessageAttempts"]["value"] == "3"
    assert keys["NumberOfConnectors"] == {
        "key": "NumberOfConnectors",
        "readonly": True,
        "value": "1",
    }
    answer = await csms.get_configuration(STATION, ["HeartbeatInterval", "Nope"])
    assert answer["unknownKey"] == ["Nope"]
    assert await csms.change_configuration(STATION, "Nope", "1") == {"status": "NotSupported"}
    assert await csms.change_configuration(STATION, "NumberOfConnectors", "2") == {
        "status": "Rejected"
    }
    assert await csms.change_configuration(STATION, "HeartbeatInterval", "abc") == {
        "status": "Rejected"
    }
    assert await csms.change_configuration(STATION, "MeterValuesSampledData", "SoC") == {
        "status": "Rejected"
    }
    assert await csms.change_configuration(STATION, "TransactionMessageAttempts", "5") == {
        "status": "Accepted"
    }
    # applied to the open socket at once, so Accepted (§5.3), no longer RebootRequired
    assert await csms.change_configuration(STATION, "WebSocketPingInterval", "20") == {
        "status": "Accepted"
    }
    await hub.async_block_till_done()
    await hub.async_stop()
    hub2 = Orge(str(path))
    await async_from_config_dir(hub2, str(path))
    await hub2.async_start()
    try:
        await csms.wait_connected(STATION)
        await csms.wait_for("BootNotification", 2)
        answer = await csms.get_configuration(STATION, ["TransactionMessageAttempts"])
        assert answer["configurationKey"][0]["value"] == "5"
    finally:
        await hub2.async_stop()


async def test_change_availability_persisted_and_scheduled(linked) -> None:
    csms, hub, _controller, path = linked
    answer = await csms.call(
        STATION, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}
    )
    assert answer == {"status": "Accepted"}
    await csms.wait_for("StatusNotification", where=lambda p: p["status"] == "Unavailable")
    # an inoperative connector refuses remote starts
    assert (await csms.remote_start(STATION, id_tag="T"))["status"] == "Rejected"
    assert await csms.call(
        STATION, "ChangeAvailability", {"connectorId": 9, "type": "Operative"}
    ) == {"status": "Rejected"}
    await hub.async_block_till_done()
    await hub.async_stop()
    hub2 = Orge(str(path))
    await async_from_config_dir(hub2, str(path))
    await hub2.async_start()
    try:
        controller2 = FakeController(hub2)
        controller2.state("idle")
        await csms.wait_for("BootNotification", 2)
        statuses = await csms.wait_for(
            "StatusNotification", where=lambda p: p["connectorId"] == 1, count=3
        )
        assert statuses[-1].payload["status"] == "Unavailable"  # persisted across restart
        answer = await csms.call(
            STATION, "ChangeAvailability", {"connectorId": 0, "type": "Operative"}
        )
        assert answer == {"status": "Accepted"}
        await csms.wait_for(
            "StatusNotification",
            where=lambda p: p["connectorId"] == 1 and p["status"] == "Available",
            count=2,
        )
        # during a transaction, Inoperative is Scheduled and applied when it ends
        controller2.state("ev_connected")
        assert (await csms.remote_start(STATION, id_tag="T"))["status"] == "Accepted"
        await csms.wait_for("StartTransaction")
        answer = await csms.call(
            STATION, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}
        )
        assert answer == {"status": "Scheduled"}
        controller2.state("stopped")
        await csms.wait_for("StopTransaction")
        controller2.state("idle")
        await csms.wait_for(
            "StatusNotification",
            where=lambda p: p["connectorId"] == 1 and p["status"] == "Unavailable",
            count=2,
        )
    finally:
        await hub2.async_stop()


async def test_remote_start_refusals_and_reset(linked) -> None:
    csms, hub, controller, _ = linked
    events = []
    hub.bus.async_listen("ocpp16_reset", lambda e: events.append(e.data))
    controller.fail.add("authorize")
    controller.state("ev_connected")
    # The answer goes out before the controller is authorized (issue 10 points 1 and 2:
    # one held-start policy for both protocols), so a controller that then refuses is
    # reported, and no transaction starts.
    assert (await csms.remote_start(STATION, id_tag="T"))["status"] == "Accepted"
    await csms.wait_until(
        lambda: "authorize action failed" in hub.states.get("sensor.ocpp16_last_error").state
    )
    assert csms.received("StartTransaction") == []
    controller.fail.clear()
    assert (await csms.remote_start(STATION, id_tag="T", connector_id=5))["status"] == "Rejected"
    assert (await csms.remote_start(STATION, id_tag="T"))["status"] == "Accepted"
    await csms.wait_for("StartTransaction")
    assert (await csms.remote_start(STATION, id_tag="T"))["status"] == "Rejected"  # busy

    calls = []
    hub.services.async_register("fake", "reboot", lambda call: calls.append(call.service))
    assert await csms.reset(STATION, "Soft") == {"status": "Accepted"}
    stop = (await csms.wait_for("StopTransaction"))[0].payload
    assert stop["reason"] == "SoftReset"
    await csms.wait_until(lambda: calls == ["reboot"])
    assert events == [{"type": "Soft"}]


async def test_unlock_trigger_datatransfer_unsupported(linked) -> None:
    csms, hub, controller, _ = linked
    assert await csms.call(STATION, "UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
    assert ("unlock", {}) in controller.calls
    assert await csms.call(STATION, "UnlockConnector", {"connectorId": 3}) == {
        "status": "NotSupported"
    }
    controller.fail.add("unlock")
    assert await csms.call(STATION, "UnlockConnector", {"connectorId": 1}) == {
        "status": "UnlockFailed"
    }

    before = len(csms.received("StatusNotification"))
    assert await csms.trigger_message(STATION, "StatusNotification", 1) == {"status": "Accepted"}
    await csms.wait_for("StatusNotification", before + 1)
    assert await csms.trigger_message(STATION, "Heartbeat") == {"status": "Accepted"}
    await csms.wait_for("Heartbeat")
    controller.energy(321)
    assert await csms.trigger_message(STATION, "MeterValues", 1) == {"status": "Accepted"}
    meter = (await csms.wait_for("MeterValues"))[0].payload
    assert meter["meterValue"][0]["sampledValue"][0]["value"] == "321"
    assert meter["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
    assert await csms.trigger_message(STATION, "BootNotification") == {"status": "Accepted"}
    await csms.wait_for("BootNotification", 2)
    assert await csms.trigger_message(STATION, "StatusNotification", 4) == {"status": "Rejected"}

    seen = []
    hub.bus.async_listen("ocpp16_data_transfer", lambda e: seen.append(e.data))
    answer = await csms.call(
        STATION, "DataTransfer", {"vendorId": "ORGE", "messageId": "hello", "data": "x"}
    )
    assert answer == {"status": "Accepted"}
    await hub.async_block_till_done()
    assert seen == [{"vendor_id": "ORGE", "message_id": "hello", "data": "x"}]
    answer = await csms.call(STATION, "DataTransfer", {"vendorId": "Other"})
    assert answer == {"status": "UnknownVendorId"}

    # a 1.6 action the station does not support: NotSupported (OCPP-J 1.6 §4.2.3); a
    # Heartbeat is the station's to send, not the Central System's (ExtendedTriggerMessage,
    # the example before, is the security whitepaper's and answered now)
    with pytest.raises(OcppNotSupported):
        await csms.call(STATION, "Heartbeat", {})
    # malformed CALLs get the right CALLERROR and the connection stays up
    answer = await csms.send_raw(STATION, '[2,"m1","Reset",{"type":"Sideways"}]')
    assert answer is not None and answer.kind == "error"
    assert answer.payload["code"] == "FormationViolation"  # the 1.6 name of the error
    answer = await csms.send_raw(STATION, '[2,"m2","NoSuchAction",{}]')
    assert answer is not None and answer.payload["code"] == "NotImplemented"  # not a 1.6 action
    answer = await csms.send_raw(
        STATION, '[2,"m3","ChangeConfiguration",{"key":"HeartbeatInterval"}]'
    )
    assert answer is not None and answer.kind == "error"
    answer = await csms.send_raw(STATION, "this is not json")
    assert answer is None or answer.kind == "error"
    assert await csms.change_configuration(STATION, "HeartbeatInterval", "40") == {
        "status": "Accepted"
    }
    assert hub.states.get("sensor.ocpp16_connection").state == "connected"
    assert len(csms.attempts) == 1


async def test_smart_charging_is_honest_about_sessions(linked) -> None:
    csms, hub, controller, _ = linked

    async def set_profile(connector: int, profile: dict) -> str:
        answer = await csms.call(
            STATION, "SetChargingProfile", {"connectorId": connector, "csChargingProfiles": profile}
        )
        return answer["status"]

    # idle: a constant limit is applied to the controller's current limit entity
    assert await set_profile(1, _profile(16)) == "Accepted"
    await wait_state(hub, "number.fake_limit", "16.0")
    composite = await csms.call(
        STATION, "GetCompositeSchedule", {"connectorId": 1, "duration": 600}
    )
    assert composite["status"] == "Accepted"
    assert composite["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 16.0, "numberPhases": 3}
    ]
    watts = await csms.call(
        STATION,
        "GetCompositeSchedule",
        {"connectorId": 1, "duration": 60, "chargingRateUnit": "W"},
    )
    assert watts["status"] == "Accepted"  # 16 A x 230 V x 3 phases
    assert watts["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 11040
    # what the spec says a station rejects, or the controller cannot do at all
    assert await set_profile(1, _profile(3)) == "Rejected"  # below the controller's 6 A
    assert await set_profile(1, _profile(10, purpose="ChargePointMaxProfile")) == "Rejected"
    assert await set_profile(1, _profile(10, purpose="TxProfile")) == "Rejected"  # no session

    controller.state("ev_connected")
    await csms.remote_start(STATION, id_tag="T")
    await csms.wait_for("StartTransaction")
    # mid-session: accepted as the spec requires; the controller keeps its current and
    # the new limit pends (the controller restarts its session on a change)
    assert await set_profile(1, _profile(10, profile_id=8)) == "Accepted"  # replaces 7
    await wait_state(hub, "sensor.ocpp16_pending_current_limit", "10.0")
    assert (
        await set_profile(0, _profile(12, purpose="ChargePointMaxProfile", profile_id=9))
        == "Accepted"
    )
    # the TxProfile overrides the default; the station maximum (12 A) still caps it
    assert await set_profile(1, _profile(16, purpose="TxProfile", profile_id=10)) == "Accepted"
    await wait_state(hub, "sensor.ocpp16_pending_current_limit", "12.0")
    answer = await csms.call(STATION, "ClearChargingProfile", {"id": 9})
    assert answer == {"status": "Accepted"}
    # 16 A is what the controller has: nothing pends any more
    await wait_state(hub, "sensor.ocpp16_pending_current_limit", "none")
    assert hub.states.get("number.fake_limit").state == "16.0"
    assert await csms.call(STATION, "ClearChargingProfile", {"id": 99}) == {"status": "Unknown"}
    controller.state("stopped")
    await csms.wait_for("StopTransaction")
    # the TxProfile ended with its transaction; the default's 10 A waits for idle
    await wait_state(hub, "sensor.ocpp16_pending_current_limit", "10.0")
    assert hub.states.get("number.fake_limit").state == "16.0"
    controller.state("idle")
    await wait_state(hub, "number.fake_limit", "10.0")
    await wait_state(hub, "sensor.ocpp16_pending_current_limit", "none")
    assert not csms.errors_sent()
    assert json.dumps(csms.payloads("StopTransaction"))  # nothing odd in the payloads


async def test_authorize_remote_tx_requests_and_invalid_id(linked) -> None:
    csms, hub, controller, _ = linked
    csms.id_tags["BLOCKED"] = "Blocked"
    assert await csms.change_configuration(STATION, "AuthorizeRemoteTxRequests", "true") == {
        "status": "Accepted"
    }
    controller.state("ev_connected")
    assert (await csms.remote_start(STATION, id_tag="BLOCKED"))["status"] == "Accepted"
    await csms.wait_for("Authorize", where=lambda p: p["idTag"] == "BLOCKED")
    await hub.async_block_till_done()
    assert ("authorize", {}) not in controller.calls  # the CSMS said Blocked: no start
    assert (await csms.remote_start(STATION, id_tag="GOOD"))["status"] == "Accepted"
    await csms.wait_for("StartTransaction", where=lambda p: p["idTag"] == "GOOD")
    assert [m.action for m in csms.received()].count("Authorize") == 2

    # a StartTransaction answered Invalid ends the session (StopTransactionOnInvalidId)
    controller.state("stopped")
    await csms.wait_for("StopTransaction")
    controller.state("ev_connected")
    assert await csms.change_configuration(STATION, "AuthorizeRemoteTxRequests", "false") == {
        "status": "Accepted"
    }
    csms.id_tags["LATE"] = "Invalid"
    assert (await csms.remote_start(STATION, id_tag="LATE"))["status"] == "Accepted"
    stop = (await csms.wait_for("StopTransaction", 2))[1].payload
    assert stop["reason"] == "DeAuthorized" and stop["idTag"] == "LATE"


async def test_limit_set_by_hand_is_left_alone_without_profiles(linked) -> None:
    csms, hub, controller, _ = linked
    hub.states.async_set("number.fake_limit", "13", {})  # an operator chose 13 A
    controller.state("ev_connected")
    await csms.remote_start(STATION, id_tag="T")
    await csms.wait_for("StartTransaction")
    controller.state("stopped")
    await csms.wait_for("StopTransaction")
    controller.state("idle")
    await hub.async_block_till_done()
    assert hub.states.get("number.fake_limit").state == "13"
    assert not [c for c in controller.calls if c[0] == "set_value"]


async def test_profile_limit_restored_after_a_controller_reboot(linked) -> None:
    csms, hub, controller, _ = linked
    answer = await csms.call(
        STATION, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": _profile(20)}
    )
    assert answer == {"status": "Accepted"}
    await wait_state(hub, "number.fake_limit", "20.0")
    controller.state("unavailable")  # the controller reboots and comes back at 32 A
    hub.states.async_set("number.fake_limit", "32", {})
    controller.state("idle")
    await wait_state(hub, "number.fake_limit", "20.0")
