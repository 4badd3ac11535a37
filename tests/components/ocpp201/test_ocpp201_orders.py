"""Every CSMS order of OCPP 2.0.1, over a real WebSocket, and malformed CALLs."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.exceptions import NotSupportedError as OcppNotSupported
from ocpp.exceptions import OccurrenceConstraintViolationError
from ocpp201_helpers import PASSWORD, STATION, FakeController, station_yaml, wait_until

from orge.core import callback
from tests.ocpp_csms import OcppCsms


async def connected_station(csms, config_dir, start_station, **options):
    hub, _ = await start_station(config_dir(station_yaml(csms.url(), **options)))
    controller = FakeController(hub)
    controller.state("idle", cp=0)
    await csms.wait_for("StatusNotification")
    return hub, controller


def profile(purpose: str, limit: float, profile_id: int = 1, unit: str = "A", **extra):
    return {
        "id": profile_id,
        "stackLevel": 0,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
            }
        ],
        **extra,
    }


async def test_device_model_get_set_report_persist(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        path = config_dir(station_yaml(csms.url()))
        hub, _ = await start_station(path)
        FakeController(hub).state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        got = await csms.get_variables(
            STATION,
            ("OCPPCommCtrlr", "HeartbeatInterval"),
            ("SecurityCtrlr", "Identity"),
            ("OCPPCommCtrlr", "Nope"),
            ("NoSuchCtrlr", "X"),
        )
        results = got["getVariableResult"]
        assert results[0]["attributeStatus"] == "Accepted"
        assert results[0]["attributeValue"] == "60"  # from the CSMS's boot interval
        assert results[1]["attributeValue"] == STATION
        assert [r["attributeStatus"] for r in results[2:]] == [
            "UnknownVariable",
            "UnknownComponent",
        ]
        set_ = await csms.set_variables(
            STATION,
            ("OCPPCommCtrlr", "OfflineThreshold", "120"),
            ("SampledDataCtrlr", "TxUpdatedInterval", "-5"),
            ("SecurityCtrlr", "Identity", "other"),
            ("SampledDataCtrlr", "TxUpdatedMeasurands", "Energy.Active.Import.Register,Bogus"),
            ("AlignedDataCtrlr", "Interval", "300"),
        )
        statuses = [r["attributeStatus"] for r in set_["setVariableResult"]]
        assert statuses == ["Accepted", "Rejected", "Rejected", "Rejected", "Accepted"]
        assert set_["setVariableResult"][2]["attributeStatusInfo"]["reasonCode"] == "ReadOnly"
        with_instance = await csms.call(
            STATION,
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "MessageAttempts", "instance": "TransactionEvent"},
                        "attributeValue": "5",
                    },
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "OfflineThreshold"},
                        "attributeType": "Target",
                        "attributeValue": "5",
                    },
                ]
            },
        )
        assert [r["attributeStatus"] for r in with_instance["setVariableResult"]] == [
            "Accepted",
            "NotSupportedAttributeType",
        ]
        report = await csms.call(
            STATION, "GetBaseReport", {"requestId": 7, "reportBase": "FullInventory"}
        )
        assert report["status"] == "Accepted"
        reports = await csms.wait_for("NotifyReport", 2)
        payloads = [m.payload for m in reports]
        assert [p["seqNo"] for p in payloads] == list(range(len(payloads)))
        assert payloads[-1]["tbc"] is False and payloads[0]["tbc"] is True
        components = {d["component"]["name"] for p in payloads for d in p["reportData"]}
        assert {
            "OCPPCommCtrlr",
            "TxCtrlr",
            "DeviceDataCtrlr",
            "ClockCtrlr",
            "SecurityCtrlr",
            "SampledDataCtrlr",
            "AlignedDataCtrlr",
            "AuthCtrlr",
        } <= components
        too_many = [{"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "X"}}] * 51
        with pytest.raises(OccurrenceConstraintViolationError):
            await csms.call(STATION, "GetVariables", {"getVariableData": too_many})
        state = await csms.get_variables(STATION, ("ChargingStation", "AvailabilityState"))
        assert state["getVariableResult"][0]["attributeValue"] == "Available"
        summary = await csms.call(
            STATION, "GetBaseReport", {"requestId": 8, "reportBase": "SummaryInventory"}
        )
        assert summary["status"] == "NotSupported"
        await hub.async_stop()
        # Values the CSMS set survive a restart.
        hub2, _ = await start_station(path)
        FakeController(hub2).state("idle", cp=0)
        await csms.wait_for("BootNotification", 2)
        await asyncio.sleep(0.2)
        got = await csms.get_variables(
            STATION, ("OCPPCommCtrlr", "OfflineThreshold"), ("AlignedDataCtrlr", "Interval")
        )
        assert [r["attributeValue"] for r in got["getVariableResult"]] == ["120", "300"]
        model = hub2.data["ocpp201"].model
        assert model.value("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent") == 5


async def test_reset_availability_unlock_trigger(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        path = config_dir(station_yaml(csms.url()))
        hub, controller = await connected_station(csms, config_dir, start_station)
        resets: list[dict] = []
        hub.bus.async_listen("ocpp_reset", callback(lambda e: resets.append(dict(e.data))))
        # Reset: no per-EVSE reset, OnIdle accepted when idle (the station restarts)
        assert (await csms.call(STATION, "Reset", {"type": "Immediate", "evseId": 1}))[
            "status"
        ] == "Rejected"
        assert (await csms.reset(STATION, "OnIdle"))["status"] == "Accepted"
        await wait_until(lambda: resets, what="reset event")
        assert resets == [{"type": "OnIdle", "domain": "ocpp201"}]
        station = hub.data["ocpp201"]
        assert await station.journal.get_setting("boot_reason") == "RemoteReset"
        # ChangeAvailability: Unavailable reported after the answer, and persisted
        answer = await csms.call(
            STATION,
            "ChangeAvailability",
            {"operationalStatus": "Inoperative", "evse": {"id": 1, "connectorId": 1}},
        )
        assert answer["status"] == "Accepted"
        await csms.wait_for(
            "StatusNotification", where=lambda p: p["connectorStatus"] == "Unavailable"
        )
        answer = await csms.call(
            STATION, "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 9}}
        )
        assert answer["status"] == "Rejected"
        # Remote start is refused while Inoperative
        assert (await csms.request_start(STATION, "T"))["status"] == "Rejected"
        # UnlockConnector
        answer = await csms.call(STATION, "UnlockConnector", {"evseId": 1, "connectorId": 1})
        assert answer["status"] == "Unlocked" and ("unlock", {}) in controller.calls
        answer = await csms.call(STATION, "UnlockConnector", {"evseId": 3, "connectorId": 1})
        assert answer["status"] == "UnknownConnector"
        # TriggerMessage
        heartbeats = len(csms.received("Heartbeat"))
        assert (await csms.trigger_message(STATION, "Heartbeat"))["status"] == "Accepted"
        await csms.wait_for("Heartbeat", heartbeats + 1)
        statuses = len(csms.received("StatusNotification"))
        assert (await csms.trigger_message(STATION, "StatusNotification", 1))[
            "status"
        ] == "Accepted"
        await csms.wait_for("StatusNotification", statuses + 1)
        assert (await csms.trigger_message(STATION, "BootNotification"))["status"] == "Rejected"
        assert (await csms.trigger_message(STATION, "TransactionEvent"))["status"] == "Rejected"
        assert (await csms.trigger_message(STATION, "LogStatusNotification"))[
            "status"
        ] == "NotImplemented"
        assert (await csms.trigger_message(STATION, "MeterValues", 1))["status"] == "Accepted"
        meter = (await csms.wait_for("MeterValues"))[0].payload
        assert meter["evseId"] == 1
        assert meter["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
        # DataTransfer: no vendor extension
        answer = await csms.call(STATION, "DataTransfer", {"vendorId": "acme", "messageId": "x"})
        assert answer["status"] == "UnknownVendorId"
        await hub.async_stop()
        # Inoperative survives a restart; the boot says why the station restarted
        hub2, _ = await start_station(path)
        FakeController(hub2).state("idle", cp=0)
        boot = (await csms.wait_for("BootNotification", 2))[1].payload
        assert boot["reason"] == "RemoteReset"
        status = (await csms.wait_for("StatusNotification", statuses + 2))[-1].payload
        assert status["connectorStatus"] == "Unavailable"


async def test_unsupported_and_malformed_calls(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await connected_station(csms, config_dir, start_station)
        # a 2.0.1 action the station does not support: NotSupported (OCPP-J 2.0.1 §4.3)
        with pytest.raises(OcppNotSupported):
            await csms.call(STATION, "CostUpdated", {"totalCost": 1.5, "transactionId": "t1"})
        cases = [
            ("not json at all", "-1", "RpcFrameworkError"),
            (json.dumps({"a": 1}), "-1", "RpcFrameworkError"),
            (json.dumps([7, "m1", "Heartbeat", {}]), "m1", "MessageTypeNotSupported"),
            (json.dumps([2, "m3", "Reset", []]), "m3", "FormatViolation"),
            (json.dumps([2, "m4", "Reset", {"type": "Sideways"}]), "m4", "FormatViolation"),
            (json.dumps([2, "m5", "Reset", {"typo": "OnIdle"}]), "m5", None),
            (json.dumps([2, "m6", "Reset", {"type": 5}]), "m6", "TypeConstraintViolation"),
            (json.dumps([2, "m7", "FlyToTheMoon", {}]), "m7", "NotImplemented"),
        ]
        for text, unique_id, code in cases:
            answer = await csms.send_raw(STATION, text)
            assert answer is not None, text
            assert answer.kind == "error", text
            assert answer.unique_id == unique_id, text
            if code:
                assert answer.payload["code"] == code, (text, answer.payload)
        # The connection is kept: an ordinary order still works.
        assert (await csms.trigger_message(STATION, "Heartbeat"))["status"] == "Accepted"
        assert len(csms.stations) == 1 and not csms.disconnects


async def test_charging_profiles_applied_honestly(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, controller = await connected_station(csms, config_dir, start_station)

        async def set_profile(evse_id: int, body: dict) -> dict:
            return await csms.call(
                STATION, "SetChargingProfile", {"evseId": evse_id, "chargingProfile": body}
            )

        # Idle: a default limit is applied through current_limit_entity at once.
        assert (await set_profile(1, profile("TxDefaultProfile", 16)))["status"] == "Accepted"
        await wait_until(
            lambda: float(hub.states.get("number.fake_limit").state) == 16, what="16 A"
        )
        assert ("set_value", {"entity_id": "number.fake_limit", "value": 16.0}) in controller.calls
        schedule = await csms.call(STATION, "GetCompositeSchedule", {"duration": 3600, "evseId": 1})
        assert schedule["status"] == "Accepted"
        assert schedule["schedule"]["chargingSchedulePeriod"] == [
            {"startPeriod": 0, "limit": 16, "numberPhases": 3}
        ]
        # Below the controller's minimum current: refused with the reason (the controller
        # cannot go lower, so it would charge above the limit).
        assert (await set_profile(1, profile("TxDefaultProfile", 3)))["statusInfo"][
            "reasonCode"
        ] == "BelowMinimum"
        # During a session the current cannot change: the profile is Accepted (K01), the
        # limit pends (shown on the sensor) and is applied once the session is over.
        controller.state("charging", cp=2)
        await csms.wait_for("TransactionEvent")
        answer = await set_profile(1, profile("TxDefaultProfile", 10, profile_id=2))
        assert answer["status"] == "Accepted"
        await wait_until(
            lambda: hub.states.get("sensor.ocpp201_pending_current_limit").state == "10.0",
            what="10 A pending",
        )
        pending = hub.states.get("sensor.ocpp201_pending_current_limit").attributes
        assert pending["reason"].startswith("session running")
        assert float(hub.states.get("number.fake_limit").state) == 16
        controller.state("stopped", cp=0)
        controller.state("idle", cp=0)
        await wait_until(
            lambda: float(hub.states.get("number.fake_limit").state) == 10, what="10 A"
        )
        await wait_until(
            lambda: hub.states.get("sensor.ocpp201_pending_current_limit").state == "none"
        )
        # Clearing (profile 2 replaced profile 1: same purpose, stack level and EVSE)
        cleared = await csms.call(STATION, "ClearChargingProfile", {"chargingProfileId": 2})
        assert cleared["status"] == "Accepted"
        await wait_until(
            lambda: float(hub.states.get("number.fake_limit").state) == 32, what="32 A"
        )
        unknown = await csms.call(STATION, "ClearChargingProfile", {"chargingProfileId": 99})
        assert unknown["status"] == "Unknown"
        watts = await csms.call(
            STATION,
            "GetCompositeSchedule",
            {"duration": 60, "evseId": 1, "chargingRateUnit": "W"},
        )
        assert watts["status"] == "Accepted"
        # 32 A x 230 V x 3 phases
        assert watts["schedule"]["chargingSchedulePeriod"] == [
            {"startPeriod": 0, "limit": 22080, "numberPhases": 3}
        ]


async def test_authorize_service_and_immediate_reset(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, controller = await connected_station(csms, config_dir, start_station)
        csms.id_tags["BLOCKED"] = "Blocked"
        answer = await hub.services.async_call(
            "ocpp201", "authorize", {"id_token": "BLOCKED"}, blocking=True, return_response=True
        )
        assert answer == {"status": "Blocked", "evse_id": 1}
        controller.state("ev_connected", cp=1)
        await asyncio.sleep(0.1)
        assert not controller.calls  # not authorised: the controller was left alone
        answer = await hub.services.async_call(
            "ocpp201", "authorize", {"id_token": "CARD-9"}, blocking=True, return_response=True
        )
        assert answer["status"] == "Accepted"
        sent = csms.payloads("Authorize")[-1]
        assert sent == {"idToken": {"idToken": "CARD-9", "type": "ISO14443"}}
        started = (await csms.wait_for("TransactionEvent"))[0].payload
        assert started["triggerReason"] == "Authorized"
        assert started["idToken"] == {"idToken": "CARD-9", "type": "ISO14443"}
        assert "remoteStartId" not in started["transactionInfo"]
        # Reset Immediate during a session: the session is ended first (ImmediateReset).
        resets: list[dict] = []
        hub.bus.async_listen("ocpp_reset", callback(lambda e: resets.append(dict(e.data))))
        assert (await csms.reset(STATION, "Immediate"))["status"] == "Accepted"
        ended = (
            await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
        )[0].payload
        assert ended["transactionInfo"]["stoppedReason"] == "ImmediateReset"
        assert ended["triggerReason"] == "ResetCommand"
        await wait_until(lambda: resets, what="restart after the session ended")
        assert resets == [{"type": "Immediate", "domain": "ocpp201"}]


async def test_profile_expiry_restores_the_limit(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await connected_station(csms, config_dir, start_station)
        valid_to = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        body = profile("TxDefaultProfile", 10, validTo=valid_to)
        answer = await csms.call(
            STATION, "SetChargingProfile", {"evseId": 1, "chargingProfile": body}
        )
        assert answer["status"] == "Accepted"
        await wait_until(lambda: float(hub.states.get("number.fake_limit").state) == 10)
        await wait_until(lambda: float(hub.states.get("number.fake_limit").state) == 32, 3)


async def test_remote_start_with_tx_profile(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, controller = await connected_station(csms, config_dir, start_station)
        controller.state("ev_connected", cp=1)
        wrong = await csms.call(
            STATION,
            "RequestStartTransaction",
            {
                "idToken": {"idToken": "T", "type": "Central"},
                "remoteStartId": 1,
                "chargingProfile": profile("TxDefaultProfile", 10),
            },
        )
        assert wrong["status"] == "Rejected"
        answer = await csms.call(
            STATION,
            "RequestStartTransaction",
            {
                "idToken": {"idToken": "T", "type": "Central"},
                "remoteStartId": 2,
                "evseId": 1,
                "chargingProfile": profile("TxProfile", 10, profile_id=5),
            },
        )
        assert answer["status"] == "Accepted"
        # The limit is set before the controller is authorised (it cannot change later).
        await csms.wait_for("TransactionEvent")
        names = [c[0] for c in controller.calls]
        assert names.index("set_value") < names.index("authorize")
        assert float(hub.states.get("number.fake_limit").state) == 10
        controller.state("stopped", cp=0)
        await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
        controller.state("idle", cp=0)
        # The TxProfile lived for that session only.
        await wait_until(lambda: float(hub.states.get("number.fake_limit").state) == 32)


async def test_remote_start_expires_and_clears_the_authorisation(config_dir, start_station):
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, controller = await connected_station(
            csms, config_dir, start_station, ev_connection_timeout=1
        )
        controller.ev_charges = False
        hub.services.async_remove("fake", "authorize")  # this controller: AUTH, no state change

        async def authorize(call) -> None:
            controller.calls.append(("authorize", {}))

        hub.services.async_register("fake", "authorize", authorize)
        controller.state("cable_detect", cp=0)  # pre-authorisation with only the cable in
        assert (await csms.request_start(STATION, "T"))["status"] == "Accepted"
        await wait_until(lambda: ("authorize", {}) in controller.calls)
        controller.state("idle", cp=0)  # the cable is taken out again, no EV came
        await wait_until(lambda: ("stop_charging", {}) in controller.calls, 3)
        assert not csms.received("TransactionEvent")
