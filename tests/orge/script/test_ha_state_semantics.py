"""State and numeric_state triggers and conditions hold Home Assistant's values.

Each expected list is what Home Assistant 2024.x does with the same YAML
(components/homeassistant/triggers/state.py, numeric_state.py, helpers/condition.py).
"""

from __future__ import annotations

from typing import Any

import pytest
import voluptuous as vol
from conftest import settle  # type: ignore[import-not-found]

from orge.script.trigger import validate_triggers


async def test_from_and_for_without_to_cancels_on_return(station: Any) -> None:
    hub, rec = await station(
        """
        automation:
          - triggers:
              trigger: state
              entity_id: sensor.charger_state
              from: charging
              for: 0.3
            actions:
              action: test.record
              data: {value: "{{ trigger.from_state.state }}>{{ trigger.to_state.state }}"}
        """
    )
    hub.states.async_set("sensor.charger_state", "charging")
    hub.states.async_set("sensor.charger_state", "suspended_ev")
    await settle(hub, 0.05)
    hub.states.async_set("sensor.charger_state", "charging")  # back before 0.3 s: cancelled
    await settle(hub, 0.45)
    assert rec.calls == []
    hub.states.async_set("sensor.charger_state", "suspended_ev")
    await settle(hub, 0.05)
    # Another state that is not `from` keeps the run pending (HA: "not back at old value").
    hub.states.async_set("sensor.charger_state", "finishing")
    await settle(hub, 0.45)
    assert rec.values() == ["charging>suspended_ev"]


async def test_attribute_values_compare_typed(station: Any) -> None:
    hub, rec = await station(
        """
        automation:
          - mode: parallel
            triggers:
              - {trigger: state, entity_id: sensor.ev, attribute: plugged, to: true, id: bool}
              - {trigger: state, entity_id: sensor.ev, attribute: limit, to: 16, id: number}
              - {trigger: state, entity_id: sensor.ev, attribute: limit, from: 16, id: from16}
              - {trigger: state, entity_id: sensor.ev, attribute: limit, to: "16", id: text}
            actions:
              action: test.record
              data: {value: "{{ trigger.id }}"}
        """
    )
    hub.states.async_set("sensor.ev", "on", {"plugged": False, "limit": 6.0})
    hub.states.async_set("sensor.ev", "on", {"plugged": True, "limit": 16.0})
    hub.states.async_set("sensor.ev", "on", {"plugged": True, "limit": 10})
    await settle(hub)
    # `to: "16"` is the text "16": HA compares with ==, so it never equals the number 16.0.
    assert sorted(rec.values()) == ["bool", "from16", "number"]


async def test_to_null_means_any_state_change_not_attribute_changes(station: Any) -> None:
    hub, rec = await station(
        """
        automation:
          - mode: parallel
            triggers:
              - {trigger: state, entity_id: sensor.meter, to: ~, id: to_null}
              - {trigger: state, entity_id: sensor.meter, id: plain}
              - {trigger: state, entity_id: sensor.meter, attribute: phase, id: attr}
            actions:
              action: test.record
              data: {value: "{{ trigger.id }}"}
        """
    )
    hub.states.async_set("sensor.meter", "1", {"phase": 1, "other": 1})
    await settle(hub)
    rec.calls.clear()
    hub.states.async_set("sensor.meter", "1", {"phase": 1, "other": 2})  # other attribute
    await settle(hub)
    assert rec.values() == ["plain"]
    rec.calls.clear()
    hub.states.async_set("sensor.meter", "2", {"phase": 1, "other": 2})  # state only
    await settle(hub)
    assert sorted(rec.values()) == ["plain", "to_null"]
    rec.calls.clear()
    hub.states.async_remove("sensor.meter")  # HA: a plain trigger fires with to_state None
    await settle(hub)
    assert sorted(rec.values()) == ["attr", "plain", "to_null"]


async def test_not_from_not_to_and_unavailable(station: Any) -> None:
    hub, rec = await station(
        """
        automation:
          - triggers:
              trigger: state
              entity_id: [sensor.a, sensor.b]
              not_from: [unavailable, unknown]
              not_to: [unavailable, unknown]
            actions:
              action: test.record
              data: {value: "{{ trigger.entity_id }} {{ trigger.to_state.state }}"}
        """
    )
    for state in ("unknown", "idle", "unavailable", "charging", "finishing"):
        hub.states.async_set("sensor.a", state)
    hub.states.async_set("sensor.b", "idle")  # entity appears: old value None is not excluded
    await settle(hub)
    assert rec.values() == ["sensor.a finishing", "sensor.b idle"]


async def test_for_from_a_template_per_entity(station: Any) -> None:
    hub, rec = await station(
        """
        input_number:
          hold: {min: 0, max: 1, step: 0.1, initial: 0.2}
        automation:
          - mode: parallel
            triggers:
              trigger: state
              entity_id: [binary_sensor.one, binary_sensor.two]
              to: "on"
              for: {seconds: "{{ states('input_number.hold') | float }}"}
            actions:
              action: test.record
              data: {value: "{{ trigger.entity_id }} {{ trigger.for.total_seconds() }}"}
        """
    )
    hub.states.async_set("binary_sensor.one", "off")
    hub.states.async_set("binary_sensor.two", "off")
    hub.states.async_set("binary_sensor.one", "on")
    hub.states.async_set("binary_sensor.two", "on")
    await settle(hub, 0.1)
    hub.states.async_set("binary_sensor.one", "on", {"changed": "attribute"})  # still on
    hub.states.async_set("binary_sensor.two", "off")  # cancels two only
    await settle(hub, 0.3)
    assert rec.values() == ["binary_sensor.one 0.2"]


def test_from_and_not_from_together_is_invalid() -> None:
    with pytest.raises(vol.Invalid, match="use 'from' or 'not_from'"):
        validate_triggers(
            {"trigger": "state", "entity_id": "sensor.a", "from": "x", "not_from": "y"}
        )


async def test_numeric_state_enters_range_once(station: Any) -> None:
    hub, rec = await station(
        """
        automation:
          - mode: parallel
            triggers:
              - {trigger: numeric_state, entity_id: sensor.temp, above: 60, id: plain}
              - {trigger: numeric_state, entity_id: sensor.temp, attribute: board, below: 0,
                 id: attribute}
              - {trigger: numeric_state, entity_id: sensor.temp, above: 60, for: 0.25,
                 id: held}
            actions:
              action: test.record
              data: {value: "{{ trigger.id }} {{ trigger.to_state.state }}"}
        """
    )
    steps = [
        ("61", {"board": 5}),  # entity appears in range: counts as entering it (armed)
        ("65", {"board": 5}),  # still in range: not again
        ("unavailable", {"board": 5}),  # unavailable is out of range: armed again
        ("70", {"board": 5}),
        ("not a number", {"board": 5}),  # an error: no change to armed, cancels `for`
        ("75", {"board": 5}),  # was not re-armed by the error: no firing
        ("75", {}),  # attribute missing: out of range for the attribute trigger
        ("75", {"board": -1}),
    ]
    for state, attributes in steps:
        hub.states.async_set("sensor.temp", state, attributes)
    await settle(hub, 0.4)
    assert rec.values() == ["plain 61", "plain 70", "attribute 75"]
    hub.states.async_set("sensor.temp", "50")
    hub.states.async_set("sensor.temp", "80")
    await settle(hub, 0.4)
    assert rec.values()[3:] == ["plain 80", "held 80"]


async def test_state_and_numeric_conditions(station: Any) -> None:
    hub, rec = await station(
        """
        input_select:
          mode: {options: [eco, fast], initial: fast}
        automation:
          - triggers: {trigger: event, event_type: check}
            conditions:
              - condition: state
                entity_id: sensor.ev
                attribute: plugged
                state: true
              - condition: state
                entity_id: sensor.ev
                state: input_select.mode
              - condition: numeric_state
                entity_id: sensor.ev
                attribute: limit
                above: 15
            actions: {action: test.record, data: {value: ok}}
        """
    )
    cases = [
        ("fast", {"plugged": True, "limit": 16.0}, True),
        ("fast", {"plugged": "true", "limit": 16.0}, False),  # the text "true" is not true
        ("eco", {"plugged": True, "limit": 16.0}, False),  # not input_select.mode's state
        ("fast", {"plugged": True}, False),  # no limit attribute
    ]
    for state, attributes, expected in cases:
        rec.calls.clear()
        hub.states.async_set("sensor.ev", state, attributes)
        hub.bus.async_fire("check")
        await settle(hub)
        assert rec.values() == (["ok"] if expected else []), (state, attributes)
