"""The automation component: entities, services, traces, reload, errors, restore."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from orge.cli import main as orge_main
from orge.exceptions import OrgeError
from orge.setup import check_configuration

BASIC = """
automation: !include automations.yaml
"""

AUTOMATIONS = """
- id: plug_in
  alias: Vehicle plugged in
  description: Record plug-ins
  triggers:
    - trigger: state
      entity_id: sensor.charger_state
      to: ev_connected
  actions:
    - action: test.record
      data: {value: "{{ trigger.to_state.state }}"}
- alias: Manual only
  initial_state: false
  trace: {stored_traces: 2}
  triggers: {trigger: event, event_type: never}
  actions:
    - action: test.record
      data: {value: "manual {{ trigger.platform }}"}
"""


async def traces(hub: Any, entity_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
    data = {"entity_id": entity_id} if entity_id else {}
    answer = await hub.services.async_call(
        "automation", "get_traces", data, blocking=True, return_response=True
    )
    return answer["traces"]


async def test_entities_attributes_and_traces(station: Any) -> None:
    hub, fakes, _path = await station(BASIC, **{"automations.yaml": AUTOMATIONS})
    state = hub.states.get("automation.plug_in")
    assert state.state == "on"
    assert state.attributes["friendly_name"] == "Vehicle plugged in"
    assert state.attributes["id"] == "plug_in" and state.attributes["mode"] == "single"
    assert state.attributes["last_triggered"] is None and state.attributes["current"] == 0
    assert hub.states.get("automation.manual_only").state == "off"
    for _ in range(7):
        hub.states.async_set("sensor.charger_state", "idle")
        hub.states.async_set("sensor.charger_state", "ev_connected")
        await hub.async_block_till_done()
    assert len(fakes.calls) == 7
    assert hub.states.get("automation.plug_in").attributes["last_triggered"] is not None
    found = await traces(hub, "automation.plug_in")
    runs = found["automation.plug_in"]
    assert len(runs) == 5  # the last 5 runs are kept
    run = runs[-1]
    assert run["trigger"] == "state of sensor.charger_state"
    assert run["state"] == "stopped" and run["script_execution"] == "finished"
    assert run["start"] <= run["finish"] and run["error"] is None
    assert [s["path"] for s in run["steps"]] == ["trigger/0", "action/0"]
    step = run["steps"][1]
    assert step["result"]["data"] == {"value": "ev_connected"}
    assert step["elapsed_ms"] >= 0 and step["timestamp"]
    assert set(await traces(hub)) == {"automation.plug_in", "automation.manual_only"}
    for _ in range(3):
        await hub.services.async_call(
            "automation", "trigger", {"entity_id": "automation.manual_only"}, blocking=True
        )
    assert len((await traces(hub))["automation.manual_only"]) == 2  # trace: stored_traces
    # the run's context has the state write that triggered it as parent
    assert run["context"]["parent_id"] == hub.states.get("sensor.charger_state").context.id


async def test_services_trigger_turn_on_off_toggle(station: Any) -> None:
    hub, fakes, _path = await station(BASIC, **{"automations.yaml": AUTOMATIONS})
    call = hub.services.async_call
    await call("automation", "trigger", {"entity_id": "automation.manual_only"}, blocking=True)
    assert fakes.calls == [("test.record", {"value": "manual None"})]
    await call("automation", "turn_off", {"entity_id": "automation.plug_in"}, blocking=True)
    assert hub.states.get("automation.plug_in").state == "off"
    hub.states.async_set("sensor.charger_state", "ev_connected")
    await hub.async_block_till_done()
    assert len(fakes.calls) == 1
    await call("automation", "toggle", {"entity_id": "automation.plug_in"}, blocking=True)
    assert hub.states.get("automation.plug_in").state == "on"
    hub.states.async_set("sensor.charger_state", "idle")
    hub.states.async_set("sensor.charger_state", "ev_connected")
    await hub.async_block_till_done()
    assert len(fakes.calls) == 2
    await call("automation", "turn_on", {"entity_id": "automation.manual_only"}, blocking=True)
    assert hub.states.get("automation.manual_only").state == "on"
    with pytest.raises(OrgeError, match="not found"):
        await call("automation", "turn_on", {"entity_id": "automation.nope"}, blocking=True)


async def test_reload_and_broken_reload_keeps_running(station: Any, caplog: Any) -> None:
    hub, fakes, path = await station(BASIC, **{"automations.yaml": AUTOMATIONS})
    (path / "automations.yaml").write_text(
        "- id: replaced\n  triggers: {trigger: event, event_type: ping}\n"
        "  actions: {action: test.record, data: {value: pong}}\n"
    )
    await hub.services.async_call("automation", "reload", {}, blocking=True)
    assert hub.states.get("automation.plug_in") is None
    assert hub.states.get("automation.replaced").state == "on"
    hub.bus.async_fire("ping")
    await hub.async_block_till_done()
    assert fakes.calls == [("test.record", {"value": "pong"})]

    (path / "automations.yaml").write_text(
        "- id: broken\n  triggers: {trigger: sometimes}\n  actions: {action: test.record}\n"
    )
    caplog.set_level(logging.ERROR)
    with pytest.raises(OrgeError, match="automations.yaml, line 2") as err:
        await hub.services.async_call("automation", "reload", {}, blocking=True)
    assert "unknown trigger platform 'sometimes'" in str(err.value)
    assert "kept" in caplog.text
    note = hub.states.get("persistent_notification.automation_reload_failed")
    assert note is not None and "line 2" in note.attributes["message"]
    hub.bus.async_fire("ping")  # the old automation still runs
    await hub.async_block_till_done()
    assert len(fakes.calls) == 2

    (path / "automations.yaml").write_text("- id: x\n  triggers: [\n")  # not even YAML
    with pytest.raises(OrgeError, match="invalid YAML"):
        await hub.services.async_call("automation", "reload", {}, blocking=True)
    assert hub.states.get("automation.replaced").state == "on"


async def test_runtime_template_error_is_logged_with_place(station: Any, caplog: Any) -> None:
    hub, fakes, _path = await station(
        """
        automation:
          - id: fragile
            triggers: {trigger: event, event_type: go}
            actions:
              - action: test.record
                data:
                  value: "{{ trigger.event.data.amps | float / 0 }}"
        """
    )
    caplog.set_level(logging.ERROR)
    hub.bus.async_fire("go", {"amps": 16})
    await hub.async_block_till_done()
    assert fakes.calls == []
    assert "configuration.yaml, line 8" in caplog.text and "ZeroDivisionError" in caplog.text
    (run,) = (await traces(hub, "automation.fragile"))["automation.fragile"]
    assert run["script_execution"] == "error" and "line 8" in run["error"]
    assert run["steps"][-1]["error"]
    hub.states.async_set("sensor.alive", "yes")  # the hub carries on
    assert hub.states.get("sensor.alive").state == "yes"


async def test_invalid_automation_is_skipped_others_run(station: Any, caplog: Any) -> None:
    caplog.set_level(logging.ERROR)
    hub, _fakes, _path = await station(
        """
        automation:
          - id: good
            triggers: {trigger: event, event_type: go}
            actions: {action: test.record}
          - id: bad
            triggers: {trigger: state, entity_id: sensor.x, for: "soon"}
            actions: {action: test.record}
        """
    )
    assert hub.states.get("automation.good").state == "on"
    assert hub.states.get("automation.bad") is None
    assert "configuration.yaml, line 7" in caplog.text


async def test_on_off_and_last_triggered_survive_restart(station: Any, start_station: Any) -> None:
    hub, _fakes, path = await station(BASIC, **{"automations.yaml": AUTOMATIONS})
    await hub.services.async_call(
        "automation", "turn_off", {"entity_id": "automation.plug_in"}, blocking=True
    )
    await hub.services.async_call(
        "automation", "trigger", {"entity_id": "automation.plug_in"}, blocking=True
    )
    last = hub.states.get("automation.plug_in").attributes["last_triggered"]
    await hub.async_stop()
    hub2, _result = await start_station(path)
    state = hub2.states.get("automation.plug_in")
    assert state.state == "off" and state.attributes["last_triggered"] == last
    assert hub2.states.get("automation.manual_only").state == "off"  # initial_state wins


CHECKS = {
    "unknown trigger platform": (
        "- id: a\n  triggers:\n    - trigger: sometimes\n  actions: {action: test.x}\n",
        "automations.yaml, line 3",
        "unknown trigger platform 'sometimes'",
    ),
    "bad for duration": (
        "- id: a\n  triggers:\n    - trigger: state\n      entity_id: sensor.x\n"
        "      for: a while\n  actions: {action: test.x}\n",
        "automations.yaml, line 5",
        "should be format",
    ),
    "template syntax error": (
        "- id: a\n  triggers: {trigger: event, event_type: x}\n  actions:\n"
        "    - action: test.x\n      data:\n        value: \"{{ states('x' }}\"\n",
        "automations.yaml, line 6",
        "invalid template",
    ),
    "service name format": (
        "- id: a\n  triggers: {trigger: event, event_type: x}\n  actions:\n"
        "    - action: not_a_service\n",
        "automations.yaml, line 4",
        "does not match format <domain>.<name>",
    ),
    "legacy keys": (
        "- id: a\n  trigger:\n    - platform: nothing\n  action: {service: test.x}\n",
        "automations.yaml, line 3",
        "unknown trigger platform 'nothing'",
    ),
}


@pytest.mark.parametrize("case", list(CHECKS))
def test_check_config_reports_file_and_line(config_dir: Any, case: str, capsys: Any) -> None:
    text, where, what = CHECKS[case]
    path = config_dir(BASIC, **{"automations.yaml": text})
    problems = check_configuration(str(path)).problems
    assert len(problems) == 1, problems
    assert where in problems[0] and what in problems[0]
    assert orge_main(["check-config", "-c", str(path)]) == 1
    assert where in capsys.readouterr().out


def test_check_config_accepts_a_valid_file(config_dir: Any) -> None:
    path = config_dir(BASIC, **{"automations.yaml": AUTOMATIONS})
    assert check_configuration(str(path)).problems == []


def test_check_config_lists_every_problem_of_an_automation(config_dir: Any) -> None:
    text = (
        "- id: a\n  triggers:\n    - trigger: sometimes\n    - trigger: state\n"
        "      entity_id: sensor.x\n      for: soon\n  actions:\n"
        '    - action: test.x\n      data: {value: "{{ 1 | no_filter }}"}\n'
        "    - action: bad\n"
    )
    path = config_dir(BASIC, **{"automations.yaml": text})
    problems = check_configuration(str(path)).problems
    assert [p.split(": ")[0].rsplit(" ", 1)[-1] for p in problems] == ["3", "6", "9", "10"]
    assert "No filter named 'no_filter'" in problems[2]
