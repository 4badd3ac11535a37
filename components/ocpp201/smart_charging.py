"""Charging profiles (OCPP 2.0.1 block K): payloads <-> `ocpp_station.profiles`.

The model, the composite schedule and the limit policy (applied to the controller only
before or between sessions, pending otherwise) are protocol-neutral, in
`components.ocpp_station.profiles` and `charging_limits`; this mixin of `Orders` turns
2.0.1 payloads into them and answers: SetChargingProfile (K01, K05), ClearChargingProfile
(K10), GetChargingProfiles (K09), GetCompositeSchedule (K08).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.v201 import call_result

from components.ocpp_station.charging_limits import IDLE_STATES, ChargingLimits
from components.ocpp_station.clock import format_time
from components.ocpp_station.profiles import (
    DEFAULT_VOLTAGE,
    Profile,
    ProfileError,
    composite_duration,
    schedule_periods,
)

if TYPE_CHECKING:
    from .state import SmartChargingState

_LOGGER = logging.getLogger(__name__)
__all__ = ["IDLE_STATES", "SmartCharging", "_info"]
SETTING_KEY = "charging_profiles"


def _info(reason: str, text: str | None = None) -> dict[str, Any]:
    info = {"reason_code": reason}
    if text:
        info["additional_info"] = text[:512]
    return info


class SmartCharging:
    """Mixed into `Orders`: the charging-profile orders and the limits they give."""

    station: SmartChargingState
    limits: ChargingLimits

    def make_limits(self) -> ChargingLimits:
        station = self.station

        def transaction_of(evse_id: int) -> str | None:
            tx = station.transactions.get(evse_id)
            return tx.tx_id if tx is not None else None

        return ChargingLimits(
            station.orge,
            "ocpp201",
            station.clock,
            station.journal,
            SETTING_KEY,
            lambda: station.evses,
            transaction_of,
            float(station.config.get("nominal_voltage", DEFAULT_VOLTAGE)),
        )

    @property
    def profiles(self) -> list[Profile]:
        return self.limits.profiles

    def parse_profile(
        self, evse_id: int, profile: dict[str, Any], for_start: bool = False
    ) -> Profile | dict[str, Any]:
        """The Profile to install, or the statusInfo of a Rejected answer."""
        try:
            model = self.limits.parse(snake_to_camel_case(profile), evse_id)
        except ProfileError as err:
            return _info(err.reason, err.text)
        problem = self.limits.problem(model, for_start=for_start)
        if problem is not None:
            return _info(problem.reason, problem.text)
        return model

    def set_charging_profile(self, evse_id: int, profile: dict[str, Any]) -> Any:
        """K01: Accepted whenever the spec allows, even when the controller cannot take the
        limit now (it pends, sensor.ocpp201_pending_current_limit, until it can)."""
        model = self.parse_profile(evse_id, profile)
        if not isinstance(model, Profile):
            _LOGGER.warning(
                "Charging profile %s rejected: %s", profile.get("id"), model.get("additional_info")
            )
            return call_result.SetChargingProfile(status="Rejected", status_info=model)
        self.limits.install(model)
        return call_result.SetChargingProfile(status="Accepted")

    async def apply_limits(self) -> None:
        await self.limits.apply()

    def clear_charging_profile(
        self, profile_id: int | None, criteria: dict[str, Any] | None
    ) -> Any:
        """K10: by id, else by evseId / purpose / stackLevel; Unknown when none matched."""
        criteria = criteria or {}
        removed = self.limits.clear(
            profile_id,
            criteria.get("evse_id"),
            criteria.get("charging_profile_purpose"),
            criteria.get("stack_level"),
        )
        return call_result.ClearChargingProfile(status="Accepted" if removed else "Unknown")

    def get_charging_profiles(
        self, request_id: int, evse_id: int | None, criterion: dict[str, Any]
    ) -> Any:
        """GetChargingProfiles (2.0.1 K09): Accepted when an installed profile matches
        (then reported by `after_get_charging_profiles`), else NoProfiles (K09.FR.03)."""
        if self._matching_profiles(evse_id, criterion):
            return call_result.GetChargingProfiles(status="Accepted")
        return call_result.GetChargingProfiles(status="NoProfiles")

    async def after_get_charging_profiles(
        self, request_id: int, evse_id: int | None, criterion: dict[str, Any]
    ) -> None:
        """One ReportChargingProfiles per EVSE (K09.FR.02: profiles of one EVSE and one
        source per message; all of ORGE's come from the CSMS: source CSO)."""
        from components.ocpp_station.sender import CallRejected, LinkDown, NoAnswer

        by_evse: dict[int, list[dict[str, Any]]] = {}
        for profile in self._matching_profiles(evse_id, criterion):
            by_evse.setdefault(profile.evse, []).append(profile.raw)
        link = self.station.link
        if link is None:
            return
        evses = sorted(by_evse)
        for index, evse in enumerate(evses):
            payload = {
                "requestId": request_id,
                "chargingLimitSource": "CSO",
                "evseId": evse,
                "chargingProfile": by_evse[evse],
                "tbc": index < len(evses) - 1,
            }
            try:
                await link.call("ReportChargingProfiles", payload)
            except (NoAnswer, CallRejected, LinkDown) as err:
                _LOGGER.warning("ReportChargingProfiles %d not delivered: %s", request_id, err)
                return

    def _matching_profiles(self, evse_id: int | None, criterion: dict[str, Any]) -> list[Profile]:
        """Installed profiles matching GetChargingProfiles' evseId and criterion
        (purpose, stackLevel, chargingProfileId list, chargingLimitSource list)."""
        ids = criterion.get("charging_profile_id")
        sources = criterion.get("charging_limit_source")
        if sources and "CSO" not in sources:
            return []
        purpose = criterion.get("charging_profile_purpose")
        return [
            p
            for p in self.limits.profiles
            if (evse_id is None or p.evse == evse_id)
            and purpose in (None, p.raw.get("chargingProfilePurpose"))
            and criterion.get("stack_level") in (None, p.stack_level)
            and (not ids or p.id in ids)
        ]

    def get_composite_schedule(
        self, duration: int, evse_id: int, charging_rate_unit: str | None
    ) -> Any:
        """K08: the composite schedule from now for `duration` s, in the unit asked (A when
        none is asked: the controller's own unit)."""
        if evse_id and evse_id not in self.station.evses:
            return call_result.GetCompositeSchedule(
                status="Rejected", status_info=_info("UnknownEvse")
            )
        unit = charging_rate_unit or "A"
        duration = composite_duration(duration)  # the station's longest (K08)
        start, segments = self.limits.composite(evse_id, duration)
        voltage = self.limits.voltage
        return call_result.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evse_id": evse_id,
                "duration": duration,
                "schedule_start": format_time(start),
                "charging_rate_unit": unit,
                "charging_schedule_period": schedule_periods(segments, unit, voltage),
            },
        )
