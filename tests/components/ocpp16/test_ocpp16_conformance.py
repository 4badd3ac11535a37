"""OCA OCPP 1.6 test cases of the Core profile against the test CSMS over a real WebSocket
(issue 10 points 7 and 8): every Core configuration key with its readonly flag (TC_019_1,
1.6 §9.1), the firmware version in BootNotification, one INFO line per (re)connection."""

from __future__ import annotations

import asyncio
import logging

import pytest
from ocpp16_helpers import PASSWORD, STATION, FakeController, station_yaml, wait_state

from orge import __version__
from orge.exceptions import ServiceValidationError
from tests.ocpp_csms import OCPP16, OcppCsms

# 1.6 §9.1 (Core profile): required keys and their accessibility (True: read-only)
CORE_KEYS = {
    "AuthorizeRemoteTxRequests": False,  # "R or RW, up to the Charge Point"; ORGE: RW
    "ClockAlignedDataInterval": False,
    "ConnectionTimeOut": False,
    "ConnectorPhaseRotation": False,
    "GetConfigurationMaxKeys": True,
    "HeartbeatInterval": False,
    "LocalAuthorizeOffline": False,
    "LocalPreAuthorize": False,
    "MeterValuesAlignedData": False,
    "MeterValuesSampledData": False,
    "MeterValueSampleInterval": False,
    "NumberOfConnectors": True,
    "ResetRetries": False,
    "StopTransactionOnEVSideDisconnect": False,
    "StopTransactionOnInvalidId": False,
    "StopTxnAlignedData": False,
    "StopTxnSampledData": False,
    "SupportedFeatureProfiles": True,
    "TransactionMessageAttempts": False,
    "TransactionMessageRetryInterval": False,
    "UnlockConnectorOnEVSideDisconnect": False,
    # optional Core keys ORGE has
    "WebSocketPingInterval": False,
    "MeterValuesSampledDataMaxLength": True,
    "MeterValuesAlignedDataMaxLength": True,
    "StopTxnSampledDataMaxLength": True,
    "StopTxnAlignedDataMaxLength": True,
}
# §9.4 (Smart Charging profile): all read-only
SMART_KEYS = {
    "ChargeProfileMaxStackLevel": True,
    "ChargingScheduleAllowedChargingRateUnit": True,
    "ChargingScheduleMaxPeriods": True,
    "MaxChargingProfilesInstalled": True,
}


async def _linked(csms: OcppCsms, config_dir, start_station, **options):
    hub, _ = await start_station(config_dir(station_yaml(csms.url(), **options)))
    FakeController(hub).state("idle")
    await csms.wait_for("StatusNotification", 2)
    return hub


async def test_tc_019_1_get_configuration_returns_every_core_key(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await _linked(csms, config_dir, start_station)
        answer = await csms.get_configuration(STATION)
        keys = {k["key"]: k for k in answer["configurationKey"]}
        assert "unknownKey" not in answer or answer["unknownKey"] == []
        for name, readonly in {**CORE_KEYS, **SMART_KEYS}.items():
            assert name in keys, name
            assert keys[name]["readonly"] is readonly, name
            assert isinstance(keys[name]["value"], str), name
        # GetConfigurationMaxKeys covers a request for every key at once
        assert int(keys["GetConfigurationMaxKeys"]["value"]) >= len(keys)
        assert keys["ConnectorPhaseRotation"]["value"] == "0.Unknown,1.Unknown"
        assert keys["NumberOfConnectors"]["value"] == "1"
        assert (
            keys["SupportedFeatureProfiles"]["value"]
            == "Core,FirmwareManagement,RemoteTrigger,SmartCharging,Reservation"
        )


async def test_tc_021_change_configuration_of_writable_core_keys(config_dir, start_station) -> None:
    """TC_021_CS (change a configuration key) over the keys §9.1 makes writable but ORGE
    implements one value of: that value Accepted, the other Rejected (not ignored)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await _linked(csms, config_dir, start_station)
        change = csms.change_configuration
        assert await change(STATION, "StopTransactionOnEVSideDisconnect", "true") == {
            "status": "Accepted"
        }
        assert await change(STATION, "StopTransactionOnEVSideDisconnect", "false") == {
            "status": "Rejected"
        }
        assert await change(STATION, "LocalPreAuthorize", "true") == {"status": "Rejected"}
        assert await change(STATION, "ConnectorPhaseRotation", "0.RST,1.RST") == {
            "status": "Accepted"
        }
        assert await change(STATION, "ConnectorPhaseRotation", "1.XYZ") == {"status": "Rejected"}
        assert await change(STATION, "GetConfigurationMaxKeys", "3") == {"status": "Rejected"}
        answer = await csms.get_configuration(STATION, ["ConnectorPhaseRotation"])
        assert answer["configurationKey"] == [
            {"key": "ConnectorPhaseRotation", "readonly": False, "value": "0.RST,1.RST"}
        ]


async def test_boot_notification_carries_the_firmware_version(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await _linked(csms, config_dir, start_station, firmware_version="fw-7.1")
        boot = csms.payloads("BootNotification")[-1]
        assert boot["firmwareVersion"] == "fw-7.1"
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await _linked(csms, config_dir, start_station)
        assert csms.payloads("BootNotification")[-1]["firmwareVersion"] == f"ORGE {__version__}"


async def test_reconnection_logged_at_info_without_the_password(
    config_dir, start_station, caplog
) -> None:
    caplog.set_level(logging.INFO)
    async with OcppCsms(passwords={STATION: PASSWORD}, protocols=(OCPP16,)) as csms:
        url = csms.url().replace("ws://", f"ws://{STATION}:{PASSWORD}@")
        hub, _ = await start_station(config_dir(station_yaml(url, password=None)))
        FakeController(hub).state("idle")
        await csms.wait_for("StatusNotification", 2)
        statuses = len(csms.received("StatusNotification"))
        await csms.drop()
        # reconnected: the station reports its connectors again
        await csms.wait_for("StatusNotification", statuses + 1)
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "components.ocpp_station.lifecycle" and r.levelno == logging.INFO
    ]
    connected = [line for line in lines if "connected to" in line]
    expected = f"OCPP 1.6: connected to {csms.url()}/{STATION} (ocpp1.6)"
    assert connected[:2] == [expected, expected]
    assert not any(PASSWORD in r.getMessage() for r in caplog.records)


# --- authorization flows a driver uses ------------------------------------------------


def _statuses(csms: OcppCsms) -> list[str]:
    return [
        m.payload["status"]
        for m in csms.received("StatusNotification")
        if m.payload["connectorId"] == 1
    ]


async def _present(hub, id_tag: str, **data) -> dict:
    return await hub.services.async_call(
        "ocpp16", "authorize", {"id_tag": id_tag, **data}, blocking=True, return_response=True
    )


async def test_tc_004_1_identification_first(config_dir, start_station) -> None:
    """OCA TC_004_1_CS: the driver presents a tag (Authorize Accepted), then plugs in:
    StartTransaction with that tag, Charging; then the next session starts normally."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub = await _linked(csms, config_dir, start_station)
        controller = FakeController(hub)
        controller.state("idle")
        assert await _present(hub, "CARD-1") == {"status": "Accepted"}
        assert csms.payloads("Authorize") == [{"idTag": "CARD-1"}]
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Preparing"])
        assert controller.calls == []  # no cable yet: the tag is held
        controller.state("ev_connected")
        start = (await csms.wait_for("StartTransaction"))[0].payload
        assert (start["idTag"], start["connectorId"]) == ("CARD-1", 1)
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Charging"])
        # the driver stops with the same card (TC_068_CS), unplugs; the next one starts
        assert await _present(hub, "CARD-1") == {
            "status": "Accepted",
            "connector_id": 1,
            "stopped": True,
        }
        stop = (await csms.wait_for("StopTransaction"))[0].payload
        assert (stop["idTag"], stop["reason"]) == ("CARD-1", "Local")
        controller.state("idle")
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Available"])
        assert await _present(hub, "CARD-2") == {"status": "Accepted"}
        controller.state("ev_connected")
        second = (await csms.wait_for("StartTransaction", 2))[1].payload
        assert second["idTag"] == "CARD-2"
        assert not csms.errors_sent()


async def test_tc_004_2_identification_first_times_out(config_dir, start_station) -> None:
    """OCA TC_004_2_CS: no cable within ConnectionTimeOut: Preparing, then Available; a
    vehicle plugged in later does not start on the expired tag."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub = await _linked(csms, config_dir, start_station)
        controller = FakeController(hub)
        controller.state("idle")
        assert await csms.change_configuration(STATION, "ConnectionTimeOut", "1") == {
            "status": "Accepted"
        }
        assert await _present(hub, "CARD-3") == {"status": "Accepted"}
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Preparing"])
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Available"], timeout=3)
        assert _statuses(csms) == ["Available", "Preparing", "Available"]
        controller.state("ev_connected")
        await asyncio.sleep(0.5)
        assert controller.calls == [] and csms.received("StartTransaction") == []


async def test_tc_068_local_stop_with_the_same_tag_only(config_dir, start_station) -> None:
    """OCA TC_068_CS: a different tag (no parentIdTag known) neither stops the transaction
    nor is sent to the CSMS; the tag that started it stops it (StopTransaction with it,
    reason Local, Finishing)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub = await _linked(csms, config_dir, start_station)
        controller = FakeController(hub)
        controller.state("idle")
        assert await csms.remote_start(STATION, id_tag="TAG-A") == {"status": "Accepted"}
        controller.state("ev_connected")
        await csms.wait_for("StartTransaction")
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Charging"])
        authorizes = len(csms.received("Authorize"))
        with pytest.raises(ServiceValidationError, match="may not stop"):
            await _present(hub, "TAG-B")
        await asyncio.sleep(0.3)
        assert len(csms.received("Authorize")) == authorizes
        assert csms.received("StopTransaction") == []
        assert await _present(hub, "tag-a") == {
            "status": "Accepted",
            "connector_id": 1,
            "stopped": True,
        }
        stop = (await csms.wait_for("StopTransaction"))[0].payload
        assert (stop["idTag"], stop["reason"]) == ("tag-a", "Local")
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Finishing"])


async def test_tc_069_local_stop_with_the_same_parent_id_tag(config_dir, start_station) -> None:
    """OCA TC_069_CS: a different tag with the same parentIdTag: Authorize, then
    StopTransaction with the presented tag, Finishing. A tag of another group does not
    stop it."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        csms.groups = {"FLEET-1": "FLEET", "FLEET-2": "FLEET", "OTHER": "ELSEWHERE"}
        hub = await _linked(csms, config_dir, start_station)
        controller = FakeController(hub)
        controller.state("idle")
        assert await _present(hub, "FLEET-1") == {"status": "Accepted"}
        controller.state("ev_connected")
        await csms.wait_for("StartTransaction")
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Charging"])
        with pytest.raises(ServiceValidationError, match="may not stop"):
            await _present(hub, "OTHER")
        assert csms.payloads("Authorize")[-1] == {"idTag": "OTHER"}
        assert csms.received("StopTransaction") == []
        assert await _present(hub, "FLEET-2") == {
            "status": "Accepted",
            "connector_id": 1,
            "stopped": True,
        }
        assert csms.payloads("Authorize")[-1] == {"idTag": "FLEET-2"}
        stop = (await csms.wait_for("StopTransaction"))[0].payload
        assert (stop["idTag"], stop["reason"]) == ("FLEET-2", "Local")
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Finishing"])


async def test_stop_transaction_carries_stop_txn_sampled_and_aligned_data(
    config_dir, start_station
) -> None:
    """1.6 §9.1 StopTxnSampledData (every MeterValueSampleInterval) and StopTxnAlignedData
    (every ClockAlignedDataInterval) in StopTransaction.transactionData, in time order,
    then the Transaction.End value (the 1.6 counterpart of TC_J_03 / TC_J_10)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub = await _linked(csms, config_dir, start_station)
        controller = FakeController(hub)
        controller.state("idle")
        energy, power = "Energy.Active.Import.Register", "Power.Active.Import"
        for key, value in (
            ("MeterValueSampleInterval", "1"),
            ("StopTxnSampledData", f"{energy},{power}"),
            ("ClockAlignedDataInterval", "1"),
            ("StopTxnAlignedData", energy),
        ):
            assert await csms.change_configuration(STATION, key, value) == {"status": "Accepted"}
        controller.energy(1000, 7000)
        assert await csms.remote_start(STATION, id_tag="TAG-M") == {"status": "Accepted"}
        controller.state("ev_connected")
        await csms.wait_for("StartTransaction")
        for step in range(1, 6):
            await asyncio.sleep(0.5)
            controller.energy(1000 + step * 10, 7000)
        assert await _present(hub, "TAG-M") == {
            "status": "Accepted",
            "connector_id": 1,
            "stopped": True,
        }
        stop = (await csms.wait_for("StopTransaction"))[0].payload
        data = stop["transactionData"]
        contexts = [v["sampledValue"][0]["context"] for v in data]
        assert contexts[-1] == "Transaction.End"
        periodic = [v for v in data if v["sampledValue"][0]["context"] == "Sample.Periodic"]
        clock = [v for v in data if v["sampledValue"][0]["context"] == "Sample.Clock"]
        assert len(periodic) >= 2 and len(clock) >= 2
        assert len(periodic) + len(clock) + 1 == len(data)
        for value in periodic:
            assert [s["measurand"] for s in value["sampledValue"]] == [energy, power]
        for value in clock:
            assert [s["measurand"] for s in value["sampledValue"]] == [energy]
        stamps = [v["timestamp"] for v in data]
        assert stamps == sorted(stamps)
        assert data[-1]["sampledValue"][0]["value"] == "1050"
        assert stop["meterStop"] == 1050


async def test_tc_054_trigger_message(config_dir, start_station) -> None:
    """OCA TC_054_CS (Remote Trigger): MeterValues, Heartbeat, StatusNotification,
    DiagnosticsStatusNotification and FirmwareStatusNotification are each answered
    Accepted and then sent (§5.17; every requestedMessage of 1.6 is implemented)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub = await _linked(csms, config_dir, start_station)
        controller = FakeController(hub)
        controller.energy(1234, 0)
        for message, connector in (
            ("MeterValues", 1),
            ("Heartbeat", None),
            ("StatusNotification", 1),
            ("DiagnosticsStatusNotification", None),
            ("FirmwareStatusNotification", None),
        ):
            before = len(csms.received(message))
            request = {"requestedMessage": message}
            if connector is not None:
                request["connectorId"] = connector
            assert await csms.call(STATION, "TriggerMessage", request) == {"status": "Accepted"}
            sent = (await csms.wait_for(message, before + 1))[-1].payload
            if message == "MeterValues":
                assert sent["connectorId"] == 1
                assert "transactionId" not in sent  # no transaction runs
                sample = sent["meterValue"][0]["sampledValue"][0]
                assert (sample["context"], sample["value"]) == ("Trigger", "1234")
            elif message == "StatusNotification":
                assert (sent["connectorId"], sent["status"]) == (1, "Available")
            elif message in ("DiagnosticsStatusNotification", "FirmwareStatusNotification"):
                assert sent == {"status": "Idle"}


# --- Smart Charging ---------------------------------------------------------------------


def _tx_profile(limit: float, purpose: str = "TxProfile", **extra) -> dict:
    return {
        "chargingProfileId": 5,
        "stackLevel": 0,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
        },
        **extra,
    }


async def test_tc_058_1_tx_profile_without_a_transaction_is_rejected(
    config_dir, start_station
) -> None:
    """OCA TC_058_1_CS: a TxProfile (with a transactionId) while no transaction runs:
    Rejected (§5.16.1: a TxProfile needs a running transaction)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await _linked(csms, config_dir, start_station)
        answer = await csms.call(
            STATION,
            "SetChargingProfile",
            {"connectorId": 1, "csChargingProfiles": _tx_profile(16, transactionId=77)},
        )
        assert answer == {"status": "Rejected"}


async def test_tc_060_remote_start_with_a_non_tx_profile_is_rejected(
    config_dir, start_station
) -> None:
    """OCA TC_060_CS: RemoteStartTransaction whose chargingProfile is not a TxProfile:
    Rejected (§5.11); a vehicle plugged in afterwards does not start on it."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub = await _linked(csms, config_dir, start_station)
        controller = FakeController(hub)
        controller.state("idle")
        answer = await csms.remote_start(
            STATION, id_tag="TAG-P", chargingProfile=_tx_profile(16, "TxDefaultProfile")
        )
        assert answer == {"status": "Rejected"}
        controller.state("ev_connected")
        await asyncio.sleep(0.3)
        assert controller.calls == [] and csms.received("StartTransaction") == []


async def test_parent_id_tag_and_stop_txn_values_survive_a_restart(
    config_dir, start_station
) -> None:
    """The parentIdTag of StartTransaction.conf decides who may stop the transaction
    locally (TC_069_CS's rule), after a restart too; the StopTxnSampledData values kept
    before the restart are in StopTransaction's transactionData with those after it."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        csms.groups = {"APP-USER": "FLEET", "FLEET-2": "FLEET"}
        path = config_dir(station_yaml(csms.url()))
        hub, _ = await start_station(path)
        controller = FakeController(hub)
        controller.state("idle")
        await csms.wait_for("StatusNotification", 2)
        for key, value in (
            ("MeterValueSampleInterval", "1"),
            ("StopTxnSampledData", "Energy.Active.Import.Register"),
        ):
            assert await csms.change_configuration(STATION, key, value) == {"status": "Accepted"}
        assert await csms.remote_start(STATION, id_tag="APP-USER") == {"status": "Accepted"}
        controller.energy(1000)
        controller.state("ev_connected")
        await csms.wait_for("StartTransaction")
        controller.state("charging")
        await asyncio.sleep(2.3)  # two values kept for StopTransaction
        await hub.async_stop()

        hub, _ = await start_station(path)  # the restart: the transaction is resumed
        controller = FakeController(hub)
        controller.energy(1500)
        controller.state("charging")
        await wait_state(hub, "sensor.ocpp16_connection", "connected")
        assert (await _present(hub, "FLEET-2"))["stopped"] is True
        stop = (await csms.wait_for("StopTransaction"))[0].payload
        assert (stop["idTag"], stop["reason"]) == ("FLEET-2", "Local")
        periodic = [
            m
            for m in stop["transactionData"]
            if m["sampledValue"] and m["sampledValue"][0]["context"] == "Sample.Periodic"
        ]
        assert len(periodic) >= 2  # those kept before the restart
        assert {m["sampledValue"][0]["value"] for m in periodic[:2]} == {"1000"}
