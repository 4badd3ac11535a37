"""1.6 Smart Charging (OCPP 1.6 §3.13, §5.5, §5.7, §5.16): payloads <-> the shared model.

The profile model, the composite schedule and the limit policy (applied to the controller
only before or between sessions, pending otherwise) are protocol-neutral, in
`components.ocpp_station.profiles` and `charging_limits`. This mixin of `Ocpp16Station`
turns 1.6 payloads (`csChargingProfiles`, connectorId) into them and answers
SetChargingProfile, ClearChargingProfile and GetCompositeSchedule.
"""

from __future__ import annotations

import logging
from typing import Any

from ocpp.charge_point import snake_to_camel_case

from orge.core import Orge

from ..ocpp_station.charging_limits import ChargingLimits
from ..ocpp_station.clock import format_time
from ..ocpp_station.evse import EvseBinding
from ..ocpp_station.profiles import (
    DEFAULT_VOLTAGE,
    Profile,
    ProfileError,
    composite_duration,
    schedule_periods,
)

_LOGGER = logging.getLogger(__name__)
PROFILES_KEY = "profiles16"


class SmartCharging:
    """Mixed into `Ocpp16Station` (through `Orders`): `self` is the station."""

    orge: Orge
    clock: Any
    journal: Any
    config: dict[str, Any]
    bindings: dict[int, EvseBinding]
    txs: dict[int, Any]
    csms_ids: dict[str, int]
    limits: ChargingLimits

    def make_limits(self) -> ChargingLimits:
        def transaction_of(connector: int) -> str | None:
            tx = self.txs.get(connector)
            if tx is None:
                return None
            # a TxProfile names the CSMS's transactionId (an integer in 1.6)
            return str(self.csms_ids.get(tx.local_id, tx.local_id))

        return ChargingLimits(
            self.orge,
            "ocpp16",
            self.clock,
            self.journal,
            PROFILES_KEY,
            lambda: self.bindings,
            transaction_of,
            float(self.config.get("nominal_voltage", DEFAULT_VOLTAGE)),
        )

    def parse_profile(
        self, connector_id: int, profile: dict[str, Any], for_start: bool = False
    ) -> Profile | str:
        """The Profile to install, or why it is Rejected (logged)."""
        try:
            model = self.limits.parse(snake_to_camel_case(profile), connector_id)
            problem = self.limits.problem(model, for_start=for_start)
        except ProfileError as err:
            problem = err
        if problem is not None:
            _LOGGER.warning("Charging profile rejected: %s", problem.text)
            return problem.text
        return model

    def set_charging_profile(self, connector_id: int, profile: dict[str, Any]) -> str:
        """§5.16: Accepted whenever the spec allows, even when the controller cannot take
        the limit now (it pends on sensor.ocpp16_pending_current_limit until it can)."""
        model = self.parse_profile(connector_id, profile)
        if not isinstance(model, Profile):
            return "Rejected"
        self.limits.install(model)
        self.orge.async_create_task(self.limits.apply())
        return "Accepted"

    def clear_charging_profile(
        self,
        profile_id: int | None,
        connector_id: int | None,
        purpose: str | None,
        stack: int | None,
    ) -> str:
        """§5.5: by id, else by every criterion given; Unknown when none matched."""
        if not self.limits.clear(profile_id, connector_id, purpose, stack):
            return "Unknown"
        self.orge.async_create_task(self.limits.apply())  # sessions get it when they end
        return "Accepted"

    def composite_schedule(
        self, connector_id: int, duration: int, unit: str | None
    ) -> dict[str, Any]:
        """§5.7: the composite schedule from now for `duration` s, in the unit asked (A
        when none is asked: the controller's own unit)."""
        if connector_id != 0 and connector_id not in self.bindings:
            return {"status": "Rejected"}
        unit = unit or "A"
        duration = composite_duration(duration)  # the station's longest (§5.7)
        start, segments = self.limits.composite(connector_id, duration)
        voltage = self.limits.voltage
        return {
            "status": "Accepted",
            "connector_id": connector_id,
            "schedule_start": format_time(start),
            "charging_schedule": {
                "duration": duration,
                "start_schedule": format_time(start),
                "charging_rate_unit": unit,
                "charging_schedule_period": schedule_periods(segments, unit, voltage),
            },
        }
