"""The OCPP 2.0.1 device model ORGE exposes: the controllers of the Core profile with the
variables ORGE actually uses. Values the CSMS sets are persisted (journal settings) and
win over the YAML defaults after a restart.

Each variable: (component, instance) x (variable, instance), a type, a mutability and a
value. `get`/`set` answer like GetVariables/SetVariables do (status strings of 2.0.1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from components.ocpp_station.local_auth import (
    CACHE_STORAGE,
    LIST_BYTES_PER_MESSAGE,
    LIST_ITEMS_PER_MESSAGE,
    LIST_MAX_ENTRIES,
    LIST_STORAGE,
)
from components.ocpp_station.measurands import MEASURANDS
from components.ocpp_station.profiles import MAX_PERIODS, MAX_PROFILES

RW = "ReadWrite"
RO = "ReadOnly"
WO = "WriteOnly"  # never reported nor read back (SecurityCtrlr.BasicAuthPassword)
CONNECTOR_STATES = ("Available", "Occupied", "Reserved", "Unavailable", "Faulted")


@dataclass
class Variable:
    component: str
    name: str
    data_type: str  # integer | decimal | boolean | string | MemberList | SequenceList
    mutability: str
    value: Any
    instance: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    values_list: tuple[str, ...] | None = None  # for MemberList / OptionList
    unit: str | None = None
    dynamic: Callable[[], Any] | None = field(default=None, repr=False)
    evse_id: int | None = None  # EVSE / Connector components (2.0.1 EVSEType)
    connector_id: int | None = None

    @property
    def key(self) -> str:
        return key_of(self.component, self.name, self.instance, self.evse_id, self.connector_id)

    def current(self) -> Any:
        return self.dynamic() if self.dynamic is not None else self.value

    def text(self) -> str:
        value = self.current()
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (list, tuple)):
            return ",".join(str(v) for v in value)
        if self.data_type == "integer" and isinstance(value, float) and value.is_integer():
            return str(int(value))  # YAML durations are floats; an integer variable shows 60
        return str(value)

    def parse(self, text: str) -> Any:
        """The typed value of an attributeValue string; ValueError if it does not fit."""
        if self.data_type == "integer":
            value: Any = int(text)
        elif self.data_type == "decimal":
            value = float(text)
        elif self.data_type == "boolean":
            lowered = text.strip().lower()
            if lowered not in ("true", "false"):
                raise ValueError("expected true or false")
            value = lowered == "true"
        elif self.data_type == "MemberList":
            value = [part.strip() for part in text.split(",") if part.strip()]
            if self.values_list and any(v not in self.values_list for v in value):
                raise ValueError(f"members must be among {', '.join(self.values_list)}")
        elif self.data_type == "SequenceList":  # an ordered list of members, e.g. "2,1"
            value = ",".join(part.strip() for part in text.split(",") if part.strip())
            members = value.split(",")
            if self.values_list and any(m not in self.values_list for m in members):
                raise ValueError(f"members must be among {', '.join(self.values_list)}")
            if len(set(members)) != len(members):
                raise ValueError("members must not repeat")
            return value
        else:
            value = text
            if self.values_list and value not in self.values_list:
                raise ValueError(f"must be one of {', '.join(self.values_list)}")
            # a string's minLimit/maxLimit bound its length (2.0.1 VariableCharacteristics)
            if self.minimum is not None and len(value) < self.minimum:
                raise ValueError(f"shorter than {self.minimum:g} characters")
            if self.maximum is not None and len(value) > self.maximum:
                raise ValueError(f"longer than {self.maximum:g} characters")
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"below minimum {self.minimum:g}")
            if self.maximum is not None and value > self.maximum:
                raise ValueError(f"above maximum {self.maximum:g}")
        return value

    def report(self) -> dict[str, Any]:
        """A ReportDataType (snake_case, as the ocpp library wants it)."""
        characteristics: dict[str, Any] = {
            "data_type": self.data_type,
            "supports_monitoring": False,
        }
        if self.unit:
            characteristics["unit"] = self.unit
        if self.maximum is not None:
            characteristics["max_limit"] = self.maximum
        if self.minimum is not None:
            characteristics["min_limit"] = self.minimum
        if self.values_list:
            characteristics["values_list"] = ",".join(self.values_list)
        attribute: dict[str, Any] = {"type": "Actual", "mutability": self.mutability}
        if self.mutability != WO:  # a write-only value is never reported (B07)
            attribute["value"] = self.text()[:2500]
        return {
            "component": component_dict(self.component, self.evse_id, self.connector_id),
            "variable": variable_dict(self.name, self.instance),
            "variable_attribute": [attribute],
            "variable_characteristics": characteristics,
        }


def key_of(
    component: str,
    name: str,
    instance: str | None = None,
    evse_id: int | None = None,
    connector_id: int | None = None,
) -> str:
    """`Component/Variable[instance]`; an EVSE's or connector's component carries its ids
    (`EVSE@1/...`, `Connector@1.1/...`). Persisted settings use this key."""
    where = ""
    if evse_id is not None:
        where = f"@{evse_id}" + (f".{connector_id}" if connector_id is not None else "")
    return f"{component}{where}/{name}" + (f"[{instance}]" if instance else "")


def component_dict(
    name: str, evse_id: int | None = None, connector_id: int | None = None
) -> dict[str, Any]:
    """A ComponentType (snake_case); `evse` with `id` and `connector_id` when given."""
    component: dict[str, Any] = {"name": name}
    if evse_id is not None:
        evse: dict[str, Any] = {"id": evse_id}
        if connector_id is not None:
            evse["connector_id"] = connector_id
        component["evse"] = evse
    return component


def variable_dict(name: str, instance: str | None) -> dict[str, Any]:
    return {"name": name, "instance": instance} if instance else {"name": name}


class DeviceModel:
    """The variables, their persisted values, and the callbacks that apply a change."""

    SETTING_PREFIX = "dm/"

    def __init__(
        self,
        config: dict[str, Any],
        station_id: str,
        security_profile: int,
        clock_iso: Callable[[], str],
        password: str | None = None,
    ) -> None:
        c = config
        self.variables: dict[str, Variable] = {}
        self.on_change: Callable[[Variable], None] | None = None
        add = self._add
        # OCPPCommCtrlr
        add(
            "OCPPCommCtrlr",
            "HeartbeatInterval",
            "integer",
            RW,
            c["heartbeat_interval"],
            minimum=1,
            unit="s",
        )
        add(
            "OCPPCommCtrlr",
            "OfflineThreshold",
            "integer",
            RW,
            c["offline_threshold"],
            minimum=0,
            unit="s",
        )
        add(
            "OCPPCommCtrlr",
            "MessageAttempts",
            "integer",
            RW,
            c["message_attempts"],
            instance="TransactionEvent",
            minimum=1,
            maximum=100,
        )
        add(
            "OCPPCommCtrlr",
            "MessageAttemptInterval",
            "integer",
            RW,
            c["message_attempt_interval"],
            instance="TransactionEvent",
            minimum=0,
            unit="s",
        )
        add(
            "OCPPCommCtrlr",
            "MessageTimeout",
            "integer",
            RO,
            c["response_timeout"],
            instance="Default",
            unit="s",
        )
        add(
            "OCPPCommCtrlr",
            "RetryBackOffWaitMinimum",
            "integer",
            RW,
            c["retry_backoff_wait_minimum"],
            minimum=0,
            unit="s",
        )
        add(
            "OCPPCommCtrlr",
            "RetryBackOffRandomRange",
            "integer",
            RW,
            c["retry_backoff_random_range"],
            minimum=0,
            unit="s",
        )
        add(
            "OCPPCommCtrlr",
            "RetryBackOffRepeatTimes",
            "integer",
            RW,
            c["retry_backoff_repeat_times"],
            minimum=0,
            maximum=20,
        )
        add(
            "OCPPCommCtrlr",
            "WebSocketPingInterval",
            "integer",
            RW,
            c["ping_interval"],
            minimum=0,
            unit="s",
        )
        add("OCPPCommCtrlr", "ResetRetries", "integer", RO, 0)
        # list types carry their valuesList (B07, OCA TC_B_13_CS)
        # the network profile slots in the order they are tried (B09/B10; network.py)
        add(
            "OCPPCommCtrlr",
            "NetworkConfigurationPriority",
            "SequenceList",
            RW,
            "1",
            values_list=("1", "2", "3", "4"),
        )
        add(
            "OCPPCommCtrlr",
            "NetworkProfileConnectionAttempts",
            "integer",
            RW,
            c["fallback_after"],
            minimum=1,
        )
        # TxCtrlr
        add(
            "TxCtrlr",
            "EVConnectionTimeOut",
            "integer",
            RW,
            c["ev_connection_timeout"],
            minimum=1,
            unit="s",
        )
        add("TxCtrlr", "StopTxOnEVSideDisconnect", "boolean", RO, True)
        add("TxCtrlr", "StopTxOnInvalidId", "boolean", RW, False)  # E05, local_auth
        tx_points = ("PowerPathClosed",)
        add("TxCtrlr", "TxStartPoint", "MemberList", RO, list(tx_points), values_list=tx_points)
        add("TxCtrlr", "TxStopPoint", "MemberList", RO, list(tx_points), values_list=tx_points)
        # DeviceDataCtrlr
        add("DeviceDataCtrlr", "ItemsPerMessage", "integer", RO, 50, instance="GetReport")
        add("DeviceDataCtrlr", "ItemsPerMessage", "integer", RO, 50, instance="GetVariables")
        add("DeviceDataCtrlr", "ItemsPerMessage", "integer", RO, 50, instance="SetVariables")
        add("DeviceDataCtrlr", "BytesPerMessage", "integer", RO, 65000, instance="GetReport")
        add("DeviceDataCtrlr", "BytesPerMessage", "integer", RO, 65000, instance="GetVariables")
        add("DeviceDataCtrlr", "BytesPerMessage", "integer", RO, 65000, instance="SetVariables")
        # ClockCtrlr
        add("ClockCtrlr", "DateTime", "dateTime", RO, "", dynamic=clock_iso)
        add("ClockCtrlr", "TimeSource", "SequenceList", RO, "Heartbeat", values_list=("Heartbeat",))
        # SecurityCtrlr
        add("SecurityCtrlr", "SecurityProfile", "integer", RO, security_profile)
        add("SecurityCtrlr", "Identity", "string", RO, station_id)
        add("SecurityCtrlr", "OrganizationName", "string", RW, c["organization_name"])
        add("SecurityCtrlr", "CertificateEntries", "integer", RO, 0)
        # SampledDataCtrlr
        add("SampledDataCtrlr", "Enabled", "boolean", RW, True)
        add(
            "SampledDataCtrlr",
            "TxUpdatedInterval",
            "integer",
            RW,
            c["sampled_interval"],
            minimum=0,
            unit="s",
        )
        add(
            "SampledDataCtrlr",
            "TxUpdatedMeasurands",
            "MemberList",
            RW,
            list(MEASURANDS),
            values_list=MEASURANDS,
        )
        add(
            "SampledDataCtrlr",
            "TxStartedMeasurands",
            "MemberList",
            RW,
            [MEASURANDS[0]],
            values_list=MEASURANDS,
        )
        add(
            "SampledDataCtrlr",
            "TxEndedMeasurands",
            "MemberList",
            RW,
            [MEASURANDS[0]],
            values_list=MEASURANDS,
        )
        add("SampledDataCtrlr", "TxEndedInterval", "integer", RW, 0, minimum=0, unit="s")
        # AlignedDataCtrlr
        add("AlignedDataCtrlr", "Enabled", "boolean", RW, True)
        add(
            "AlignedDataCtrlr",
            "Interval",
            "integer",
            RW,
            c["aligned_interval"],
            minimum=0,
            unit="s",
        )
        add(
            "AlignedDataCtrlr",
            "Measurands",
            "MemberList",
            RW,
            [MEASURANDS[0]],
            values_list=MEASURANDS,
        )
        add("AlignedDataCtrlr", "TxEndedInterval", "integer", RW, 0, minimum=0, unit="s")
        add(
            "AlignedDataCtrlr",
            "TxEndedMeasurands",
            "MemberList",
            RW,
            [MEASURANDS[0]],
            values_list=MEASURANDS,
        )
        # AuthCtrlr
        add("AuthCtrlr", "Enabled", "boolean", RO, True)
        add("AuthCtrlr", "AuthorizeRemoteStart", "boolean", RO, False)
        # AuthCtrlr offline rules, AuthCacheCtrlr, LocalAuthListCtrlr (local_auth; C, D)
        add("AuthCtrlr", "LocalAuthorizeOffline", "boolean", RW, True)
        add("AuthCtrlr", "LocalPreAuthorize", "boolean", RW, False)
        add("AuthCtrlr", "OfflineTxForUnknownIdEnabled", "boolean", RW, False)
        add("AuthCacheCtrlr", "Available", "boolean", RO, True)
        add("AuthCacheCtrlr", "Enabled", "boolean", RW, True)
        add("AuthCacheCtrlr", "LifeTime", "integer", RW, 0, minimum=0, unit="s")
        add("AuthCacheCtrlr", "Policy", "OptionList", RO, "LRU", values_list=("LRU",))
        add("AuthCacheCtrlr", "Storage", "integer", RO, 0, maximum=CACHE_STORAGE, unit="B")
        add("AuthCacheCtrlr", "DisablePostAuthorize", "boolean", RW, False)
        add("LocalAuthListCtrlr", "Available", "boolean", RO, True)
        add("LocalAuthListCtrlr", "Enabled", "boolean", RW, True)
        add("LocalAuthListCtrlr", "Entries", "integer", RO, 0, maximum=LIST_MAX_ENTRIES)
        add("LocalAuthListCtrlr", "ItemsPerMessage", "integer", RO, LIST_ITEMS_PER_MESSAGE)
        add("LocalAuthListCtrlr", "BytesPerMessage", "integer", RO, LIST_BYTES_PER_MESSAGE)
        add("LocalAuthListCtrlr", "Storage", "integer", RO, 0, maximum=LIST_STORAGE, unit="B")
        add("LocalAuthListCtrlr", "DisablePostAuthorize", "boolean", RW, False)
        add("TxCtrlr", "MaxEnergyOnInvalidId", "integer", RW, 0, minimum=0, unit="Wh")
        # SmartChargingCtrlr
        add("SmartChargingCtrlr", "Enabled", "boolean", RO, True)
        add("SmartChargingCtrlr", "RateUnit", "MemberList", RO, ["A", "W"], values_list=("A", "W"))
        add("SmartChargingCtrlr", "PeriodsPerSchedule", "integer", RO, MAX_PERIODS)
        add("SmartChargingCtrlr", "ProfileStackLevel", "integer", RO, 8)
        add("SmartChargingCtrlr", "ChargingProfileMaxStackLevel", "integer", RO, 8)
        add(
            "SmartChargingCtrlr",
            "Entries",
            "integer",
            RO,
            0,
            instance="ChargingProfiles",
            maximum=MAX_PROFILES,  # its maxLimit: more are Rejected
        )
        # ReservationCtrlr (block H; reservation.py)
        add("ReservationCtrlr", "Enabled", "boolean", RW, True)
        add("ReservationCtrlr", "Available", "boolean", RO, True)
        add("ReservationCtrlr", "NonEvseSpecific", "boolean", RW, True)
        # ChargingStation
        add("ChargingStation", "Model", "string", RO, c["model"])
        add("ChargingStation", "VendorName", "string", RO, c["vendor"])
        add("ChargingStation", "AvailabilityState", "string", RO, "Available")
        add("ChargingStation", "Available", "boolean", RO, True)
        phases = max((int(e.get("phases", 3)) for e in c.get("evse") or []), default=3)
        add("ChargingStation", "SupplyPhases", "integer", RO, phases, minimum=0, maximum=3)
        # the controller releases the cable lock itself when the EV side is unplugged
        add("OCPPCommCtrlr", "UnlockOnEVSideDisconnect", "boolean", RO, True)
        # write-only (B09 / A01): set -> reconnect with it; never reported nor read back
        add(
            "SecurityCtrlr",
            "BasicAuthPassword",
            "string",
            WO,
            password or "",
            minimum=16,  # passwordString: 16-40 characters (2.0.1 Part 2, A00)
            maximum=40,
        )
        # certificates (A02-A04, M): the SignCertificate retry policy and chain limit
        add("SecurityCtrlr", "CertSigningWaitMinimum", "integer", RW, 60, minimum=1, unit="s")
        add("SecurityCtrlr", "CertSigningRepeatTimes", "integer", RW, 3, minimum=0)
        add("SecurityCtrlr", "MaxCertificateChainSize", "integer", RO, 10000)

    def add_connector(
        self,
        evse_id: int,
        connector_id: int,
        *,
        phases: int,
        connector_type: str,
        max_power: float,
        availability: Callable[[], str],
        power: Callable[[], float | None],
    ) -> None:
        """The EVSE and Connector components of one EVSE's connector, with the variables
        of 2.0.1 Part 2 (Appendices, Referenced Components): AvailabilityState (the
        connector's ConnectorStatusEnumType), Available, SupplyPhases, EVSE.Power (W,
        maxLimit from max_current x phases x 230 V) and Connector.ConnectorType."""
        add = self._add
        where = {"evse_id": evse_id}
        states = CONNECTOR_STATES
        add(
            "EVSE",
            "AvailabilityState",
            "OptionList",
            RO,
            "",
            dynamic=availability,
            values_list=states,
            **where,
        )
        add("EVSE", "Available", "boolean", RO, True, **where)
        add("EVSE", "SupplyPhases", "integer", RO, phases, minimum=0, maximum=3, **where)
        add(
            "EVSE",
            "Power",
            "decimal",
            RO,
            0.0,
            unit="W",
            minimum=0,
            maximum=max_power,
            dynamic=lambda: round(power() or 0.0, 1),
            **where,
        )
        where["connector_id"] = connector_id
        add(
            "Connector",
            "AvailabilityState",
            "OptionList",
            RO,
            "",
            dynamic=availability,
            values_list=states,
            **where,
        )
        add("Connector", "Available", "boolean", RO, True, **where)
        add("Connector", "ConnectorType", "string", RO, connector_type, **where)
        add("Connector", "SupplyPhases", "integer", RO, phases, minimum=0, maximum=3, **where)

    def _add(
        self, component: str, name: str, data_type: str, mutability: str, value: Any, **extra: Any
    ) -> None:
        var = Variable(component, name, data_type, mutability, value, **extra)
        self.variables[var.key] = var

    def load(self, stored: dict[str, Any]) -> None:
        """Apply values persisted by earlier SetVariables."""
        for key, value in stored.items():
            var = self.variables.get(key[len(self.SETTING_PREFIX) :])
            if var is not None and var.mutability in (RW, WO):
                var.value = value

    def value(self, component: str, name: str, instance: str | None = None) -> Any:
        return self.variables[key_of(component, name, instance)].current()

    def find(
        self,
        component: str,
        name: str,
        instance: str | None,
        evse: dict[str, Any] | None = None,
    ) -> Variable | None:
        """The variable of a ComponentType/VariableType pair (`evse` as the CSMS gave it,
        snake_case: `id`, optional `connector_id`)."""
        evse_id, connector_id = _evse_ids(evse)
        var = self.variables.get(key_of(component, name, instance, evse_id, connector_id))
        if var is None and (instance is None or evse is None):
            # A variable with a single instance (or on a single EVSE / connector) may be
            # asked for without naming it.
            matches = [
                v
                for v in self.variables.values()
                if v.component == component
                and v.name == name
                and (instance is None or v.instance == instance)
                and (evse_id is None or v.evse_id == evse_id)
                and (connector_id is None or v.connector_id == connector_id)
            ]
            if len(matches) == 1:
                var = matches[0]
        return var

    def has_component(self, component: str, evse: dict[str, Any] | None = None) -> bool:
        evse_id, connector_id = _evse_ids(evse)
        return any(
            v.component == component
            and (evse_id is None or v.evse_id == evse_id)
            and (connector_id is None or v.connector_id == connector_id)
            for v in self.variables.values()
        )

    def get(self, item: dict[str, Any]) -> dict[str, Any]:
        """One GetVariableData (snake_case) -> one GetVariableResult."""
        component = item["component"]["name"]
        variable = item["variable"]
        attribute_type = item.get("attribute_type") or "Actual"
        result: dict[str, Any] = {
            "attribute_status": "Accepted",
            "component": item["component"],
            "variable": variable,
        }
        if item.get("attribute_type"):
            result["attribute_type"] = attribute_type
        evse = item["component"].get("evse")
        var = self.find(component, variable["name"], variable.get("instance"), evse)
        if not self.has_component(component, evse):
            result["attribute_status"] = "UnknownComponent"
        elif var is None:
            result["attribute_status"] = "UnknownVariable"
        elif attribute_type != "Actual":
            result["attribute_status"] = "NotSupportedAttributeType"
        elif var.mutability == WO:
            result["attribute_status"] = "Rejected"  # B06.FR.??: write-only is not read
            result["attribute_status_info"] = {"reason_code": "WriteOnly"}
        else:
            result["attribute_value"] = var.text()[:2500]
        return result

    def set(self, item: dict[str, Any]) -> tuple[dict[str, Any], Variable | None]:
        """One SetVariableData -> (SetVariableResult, the variable changed or None)."""
        component = item["component"]["name"]
        variable = item["variable"]
        attribute_type = item.get("attribute_type") or "Actual"
        result: dict[str, Any] = {
            "attribute_status": "Accepted",
            "component": item["component"],
            "variable": variable,
        }
        if item.get("attribute_type"):
            result["attribute_type"] = attribute_type
        evse = item["component"].get("evse")
        var = self.find(component, variable["name"], variable.get("instance"), evse)
        if not self.has_component(component, evse):
            result["attribute_status"] = "UnknownComponent"
            return result, None
        if var is None:
            result["attribute_status"] = "UnknownVariable"
            return result, None
        if attribute_type != "Actual":
            result["attribute_status"] = "NotSupportedAttributeType"
            return result, None
        if var.mutability not in (RW, WO):
            result["attribute_status"] = "Rejected"
            result["attribute_status_info"] = {"reason_code": "ReadOnly"}
            return result, None
        try:
            value = var.parse(str(item["attribute_value"]))
        except ValueError as err:
            result["attribute_status"] = "Rejected"
            result["attribute_status_info"] = {
                "reason_code": "InvalidValue",
                "additional_info": str(err)[:512],
            }
            return result, None
        var.value = value
        return result, var


def _evse_ids(evse: dict[str, Any] | None) -> tuple[int | None, int | None]:
    if not evse:
        return None, None
    connector = evse.get("connector_id", evse.get("connectorId"))
    return int(evse["id"]), (int(connector) if connector is not None else None)
