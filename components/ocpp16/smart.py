"""1.6 Smart Charging for a controller that cannot change its current during a session.

The controller takes a new maximum current only between sessions. So ORGE accepts a
charging profile only when it can honour it: a constant limit in amperes (one period, or
periods that all have the same limit), valid now, which either changes nothing for a
running session or arrives while no session runs. Anything that would have to take
effect mid-session is Rejected, never accepted and silently ignored.

Profiles are kept per connector (0 = the whole station) and persisted by the caller.
The effective limit is the lowest of the station-wide ChargePointMaxProfile and the
connector's TxProfile/TxDefaultProfile (highest stack level wins within a purpose).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..ocpp_station.clock import parse_time

PURPOSES = ("ChargePointMaxProfile", "TxDefaultProfile", "TxProfile")


@dataclass
class Verdict:
    status: str  # Accepted | Rejected | NotSupported
    reason: str = ""
    limit: float | None = None


def constant_limit(profile: dict[str, Any], now: datetime) -> Verdict:
    """The single limit (A) a profile asks for, or why it cannot be applied."""
    schedule = profile.get("chargingSchedule") or {}
    if schedule.get("chargingRateUnit") != "A":
        return Verdict("Rejected", "only chargingRateUnit A is supported")
    periods = schedule.get("chargingSchedulePeriod") or []
    if not periods:
        return Verdict("Rejected", "empty schedule")
    limits = {float(p["limit"]) for p in periods}
    if len(limits) != 1:
        return Verdict(
            "Rejected", "the limit would change during a session; only constant limits apply"
        )
    if int(periods[0].get("startPeriod", 0)) != 0:
        return Verdict("Rejected", "a limit starting later could land mid-session")
    for key in ("validFrom", "startSchedule"):
        if profile.get(key) or schedule.get(key):
            try:
                start = parse_time(profile.get(key) or schedule.get(key))
            except ValueError:
                return Verdict("Rejected", f"invalid {key}")
            if start > now:
                return Verdict("Rejected", f"{key} in the future could land mid-session")
    if profile.get("validTo"):
        try:
            if parse_time(profile["validTo"]) <= now:
                return Verdict("Rejected", "validTo is in the past")
        except ValueError:
            return Verdict("Rejected", "invalid validTo")
        return Verdict("Rejected", "an end (validTo) could land mid-session")
    if profile.get("chargingProfileKind") == "Recurring":
        return Verdict("Rejected", "recurring profiles change the limit over time")
    if schedule.get("duration"):
        return Verdict("Rejected", "a schedule with a duration ends at a fixed time")
    return Verdict("Accepted", limit=limits.pop())


class Profiles:
    """Installed profiles: connector -> purpose -> stack level -> profile."""

    def __init__(self, stored: dict[str, Any] | None = None) -> None:
        self.items: list[dict[str, Any]] = list((stored or {}).get("items", []))

    def as_stored(self) -> dict[str, Any]:
        return {"items": self.items}

    def effective_limit(self, connector_id: int, default: float) -> float:
        limits = [default]
        for purpose in PURPOSES:
            candidates = [
                item
                for item in self.items
                if item["purpose"] == purpose and item["connector"] in (0, connector_id)
            ]
            if candidates:
                best = max(candidates, key=lambda item: item["stack"])
                limits.append(float(best["limit"]))
        return min(limits)

    def affects(self, connector_id: int) -> bool:
        return any(item["connector"] in (0, connector_id) for item in self.items)

    def install(self, connector_id: int, profile: dict[str, Any], limit: float) -> None:
        purpose = profile["chargingProfilePurpose"]
        stack = int(profile.get("stackLevel", 0))
        self.items = [
            item
            for item in self.items
            if item["id"] != profile["chargingProfileId"]
            and not (
                item["connector"] == connector_id
                and item["purpose"] == purpose
                and item["stack"] == stack
            )
        ]
        self.items.append(
            {
                "id": profile["chargingProfileId"],
                "connector": connector_id,
                "purpose": purpose,
                "stack": stack,
                "limit": limit,
                "transaction_id": profile.get("transactionId"),
            }
        )

    def clear(
        self,
        profile_id: int | None,
        connector_id: int | None,
        purpose: str | None,
        stack: int | None,
    ) -> int:
        """ClearChargingProfile's matching rules; returns how many were removed."""
        keep = []
        for item in self.items:
            if profile_id is not None:
                match = item["id"] == profile_id
            else:
                match = (
                    (connector_id is None or item["connector"] == connector_id)
                    and (purpose is None or item["purpose"] == purpose)
                    and (stack is None or item["stack"] == stack)
                )
            if not match:
                keep.append(item)
        removed = len(self.items) - len(keep)
        self.items = keep
        return removed

    def drop_transaction_profiles(self) -> bool:
        """TxProfiles end with their transaction; True if there were any."""
        kept = [item for item in self.items if item["purpose"] != "TxProfile"]
        dropped = len(kept) != len(self.items)
        self.items = kept
        return dropped
