"""Each action kind and each run mode, through scripts and automations in a station."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from conftest import settle  # type: ignore[import-not-found]


async def call_script(hub: Any, name: str, **data: Any) -> Any:
    return await hub.services.async_call("script", name, data, blocking=True, return_response=True)


async def test_service_calls_both_spellings_target_and_response(station: Any) -> None:
    hub, rec = await station(
        """
        script:
          calls:
            fields:
              amps: {default: 16}
            sequence:
              - action: test.record
                target: {entity_id: "sensor.{{ 'charger' }}"}
                data: {value: "{{ amps }}"}
              - service: test.record
                entity_id: sensor.legacy
                data_template: {value: "{{ amps * 2 }}"}
              - action: test.answer
                data: {q: 1}
                response_variable: answer
              - action: "test.{{ 'record' }}"
                data: {value: "{{ answer.value }}"}
              - variables: {out: {answer: "{{ answer.value }}", amps: "{{ amps }}"}}
              - stop: done
                response_variable: out
        """
    )
    response = await call_script(hub, "calls", amps=20)
    assert response == {"answer": 42, "amps": 20}
    assert rec.calls == [
        {"value": 20, "entity_id": "sensor.charger"},
        {"value": 40, "entity_id": "sensor.legacy"},
        {"value": 42},
    ]


async def test_delay_event_condition_and_stop(station: Any) -> None:
    hub, rec = await station(
        """
        script:
          flow:
            sequence:
              - delay: {milliseconds: 30}
              - event: charging_flow
                event_data: {step: "{{ 1 + 1 }}"}
              - condition: state
                entity_id: sensor.gate
                state: open
              - action: test.record
                data: {value: passed}
              - stop: Gate test over
                error: true
              - action: test.record
                data: {value: never}
        """
    )
    events: list[Any] = []
    from orge.core import callback

    hub.bus.async_listen("charging_flow", callback(lambda e: events.append(dict(e.data))))
    hub.states.async_set("sensor.gate", "closed")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await call_script(hub, "flow")
    assert loop.time() - started >= 0.03
    assert events == [{"step": 2}] and rec.calls == []
    hub.states.async_set("sensor.gate", "open")
    await call_script(hub, "flow")
    assert rec.values() == ["passed"]
    traces = hub.data["script"].traces.get("script.flow")
    assert [t.script_execution for t in traces] == ["failed_conditions", "error"]
    assert traces[-1].error == "Gate test over"


async def test_choose_if_and_sequence(station: Any) -> None:
    hub, rec = await station(
        """
        script:
          pick:
            sequence:
              - choose:
                  - conditions: "{{ level == 'low' }}"
                    sequence: {action: test.record, data: {value: low}}
                  - conditions:
                      - condition: template
                        value_template: "{{ level == 'high' }}"
                    sequence: {action: test.record, data: {value: high}}
                default:
                  - action: test.record
                    data: {value: default}
              - if: "{{ level == 'high' }}"
                then:
                  - sequence:
                      - action: test.record
                        data: {value: then}
                else:
                  - action: test.record
                    data: {value: else}
        """
    )
    for level in ("low", "high", "other"):
        await call_script(hub, "pick", level=level)
    assert rec.values() == ["low", "else", "high", "then", "default", "else"]


async def test_repeat_kinds(station: Any) -> None:
    hub, rec = await station(
        """
        input_number:
          n: {min: 0, max: 10, initial: 0}
        script:
          loops:
            sequence:
              - repeat:
                  count: "{{ 1 + 1 }}"
                  sequence: {action: test.record, data: {value: "c{{ repeat.index }}{{ repeat.last }}"}}
              - repeat:
                  for_each: [a, b]
                  sequence: {action: test.record, data: {value: "{{ repeat.item }}"}}
              - repeat:
                  while: "{{ states('input_number.n') | int < 2 }}"
                  sequence: {action: input_number.increment, target: {entity_id: input_number.n}}
              - repeat:
                  until: "{{ states('input_number.n') | int >= 4 }}"
                  sequence: {action: input_number.increment, target: {entity_id: input_number.n}}
              - action: test.record
                data: {value: "n={{ states('input_number.n') }}"}
        """
    )
    await call_script(hub, "loops")
    assert rec.values() == ["c1False", "c2True", "a", "b", "n=4"]


async def test_wait_template_and_wait_for_trigger(station: Any) -> None:
    hub, rec = await station(
        """
        script:
          waits:
            sequence:
              - wait_template: "{{ is_state('sensor.ev', 'connected') }}"
                timeout: 2
              - action: test.record
                data: {value: "template {{ wait.completed }}"}
              - wait_for_trigger:
                  - trigger: event
                    event_type: card
                timeout: 2
              - action: test.record
                data: {value: "card {{ wait.trigger.event.data.uid }}"}
              - wait_template: "{{ false }}"
                timeout: 0.05
              - action: test.record
                data: {value: "timed out {{ wait.completed }}"}
              - wait_template: "{{ false }}"
                timeout: 0.05
                continue_on_timeout: false
              - action: test.record
                data: {value: never}
        """
    )
    task = asyncio.ensure_future(call_script(hub, "waits"))
    await asyncio.sleep(0.05)
    assert rec.calls == []
    hub.states.async_set("sensor.ev", "connected")
    await asyncio.sleep(0.05)
    hub.bus.async_fire("card", {"uid": "04AB"})
    await asyncio.wait_for(task, 3)
    assert rec.values() == ["template True", "card 04AB", "timed out False"]


async def test_parallel_and_continue_on_error(station: Any) -> None:
    hub, rec = await station(
        """
        script:
          both:
            sequence:
              - parallel:
                  - sequence:
                      - delay: 0.05
                      - action: test.record
                        data: {value: slow}
                  - action: test.record
                    data: {value: fast}
              - action: test.fail
                continue_on_error: true
              - action: test.record
                data: {value: after}
              - action: test.fail
              - action: test.record
                data: {value: never}
        """
    )
    await call_script(hub, "both")
    assert rec.values() == ["fast", "slow", "after"]
    (trace,) = hub.data["script"].traces.get("script.both")
    assert trace.script_execution == "error"
    errors = [step for step in trace.as_dict()["steps"] if step["error"]]
    assert [step["path"] for step in errors] == ["action/1", "action/3"]
    assert "the device refused" in errors[0]["error"]


MODES = """
automation:
  - id: runner
    mode: {mode}
    max: 2
    triggers: {{trigger: event, event_type: go}}
    actions:
      - action: test.record
        data: {{value: "start {{{{ trigger.event.data.n }}}}"}}
      - delay: 0.1
      - action: test.record
        data: {{value: "end {{{{ trigger.event.data.n }}}}"}}
"""


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("single", ["start 1", "end 1"]),
        ("restart", ["start 1", "start 2", "start 3", "end 3"]),
        ("queued", ["start 1", "end 1", "start 2", "end 2"]),
        ("parallel", ["start 1", "start 2", "end 1", "end 2"]),
    ],
)
async def test_run_modes(station: Any, caplog: Any, mode: str, expected: list[str]) -> None:
    hub, rec = await station(MODES.format(mode=mode))
    caplog.set_level(logging.WARNING)
    for n in (1, 2, 3):
        hub.bus.async_fire("go", {"n": n})
        await asyncio.sleep(0.01)
    await settle(hub, 0.35)
    assert rec.values() == expected
    if mode in ("single", "queued", "parallel"):
        assert "automation.runner" in caplog.text and (
            "Already running" in caplog.text or "Maximum number of runs" in caplog.text
        )


async def test_invalid_action_refused(station: Any) -> None:
    from orge.script.action_schema import validate_actions

    with pytest.raises(Exception, match="unable to determine action"):
        validate_actions([{"frobnicate": 1}])
    with pytest.raises(Exception, match="does not match format"):
        validate_actions([{"action": "not a service"}])
    hub, rec = await station("script:\n  s:\n    sequence:\n      - action: test.fail\n")
    # The run fails and is traced; the hub keeps serving.
    assert await call_script(hub, "s") is None
    (trace,) = hub.data["script"].traces.get("script.s")
    assert trace.script_execution == "error" and "the device refused" in trace.error
    await hub.services.async_call("test", "record", {"value": 1}, blocking=True)
    assert rec.values() == [1]
