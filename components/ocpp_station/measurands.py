"""The measurands an EVSE can report, read from the bus; both protocols format them.

Supported (OCPP 2.0.1 Part 2 MeasurandEnumType / OCPP 1.6 §7.31 Measurand):

- `Energy.Active.Import.Register`  Wh, from `energy_entity` (Wh, kWh or MWh on the bus)
- `Power.Active.Import`            W, from `power_entity` (W, kW or MW)
- `Current.Import`                 A, one value per phase of `current_entities`
                                   (`{L1: sensor.meter_current_l1, ...}`; A or mA)
- `Voltage`                        V, one value per phase of `voltage_entities`
                                   (`{L1-N: sensor.meter_voltage_l1, ...}`; V or kV)

Which of them a message carries is the CSMS's choice: SampledDataCtrlr.TxStarted/
TxUpdated/TxEndedMeasurands and AlignedDataCtrlr.Measurands (2.0.1, Part 2 §2.11 /
Part 3 J), MeterValuesSampledData, MeterValuesAlignedData and StopTxnSampledData (1.6
§9.1). A measurand without a configured entity, or whose entity has no number now, is
left out of the message (never sent as 0).

Phases are PhaseEnumType values (2.0.1 Part 2 §3.64, the same list in 1.6 §7.33): a
per-phase current is measured on `L1`, `L2`, `L3` (or `N`); a per-phase voltage between
the line and neutral, `L1-N`, `L2-N`, `L3-N` (`L1` is accepted as shorthand for `L1-N`,
since that is what a meter's "voltage L1" register holds), or between lines `L1-L2`,
`L2-L3`, `L3-L1`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import voluptuous as vol

import orge.validation as cv
from orge.core import Orge

_LOGGER = logging.getLogger(__name__)

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"
VOLTAGE = "Voltage"
# Every measurand ORGE can supply (the order is the order of the samples in a message).
MEASURANDS: tuple[str, ...] = (ENERGY, POWER, CURRENT, VOLTAGE)

CURRENT_PHASES = ("L1", "L2", "L3", "N")
VOLTAGE_PHASES = ("L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1")
_VOLTAGE_SHORT = {"L1": "L1-N", "L2": "L2-N", "L3": "L3-N"}

_CURRENT_FACTOR = {"a": 1.0, "ma": 0.001}
_VOLTAGE_FACTOR = {"v": 1.0, "kv": 1000.0, "mv": 0.001}


def _phase_map(allowed: tuple[str, ...], short: Mapping[str, str]) -> Any:
    def validate(value: Any) -> dict[str, str]:
        if not isinstance(value, dict):
            raise vol.Invalid("expected a mapping of phase -> entity id (e.g. L1: sensor.x)")
        result: dict[str, str] = {}
        for key, entity in value.items():
            phase = short.get(str(key).upper(), str(key).upper())
            if phase not in allowed:
                raise vol.Invalid(f"unknown phase {key!r} (one of {', '.join(allowed)})")
            result[phase] = cv.entity_id(entity)
        # samples in phase order, whatever order the YAML has
        return {phase: result[phase] for phase in allowed if phase in result}

    return validate


# The `evse:` options of this module (merged into EVSE_SCHEMA).
CURRENT_ENTITIES = _phase_map(CURRENT_PHASES, {})
VOLTAGE_ENTITIES = _phase_map(VOLTAGE_PHASES, _VOLTAGE_SHORT)


@dataclass(frozen=True)
class Sample:
    """One measured value: `value` in `unit` (Wh, W, A, V); `phase` None = overall."""

    measurand: str
    value: float
    unit: str
    phase: str | None = None


class Metered(Protocol):
    """What `read_samples` needs of an EVSE (an `EvseBinding`)."""

    orge: Orge
    config: dict[str, Any]

    def energy_wh(self) -> float | None: ...

    def power_w(self) -> float | None: ...


def scaled_value(state: Any, factors: Mapping[str, float]) -> float | None:
    """A state's number in the base unit: `factors` maps a lower-case unit of measurement to
    its factor (kWh -> 1000 for Wh); no unit = the base unit; an unknown unit is logged and
    read as the base unit. None for no state or a state that is not a number."""
    if state is None:
        return None
    try:
        value = float(state.state)
    except (TypeError, ValueError):
        return None  # unavailable / unknown: left out, never sent as 0
    unit = str((state.attributes or {}).get("unit_of_measurement") or "").strip().lower()
    factor = factors.get(unit)
    if factor is None:
        if unit:
            _LOGGER.warning("Unknown unit %r on %s; reading it as base unit", unit, state.entity_id)
        factor = 1.0
    return value * factor


def read_samples(evse: Metered, measurands: list[str] | tuple[str, ...]) -> list[Sample]:
    """The present values of `measurands` on one EVSE, in `MEASURANDS` order per
    measurand and phase order within one; unknown or unconfigured measurands give none."""
    samples: list[Sample] = []
    states = evse.orge.states
    for measurand in MEASURANDS:
        if measurand not in measurands:
            continue
        if measurand == ENERGY:
            energy = evse.energy_wh()
            if energy is not None:
                samples.append(Sample(ENERGY, energy, "Wh"))
        elif measurand == POWER:
            power = evse.power_w()
            if power is not None:
                samples.append(Sample(POWER, power, "W"))
        else:
            key, unit, factors = (
                ("current_entities", "A", _CURRENT_FACTOR)
                if measurand == CURRENT
                else ("voltage_entities", "V", _VOLTAGE_FACTOR)
            )
            for phase, entity in (evse.config.get(key) or {}).items():
                value = scaled_value(states.get(entity), factors)
                if value is not None:
                    samples.append(Sample(measurand, value, unit, phase))
    return samples
