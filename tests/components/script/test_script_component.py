"""script: services per script, fields, turn_on/off, entity state, reload."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orge.core import callback
from orge.exceptions import OrgeError

CONFIG = """
script:
  stop_session:
    alias: Stop the session
    description: Stop charging and say why
    mode: single
    fields:
      reason:
        description: Why
        required: true
    sequence:
      - action: test.record
        data: {value: "{{ reason }}"}
      - delay: "{{ pause | default(0) }}"
      - action: test.record
        data: {value: "done {{ reason }}"}
"""


async def start(config_dir: Any, start_station: Any, text: str = CONFIG) -> tuple[Any, list, Any]:
    path = config_dir(text)
    hub, _result = await start_station(path)
    calls: list[Any] = []
    hub.services.async_register(
        "test", "record", callback(lambda call: calls.append(call.data["value"]))
    )
    return hub, calls, path


async def test_script_service_fields_and_state(config_dir: Any, start_station: Any) -> None:
    hub, calls, _path = await start(config_dir, start_station)
    assert hub.states.get("script.stop_session").attributes["friendly_name"] == "Stop the session"
    description = hub.services.services["script"]["stop_session"].description
    assert description["fields"]["reason"]["required"] is True
    await hub.services.async_call("script", "stop_session", {"reason": "fault"}, blocking=True)
    assert calls == ["fault", "done fault"]
    with pytest.raises(OrgeError, match="needs field 'reason'"):
        await hub.services.async_call("script", "stop_session", {}, blocking=True)
    await hub.services.async_call(
        "script",
        "turn_on",
        {"entity_id": "script.stop_session", "variables": {"reason": "late", "pause": 5}},
        blocking=True,
    )
    await asyncio.sleep(0.02)
    assert hub.states.get("script.stop_session").state == "on"
    await hub.services.async_call(
        "script", "turn_off", {"entity_id": "script.stop_session"}, blocking=True
    )
    await hub.async_block_till_done()
    assert hub.states.get("script.stop_session").state == "off"
    assert calls[-1] == "late"  # cancelled during the delay
    answer = await hub.services.async_call(
        "script", "get_traces", {}, blocking=True, return_response=True
    )
    runs = answer["traces"]["script.stop_session"]
    assert [run["script_execution"] for run in runs] == ["finished", "cancelled"]
    assert runs[0]["steps"][0]["path"] == "action/0"


async def test_reload_and_broken_reload(config_dir: Any, start_station: Any) -> None:
    hub, calls, path = await start(config_dir, start_station)
    (path / "configuration.yaml").write_text(
        "script:\n  other:\n    sequence:\n      - action: test.record\n        data: {value: x}\n"
    )
    await hub.services.async_call("script", "reload", {}, blocking=True)
    assert not hub.services.has_service("script", "stop_session")
    await hub.services.async_call("script", "other", {}, blocking=True)
    assert calls == ["x"]
    (path / "configuration.yaml").write_text("script:\n  other:\n    sequence:\n      - nope: 1\n")
    with pytest.raises(OrgeError, match="configuration.yaml, line 4"):
        await hub.services.async_call("script", "reload", {}, blocking=True)
    assert hub.services.has_service("script", "other")


async def test_automation_calls_script_with_response(config_dir: Any, start_station: Any) -> None:
    hub, calls, _path = await start(
        config_dir,
        start_station,
        """
        script:
          limit:
            sequence:
              - variables: {answer: {amps: "{{ amps * 2 }}"}}
              - stop: ok
                response_variable: answer
        automation:
          - triggers: {trigger: event, event_type: go}
            actions:
              - action: script.limit
                data: {amps: 8}
                response_variable: result
              - action: test.record
                data: {value: "{{ result.amps }}"}
        """,
    )
    hub.bus.async_fire("go")
    await hub.async_block_till_done()
    assert calls == [16]
