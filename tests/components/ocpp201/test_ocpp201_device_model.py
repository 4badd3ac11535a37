"""Issue 10 points 7 and 8 under 2.0.1: a device model a CSMS can use. The FullInventory
report holds every variable the Core profile requires (OCA TC_B_53_CS), with EVSE and
Connector components that carry their ids, so a CSMS can map StatusNotifications to
connectors; SecurityCtrlr.BasicAuthPassword is write-only and rotates the password
(TC_A_09_CS / TC_A_10_CS)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from ocpp.exceptions import OccurrenceConstraintViolationError
from ocpp201_helpers import PASSWORD, STATION, FakeController, station_yaml, wait_until

from orge.redact import RedactingFilter
from tests.ocpp_csms import OcppCsms

NEW_PASSWORD = "rotated-Pass-0123456789"  # 16..40 characters (passwordString)


def _where(component: dict[str, Any]) -> tuple[int, int] | None:
    evse = component.get("evse")
    if evse is None:
        return None
    return (evse["id"], evse.get("connectorId", 0))


def _report(csms: OcppCsms, request_id: int) -> dict[tuple[Any, ...], dict[str, Any]]:
    """(component, (evse, connector) or None, variable, instance) -> its first attribute."""
    return {
        (
            item["component"]["name"],
            _where(item["component"]),
            item["variable"]["name"],
            item["variable"].get("instance"),
        ): item["variableAttribute"][0]
        for message in csms.received("NotifyReport")
        if message.payload["requestId"] == request_id
        for item in message.payload["reportData"]
    }


async def _full_inventory(csms: OcppCsms, request_id: int) -> dict[tuple[Any, ...], Any]:
    answer = await csms.call(
        STATION, "GetBaseReport", {"requestId": request_id, "reportBase": "FullInventory"}
    )
    assert answer["status"] == "Accepted"
    await csms.wait_for(
        "NotifyReport", where=lambda p: p["requestId"] == request_id and not p.get("tbc")
    )
    return _report(csms, request_id)


# The variables 2.0.1 Part 2 (Appendices, "Referenced Components and Variables") marks
# required for the Core profile's functional blocks an AC station implements.
REQUIRED = [
    ("AlignedDataCtrlr", None, "Interval", None),
    ("AlignedDataCtrlr", None, "Measurands", None),
    ("AlignedDataCtrlr", None, "TxEndedInterval", None),
    ("AlignedDataCtrlr", None, "TxEndedMeasurands", None),
    ("AuthCtrlr", None, "AuthorizeRemoteStart", None),
    ("AuthCtrlr", None, "LocalAuthorizeOffline", None),
    ("AuthCtrlr", None, "LocalPreAuthorize", None),
    ("ChargingStation", None, "AvailabilityState", None),
    ("ChargingStation", None, "Available", None),
    ("ChargingStation", None, "SupplyPhases", None),
    ("ClockCtrlr", None, "DateTime", None),
    ("ClockCtrlr", None, "TimeSource", None),
    ("DeviceDataCtrlr", None, "ItemsPerMessage", "GetReport"),
    ("DeviceDataCtrlr", None, "ItemsPerMessage", "GetVariables"),
    ("DeviceDataCtrlr", None, "BytesPerMessage", "GetReport"),
    ("DeviceDataCtrlr", None, "BytesPerMessage", "GetVariables"),
    ("OCPPCommCtrlr", None, "MessageTimeout", "Default"),
    ("OCPPCommCtrlr", None, "MessageAttempts", "TransactionEvent"),
    ("OCPPCommCtrlr", None, "MessageAttemptInterval", "TransactionEvent"),
    ("OCPPCommCtrlr", None, "NetworkConfigurationPriority", None),
    ("OCPPCommCtrlr", None, "NetworkProfileConnectionAttempts", None),
    ("OCPPCommCtrlr", None, "OfflineThreshold", None),
    ("OCPPCommCtrlr", None, "ResetRetries", None),
    ("OCPPCommCtrlr", None, "RetryBackOffRandomRange", None),
    ("OCPPCommCtrlr", None, "RetryBackOffRepeatTimes", None),
    ("OCPPCommCtrlr", None, "RetryBackOffWaitMinimum", None),
    ("OCPPCommCtrlr", None, "UnlockOnEVSideDisconnect", None),
    ("OCPPCommCtrlr", None, "WebSocketPingInterval", None),
    ("SampledDataCtrlr", None, "TxEndedInterval", None),
    ("SampledDataCtrlr", None, "TxEndedMeasurands", None),
    ("SampledDataCtrlr", None, "TxStartedMeasurands", None),
    ("SampledDataCtrlr", None, "TxUpdatedInterval", None),
    ("SampledDataCtrlr", None, "TxUpdatedMeasurands", None),
    ("SecurityCtrlr", None, "OrganizationName", None),
    ("SecurityCtrlr", None, "SecurityProfile", None),
    ("SecurityCtrlr", None, "BasicAuthPassword", None),
    ("TxCtrlr", None, "EVConnectionTimeOut", None),
    ("TxCtrlr", None, "StopTxOnEVSideDisconnect", None),
    ("TxCtrlr", None, "StopTxOnInvalidId", None),
    ("TxCtrlr", None, "TxStartPoint", None),
    ("TxCtrlr", None, "TxStopPoint", None),
    ("EVSE", (1, 0), "AvailabilityState", None),
    ("EVSE", (1, 0), "Available", None),
    ("EVSE", (1, 0), "Power", None),
    ("EVSE", (1, 0), "SupplyPhases", None),
    ("Connector", (1, 1), "AvailabilityState", None),
    ("Connector", (1, 1), "Available", None),
    ("Connector", (1, 1), "ConnectorType", None),
    ("Connector", (1, 1), "SupplyPhases", None),
]


async def test_tc_b_53_full_inventory_has_every_core_variable(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        FakeController(hub).state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        report = await _full_inventory(csms, 53)
        missing = [key for key in REQUIRED if key not in report]
        assert missing == []
        # the connector's AvailabilityState is what its StatusNotification said
        status = csms.received("StatusNotification")[-1].payload
        assert (status["evseId"], status["connectorId"]) == (1, 1)
        assert (
            report[("Connector", (1, 1), "AvailabilityState", None)]["value"]
            == (status["connectorStatus"])
        )
        assert report[("EVSE", (1, 0), "AvailabilityState", None)]["value"] == "Available"
        assert report[("Connector", (1, 1), "ConnectorType", None)]["value"] == "cType2"
        assert report[("Connector", (1, 1), "SupplyPhases", None)]["value"] == "3"
        assert report[("ChargingStation", None, "SupplyPhases", None)]["value"] == "3"
        assert report[("ChargingStation", None, "Available", None)]["value"] == "true"
        # write-only: reported with its mutability and no value (never the password)
        secret = report[("SecurityCtrlr", None, "BasicAuthPassword", None)]
        assert secret == {"type": "Actual", "mutability": "WriteOnly"}
        texts = [str(m.payload) for m in csms.received("NotifyReport")]
        assert not any(PASSWORD in text for text in texts)


async def test_connector_variables_follow_the_status_and_get_by_evse(
    config_dir, start_station
) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(
            config_dir(station_yaml(csms.url()).replace("connector_id: 1", "connector_id: 2"))
        )
        controller = FakeController(hub)
        controller.state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        controller.state("ev_connected", cp=1)
        found = await csms.wait_for(
            "StatusNotification", where=lambda p: p["connectorStatus"] == "Occupied"
        )
        status = found[0].payload
        assert (status["evseId"], status["connectorId"]) == (1, 2)
        answer = await csms.call(
            STATION,
            "GetVariables",
            {
                "getVariableData": [
                    {
                        "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 2}},
                        "variable": {"name": "AvailabilityState"},
                    },
                    {
                        "component": {"name": "EVSE", "evse": {"id": 1}},
                        "variable": {"name": "Power"},
                    },
                    {
                        "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                        "variable": {"name": "AvailabilityState"},
                    },
                    {
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                    },
                ]
            },
        )
        results = answer["getVariableResult"]
        assert results[0]["attributeStatus"] == "Accepted"
        assert results[0]["attributeValue"] == "Occupied"
        assert results[1]["attributeStatus"] == "Accepted"
        assert float(results[1]["attributeValue"]) >= 0
        # there is no connector 1 on EVSE 1 here
        assert results[2]["attributeStatus"] == "UnknownComponent"
        # a write-only variable is never read back (B06.FR.?? Rejected)
        assert results[3]["attributeStatus"] == "Rejected"
        assert "attributeValue" not in results[3]


async def test_tc_a_09_tc_a_10_basic_auth_password_rotation(
    config_dir, start_station, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        path = config_dir(station_yaml(csms.url(), log_messages=True))
        hub, _ = await start_station(path)
        FakeController(hub).state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        # too short for a passwordString: Rejected, the link stays
        answer = await csms.call(
            STATION,
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                        "attributeValue": "short",
                    }
                ]
            },
        )
        assert answer["setVariableResult"][0]["attributeStatus"] == "Rejected"
        # TC_A_10_CS: the next connection still uses the old password
        accepted = len([a for a in csms.attempts if a.outcome == "accepted"])
        await csms.drop()
        await wait_until(
            lambda: len([a for a in csms.attempts if a.outcome == "accepted"]) > accepted,
            what="reconnect with the old password",
        )
        assert not any(a.outcome == "unauthorized" for a in csms.attempts)
        boots = len(csms.received("BootNotification"))
        csms.passwords = {STATION: NEW_PASSWORD}  # the CSMS accepts only the new one now
        before = len([a for a in csms.attempts if a.outcome == "accepted"])
        answer = await csms.call(
            STATION,
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                        "attributeValue": NEW_PASSWORD,
                    }
                ]
            },
        )
        assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
        # A01: the station reconnects with the new password
        await wait_until(
            lambda: len([a for a in csms.attempts if a.outcome == "accepted"]) > before,
            what="reconnect with the new password",
        )
        assert [a.outcome for a in csms.attempts[before:]].count("unauthorized") == 0
        # TC_A_09_CS step 5: a BootNotification on the new connection
        await csms.wait_for("BootNotification", boots + 1)
        await hub.async_stop()
        # stored durably: a restarted station uses it, not the configured one
        hub, _ = await start_station(path)
        FakeController(hub).state("idle", cp=0)
        count = len([a for a in csms.attempts if a.outcome == "accepted"])
        await wait_until(
            lambda: len([a for a in csms.attempts if a.outcome == "accepted"]) > count,
            what="the restarted station connects with the stored password",
        )
        assert not any(a.outcome == "unauthorized" for a in csms.attempts)
    # never logged, not even on the wire log that shows the SetVariables frame
    # (the records of the station's loggers, masked as orge's log handler masks them)
    lines = []
    for record in caplog.records:
        if record.name.startswith("components."):
            RedactingFilter().filter(record)
            lines.append(record.getMessage())
    text = "\n".join(lines)
    assert "SetVariables" in text
    assert NEW_PASSWORD not in text
    assert PASSWORD not in text


async def _booted(csms: OcppCsms, config_dir, start_station):
    hub, _ = await start_station(config_dir(station_yaml(csms.url())))
    FakeController(hub).state("idle", cp=0)
    await csms.wait_for("StatusNotification")
    return hub


async def test_tc_b_12_tc_b_13_tc_b_15_base_reports(config_dir, start_station) -> None:
    """TC_B_12_CS: ConfigurationInventory reports the writable variables (ReadWrite and
    WriteOnly) only; TC_B_13_CS: FullInventory, every variable with its
    variableCharacteristics and, for OptionList/SequenceList/MemberList, a valuesList,
    seqNo counting from 0 while tbc; TC_B_15_CS: SummaryInventory is NotSupported and
    no NotifyReport follows."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await _booted(csms, config_dir, start_station)
        answer = await csms.call(
            STATION, "GetBaseReport", {"requestId": 12, "reportBase": "ConfigurationInventory"}
        )
        assert answer["status"] == "Accepted"
        await csms.wait_for(
            "NotifyReport", where=lambda p: p["requestId"] == 12 and not p.get("tbc")
        )
        report = _report(csms, 12)
        assert {a["mutability"] for a in report.values()} == {"ReadWrite", "WriteOnly"}
        assert ("SecurityCtrlr", None, "BasicAuthPassword", None) in report
        assert ("OCPPCommCtrlr", None, "HeartbeatInterval", None) in report
        await _full_inventory(csms, 13)
        messages = [
            m.payload for m in csms.received("NotifyReport") if m.payload["requestId"] == 13
        ]
        assert [m["seqNo"] for m in messages] == list(range(len(messages)))
        assert [m["tbc"] for m in messages] == [True] * (len(messages) - 1) + [False]
        for message in messages:
            for item in message["reportData"]:
                characteristics = item["variableCharacteristics"]
                if characteristics["dataType"] in ("OptionList", "SequenceList", "MemberList"):
                    assert characteristics.get("valuesList"), item
        answer = await csms.call(
            STATION, "GetBaseReport", {"requestId": 15, "reportBase": "SummaryInventory"}
        )
        assert answer["status"] == "NotSupported"
        await asyncio.sleep(0.3)
        assert not [m for m in csms.received("NotifyReport") if m.payload["requestId"] == 15]


async def test_tc_b_06_to_tc_b_11_get_and_set_variables(config_dir, start_station) -> None:
    """TC_B_06_CS / TC_B_07_CS (GetVariables single and multiple), TC_B_08_CS (more than
    ItemsPerMessage: a CALLERROR), TC_B_09_CS / TC_B_10_CS (SetVariables single and
    multiple, read back), TC_B_11_CS (an invalidly formatted value is Rejected and the
    value kept)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await _booted(csms, config_dir, start_station)

        def get(component: str, variable: str) -> dict:
            return {"component": {"name": component}, "variable": {"name": variable}}

        answer = await csms.call(
            STATION, "GetVariables", {"getVariableData": [get("OCPPCommCtrlr", "OfflineThreshold")]}
        )
        assert answer["getVariableResult"] == [
            {
                "attributeStatus": "Accepted",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "OfflineThreshold"},
                "attributeValue": "0",
            }
        ]
        answer = await csms.call(
            STATION,
            "GetVariables",
            {
                "getVariableData": [
                    get("ChargingStation", "SupplyPhases"),
                    get("TxCtrlr", "EVConnectionTimeOut"),
                    get("NoSuchCtrlr", "X"),
                    get("TxCtrlr", "NoSuchVariable"),
                ]
            },
        )
        assert [r["attributeStatus"] for r in answer["getVariableResult"]] == [
            "Accepted",
            "Accepted",
            "UnknownComponent",
            "UnknownVariable",
        ]
        too_many = [get("OCPPCommCtrlr", "OfflineThreshold")] * 51  # ItemsPerMessage 50
        with pytest.raises(OccurrenceConstraintViolationError):
            await csms.call(STATION, "GetVariables", {"getVariableData": too_many})

        def set_(component: str, variable: str, value: str) -> dict:
            return {**get(component, variable), "attributeValue": value}

        answer = await csms.call(
            STATION,
            "SetVariables",
            {"setVariableData": [set_("OCPPCommCtrlr", "OfflineThreshold", "120")]},
        )
        assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
        answer = await csms.call(
            STATION,
            "SetVariables",
            {
                "setVariableData": [
                    set_("TxCtrlr", "EVConnectionTimeOut", "45"),
                    set_("SampledDataCtrlr", "TxUpdatedInterval", "30"),
                    set_("TxCtrlr", "EVConnectionTimeOut", "soon"),  # TC_B_11
                ]
            },
        )
        assert [r["attributeStatus"] for r in answer["setVariableResult"]] == [
            "Accepted",
            "Accepted",
            "Rejected",
        ]
        answer = await csms.call(
            STATION,
            "GetVariables",
            {
                "getVariableData": [
                    get("OCPPCommCtrlr", "OfflineThreshold"),
                    get("TxCtrlr", "EVConnectionTimeOut"),
                    get("SampledDataCtrlr", "TxUpdatedInterval"),
                ]
            },
        )
        assert [r["attributeValue"] for r in answer["getVariableResult"]] == ["120", "45", "30"]
