"""Each trigger kind, driven through real automations in a running station."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from conftest import settle  # type: ignore[import-not-found]

from orge.core import callback
from orge.script.trigger import async_attach_triggers, validate_triggers
from orge.script.trigger_time import next_pattern_time, pattern_sets


async def test_state_trigger_from_to_and_variables(station: Any) -> None:
    hub, rec = await station(
        """
        automation:
          - id: plugged
            triggers:
              - trigger: state
                entity_id: [sensor.charger_state, sensor.other]
                from: idle
                to: [cable_detect, ev_connected]
                id: plug
            actions:
              - action: test.record
                data:
                  value: "{{ trigger.id }}:{{ trigger.entity_id }}:{{ trigger.from_state.state }}>{{ trigger.to_state.state }}"
        """
    )
    hub.states.async_set("sensor.charger_state", "idle")
    hub.states.async_set("sensor.charger_state", "charging")  # not a wanted 'to'
    hub.states.async_set("sensor.charger_state", "idle")
    hub.states.async_set("sensor.charger_state", "ev_connected")
    hub.states.async_set("sensor.other", "idle")
    hub.states.async_set("sensor.other", "cable_detect")
    await settle(hub)
    assert rec.values() == [
        "plug:sensor.charger_state:idle>ev_connected",
        "plug:sensor.other:idle>cable_detect",
    ]


async def test_legacy_platform_spelling_and_attribute(station: Any) -> None:
    hub, rec = await station(
        """
        automation:
          - alias: Limit changed
            trigger:
              - platform: state
                entity_id: sensor.charger
                attribute: limit
            action:
              - service: test.record
                data_template:
                  value: "{{ trigger.to_state.attributes.limit }}"
        """
    )
    hub.states.async_set("sensor.charger", "on", {"limit": 16})
    hub.states.async_set("sensor.charger", "off", {"limit": 16})  # attribute unchanged
    hub.states.async_set("sensor.charger", "off", {"limit": 10})
    await settle(hub)
    assert rec.values() == [16, 10]  # the first write brings the attribute in
    assert hub.states.get("automation.limit_changed").state == "on"


async def test_state_trigger_for_waits_and_cancels(station: Any) -> None:
    hub, rec = await station(
        """
        automation:
          - triggers:
              trigger: state
              entity_id: binary_sensor.fault
              to: "on"
              for: 0.4
            actions:
              action: test.record
              data: {value: "{{ trigger.for.total_seconds() }}"}
        """
    )
    hub.states.async_set("binary_sensor.fault", "off")
    hub.states.async_set("binary_sensor.fault", "on")
    await settle(hub, 0.05)
    hub.states.async_set("binary_sensor.fault", "off")  # too short: cancelled
    await settle(hub, 0.5)
    assert rec.calls == []
    hub.states.async_set("binary_sensor.fault", "on")
    await settle(hub, 0.6)
    assert rec.values() == [0.4]


async def test_numeric_state_fires_on_crossing(station: Any) -> None:
    hub, rec = await station(
        """
        input_number:
          limit: {min: 0, max: 100, initial: 30}
        automation:
          - triggers:
              - trigger: numeric_state
                entity_id: sensor.current
                above: input_number.limit
                below: 40
            actions:
              - action: test.record
                data: {value: "{{ trigger.to_state.state }}"}
          - triggers:
              - trigger: numeric_state
                entity_id: sensor.current
                value_template: "{{ state.attributes.phase_a }}"
                above: 5
            actions:
              - action: test.record
                data: {value: "phase {{ trigger.to_state.attributes.phase_a }}"}
        """
    )
    for value in ("10", "35", "36", "50", "32"):
        hub.states.async_set("sensor.current", value, {"phase_a": 1})
    hub.states.async_set("sensor.current", "32", {"phase_a": 6})
    hub.states.async_set("sensor.current", "not a number", {"phase_a": 7})
    await settle(hub)
    assert rec.values() == [35, 32, "phase 6"]


async def test_event_trigger_matches_data(station: Any) -> None:
    hub, rec = await station(
        """
        automation:
          - triggers:
              - trigger: event
                event_type: [card_read, card_swiped]
                event_data: {reader: front}
            actions:
              - action: test.record
                data: {value: "{{ trigger.event.event_type }} {{ trigger.event.data.uid }}"}
        """
    )
    hub.bus.async_fire("card_read", {"reader": "back", "uid": "1"})
    hub.bus.async_fire("card_read", {"reader": "front", "uid": "2"})
    hub.bus.async_fire("card_swiped", {"reader": "front", "uid": "3"})
    await settle(hub)
    assert rec.values() == ["card_read 2", "card_swiped 3"]


async def test_time_trigger_at_time_and_entity(station: Any) -> None:
    # a whole second at least 1 s ahead, so a slow start-up cannot miss it
    soon = (datetime.now() + timedelta(seconds=2)).replace(microsecond=0)
    at = soon.strftime("%H:%M:%S")
    hub, rec = await station(
        f"""
        input_datetime:
          start: {{has_time: true, initial: "{at}"}}
        automation:
          - triggers:
              - trigger: time
                at: "{at}"
                id: fixed
              - trigger: time
                at: input_datetime.start
                id: helper
            actions:
              - action: test.record
                data: {{value: "{{{{ trigger.id }}}}"}}
        """
    )
    await settle(hub, (soon - datetime.now()).total_seconds() + 0.6)
    assert sorted(rec.values()) == ["fixed", "helper"]


def test_time_pattern_next_times() -> None:
    now = datetime(2026, 1, 1, 10, 14, 59, 500000)
    assert next_pattern_time(now, pattern_sets({"minutes": "/15"})) == datetime(2026, 1, 1, 10, 15)
    assert next_pattern_time(now, pattern_sets({"hours": "3"})) == datetime(2026, 1, 2, 3, 0)
    assert next_pattern_time(now, pattern_sets({"seconds": "/10"})) == datetime(2026, 1, 1, 10, 15)
    assert next_pattern_time(
        now, pattern_sets({"hours": "*", "minutes": "20", "seconds": "5"})
    ) == datetime(2026, 1, 1, 10, 20, 5)


async def test_time_pattern_trigger_fires(station: Any) -> None:
    hub, rec = await station(
        """
        automation:
          - mode: parallel
            triggers: {trigger: time_pattern, seconds: "/1"}
            actions: {action: test.record, data: {value: tick}}
        """
    )
    await settle(hub, 1.3)
    assert rec.values()[:1] == ["tick"]


async def test_template_trigger_becomes_true_with_for(station: Any) -> None:
    hub, rec = await station(
        """
        automation:
          - triggers:
              - trigger: template
                value_template: "{{ states('sensor.power') | float(0) > 7000 }}"
            actions: {action: test.record, data: {value: "high {{ trigger.to_state.state }}"}}
          - triggers:
              - trigger: template
                value_template: "{{ is_state('sensor.charger_state', 'fault') }}"
                for: {seconds: 0.1}
            actions: {action: test.record, data: {value: fault}}
        """
    )
    hub.states.async_set("sensor.power", "7200")
    hub.states.async_set("sensor.power", "7300")  # still true: no new firing
    hub.states.async_set("sensor.power", "100")
    hub.states.async_set("sensor.power", "7100")
    hub.states.async_set("sensor.charger_state", "fault")
    await settle(hub, 0.2)
    assert rec.values() == ["high 7200", "high 7100", "fault"]


async def test_orge_start_and_shutdown_triggers(station: Any) -> None:
    hub, _rec = await station(
        """
        input_boolean:
          started: {}
        automation:
          - triggers: {trigger: orge, event: start}
            actions: {action: input_boolean.turn_on, target: {entity_id: input_boolean.started}}
          - triggers: {platform: homeassistant, event: shutdown}
            actions: {event: saw_shutdown}
        """
    )
    await settle(hub)
    assert hub.states.get("input_boolean.started").state == "on"
    seen: list[str] = []
    hub.bus.async_listen("saw_shutdown", callback(lambda e: seen.append(e.event_type)))
    await hub.async_stop()
    assert seen == ["saw_shutdown"]


async def test_disabled_trigger_and_trigger_condition(station: Any) -> None:
    hub, rec = await station(
        """
        automation:
          - triggers:
              - {trigger: event, event_type: a, id: first}
              - {trigger: event, event_type: b, id: second}
              - {trigger: event, event_type: c, enabled: false}
            conditions:
              - condition: trigger
                id: second
            actions: {action: test.record, data: {value: "{{ trigger.idx }}"}}
        """
    )
    for event in ("a", "b", "c"):
        hub.bus.async_fire(event)
    await settle(hub)
    assert rec.values() == [1]


async def test_attach_triggers_contract(orge: Any) -> None:
    """What the WebSocket subscribe_trigger uses: raw configs, a one-argument action."""
    seen: list[dict[str, Any]] = []
    remove = await async_attach_triggers(
        orge,
        [{"platform": "state", "entity_id": "sensor.x", "to": "on"}],
        callback(lambda variables: seen.append(variables)),
        "websocket",
    )
    orge.states.async_set("sensor.x", "on")
    remove()
    orge.states.async_set("sensor.x", "off")
    orge.states.async_set("sensor.x", "on")
    assert len(seen) == 1 and seen[0]["trigger"]["to_state"].state == "on"
    assert validate_triggers({"trigger": "event", "event_type": "x"})[0]["event_type"] == ["x"]


async def test_template_watcher_rerenders_only_for_what_it_read(orge: Any) -> None:
    from orge.script.tracking import TemplateWatcher
    from orge.template import Template

    results: list[Any] = []
    tpl = Template("{{ states('sensor.a') if is_state('switch.mode', 'on') else 0 }}", orge)
    watcher = TemplateWatcher(orge, tpl, {}, lambda result, _e: results.append(result), "test")
    watcher.start()
    assert watcher.entities == {"switch.mode"}  # sensor.a is not read while mode is off
    orge.states.async_set("sensor.a", "5")
    orge.states.async_set("sensor.unrelated", "1")
    assert results == []
    orge.states.async_set("switch.mode", "on")
    assert results == [5] and watcher.entities == {"switch.mode", "sensor.a"}
    orge.states.async_set("sensor.a", "6")
    assert results == [5, 6]
    watcher.stop()
    orge.states.async_set("sensor.a", "7")
    assert results == [5, 6]
