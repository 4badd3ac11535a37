"""Charging profiles, protocol-neutral: the model, its validation and the composite schedule.

Both protocols' `ChargingProfile` (OCPP 2.0.1 §2.10 ChargingProfileType, OCPP 1.6 §7.7
ChargingProfile) are read from their camelCase JSON into `Profile` by `from_ocpp`; the
rest of ORGE only sees `Profile`.

The composite schedule follows OCPP 2.0.1 K08 and OCPP 1.6 §3.13.5 ("Combining charging
profile purposes"):

- within one purpose, at each moment the valid profile with the highest stack level that
  has a period at that moment wins (where it has none - before its start, after its
  duration, outside validFrom/validTo - the next lower one applies); on equal stack levels
  a profile installed on the EVSE itself wins over one installed on EVSE/connector 0;
- a TxProfile, where it gives a limit, overrides the TxDefaultProfile;
- the result is the minimum of the station maximum (ChargingStationMaxProfile /
  ChargePointMaxProfile) and the transaction's limit, capped by the EVSE's own maximum.

Limits are kept in amperes per phase: a limit in W is converted with the period's
numberPhases (default 3, OCPP 2.0.1 §2.13 / 1.6 §7.9) and the nominal voltage
(`A = W / (V * phases)`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from .clock import format_time, parse_time

STATION_MAX = "StationMax"  # ChargingStationMaxProfile (2.0.1) / ChargePointMaxProfile (1.6)
TX_DEFAULT = "TxDefaultProfile"
TX = "TxProfile"
PURPOSE_NAMES = {
    "ChargingStationMaxProfile": STATION_MAX,
    "ChargePointMaxProfile": STATION_MAX,
    "TxDefaultProfile": TX_DEFAULT,
    "TxProfile": TX,
}
KINDS = ("Absolute", "Recurring", "Relative")
RECURRENCE = {"Daily": timedelta(days=1), "Weekly": timedelta(days=7)}
DEFAULT_PHASES = 3
DEFAULT_VOLTAGE = 230.0
MAX_STACK_LEVEL = 8  # SmartChargingCtrlr.ProfileStackLevel / ChargeProfileMaxStackLevel
MAX_PERIODS = 24  # SmartChargingCtrlr.PeriodsPerSchedule / ChargingScheduleMaxPeriods
# 1.6 MaxChargingProfilesInstalled / 2.0.1 SmartChargingCtrlr.Entries[ChargingProfiles]
# maxLimit: a profile beyond it (not replacing one) is Rejected
MAX_PROFILES = 8
# The longest composite schedule reported (s): 1.6 §5.7 / 2.0.1 K08 let the station
# answer a shorter `duration` than asked; a week covers a Weekly recurring profile
MAX_COMPOSITE_DURATION = 7 * 86400
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ProfileError(ValueError):
    """A profile the station must answer Rejected; `reason` is a 2.0.1 reasonCode."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__(text)
        self.reason = reason
        self.text = text


@dataclass(frozen=True)
class Period:
    """One chargingSchedulePeriod: from `start` seconds after the schedule start."""

    start: int
    limit: float  # in the schedule's unit (A or W)
    phases: int | None = None


@dataclass
class Profile:
    """One installed charging profile, protocol-neutral.

    `evse` is the 2.0.1 evseId or the 1.6 connectorId (0 = the whole station);
    `purpose` is STATION_MAX, TX_DEFAULT or TX; times are aware UTC datetimes;
    `installed` is when the station accepted it (the start of an Absolute profile
    without startSchedule, OCPP 1.6 §7.8); `raw` is the profile as the CSMS sent it
    (camelCase), reported back by GetChargingProfiles.
    """

    id: int
    evse: int
    stack_level: int
    purpose: str
    kind: str
    unit: str
    periods: list[Period]
    recurrency: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    start_schedule: datetime | None = None
    duration: int | None = None
    min_rate: float | None = None
    transaction_id: str | None = None
    installed: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def as_stored(self) -> dict[str, Any]:
        """What profile_store keeps: the CSMS's JSON plus where and when it was installed."""
        return {
            "evse": self.evse,
            "installed": format_time(self.installed) if self.installed else None,
            "profile": self.raw,
        }

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> Profile:
        # Records of ORGE before composite schedules have no "installed" (their profiles
        # held from when they came: any past moment will do) and say "evse_id".
        installed = parse_time(stored["installed"]) if stored.get("installed") else EPOCH
        evse = stored["evse"] if "evse" in stored else stored["evse_id"]
        return from_ocpp(stored["profile"], int(evse), installed)

    def schedule_start(self, at: datetime, tx_start: datetime | None) -> datetime | None:
        """When the schedule that holds at `at` started (None: no schedule at `at`).

        A Relative schedule starts with the transaction; without one (`tx_start` None) it
        is read as for a session starting at `at`: its first period holds."""
        if self.kind == "Relative":
            return tx_start if tx_start is not None else at
        if self.kind == "Recurring":
            anchor = self.start_schedule or self.installed
            if anchor is None:
                return None
            step = RECURRENCE[self.recurrency or "Daily"]
            if at < anchor:
                return None
            return anchor + step * ((at - anchor) // step)
        return self.start_schedule or self.installed

    def limit_at(
        self, at: datetime, tx_start: datetime | None, voltage: float
    ) -> tuple[float, int] | None:
        """(A per phase, phases) this profile gives at `at`, or None where it gives none."""
        if self.valid_from is not None and at < self.valid_from:
            return None
        if self.valid_to is not None and at >= self.valid_to:
            return None
        start = self.schedule_start(at, tx_start)
        if start is None or at < start:
            return None
        offset = (at - start).total_seconds()
        if self.duration is not None and offset >= self.duration:
            return None
        if (
            self.kind == "Recurring"
            and offset >= RECURRENCE[self.recurrency or "Daily"].total_seconds()
        ):
            return None
        current = None
        for period in self.periods:
            if period.start <= offset:
                current = period
        if current is None:
            return None
        phases = current.phases or DEFAULT_PHASES
        return to_amps(current.limit, self.unit, phases, voltage), phases

    def boundaries(
        self, begin: datetime, end: datetime, tx_start: datetime | None
    ) -> list[datetime]:
        """Every moment in (begin, end) where this profile's limit may change."""
        marks: list[datetime] = [t for t in (self.valid_from, self.valid_to) if t is not None]
        starts: list[datetime] = []
        if self.kind == "Recurring":
            anchor = self.start_schedule or self.installed
            if anchor is not None:
                step = RECURRENCE[self.recurrency or "Daily"]
                first = self.schedule_start(max(begin, anchor), tx_start) or anchor
                moment = first
                while moment < end:
                    starts.append(moment)
                    moment += step
        elif self.kind == "Absolute" or tx_start is not None:
            start = self.schedule_start(begin, tx_start)
            if start is not None:
                starts.append(start)
        for start in starts:
            marks.append(start)
            marks.extend(start + timedelta(seconds=p.start) for p in self.periods)
            if self.duration is not None:
                marks.append(start + timedelta(seconds=self.duration))
        return [t for t in marks if begin < t < end]


def to_amps(limit: float, unit: str, phases: int, voltage: float) -> float:
    """A limit in `unit` (A or W) -> amperes per phase."""
    if unit == "W":
        return limit / (voltage * phases)
    return limit


def from_amps(amps: float, unit: str, phases: int, voltage: float) -> float:
    """Amperes per phase -> `unit` (A or W), rounded to 0.1 (the spec's multipleOf)."""
    value = amps * voltage * phases if unit == "W" else amps
    return math.floor(value * 10 + 1e-6) / 10


def schedule_periods(segments: list[Segment], unit: str, voltage: float) -> list[dict[str, Any]]:
    """A composite schedule's periods in `unit` (A or W), as both protocols' ChargingSchedule
    carries them (snake_case keys, as the ocpp library takes them): start_period (s from the
    schedule's start), limit, number_phases."""
    return [
        {
            "start_period": s.start,
            "limit": from_amps(s.amps, unit, s.phases, voltage),
            "number_phases": s.phases,
        }
        for s in segments
    ]


def _time(raw: dict[str, Any], key: str) -> datetime | None:
    if raw.get(key) in (None, ""):
        return None
    try:
        return parse_time(raw[key])
    except (TypeError, ValueError) as err:
        raise ProfileError("InvalidValue", f"{key} is not a dateTime: {raw[key]!r}") from err


def from_ocpp(raw: dict[str, Any], evse: int, installed: datetime | None = None) -> Profile:
    """A 2.0.1 ChargingProfileType or 1.6 csChargingProfiles (camelCase JSON) -> Profile.

    Raises ProfileError for what the spec says a station rejects: periods not starting at 0
    or not strictly ascending (2.0.1 K01.FR.31/35), a Recurring profile without
    recurrencyKind or startSchedule, a Relative profile with startSchedule, an unknown
    purpose, kind or unit, a stack level above MAX_STACK_LEVEL, more than MAX_PERIODS
    periods, a negative limit or numberPhases outside 1..3.
    """
    schedules = raw.get("chargingSchedule")
    if isinstance(schedules, list):  # 2.0.1: 1..3 schedules, only the first one is used
        if not schedules:
            raise ProfileError("InvalidSchedule", "no chargingSchedule")
        schedule = schedules[0]
    else:
        schedule = schedules or {}
    purpose = PURPOSE_NAMES.get(raw.get("chargingProfilePurpose", ""))
    if purpose is None:
        raise ProfileError("UnsupportedPurpose", f"{raw.get('chargingProfilePurpose')}")
    kind = raw.get("chargingProfileKind")
    if kind not in KINDS:
        raise ProfileError("InvalidValue", f"chargingProfileKind {kind!r}")
    unit = schedule.get("chargingRateUnit")
    if unit not in ("A", "W"):
        raise ProfileError("UnsupportedRateUnit", f"chargingRateUnit {unit!r}")
    stack = int(raw.get("stackLevel", 0))
    if not 0 <= stack <= MAX_STACK_LEVEL:
        raise ProfileError("InvalidStackLevel", f"stackLevel {stack} not in 0..{MAX_STACK_LEVEL}")
    raw_periods = schedule.get("chargingSchedulePeriod") or []
    if not raw_periods:
        raise ProfileError("InvalidSchedule", "no chargingSchedulePeriod")
    if len(raw_periods) > MAX_PERIODS:
        raise ProfileError("InvalidSchedule", f"more than {MAX_PERIODS} periods")
    periods = []
    for item in raw_periods:
        phases = item.get("numberPhases")
        if phases is not None and not 1 <= int(phases) <= 3:
            raise ProfileError("InvalidSchedule", f"numberPhases {phases} not in 1..3")
        if float(item["limit"]) < 0:
            raise ProfileError("InvalidSchedule", "negative limit")
        periods.append(
            Period(int(item["startPeriod"]), float(item["limit"]), int(phases) if phases else None)
        )
    if periods[0].start != 0:
        raise ProfileError("InvalidSchedule", "the first startPeriod must be 0")
    if any(b.start <= a.start for a, b in pairwise(periods)):
        raise ProfileError("InvalidSchedule", "startPeriod values must increase")
    start_schedule = _time(schedule, "startSchedule")
    recurrency = raw.get("recurrencyKind")
    if kind == "Recurring" and (recurrency not in RECURRENCE or start_schedule is None):
        raise ProfileError(
            "InvalidSchedule", "a Recurring profile needs recurrencyKind and startSchedule"
        )
    if kind == "Relative" and start_schedule is not None:
        raise ProfileError("InvalidSchedule", "a Relative profile has no startSchedule")
    duration = schedule.get("duration")
    transaction_id = raw.get("transactionId")
    return Profile(
        id=int(raw["id"] if "id" in raw else raw["chargingProfileId"]),
        evse=evse,
        stack_level=stack,
        purpose=purpose,
        kind=kind,
        unit=unit,
        periods=periods,
        recurrency=recurrency,
        valid_from=_time(raw, "validFrom"),
        valid_to=_time(raw, "validTo"),
        start_schedule=start_schedule,
        duration=int(duration) if duration is not None else None,
        min_rate=float(schedule["minChargingRate"]) if schedule.get("minChargingRate") else None,
        transaction_id=str(transaction_id) if transaction_id is not None else None,
        installed=installed,
        raw=raw,
    )


def composite_duration(asked: int) -> int:
    """The duration (s) a GetCompositeSchedule answer covers: the one asked, at most
    MAX_COMPOSITE_DURATION (the answer's `duration` says which)."""
    return max(0, min(int(asked), MAX_COMPOSITE_DURATION))


def install(profiles: list[Profile], new: Profile) -> list[Profile]:
    """The installed set with `new` added: a profile with the same id, or the same purpose,
    stack level and EVSE, is replaced (OCPP 1.6 §5.16.2, 2.0.1 K01.FR.05)."""
    kept = [
        p
        for p in profiles
        if p.id != new.id
        and not (
            p.purpose == new.purpose and p.evse == new.evse and p.stack_level == new.stack_level
        )
    ]
    return [*kept, new]


def clear(
    profiles: list[Profile],
    profile_id: int | None,
    evse: int | None,
    purpose: str | None,
    stack_level: int | None,
) -> tuple[list[Profile], list[Profile]]:
    """ClearChargingProfile (2.0.1 K10, 1.6 §5.5): by id, else by every criterion given.
    Returns (kept, removed)."""
    wanted = PURPOSE_NAMES.get(purpose or "") if purpose else None

    def matches(p: Profile) -> bool:
        if profile_id is not None:
            return p.id == profile_id
        return (
            evse in (None, p.evse)
            and wanted in (None, p.purpose)
            and stack_level in (None, p.stack_level)
        )

    kept = [p for p in profiles if not matches(p)]
    removed = [p for p in profiles if matches(p)]
    return kept, removed


def _winner(
    candidates: list[Profile], evse: int, at: datetime, tx_start: datetime | None, voltage: float
) -> tuple[float, int] | None:
    """The limit of the highest-stack-level profile that gives one at `at`."""
    ranked = sorted(candidates, key=lambda p: (p.stack_level, p.evse == evse), reverse=True)
    for profile in ranked:
        limit = profile.limit_at(at, tx_start, voltage)
        if limit is not None:
            return limit
    return None


@dataclass(frozen=True)
class Segment:
    """One period of a composite schedule: from `start` (seconds after its start)."""

    start: int
    amps: float  # per phase
    phases: int


def applicable(profiles: list[Profile], evse: int, transaction_id: str | None) -> list[Profile]:
    """The profiles that can apply to `evse`: its own and those of EVSE 0. A TxProfile
    applies to its EVSE's running transaction (matching transactionId when it names one);
    without a transaction only one naming none applies: the profile of a remote start,
    waiting for its transaction (2.0.1 F01, 1.6 §5.11)."""
    chosen = []
    for p in profiles:
        if p.evse not in (0, evse):
            continue
        if p.purpose == TX and (
            p.evse != evse
            or (transaction_id is None and p.transaction_id is not None)
            or (transaction_id is not None and p.transaction_id not in (None, transaction_id))
        ):
            continue
        chosen.append(p)
    return chosen


def limit_at(
    profiles: list[Profile],
    evse: int,
    at: datetime,
    cap: float,
    tx_start: datetime | None = None,
    voltage: float = DEFAULT_VOLTAGE,
) -> tuple[float, int]:
    """(A per phase, phases) the profiles allow `evse` at `at`, capped by `cap` (A).

    `profiles` must already be `applicable` ones. EVSE 0 means the station as a whole:
    only the station maximum applies there."""
    amps, phases = cap, DEFAULT_PHASES
    station = _winner(
        [p for p in profiles if p.purpose == STATION_MAX], evse, at, tx_start, voltage
    )
    if station is not None and station[0] < amps:
        amps, phases = station
    if evse != 0:
        tx = _winner([p for p in profiles if p.purpose == TX], evse, at, tx_start, voltage)
        if tx is None:
            tx = _winner(
                [p for p in profiles if p.purpose == TX_DEFAULT], evse, at, tx_start, voltage
            )
        if tx is not None and tx[0] < amps:
            amps, phases = tx
    return amps, phases


def composite(
    profiles: list[Profile],
    evse: int,
    start: datetime,
    duration: int,
    cap: float,
    tx_start: datetime | None = None,
    voltage: float = DEFAULT_VOLTAGE,
) -> list[Segment]:
    """The composite schedule of `evse` from `start` for `duration` seconds (any length).

    `profiles` must already be `applicable` ones; `cap` is the EVSE's own maximum in A.
    Adjacent periods with the same limit and phases are merged."""
    end = start + timedelta(seconds=duration)
    marks = {start}
    for profile in profiles:
        marks.update(profile.boundaries(start, end, tx_start))
    segments: list[Segment] = []
    for moment in sorted(marks):
        amps, phases = limit_at(profiles, evse, moment, cap, tx_start, voltage)
        offset = int((moment - start).total_seconds())
        if segments and segments[-1].start == offset:  # within the same second
            segments.pop()
        if segments and segments[-1].amps == amps and segments[-1].phases == phases:
            continue
        segments.append(Segment(offset, amps, phases))
    return segments


def next_change(
    profiles: list[Profile],
    evse: int,
    now: datetime,
    cap: float,
    tx_start: datetime | None = None,
    voltage: float = DEFAULT_VOLTAGE,
    horizon: timedelta = timedelta(days=8),
) -> datetime | None:
    """The next moment after `now` where `evse`'s limit changes (None within `horizon`):
    when the station re-evaluates, by a timer."""
    current = limit_at(profiles, evse, now, cap, tx_start, voltage)
    marks: set[datetime] = set()
    for profile in profiles:
        marks.update(profile.boundaries(now, now + horizon, tx_start))
    for moment in sorted(marks):
        if limit_at(profiles, evse, moment, cap, tx_start, voltage) != current:
            return moment
    return None
