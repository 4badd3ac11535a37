"""template: state-based sensors follow what they read; trigger-based ones are restored."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from orge.exceptions import OrgeError
from orge.setup import check_configuration
from orge.testing import async_fire_time_changed

CONFIG = """
template:
  - sensor:
      - name: Charger power
        unit_of_measurement: W
        state: "{{ (states('sensor.voltage') | float(0) * states('sensor.current') | float(0)) | round(0) }}"
        availability: "{{ has_value('sensor.voltage') }}"
        attributes:
          phases: "{{ state_attr('sensor.current', 'phases') }}"
      - name: Broken
        state: "{{ states('sensor.voltage') | float / 0 }}"
    binary_sensor:
      - name: Overcurrent
        state: "{{ states('sensor.current') | float(0) > 32 }}"
        delay_off: 0.1
  - triggers:
      - trigger: state
        entity_id: sensor.charger_state
        to: charging
    sensor:
      - name: Charge starts
        state: "{{ (this.state | int(0)) + 1 }}"
"""


async def test_template_entities(config_dir: Any, start_station: Any, caplog: Any) -> None:
    caplog.set_level(logging.ERROR)
    path = config_dir(CONFIG)
    hub, _result = await start_station(path)
    assert hub.states.get("sensor.charger_power").state == "unavailable"
    hub.states.async_set("sensor.voltage", "230")
    hub.states.async_set("sensor.current", "16", {"phases": 3})
    power = hub.states.get("sensor.charger_power")
    assert power.state == "3680" and power.attributes["phases"] == 3
    assert power.attributes["unit_of_measurement"] == "W"
    assert hub.states.get("sensor.broken").state == "unavailable"
    assert "configuration.yaml, line 11" in caplog.text
    hub.states.async_set("sensor.current", "40")
    assert hub.states.get("binary_sensor.overcurrent").state == "on"
    hub.states.async_set("sensor.current", "10")
    assert hub.states.get("binary_sensor.overcurrent").state == "on"  # delay_off
    await async_fire_time_changed(hub, 0.09)
    assert hub.states.get("binary_sensor.overcurrent").state == "on"  # 0.01 s to go
    await async_fire_time_changed(hub, 0.01)
    assert hub.states.get("binary_sensor.overcurrent").state == "off"
    for _ in range(2):
        hub.states.async_set("sensor.charger_state", "idle")
        hub.states.async_set("sensor.charger_state", "charging")
    assert hub.states.get("sensor.charge_starts").state == "2"
    await hub.async_stop()
    hub, _result = await start_station(path)
    assert hub.states.get("sensor.charge_starts").state == "2"  # restored
    hub.states.async_set("sensor.charger_state", "charging")
    assert hub.states.get("sensor.charge_starts").state == "3"


def test_check_config_template_errors(config_dir: Any) -> None:
    path = config_dir(
        'template:\n  - sensor:\n      - name: X\n        state: "{{ 1 | no_such_filter }}"\n'
    )
    (problem,) = check_configuration(str(path)).problems
    assert "configuration.yaml, line 4" in problem and "no_such_filter" in problem


async def test_reload(config_dir: Any, start_station: Any) -> None:
    path = config_dir(CONFIG)
    hub, _result = await start_station(path)
    (path / "configuration.yaml").write_text(
        "template:\n  - sensor:\n      - name: Doubled\n"
        "        state: \"{{ states('sensor.current') | float(0) * 2 }}\"\n"
    )
    await hub.services.async_call("template", "reload", {}, blocking=True)
    assert hub.states.get("sensor.charger_power") is None
    hub.states.async_set("sensor.current", "8")
    assert hub.states.get("sensor.doubled").state == "16.0"  # float * 2, as HA shows it
    hub.states.async_set("sensor.charger_state", "charging")  # old trigger detached
    assert hub.states.get("sensor.charge_starts") is None
    (path / "configuration.yaml").write_text(
        'template:\n  - sensor:\n      - name: X\n        state: "{{ 1 + }}"\n'
    )
    with pytest.raises(OrgeError, match="line 4"):
        await hub.services.async_call("template", "reload", {}, blocking=True)
    assert hub.states.get("sensor.doubled").state == "16.0"  # float * 2, as HA shows it
