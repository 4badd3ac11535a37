"""input_select: options, next/previous, set_options, restore."""

from __future__ import annotations

from typing import Any

import pytest

from orge.exceptions import OrgeError
from orge.setup import check_configuration

CONFIG = """
input_select:
  mode:
    options: [eco, normal, boost]
"""


async def test_select_and_restore(config_dir: Any, start_station: Any) -> None:
    path = config_dir(CONFIG)
    hub, _result = await start_station(path)
    target = {"entity_id": "input_select.mode"}
    call = hub.services.async_call
    assert hub.states.get("input_select.mode").state == "eco"
    assert hub.states.get("input_select.mode").attributes["options"] == ["eco", "normal", "boost"]
    await call("input_select", "select_previous", target, blocking=True)  # cycles
    assert hub.states.get("input_select.mode").state == "boost"
    await call("input_select", "select_next", {**target, "cycle": False}, blocking=True)
    assert hub.states.get("input_select.mode").state == "boost"
    await call("input_select", "select_first", target, blocking=True)
    await call("input_select", "select_option", {**target, "option": "normal"}, blocking=True)
    with pytest.raises(OrgeError, match="not one of"):
        await call("input_select", "select_option", {**target, "option": "turbo"}, blocking=True)
    assert hub.states.get("input_select.mode").state == "normal"
    await hub.async_stop()
    hub, _result = await start_station(path)
    assert hub.states.get("input_select.mode").state == "normal"
    await hub.services.async_call(
        "input_select", "set_options", {**target, "options": ["a", "b"]}, blocking=True
    )
    assert hub.states.get("input_select.mode").state == "a"


def test_initial_must_be_an_option(config_dir: Any) -> None:
    path = config_dir("input_select:\n  m:\n    options: [a]\n    initial: b\n")
    (problem,) = check_configuration(str(path)).problems
    assert "not one of the options" in problem
