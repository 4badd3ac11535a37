"""The per-phase measurand options of `evse:` and the samples read from the bus
(components/ocpp_station/measurands.py). Phases are PhaseEnumType values (OCPP 2.0.1
Part 2 §3.64; the same list in OCPP 1.6 §7.33)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import voluptuous as vol

from components.ocpp_station.evse import EVSE_SCHEMA, EvseBinding
from components.ocpp_station.measurands import Sample, read_samples
from orge.core import Orge

REPO = Path(__file__).resolve().parents[3]
ENERGY = "Energy.Active.Import.Register"


def test_phase_options_are_phase_enum_values_in_phase_order() -> None:
    config = EVSE_SCHEMA(
        {
            "id": 1,
            "current_entities": {"L3": "sensor.c3", "l1": "sensor.c1"},
            # a meter's "voltage L1" is line to neutral: L1 is shorthand for L1-N
            "voltage_entities": {"L2": "sensor.v2", "L1": "sensor.v1", "L1-L2": "sensor.v12"},
        }
    )
    assert list(config["current_entities"].items()) == [("L1", "sensor.c1"), ("L3", "sensor.c3")]
    assert list(config["voltage_entities"].items()) == [
        ("L1-N", "sensor.v1"),
        ("L2-N", "sensor.v2"),
        ("L1-L2", "sensor.v12"),
    ]
    with pytest.raises(vol.Invalid, match="unknown phase 'L1-N'"):
        EVSE_SCHEMA({"id": 1, "current_entities": {"L1-N": "sensor.c1"}})
    with pytest.raises(vol.Invalid, match="entity"):
        EVSE_SCHEMA({"id": 1, "voltage_entities": {"L1": "not an entity"}})


async def test_samples_in_base_units_and_left_out_when_unknown(orge: Orge) -> None:
    config = EVSE_SCHEMA(
        {
            "id": 1,
            "energy_entity": "sensor.energy",
            "power_entity": "sensor.power",
            "current_entities": {"L1": "sensor.c1", "L2": "sensor.c2", "L3": "sensor.c3"},
            "voltage_entities": {"L1": "sensor.v1", "L2": "sensor.v2"},
        }
    )
    orge.states.async_set("sensor.energy", "1234.56", {"unit_of_measurement": "kWh"})
    orge.states.async_set("sensor.power", "7.3605", {"unit_of_measurement": "kW"})
    orge.states.async_set("sensor.c1", "10510", {"unit_of_measurement": "mA"})
    orge.states.async_set("sensor.c2", "10.42", {"unit_of_measurement": "A"})
    orge.states.async_set("sensor.c3", "unavailable", {"unit_of_measurement": "A"})
    orge.states.async_set("sensor.v1", "0.2301", {"unit_of_measurement": "kV"})
    # sensor.v2 does not exist
    binding = EvseBinding(orge, config, lambda *_: None)
    everything = read_samples(binding, ["Voltage", "Current.Import", "Power.Active.Import", ENERGY])
    assert [(s.measurand, s.phase, s.unit) for s in everything] == [
        (ENERGY, None, "Wh"),
        ("Power.Active.Import", None, "W"),
        ("Current.Import", "L1", "A"),
        ("Current.Import", "L2", "A"),
        ("Voltage", "L1-N", "V"),
    ]
    values = [s.value for s in everything]
    assert values == pytest.approx([1234560.0, 7360.5, 10.51, 10.42, 230.1])
    # only what is selected; nothing for an unsupported measurand
    assert read_samples(binding, ["Voltage", "SoC"]) == [
        Sample("Voltage", pytest.approx(230.1), "V", "L1-N")
    ]
    assert read_samples(binding, []) == []


def test_check_config_names_file_and_line_of_a_bad_phase(config_dir: Callable[..., Path]) -> None:
    path = config_dir(
        """
        orge:
          station_id: CP-PHASE
        ocpp16:
          url: ws://127.0.0.1:9/ocpp
          evse:
            - id: 1
              current_entities:
                L1: sensor.meter_current_l1
              voltage_entities:
                L4: sensor.meter_voltage_l1
        """
    )
    done = subprocess.run(
        [sys.executable, "-m", "orge", "check-config", "-c", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "configuration.yaml, line 7" in done.stdout, done.stdout
    assert "unknown phase 'L4'" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
