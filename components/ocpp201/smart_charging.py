"""Charging profiles (OCPP 2.0.1 smart charging) for a controller that cannot change its
current during a session.

Limits are applied through each EVSE's `current_limit_entity`, only while the controller
is idle (IDLE, CABLE_DETECT, EV_CONNECTED): a current change restarts this controller's
state machine (SETMAXAMP, protocol doc section 8). So a profile whose limit would have to
change a running session is Rejected with a reason, never accepted and silently ignored;
clearing one during a session is Accepted and takes effect after it (said in statusInfo).
Only constant single-period limits in A are supported; others are Rejected with a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.v201 import call_result

from components.ocpp_station.clock import parse_time
from components.ocpp_station.evse import ControllerState, EvseBinding

if TYPE_CHECKING:
    from .station import Station201

_LOGGER = logging.getLogger(__name__)
IDLE_STATES = (ControllerState.IDLE, ControllerState.CABLE_DETECT, ControllerState.EV_CONNECTED)


def _info(reason: str, text: str | None = None) -> dict[str, Any]:
    info = {"reason_code": reason}
    if text:
        info["additional_info"] = text[:512]
    return info


class SmartCharging:
    """Mixed into `Orders`: the charging-profile orders and the limits they give."""

    station: Station201
    profiles: list[dict[str, Any]]
    limit_dirty: bool
    _expiry: asyncio.TimerHandle | None

    def effective_limit(
        self,
        binding: EvseBinding,
        profiles: list[dict[str, Any]] | None = None,
    ) -> float:
        """The current limit the profiles give this EVSE (A), capped by its max_current."""
        profiles = self.profiles if profiles is None else profiles
        now = self.station.clock.now()
        limit = float(binding.config["max_current"])
        station_max = [
            p for p in profiles if p["purpose"] == "ChargingStationMaxProfile" and _valid(p, now)
        ]
        if station_max:
            limit = min(limit, max(station_max, key=lambda p: p["stack_level"])["limit"])
        defaults = [p for p in profiles if p["purpose"] == "TxDefaultProfile" and _valid(p, now)]
        own = [p for p in defaults if p["evse_id"] == binding.evse_id]
        chosen = own or [p for p in defaults if p["evse_id"] == 0]
        # A TxProfile (given with RequestStartTransaction) replaces the default for the
        # session it was given for; the station maximum still applies.
        tx_profiles = [
            p
            for p in profiles
            if p["purpose"] == "TxProfile" and p["evse_id"] == binding.evse_id and _valid(p, now)
        ]
        chosen = tx_profiles or chosen
        if chosen:
            limit = min(limit, max(chosen, key=lambda p: p["stack_level"])["limit"])
        return limit

    def _profile_problem(
        self, evse_id: int, profile: dict[str, Any], for_start: bool = False
    ) -> dict[str, Any] | None:
        """Why this profile cannot be honoured by this controller (None: it can)."""
        purpose = profile.get("charging_profile_purpose")
        schedules = profile.get("charging_schedule") or []
        if purpose not in ("ChargingStationMaxProfile", "TxDefaultProfile", "TxProfile"):
            return _info("UnsupportedPurpose", f"{purpose} is not supported")
        if not schedules:
            return _info("InvalidSchedule", "no charging schedule")
        schedule = schedules[0]
        if schedule.get("charging_rate_unit") != "A":
            return _info("UnsupportedRateUnit", "this station limits current in A only")
        periods = schedule.get("charging_schedule_period") or []
        if len(periods) != 1 or periods[0].get("start_period", 0) != 0:
            return _info(
                "UnsupportedSchedule",
                "the controller holds one current limit for a "
                "whole session: send a single period starting at 0",
            )
        now = self.station.clock.now()
        later = _info(
            "UnsupportedSchedule",
            "a limit that starts later would change the "
            "current on a schedule, which this controller cannot do",
        )
        if profile.get("valid_from") and _after(profile["valid_from"], now):
            return later
        start = schedule.get("start_schedule")
        if profile.get("charging_profile_kind") == "Absolute" and start and _after(start, now):
            return later
        limit = float(periods[0].get("limit", 0))
        binding = self.station.evses.get(evse_id) if evse_id else None
        minimum = min(float(b.config["min_current"]) for b in self.station.evses.values())
        if limit < minimum:
            return _info("BelowMinimum", f"{limit:g} A is below the controller's {minimum:g} A")
        if purpose == "TxProfile" and not for_start:
            tx = self.station.transactions.get(evse_id)
            if tx is None or profile.get("transaction_id") not in (None, tx.tx_id):
                return _info("TxNotFound", "no such transaction on this EVSE")
            if (
                binding is not None
                and binding.current_limit() is not None
                and (min(limit, float(binding.config["max_current"])) != binding.current_limit())
            ):
                return _info(
                    "NoMidSessionChange",
                    "this controller cannot change its current during a session",
                )
            return None
        # Would the effective limit of an EVSE in a session change? Then refuse honestly.
        candidate = self._with_profile(evse_id, profile)
        for other in self.station.evses.values():
            if other.evse_id not in self.station.transactions:
                continue
            if self.effective_limit(other, candidate) != self.effective_limit(other):
                return _info(
                    "TxInProgress",
                    f"EVSE {other.evse_id} is in a session and this "
                    "controller cannot change its current during a session; send the "
                    "profile when it is idle",
                )
        return None

    def schedule_expiry(self) -> None:
        """Re-apply the limits when the next profile's validTo passes (station clock)."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        now = self.station.clock.timestamp()
        ends = []
        for record in self.profiles:
            if record.get("valid_to"):
                with contextlib.suppress(ValueError):
                    ends.append(parse_time(record["valid_to"]).timestamp())
        future = [end for end in ends if end > now]
        if not future:
            return

        def expired() -> None:
            self._expiry = None
            self.limit_dirty = True
            self.station.orge.async_create_task(self.apply_limits())
            self.schedule_expiry()

        self._expiry = self.station.orge.loop.call_later(min(future) - now + 0.01, expired)

    def _with_profile(self, evse_id: int, profile: dict[str, Any]) -> list[dict[str, Any]]:
        record = _record(evse_id, profile)
        kept = [
            p
            for p in self.profiles
            if p["id"] != record["id"]
            and not (
                p["purpose"] == record["purpose"]
                and p["evse_id"] == evse_id
                and p["stack_level"] == record["stack_level"]
            )
        ]
        return kept + [record]

    def _store_profile(self, evse_id: int, profile: dict[str, Any]) -> None:
        self.profiles = self._with_profile(evse_id, profile)
        self.limit_dirty = True
        self.schedule_expiry()
        # persisted on the journal thread, in order with other writes
        self.station.journal.set_setting("charging_profiles", self.profiles)

    def set_charging_profile(self, evse_id: int, profile: dict[str, Any]) -> Any:
        if evse_id and evse_id not in self.station.evses:
            return call_result.SetChargingProfile(
                status="Rejected", status_info=_info("UnknownEvse")
            )
        if profile.get("charging_profile_purpose") == "ChargingStationMaxProfile" and evse_id:
            return call_result.SetChargingProfile(
                status="Rejected", status_info=_info("InvalidEvse", "station max needs evseId 0")
            )
        problem = self._profile_problem(evse_id, profile)
        if problem:
            _LOGGER.warning(
                "Charging profile %s rejected: %s",
                profile.get("id"),
                problem.get("additional_info"),
            )
            return call_result.SetChargingProfile(status="Rejected", status_info=problem)
        if profile.get("charging_profile_purpose") != "TxProfile":
            self._store_profile(evse_id, profile)
        return call_result.SetChargingProfile(status="Accepted")

    def clear_charging_profile(
        self, profile_id: int | None, criteria: dict[str, Any] | None
    ) -> Any:
        criteria = criteria or {}

        def matches(p: dict[str, Any]) -> bool:
            if profile_id is not None:
                return p["id"] == profile_id
            return (
                criteria.get("evse_id") in (None, p["evse_id"])
                and criteria.get("charging_profile_purpose") in (None, p["purpose"])
                and criteria.get("stack_level") in (None, p["stack_level"])
            )

        kept = [p for p in self.profiles if not matches(p)]
        if len(kept) == len(self.profiles):
            return call_result.ClearChargingProfile(status="Unknown")
        deferred = [
            b.evse_id
            for b in self.station.evses.values()
            if b.evse_id in self.station.transactions
            and self.effective_limit(b, kept) != self.effective_limit(b)
        ]
        self.profiles = kept
        self.limit_dirty = True
        # persisted on the journal thread, in order with other writes
        self.station.journal.set_setting("charging_profiles", self.profiles)
        if deferred:
            return call_result.ClearChargingProfile(
                status="Accepted",
                status_info=_info(
                    "Deferred",
                    f"the new limit takes effect after the running session on EVSE {deferred}",
                ),
            )
        return call_result.ClearChargingProfile(status="Accepted")

    async def apply_limits(self) -> None:
        """Set each idle EVSE's current limit to what the profiles give (never mid-session)."""
        pending = False
        for binding in self.station.evses.values():
            if binding.evse_id in self.station.transactions or (
                binding.reading.state not in IDLE_STATES
            ):
                pending = True  # applied when the controller is idle again (state_changed)
                continue
            wanted = self.effective_limit(binding)
            if binding.current_limit() == wanted:
                continue
            try:
                await binding.async_set_current_limit(wanted)
            except Exception as err:
                _LOGGER.error(
                    "Could not set the current limit of EVSE %d to %g A: %s",
                    binding.evse_id,
                    wanted,
                    err,
                )
                pending = True
        self.limit_dirty = pending

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
        for record in self._matching_profiles(evse_id, criterion):
            by_evse.setdefault(record["evse_id"], []).append(_as_reported(record))
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

    def _matching_profiles(
        self, evse_id: int | None, criterion: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Installed profiles matching GetChargingProfiles' evseId and criterion
        (purpose, stackLevel, chargingProfileId list, chargingLimitSource list)."""
        ids = criterion.get("charging_profile_id")
        sources = criterion.get("charging_limit_source")
        if sources and "CSO" not in sources:
            return []
        return [
            p
            for p in self.profiles
            if (evse_id is None or p["evse_id"] == evse_id)
            and criterion.get("charging_profile_purpose") in (None, p["purpose"])
            and criterion.get("stack_level") in (None, p["stack_level"])
            and (not ids or p["id"] in ids)
        ]

    def get_composite_schedule(
        self, duration: int, evse_id: int, charging_rate_unit: str | None
    ) -> Any:
        if charging_rate_unit not in (None, "A"):
            return call_result.GetCompositeSchedule(
                status="Rejected", status_info=_info("UnsupportedRateUnit", "A only")
            )
        binding = self._binding(evse_id) if evse_id else None
        if evse_id and binding is None:
            return call_result.GetCompositeSchedule(
                status="Rejected", status_info=_info("UnknownEvse")
            )
        if binding is None:
            limit = min(self.effective_limit(b) for b in self.station.evses.values())
        elif evse_id in self.station.transactions and binding.current_limit() is not None:
            limit = float(binding.current_limit() or 0)  # what the running session really has
        else:
            limit = self.effective_limit(binding)
        return call_result.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evse_id": evse_id,
                "duration": duration,
                "schedule_start": self.station.clock.iso(),
                "charging_rate_unit": "A",
                "charging_schedule_period": [{"start_period": 0, "limit": limit}],
            },
        )


def _record(evse_id: int, profile: dict[str, Any]) -> dict[str, Any]:
    schedule = profile["charging_schedule"][0]
    return {
        "id": profile["id"],
        "evse_id": evse_id,
        "purpose": profile["charging_profile_purpose"],
        "stack_level": profile.get("stack_level", 0),
        "limit": float(schedule["charging_schedule_period"][0]["limit"]),
        "valid_to": profile.get("valid_to"),
        # as the CSMS sent it (camelCase), for GetChargingProfiles
        "profile": snake_to_camel_case(profile),
    }


def _as_reported(record: dict[str, Any]) -> dict[str, Any]:
    """A ChargingProfileType for ReportChargingProfiles: as installed, or rebuilt from an
    older stored record (one Absolute schedule with its one limit, in A)."""
    if record.get("profile"):
        return record["profile"]
    profile: dict[str, Any] = {
        "id": record["id"],
        "stackLevel": record["stack_level"],
        "chargingProfilePurpose": record["purpose"],
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": record["id"],
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": record["limit"]}],
            }
        ],
    }
    if record.get("valid_to"):
        profile["validTo"] = record["valid_to"]
    return profile


def _after(text: str, now: datetime) -> bool:
    try:
        return parse_time(text) > now
    except ValueError:
        return False


def _valid(profile: dict[str, Any], now: datetime) -> bool:
    valid_to = profile.get("valid_to")
    return not (valid_to and not _after(valid_to, now))
