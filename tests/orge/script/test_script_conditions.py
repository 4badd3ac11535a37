"""Each condition kind, in automations of a running station."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from conftest import settle  # type: ignore[import-not-found]

from orge.script.condition import CONDITIONS_SCHEMA, time_matches


async def test_state_numeric_template_and_logic(station: Any) -> None:
    hub, rec = await station(
        """
        input_select:
          mode: {options: [eco, fast], initial: fast}
        automation:
          - triggers: {trigger: event, event_type: check}
            conditions:
              - condition: state
                entity_id: [sensor.charger_state, sensor.second]
                state: [ev_connected, charging]
              - condition: numeric_state
                entity_id: sensor.current
                above: 6
                below: 32
              - "{{ trigger.event.data.ok }}"
              - or:
                  - condition: state
                    entity_id: sensor.second
                    state: input_select.mode
                  - not:
                      - condition: template
                        value_template: "{{ is_state('binary_sensor.fault', 'off') }}"
              - condition: state
                entity_id: sensor.charger_state
                attribute: phases
                state: 3
            actions: {action: test.record, data: {value: "{{ trigger.event.data.n }}"}}
        """
    )
    hub.states.async_set("sensor.charger_state", "charging", {"phases": 3})
    hub.states.async_set("sensor.second", "ev_connected")
    hub.states.async_set("sensor.current", "16")
    hub.states.async_set("binary_sensor.fault", "off")
    # conditions are checked in the run's task: settle before changing states again
    hub.bus.async_fire("check", {"ok": True, "n": 1})  # second is not 'fast', fault off: or fails
    await settle(hub)
    hub.states.async_set("binary_sensor.fault", "on")
    hub.bus.async_fire("check", {"ok": True, "n": 2})  # not(fault off) holds
    await settle(hub)
    hub.bus.async_fire("check", {"ok": False, "n": 3})  # shorthand template false
    await settle(hub)
    hub.states.async_set("sensor.current", "40")
    hub.bus.async_fire("check", {"ok": True, "n": 4})  # numeric above range
    await settle(hub)
    assert rec.values() == [2]
    traces = await hub.services.async_call(
        "automation", "get_traces", {}, blocking=True, return_response=True
    )
    runs = next(iter(traces["traces"].values()))
    assert [t["script_execution"] for t in runs] == [
        "failed_conditions",
        "finished",
        "failed_conditions",
        "failed_conditions",
    ]


async def test_state_condition_for_and_match_any(station: Any) -> None:
    hub, rec = await station(
        """
        automation:
          - triggers: {trigger: event, event_type: check}
            conditions:
              - condition: state
                entity_id: [sensor.a, sensor.b]
                match: any
                state: "on"
                for: 0.3
            actions: {action: test.record, data: {value: ok}}
        """
    )
    hub.states.async_set("sensor.a", "on")
    hub.states.async_set("sensor.b", "off")
    hub.bus.async_fire("check")
    await settle(hub, 0.4)
    hub.bus.async_fire("check")
    await settle(hub)
    assert rec.values() == ["ok"]


async def test_time_condition_in_automation(station: Any) -> None:
    hub, rec = await station(
        """
        automation:
          - triggers: {trigger: event, event_type: check}
            conditions:
              - condition: time
                after: "00:00:00"
                before: "23:59:59"
                weekday: [mon, tue, wed, thu, fri, sat, sun]
            actions: {action: test.record, data: {value: in}}
          - triggers: {trigger: event, event_type: check}
            conditions: {condition: time, weekday: []}
            actions: {action: test.record, data: {value: never}}
        """
    )
    hub.bus.async_fire("check")
    await settle(hub)
    assert rec.values() == ["in"]


async def test_time_windows_and_helper_entities(orge: Any) -> None:
    (night,) = CONDITIONS_SCHEMA({"condition": "time", "after": "22:00", "before": "06:00"})
    assert time_matches(orge, night, datetime(2026, 1, 5, 23, 30))
    assert time_matches(orge, night, datetime(2026, 1, 5, 5, 59))
    assert not time_matches(orge, night, datetime(2026, 1, 5, 12, 0))
    (weekend,) = CONDITIONS_SCHEMA({"condition": "time", "weekday": ["sat", "sun"]})
    assert time_matches(orge, weekend, datetime(2026, 1, 3, 12, 0))  # a Saturday
    assert not time_matches(orge, weekend, datetime(2026, 1, 5, 12, 0))
    orge.states.async_set(
        "input_datetime.from",
        "08:00:00",
        {"has_time": True, "has_date": False, "hour": 8, "minute": 0, "second": 0},
    )
    (helper,) = CONDITIONS_SCHEMA({"condition": "time", "after": "input_datetime.from"})
    assert time_matches(orge, helper, datetime(2026, 1, 5, 9, 0))
    assert not time_matches(orge, helper, datetime(2026, 1, 5, 7, 0))


def test_condition_schema_errors() -> None:
    import voluptuous as vol

    with pytest.raises(vol.Invalid, match="unknown condition 'sometimes'"):
        CONDITIONS_SCHEMA([{"condition": "sometimes"}])
    with pytest.raises(vol.Invalid, match="at least one of above, below"):
        CONDITIONS_SCHEMA({"condition": "numeric_state", "entity_id": "sensor.x"})
    with pytest.raises(vol.Invalid, match="invalid template"):
        CONDITIONS_SCHEMA("{{ broken(")
