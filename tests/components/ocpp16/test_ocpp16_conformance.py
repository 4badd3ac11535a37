"""OCA OCPP 1.6 test cases of the Core profile against the test CSMS over a real WebSocket
(issue 10 points 7 and 8): every Core configuration key with its readonly flag (TC_019_1,
1.6 §9.1), the firmware version in BootNotification, one INFO line per (re)connection."""

from __future__ import annotations

import logging

from ocpp16_helpers import PASSWORD, STATION, FakeController, station_yaml

from orge import __version__
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
        assert keys["SupportedFeatureProfiles"]["value"] == "Core,RemoteTrigger,SmartCharging"


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
