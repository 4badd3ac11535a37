"""The 1.6 configuration keys ORGE knows (GetConfiguration / ChangeConfiguration).

Values start from the YAML options and are overridden by what the CSMS set, which is
persisted in the journal's settings store (`cfg16:<Key>`), so a restart keeps them.
Values are kept as OCPP strings; `ConfigKeys.number()` / `.flag()` read them typed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..ocpp_station.local_auth import LIST_ITEMS_PER_MESSAGE, LIST_MAX_ENTRIES
from ..ocpp_station.measurands import MEASURANDS as SUPPLIED
from ..ocpp_station.profiles import MAX_PERIODS, MAX_PROFILES
from ..ocpp_station.security import configured_profile

MEASURANDS = frozenset(
    {
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Current.Offered",
        "Voltage",
    }
)
SUPPORTED_MEASURANDS = frozenset(SUPPLIED)
SETTING_PREFIX = "cfg16:"


def _int(minimum: int = 0, maximum: int = 10**9) -> Callable[[str], str]:
    def check(value: str) -> str:
        number = int(value.strip())
        if not minimum <= number <= maximum:
            raise ValueError(f"{number} outside {minimum}..{maximum}")
        return str(number)

    return check


def _bool(value: str) -> str:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError("expected true or false")
    return lowered


def _measurands(value: str) -> str:
    items = [item.strip() for item in value.split(",") if item.strip()]
    unknown = [item for item in items if item not in SUPPORTED_MEASURANDS]
    if unknown:
        raise ValueError(f"unsupported measurand(s) {', '.join(unknown)}")
    return ",".join(items)


def _only(supported: str) -> Callable[[str], str]:
    """A key the 1.6 spec makes writable (§9.1) whose other values ORGE cannot honour:
    the supported value is Accepted, any other Rejected (never accepted and ignored)."""

    def check(value: str) -> str:
        if value.strip().lower() != supported:
            raise ValueError(f"only {supported} is supported")
        return supported

    return check


PHASE_ROTATIONS = ("NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR")


def _phase_rotation(value: str) -> str:
    """ConnectorPhaseRotation (§9.1.6): `<connector>.<rotation>` items, comma separated."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    for item in items:
        connector, _, rotation = item.partition(".")
        if not connector.isdigit() or rotation not in PHASE_ROTATIONS:
            raise ValueError(f"bad phase rotation item {item!r}")
    return ",".join(items)


@dataclass(frozen=True)
class Key:
    name: str
    readonly: bool
    check: Callable[[str], str] | None = None
    reboot: bool = False  # the change takes effect only after a restart
    write_only: bool = False  # never reported (the whitepaper's AuthorizationKey)


KEYS: dict[str, Key] = {
    key.name: key
    for key in (
        Key("HeartbeatInterval", False, _int(0, 86400)),
        Key("ConnectionTimeOut", False, _int(0, 3600)),
        Key("MeterValueSampleInterval", False, _int(0, 86400)),
        Key("ClockAlignedDataInterval", False, _int(0, 86400)),
        Key("MeterValuesSampledData", False, _measurands),
        Key("MeterValuesAlignedData", False, _measurands),
        Key("StopTxnSampledData", False, _measurands),
        Key("StopTxnAlignedData", False, _measurands),
        Key("TransactionMessageAttempts", False, _int(1, 100)),
        Key("TransactionMessageRetryInterval", False, _int(0, 86400)),
        Key("WebSocketPingInterval", False, _int(0, 3600)),  # applied to the open socket
        Key("AuthorizeRemoteTxRequests", False, _bool),
        Key("StopTransactionOnInvalidId", False, _bool),
        # RW in §9.1; ORGE implements one value of each
        Key("StopTransactionOnEVSideDisconnect", False, _only("true")),
        Key("UnlockConnectorOnEVSideDisconnect", False, _only("true")),
        # local authorization (authorization.py; §9.1, §9.3 Local Auth List Management)
        Key("LocalAuthorizeOffline", False, _bool),
        Key("LocalPreAuthorize", False, _bool),
        Key("AuthorizationCacheEnabled", False, _bool),
        Key("AllowOfflineTxForUnknownId", False, _bool),
        Key("LocalAuthListEnabled", False, _bool),
        Key("LocalAuthListMaxLength", True),
        Key("SendLocalListMaxLength", True),
        Key("ConnectorPhaseRotation", False, _phase_rotation),
        Key("MeterValuesSampledDataMaxLength", True),
        Key("MeterValuesAlignedDataMaxLength", True),
        Key("StopTxnSampledDataMaxLength", True),
        Key("StopTxnAlignedDataMaxLength", True),
        Key("ResetRetries", False, _int(0, 10)),
        Key("NumberOfConnectors", True),
        Key("SupportedFeatureProfiles", True),
        Key("GetConfigurationMaxKeys", True),
        Key("ChargeProfileMaxStackLevel", True),
        Key("ChargingScheduleAllowedChargingRateUnit", True),
        Key("ChargingScheduleMaxPeriods", True),
        Key("MaxChargingProfilesInstalled", True),
        Key("RetryBackOffWaitMinimum", False, _int(0, 86400)),
        Key("RetryBackOffRandomRange", False, _int(0, 86400)),
        Key("RetryBackOffRepeatTimes", False, _int(0, 100)),
        # security whitepaper (security.py decides SecurityProfile and AuthorizationKey)
        Key("SecurityProfile", False, _int(0, 3)),
        Key("AuthorizationKey", False, write_only=True),
        Key("CpoName", False, str),
        Key("CertificateSignedMaxChainSize", True),
        Key("CertificateStoreMaxLength", True),
        Key("AdditionalRootCertificateCheck", True),
        # Reservation profile (§9.5; reservation.py)
        Key("ReserveConnectorZeroSupported", True),
    )
}


def defaults(config: dict[str, Any], connectors: int) -> dict[str, str]:
    """The values before any ChangeConfiguration, from the YAML options."""

    def i(value: float) -> str:
        # YAML may give sub-second values (tests); the CSMS sets integers
        return f"{float(value):g}"

    return {
        "HeartbeatInterval": i(config["heartbeat_interval"]),
        "ConnectionTimeOut": "60",
        "MeterValueSampleInterval": i(config["meter_values_sample_interval"]),
        "ClockAlignedDataInterval": i(config["clock_aligned_data_interval"]),
        "MeterValuesSampledData": ",".join(SUPPLIED),
        "MeterValuesAlignedData": "Energy.Active.Import.Register",
        "StopTxnSampledData": "Energy.Active.Import.Register",
        "StopTxnAlignedData": "",
        "TransactionMessageAttempts": str(config["transaction_message_attempts"]),
        "TransactionMessageRetryInterval": i(config["transaction_message_retry_interval"]),
        "WebSocketPingInterval": i(config["ping_interval"]),
        "AuthorizeRemoteTxRequests": "false",
        "StopTransactionOnInvalidId": "true",
        "StopTransactionOnEVSideDisconnect": "true",
        "UnlockConnectorOnEVSideDisconnect": "true",
        "LocalAuthorizeOffline": "true",
        "LocalPreAuthorize": "false",
        "AuthorizationCacheEnabled": "true",
        "AllowOfflineTxForUnknownId": "false",
        "LocalAuthListEnabled": "true",
        "LocalAuthListMaxLength": str(LIST_MAX_ENTRIES),
        "SendLocalListMaxLength": str(LIST_ITEMS_PER_MESSAGE),
        "ResetRetries": "1",
        "ConnectorPhaseRotation": ",".join(f"{c}.Unknown" for c in range(connectors + 1)),
        "MeterValuesSampledDataMaxLength": str(len(SUPPORTED_MEASURANDS)),
        "MeterValuesAlignedDataMaxLength": str(len(SUPPORTED_MEASURANDS)),
        "StopTxnSampledDataMaxLength": str(len(SUPPORTED_MEASURANDS)),
        "StopTxnAlignedDataMaxLength": str(len(SUPPORTED_MEASURANDS)),
        "NumberOfConnectors": str(connectors),
        "SupportedFeatureProfiles": "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger",
        "GetConfigurationMaxKeys": str(len(KEYS)),
        "ChargeProfileMaxStackLevel": "8",
        "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
        "ChargingScheduleMaxPeriods": str(MAX_PERIODS),
        "MaxChargingProfilesInstalled": str(MAX_PROFILES),
        "RetryBackOffWaitMinimum": i(config["retry_backoff_wait_minimum"]),
        "RetryBackOffRandomRange": i(config["retry_backoff_random_range"]),
        "RetryBackOffRepeatTimes": str(config["retry_backoff_repeat_times"]),
        "SecurityProfile": str(configured_profile(config)),
        "AuthorizationKey": "",
        "CpoName": str(config["vendor"]),
        "CertificateSignedMaxChainSize": "10000",
        "CertificateStoreMaxLength": "20",
        "AdditionalRootCertificateCheck": "false",
        "ReserveConnectorZeroSupported": "true",
    }


class ConfigKeys:
    """Current values; `change()` validates and reports what OCPP wants answered."""

    def __init__(self, base: dict[str, str], stored: dict[str, Any]) -> None:
        self.values = dict(base)
        for name, value in stored.items():
            key = KEYS.get(name)
            if key is not None and not key.readonly:
                self.values[name] = str(value)

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def number(self, name: str) -> float:
        try:
            return float(self.values.get(name) or 0)
        except ValueError:
            return 0.0

    def flag(self, name: str) -> bool:
        return (self.values.get(name) or "").lower() == "true"

    def list(self, name: str) -> list[str]:
        return [item for item in (self.values.get(name) or "").split(",") if item]

    def report(self, names: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
        """GetConfiguration: (configurationKey entries, unknownKey names)."""
        wanted = names or list(KEYS)
        known, unknown = [], []
        for name in wanted:
            key = KEYS.get(name)
            if key is None:
                unknown.append(name)
                continue
            entry: dict[str, Any] = {"key": name, "readonly": key.readonly}
            if not key.write_only:
                entry["value"] = self.values.get(name, "")
            known.append(entry)
        return known, unknown

    def change(self, name: str, value: str) -> tuple[str, str | None]:
        """ChangeConfiguration: (status, normalised value to persist or None)."""
        key = KEYS.get(name)
        if key is None:
            return "NotSupported", None
        if key.readonly or key.check is None:
            return "Rejected", None
        try:
            normalised = key.check(value)
        except ValueError:
            return "Rejected", None
        self.values[name] = normalised
        return ("RebootRequired" if key.reboot else "Accepted"), normalised
