"""Cost of the composite schedule (ocpp_station.profiles) a Raspberry Pi computes for
GetCompositeSchedule and at every period boundary.

Run: python benchmarks/charging_profiles.py   (prints ms per computation; no hub needed)
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import _repo_path  # noqa: F401

from components.ocpp_station.profiles import composite, from_ocpp, next_change

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _profile(pid: int, purpose: str, stack: int, kind: str, periods: int, evse: int) -> object:
    schedule = {
        "chargingRateUnit": "W" if pid % 2 else "A",
        "chargingSchedulePeriod": [
            {"startPeriod": i * 900, "limit": (6 + i % 10) * (690 if pid % 2 else 1)}
            for i in range(periods)
        ],
        "startSchedule": (NOW - timedelta(hours=3)).isoformat(),
    }
    raw = {
        "id": pid,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": [schedule],
    }
    if kind == "Recurring":
        raw["recurrencyKind"] = "Daily"
    return from_ocpp(raw, evse, installed=NOW)


def main() -> None:
    profiles = [
        _profile(1, "ChargingStationMaxProfile", 0, "Recurring", 24, 0),
        _profile(2, "ChargingStationMaxProfile", 1, "Absolute", 8, 0),
        *(_profile(10 + s, "TxDefaultProfile", s, "Recurring", 24, 1) for s in range(4)),
        *(_profile(20 + s, "TxDefaultProfile", s, "Absolute", 24, 0) for s in range(4)),
    ]
    for label, duration in (("1 hour", 3600), ("1 day", 86400), ("7 days", 7 * 86400)):
        runs = 20
        start = time.perf_counter()
        for _ in range(runs):
            segments = composite(profiles, 1, NOW, duration, cap=32)
        per = (time.perf_counter() - start) / runs * 1000
        print(
            f"composite {label:<7} {len(profiles)} profiles: {per:8.2f} ms, {len(segments)} periods"
        )
    runs = 20
    start = time.perf_counter()
    for _ in range(runs):
        next_change(profiles, 1, NOW, cap=32)
    per = (time.perf_counter() - start) / runs * 1000
    print(f"next boundary (8-day horizon): {per:8.2f} ms")


if __name__ == "__main__":
    main()
