"""The installed charging profiles of one station and the limit policy, for both protocols.

Holds the profiles (`profiles.Profile`), persists them in the journal's SQLite settings
(so they survive a restart), and applies the limit the composite schedule gives *now* to
each EVSE's controller - only when the controller allows it. This controller restarts its
session when its current limit changes (esp32 serial protocol §8 Q1; the esp32
component's `number.set_value` refuses mid-session), so a limit is applied before a
session starts or between sessions and never during one. A limit that cannot be applied
now is shown as pending on `sensor.<domain>_pending_current_limit` (state: the pending
limit in A, attributes: per EVSE the limit and the reason) and applied at the next safe
moment: when the EVSE is idle again (`apply()` from the station's state-change hook) or
at the next period boundary of the schedule (a timer, never polling).

The protocol modules stay thin: they turn payloads into `Profile` (`parse`), ask
`problem()` for the answer, then `install()` / `clear()` and `apply()`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from orge.core import EVENT_ORGE_STOP, Orge, callback
from orge.entity import async_add_entities

from .entities import LinkSensor
from .evse import ControllerState, EvseBinding
from .profiles import (
    DEFAULT_VOLTAGE,
    MAX_PROFILES,
    STATION_MAX,
    TX,
    Profile,
    ProfileError,
    Segment,
    applicable,
    clear,
    composite,
    from_ocpp,
    install,
    limit_at,
    next_change,
    to_amps,
)

_LOGGER = logging.getLogger(__name__)
# The controller takes a new limit only in these states (esp32 protocol §8 Q1).
IDLE_STATES = (ControllerState.IDLE, ControllerState.CABLE_DETECT, ControllerState.EV_CONNECTED)


class ChargingLimits:
    """Profiles, composite schedules and the pending/applied limit of every EVSE.

    `transaction_of(evse_id)` gives the id of the transaction running on that EVSE (None
    without one); `voltage` is the nominal voltage (V) for W <-> A conversions.
    """

    def __init__(
        self,
        orge: Orge,
        domain: str,
        clock: Any,
        journal: Any,
        setting_key: str,
        evses: Callable[[], Mapping[int, EvseBinding]],
        transaction_of: Callable[[int], str | None],
        voltage: float = DEFAULT_VOLTAGE,
    ) -> None:
        self.orge = orge
        self.domain = domain
        self.clock = clock
        self.journal = journal
        self.setting_key = setting_key
        self._evses = evses
        self._transaction_of = transaction_of
        self.voltage = voltage
        self.profiles: list[Profile] = []
        self.pending: dict[int, dict[str, Any]] = {}  # evse id -> {"limit": A, "reason": str}
        # EVSEs whose limit the profiles changed and that still need it applied. Without a
        # profile change ORGE leaves the controller's limit alone (set by hand, say).
        self.dirty: set[int] = set()
        self._tx_starts: dict[int, tuple[str, datetime]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._stopped = False
        self._lock = asyncio.Lock()
        self.sensor = LinkSensor(
            domain, "pending_current_limit", "Pending current limit", "mdi:timer-sand", "none"
        )

    # --- lifecycle ---------------------------------------------------------------------

    async def async_start(self) -> None:
        """Load the stored profiles (older formats are dropped) and add the sensor."""
        stored = upgrade_store(await self.journal.get_setting(self.setting_key, []))
        profiles = []
        for item in stored if isinstance(stored, list) else []:
            try:
                profiles.append(Profile.from_stored(item))
            except (KeyError, TypeError, ProfileError) as err:
                _LOGGER.warning("Stored charging profile dropped (%s): %s", err, item)
        self.profiles = profiles
        self._mark(profiles)
        await async_add_entities(self.orge, self.domain, [self.sensor])
        self.orge.bus.async_listen_once(EVENT_ORGE_STOP, self._on_stop)
        self._schedule()

    @callback
    def _on_stop(self, _event: Any) -> None:
        self._stopped = True
        self.stop()

    def stop(self) -> None:
        """Cancel the period-boundary timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _persist(self) -> None:
        # on the journal thread, in order with the station's other writes
        self.journal.set_setting(self.setting_key, [p.as_stored() for p in self.profiles])

    # --- profiles ----------------------------------------------------------------------

    def parse(self, raw: dict[str, Any], evse_id: int) -> Profile:
        """A profile as the CSMS sent it (camelCase) -> Profile; raises ProfileError."""
        # whole seconds, as schedules are: the profile holds from the second it arrived
        return from_ocpp(raw, evse_id, installed=self.clock.now().replace(microsecond=0))

    def problem(self, profile: Profile, for_start: bool = False) -> ProfileError | None:
        """Why the station must answer Rejected (None: Accepted).

        An unknown EVSE; a station maximum not on EVSE 0; a TxProfile on EVSE 0 or, unless
        it comes with a remote start (`for_start`), without a transaction on its EVSE or
        with another transaction's id (2.0.1 K01.FR.09/33, 1.6 §5.16.3); a limit below
        the controller's minimum current (it cannot go lower: it would charge above the
        limit); one that would make more than MAX_PROFILES installed (1.6
        MaxChargingProfilesInstalled, 2.0.1 SmartChargingCtrlr.Entries maxLimit; one that
        replaces an installed one always fits)."""
        evses = self._evses()
        if len(install(self.profiles, profile)) > MAX_PROFILES:
            return ProfileError(
                "MaxProfilesReached", f"{MAX_PROFILES} charging profiles are installed already"
            )
        if profile.evse and profile.evse not in evses:
            return ProfileError("UnknownEvse", f"no EVSE {profile.evse}")
        if profile.purpose == STATION_MAX and profile.evse != 0:
            return ProfileError("InvalidEvse", "a station maximum profile needs EVSE 0")
        if profile.purpose == TX:
            if profile.evse == 0:
                return ProfileError("InvalidEvse", "a TxProfile needs an EVSE")
            running = self._transaction_of(profile.evse)
            if not for_start and running is None:
                return ProfileError("TxNotFound", f"no transaction on EVSE {profile.evse}")
            if not for_start and profile.transaction_id not in (None, running):
                return ProfileError("TxNotFound", f"transaction {profile.transaction_id} unknown")
        targets = list(evses.values()) if profile.evse == 0 else [evses[profile.evse]]
        minimum = max(float(b.config["min_current"]) for b in targets)
        for period in profile.periods:
            amps = to_amps(period.limit, profile.unit, period.phases or 3, self.voltage)
            if amps < minimum:
                return ProfileError(
                    "BelowMinimum",
                    f"{amps:.1f} A is below the controller's minimum {minimum:g} A",
                )
        return None

    def _mark(self, profiles: list[Profile]) -> None:
        evses = self._evses()
        for profile in profiles:
            self.dirty.update(evses if profile.evse == 0 else [profile.evse])

    def affects(self, evse_id: int) -> bool:
        """Whether any installed profile applies to this EVSE (its limit is ORGE's)."""
        return any(p.evse in (0, evse_id) for p in self.profiles)

    def install(self, profile: Profile) -> None:
        self.profiles = install(self.profiles, profile)
        self._mark([profile])
        self._persist()
        self._schedule()

    def clear(
        self,
        profile_id: int | None,
        evse_id: int | None,
        purpose: str | None,
        stack_level: int | None,
    ) -> list[Profile]:
        """ClearChargingProfile; returns the removed profiles (none: answer Unknown)."""
        self.profiles, removed = clear(self.profiles, profile_id, evse_id, purpose, stack_level)
        if removed:
            self._mark(removed)
            self._persist()
            self._schedule()
        return removed

    def drop_transaction_profiles(self, evse_id: int) -> bool:
        """A TxProfile lives as long as its transaction (1.6 §3.13.2; 2.0.1 K01)."""
        kept = [p for p in self.profiles if not (p.purpose == TX and p.evse == evse_id)]
        self._tx_starts.pop(evse_id, None)
        if len(kept) == len(self.profiles):
            return False
        self.dirty.add(evse_id)
        self.profiles = kept
        self._persist()
        self._schedule()
        return True

    # --- the composite schedule ---------------------------------------------------------

    def _tx(self, evse_id: int) -> tuple[str | None, datetime | None]:
        """The transaction on `evse_id` and when the station first saw it (the start of a
        Relative profile)."""
        tx_id = self._transaction_of(evse_id) if evse_id else None
        if tx_id is None:
            self._tx_starts.pop(evse_id, None)
            return None, None
        seen = self._tx_starts.get(evse_id)
        if seen is None or seen[0] != tx_id:
            seen = self._tx_starts[evse_id] = (tx_id, self.clock.now())
        return seen

    def transaction_started(self, evse_id: int) -> None:
        """Called by the station when it opens a transaction: a Relative profile's
        schedule starts then."""
        self._tx(evse_id)

    def _cap(self, evse_id: int) -> float:
        evses = self._evses()
        if evse_id == 0:
            return max(float(b.config["max_current"]) for b in evses.values())
        return float(evses[evse_id].config["max_current"])

    def composite(self, evse_id: int, duration: int) -> tuple[datetime, list[Segment]]:
        """(scheduleStart, periods in A per phase) for `evse_id` from now, `duration` s."""
        tx_id, tx_start = self._tx(evse_id)
        now = self.clock.now().replace(microsecond=0)
        chosen = applicable(self.profiles, evse_id, tx_id)
        # without a transaction a Relative schedule is laid out from now
        return now, composite(
            chosen, evse_id, now, duration, self._cap(evse_id), tx_start or now, self.voltage
        )

    def wanted(self, binding: EvseBinding) -> float:
        """The limit (whole A, rounded down: never above the schedule) for the EVSE now."""
        tx_id, tx_start = self._tx(binding.evse_id)
        chosen = applicable(self.profiles, binding.evse_id, tx_id)
        amps, _ = limit_at(
            chosen,
            binding.evse_id,
            self.clock.now(),
            self._cap(binding.evse_id),
            tx_start,
            self.voltage,
        )
        return float(math.floor(amps + 1e-9))

    # --- applying limits -----------------------------------------------------------------

    def blocked(self, binding: EvseBinding) -> str | None:
        """Why the controller cannot take a new limit now (None: it can)."""
        if self._transaction_of(binding.evse_id) is not None:
            return "session running: the controller restarts its session on a limit change"
        if binding.reading.state not in IDLE_STATES:
            state = binding.reading.state
            return f"controller busy ({state.name if state is not None else 'unknown'})"
        return None

    async def apply(self) -> None:
        """Apply the limit of each EVSE the profiles changed, where the controller allows
        it now; the others pend (shown on the sensor) until the next call."""
        async with self._lock:
            for binding in self._evses().values():
                if binding.evse_id not in self.dirty:
                    continue
                wanted = self.wanted(binding)
                if binding.current_limit() == wanted:
                    self.pending.pop(binding.evse_id, None)
                    self.dirty.discard(binding.evse_id)
                    continue
                reason = self.blocked(binding)
                if reason is None:
                    try:
                        await binding.async_set_current_limit(wanted)
                    except Exception as err:  # the controller refused or is away
                        reason = f"not applied: {err}"
                        _LOGGER.warning(
                            "Current limit %g A for EVSE %d %s", wanted, binding.evse_id, reason
                        )
                if reason is None:
                    self.pending.pop(binding.evse_id, None)
                    self.dirty.discard(binding.evse_id)
                else:
                    self.pending[binding.evse_id] = {"limit": wanted, "reason": reason}
            self._show()
        self._schedule()

    def _show(self) -> None:
        if not self.pending:
            self.sensor.update("none")
            return
        first = self.pending[min(self.pending)]
        self.sensor.update(
            first["limit"],
            reason=first["reason"],
            evses={str(k): v for k, v in sorted(self.pending.items())},
        )

    def _schedule(self) -> None:
        """A timer for the next moment any EVSE's limit changes (a period boundary,
        validFrom/validTo, a schedule's end)."""
        self.stop()
        if self._stopped:
            return
        now = self.clock.now()
        moments = []
        for evse_id in self._evses():
            tx_id, tx_start = self._tx(evse_id)
            chosen = applicable(self.profiles, evse_id, tx_id)
            moment = next_change(chosen, evse_id, now, self._cap(evse_id), tx_start, self.voltage)
            if moment is not None:
                moments.append(moment)
        if not moments:
            return
        delay = max(0.0, (min(moments) - now).total_seconds()) + 0.01
        self._timer = self.orge.loop.call_later(delay, self._boundary)

    def _boundary(self) -> None:
        self._timer = None
        self._mark(self.profiles)
        self.orge.async_create_task(self.apply())


def upgrade_store(stored: Any) -> Any:
    """Stores of ORGE before composite schedules as stored profiles, so no installed limit
    is lost on the upgrade: 1.6's {"items": [...]} and 2.0.1 records without the profile
    itself (one constant limit in A each)."""
    if isinstance(stored, list):
        return [item if "profile" in item else _upgrade_201(item) for item in stored]
    if not isinstance(stored, dict):
        return stored
    return [
        {
            "evse": item["connector"],
            "profile": {
                "chargingProfileId": item["id"],
                "stackLevel": item["stack"],
                "chargingProfilePurpose": item["purpose"],
                "chargingProfileKind": "Absolute",
                "chargingSchedule": {
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": item["limit"]}],
                },
                **({"transactionId": item["transaction_id"]} if item.get("transaction_id") else {}),
            },
        }
        for item in stored.get("items", [])
    ]


def _upgrade_201(record: dict[str, Any]) -> dict[str, Any]:
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
    return {"evse": record["evse_id"], "profile": profile}
