"""The composite schedule (OCPP 2.0.1 K08, OCPP 1.6 §3.13.5) with hand-computed values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from components.ocpp_station.charging_limits import upgrade_store
from components.ocpp_station.profiles import (
    STATION_MAX,
    Profile,
    ProfileError,
    Segment,
    applicable,
    clear,
    composite,
    from_amps,
    from_ocpp,
    install,
    limit_at,
    next_change,
    to_amps,
)

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _p(
    pid: int,
    purpose: str,
    periods: list[tuple[int, float]],
    *,
    stack: int = 0,
    kind: str = "Absolute",
    unit: str = "A",
    evse: int = 1,
    **extra: Any,
) -> Any:
    schedule: dict[str, Any] = {
        "id": pid,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": lim} for s, lim in periods],
    }
    for key in ("startSchedule", "duration", "minChargingRate"):
        if key in extra:
            schedule[key] = extra.pop(key)
    raw = {
        "id": pid,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": [schedule],
        **extra,
    }
    return from_ocpp(raw, evse, installed=T0)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_overlapping_stack_levels_and_station_max() -> None:
    base = _p(1, "TxDefaultProfile", [(0, 16)], startSchedule=_iso(T0))
    # stack 1 holds for 30 min from 13:00, then stack 0 shows through again
    high = _p(
        2,
        "TxDefaultProfile",
        [(0, 10)],
        stack=1,
        startSchedule=_iso(T0 + timedelta(hours=1)),
        duration=1800,
    )
    station = _p(
        3,
        "ChargingStationMaxProfile",
        [(0, 12)],
        evse=0,
        validFrom=_iso(T0 + timedelta(seconds=4800)),
    )
    profiles = applicable([base, high, station], 1, None)
    assert composite(profiles, 1, T0, 7200, cap=32) == [
        Segment(0, 16, 3),
        Segment(3600, 10, 3),  # stack 1 wins
        Segment(5400, 12, 3),  # stack 1 over; 16 A capped by the station's 12 A (from 4800 s)
    ]


def test_valid_to_ends_a_higher_stack_level() -> None:
    base = _p(1, "TxDefaultProfile", [(0, 16)], startSchedule=_iso(T0))
    short = _p(
        2,
        "TxDefaultProfile",
        [(0, 10)],
        stack=2,
        startSchedule=_iso(T0),
        validTo=_iso(T0 + timedelta(seconds=300)),
    )
    assert composite([base, short], 1, T0, 900, cap=32) == [Segment(0, 10, 3), Segment(300, 16, 3)]


def test_recurring_daily_across_midnight() -> None:
    # every day from 22:00: 10 A, from 01:00 (3 h later) 20 A, for 8 h (until 06:00)
    night = _p(
        1,
        "TxDefaultProfile",
        [(0, 10), (10800, 20)],
        kind="Recurring",
        recurrencyKind="Daily",
        startSchedule="2026-11-29T22:00:00Z",
        duration=28800,
    )
    start = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
    assert composite([night], 1, start, 12 * 3600, cap=32) == [
        Segment(0, 32, 3),  # 20:00: outside the schedule, the EVSE's own 32 A
        Segment(7200, 10, 3),  # 22:00
        Segment(18000, 20, 3),  # 01:00 the next day
        Segment(36000, 32, 3),  # 06:00 (22:00 + 8 h): duration over
    ]
    # asked from 23:00: inside the occurrence that began at 22:00
    late = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert composite([night], 1, late, 3 * 3600, cap=32) == [
        Segment(0, 10, 3),
        Segment(7200, 20, 3),
    ]


def test_recurring_weekly() -> None:
    # Mondays 2026-11-30 08:00 for 2 h: 8 A
    weekly = _p(
        1,
        "ChargingStationMaxProfile",
        [(0, 8)],
        kind="Recurring",
        evse=0,
        recurrencyKind="Weekly",
        startSchedule="2026-11-30T08:00:00Z",
        duration=7200,
    )
    start = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)  # the next Monday, 07:00
    assert composite([weekly], 1, start, 4 * 3600, cap=16) == [
        Segment(0, 16, 3),
        Segment(3600, 8, 3),
        Segment(10800, 16, 3),
    ]


def test_relative_to_transaction_start_and_tx_overrides_default() -> None:
    default = _p(1, "TxDefaultProfile", [(0, 10)], stack=5)
    tx = _p(2, "TxProfile", [(0, 6), (1800, 16)], kind="Relative", transactionId="tx-1")
    tx_start = T0 - timedelta(minutes=10)
    profiles = applicable([default, tx], 1, "tx-1")
    # 600 s into the transaction: 6 A until 1800 s, i.e. 1200 s from now; then 16 A
    # (the TxProfile overrides the TxDefaultProfile even at a lower stack level)
    assert composite(profiles, 1, T0, 3600, cap=32, tx_start=tx_start) == [
        Segment(0, 6, 3),
        Segment(1200, 16, 3),
    ]
    # another transaction: the TxProfile does not apply, the default does
    assert composite(applicable([default, tx], 1, "tx-2"), 1, T0, 60, cap=32) == [Segment(0, 10, 3)]
    # without a transaction a TxProfile applies to nothing
    assert [p.id for p in applicable([default, tx], 1, None)] == [1]
    # without a transaction a Relative schedule is read as for a session starting now:
    # its first period; laid out from a given start, its periods follow
    relative = _p(3, "TxDefaultProfile", [(0, 8), (600, 12)], kind="Relative")
    assert limit_at([relative], 1, T0, cap=32) == (8, 3)
    assert composite([relative], 1, T0, 900, cap=32, tx_start=T0) == [
        Segment(0, 8, 3),
        Segment(600, 12, 3),
    ]
    assert next_change([relative], 1, T0, cap=32) is None  # idle: nothing changes


def test_watts_to_amps() -> None:
    # 11 kW on 3 phases at 230 V: 11000 / (230 * 3) = 15.942 A per phase
    station = _p(1, "ChargePointMaxProfile", [(0, 11000)], unit="W", evse=0)
    amps, phases = limit_at([station], 1, T0, cap=32)
    assert phases == 3 and amps == pytest.approx(15.942, abs=1e-3)
    # 7360 W on one phase at 230 V = 32 A
    single = _p(2, "TxDefaultProfile", [(0, 7360)], unit="W")
    single.periods[0] = type(single.periods[0])(0, 7360, 1)
    assert limit_at([single], 1, T0, cap=40) == (32, 1)
    assert to_amps(11040, "W", 3, 240) == pytest.approx(15.333, abs=1e-3)
    assert from_amps(16, "W", 3, 230) == 11040
    assert from_amps(15.9426, "A", 3, 230) == 15.9


def test_next_change_is_the_next_period_boundary() -> None:
    stepped = _p(1, "TxDefaultProfile", [(0, 16), (600, 8)], startSchedule=_iso(T0))
    assert next_change([stepped], 1, T0 + timedelta(seconds=60), cap=32) == T0 + timedelta(
        seconds=600
    )
    assert next_change([stepped], 1, T0 + timedelta(seconds=601), cap=32) is None


def test_install_replaces_and_clear_matches() -> None:
    a = _p(1, "TxDefaultProfile", [(0, 16)], stack=1)
    b = _p(2, "TxDefaultProfile", [(0, 10)], stack=1)  # same purpose/stack/EVSE: replaces
    c = _p(3, "ChargePointMaxProfile", [(0, 20)], evse=0)
    installed = install(install(install([], a), b), c)
    assert [p.id for p in installed] == [2, 3]
    kept, removed = clear(installed, None, None, "ChargePointMaxProfile", None)
    assert [p.id for p in kept] == [2] and [p.purpose for p in removed] == [STATION_MAX]
    assert clear(installed, 9, None, None, None)[1] == []


@pytest.mark.parametrize(
    ("periods", "extra", "reason"),
    [
        ([(60, 10)], {}, "InvalidSchedule"),  # the first period starts at 0
        ([(0, 10), (0, 8)], {}, "InvalidSchedule"),  # ascending start periods
        (
            [(0, 10)],
            {"kind": "Recurring", "startSchedule": "2026-11-30T00:00:00Z"},
            "InvalidSchedule",
        ),  # no recurrencyKind
        (
            [(0, 10)],
            {"kind": "Relative", "startSchedule": "2026-11-30T00:00:00Z"},
            "InvalidSchedule",
        ),
        ([(0, 10)], {"stack": 99}, "InvalidStackLevel"),
        ([(0, 10)], {"unit": "kW"}, "UnsupportedRateUnit"),
        ([(0, 10)], {"validTo": "tomorrow"}, "InvalidValue"),
    ],
)
def test_invalid_profiles(
    periods: list[tuple[int, float]], extra: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ProfileError) as caught:
        _p(1, "TxDefaultProfile", periods, **extra)
    assert caught.value.reason == reason


def test_one_six_payload_and_stored_round_trip() -> None:
    raw = {
        "chargingProfileId": 7,
        "stackLevel": 0,
        "chargingProfilePurpose": "ChargePointMaxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 12.5}],
        },
    }
    profile = from_ocpp(raw, 0, installed=T0)
    assert (profile.id, profile.purpose, profile.periods[0].limit) == (7, STATION_MAX, 12.5)
    again = type(profile).from_stored(profile.as_stored())
    assert again == profile


def test_stores_of_older_orge_are_kept() -> None:
    """Limits installed before composite schedules still apply after the upgrade."""
    old16 = {
        "items": [
            {
                "id": 4,
                "connector": 0,
                "purpose": "ChargePointMaxProfile",
                "stack": 1,
                "limit": 20.0,
                "transaction_id": None,
            }
        ]
    }
    old201 = [
        {
            "id": 5,
            "evse_id": 1,
            "purpose": "TxDefaultProfile",
            "stack_level": 0,
            "limit": 12.0,
            "valid_to": None,
        },
        {
            "id": 6,
            "evse_id": 1,
            "purpose": "TxDefaultProfile",
            "stack_level": 1,
            "limit": 10.0,
            "valid_to": None,
            "profile": {
                "id": 6,
                "stackLevel": 1,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": [
                    {
                        "id": 1,
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
                    }
                ],
            },
        },
    ]
    profiles = [Profile.from_stored(item) for item in upgrade_store(old16) + upgrade_store(old201)]
    assert [(p.id, p.evse, p.purpose, p.stack_level) for p in profiles] == [
        (4, 0, STATION_MAX, 1),
        (5, 1, "TxDefaultProfile", 0),
        (6, 1, "TxDefaultProfile", 1),
    ]
    assert limit_at(profiles, 1, T0, cap=32) == (10, 3)  # stack 1 of the defaults, < 20 A
