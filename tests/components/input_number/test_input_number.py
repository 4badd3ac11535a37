"""input_number: range checks, increment/decrement, restore."""

from __future__ import annotations

from typing import Any

import pytest

from orge.exceptions import OrgeError
from orge.setup import check_configuration

CONFIG = """
input_number:
  current_limit:
    min: 6
    max: 32
    step: 2
    unit_of_measurement: A
"""


async def test_set_step_and_restore(config_dir: Any, start_station: Any) -> None:
    path = config_dir(CONFIG)
    hub, _result = await start_station(path)
    state = hub.states.get("input_number.current_limit")
    assert state.state == "6" and state.attributes["unit_of_measurement"] == "A"
    assert state.attributes["min"] == 6 and state.attributes["max"] == 32
    call = hub.services.async_call
    target = {"entity_id": "input_number.current_limit"}
    await call("input_number", "set_value", {**target, "value": 30}, blocking=True)
    await call("input_number", "increment", target, blocking=True)
    assert hub.states.get("input_number.current_limit").state == "32"
    await call("input_number", "increment", target, blocking=True)  # capped at max
    await call("input_number", "decrement", target, blocking=True)
    assert hub.states.get("input_number.current_limit").state == "30"
    with pytest.raises(OrgeError, match="outside 6..32"):
        await call("input_number", "set_value", {**target, "value": 40}, blocking=True)
    await hub.async_stop()
    hub, _result = await start_station(path)
    assert hub.states.get("input_number.current_limit").state == "30"


def test_bad_range_reported(config_dir: Any) -> None:
    path = config_dir("input_number:\n  x:\n    min: 10\n    max: 5\n")
    (problem,) = check_configuration(str(path)).problems
    assert "must be above min" in problem and "line" in problem


async def test_reload_keeps_value_and_refuses_a_broken_file(
    config_dir: Any, start_station: Any
) -> None:
    path = config_dir(CONFIG)
    hub, _result = await start_station(path)
    await hub.services.async_call(
        "input_number",
        "set_value",
        {"entity_id": "input_number.current_limit", "value": 20},
        blocking=True,
    )
    (path / "configuration.yaml").write_text(
        "input_number:\n  current_limit: {min: 6, max: 40}\n  price: {min: 0, max: 1, step: 0.01}\n"
    )
    await hub.services.async_call("input_number", "reload", {}, blocking=True)
    state = hub.states.get("input_number.current_limit")
    assert state.state == "20" and state.attributes["max"] == 40  # value kept, options new
    assert hub.states.get("input_number.price").state == "0.0"  # a float, as in HA
    (path / "configuration.yaml").write_text("input_number:\n  current_limit: {min: 6}\n")
    with pytest.raises(OrgeError, match="configuration.yaml, line 2"):
        await hub.services.async_call("input_number", "reload", {}, blocking=True)
    assert hub.states.get("input_number.price").state == "0.0"  # kept as it was
    await hub.services.async_call(
        "input_number", "increment", {"entity_id": "input_number.current_limit"}, blocking=True
    )
    assert hub.states.get("input_number.current_limit").state == "21"
