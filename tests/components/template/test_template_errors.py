"""Template entities whose templates fail, with Home Assistant's rules
(helpers/template_entity.py): state error -> unavailable (or unknown when `availability` is
set), availability error -> available, attribute error -> None; and they keep following
what the failed render read."""

from __future__ import annotations

import logging
from typing import Any

CONFIG = """
template:
  - sensor:
      - name: Late double
        state: "{{ states('sensor.late') | float * 2 }}"
      - name: Guarded
        state: "{{ states('sensor.late') | float * 3 }}"
        availability: "{{ states('sensor.gate') | float > 0 }}"
        attributes:
          ratio: "{{ 10 / states('sensor.late') | float }}"
    binary_sensor:
      - name: Late high
        state: "{{ states('sensor.late') | float > 5 }}"
        availability: "{{ true }}"
"""


async def test_template_entity_errors_follow_home_assistant(
    config_dir: Any, start_station: Any, caplog: Any
) -> None:
    caplog.set_level(logging.ERROR)
    hub, _result = await start_station(config_dir(CONFIG))
    # state fails, no availability template: unavailable
    assert hub.states.get("sensor.late_double").state == "unavailable"
    # availability fails (sensor.gate unknown): counts as available; state fails: unknown
    guarded = hub.states.get("sensor.guarded")
    assert guarded.state == "unknown" and guarded.attributes["ratio"] is None
    assert hub.states.get("binary_sensor.late_high").state == "unknown"
    errors = caplog.text.count("sensor.late_double: state:")
    hub.states.async_set("sensor.unrelated", "1")
    hub.states.async_set("sensor.late", "n/a")  # still failing: not logged again
    assert caplog.text.count("sensor.late_double: state:") == errors == 1
    # the entity appears: every template renders again, because the failed renders read it
    hub.states.async_set("sensor.late", "4")
    assert float(hub.states.get("sensor.late_double").state) == 8.0
    guarded = hub.states.get("sensor.guarded")
    assert float(guarded.state) == 12.0 and guarded.attributes["ratio"] == 2.5
    assert hub.states.get("binary_sensor.late_high").state == "off"
    hub.states.async_set("sensor.gate", "0")
    assert hub.states.get("sensor.guarded").state == "unavailable"
