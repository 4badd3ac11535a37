"""input_boolean: services, initial, restore across a restart."""

from __future__ import annotations

from typing import Any

import pytest

from orge.exceptions import OrgeError

CONFIG = """
input_boolean:
  free_charging:
    name: Free charging
  maintenance:
    initial: true
"""


async def test_services_and_restore(config_dir: Any, start_station: Any) -> None:
    path = config_dir(CONFIG)
    hub, _result = await start_station(path)
    assert hub.states.get("input_boolean.free_charging").state == "off"
    assert (
        hub.states.get("input_boolean.free_charging").attributes["friendly_name"] == "Free charging"
    )
    assert hub.states.get("input_boolean.maintenance").state == "on"
    call = hub.services.async_call
    await call(
        "input_boolean", "turn_on", {"entity_id": "input_boolean.free_charging"}, blocking=True
    )
    await call("input_boolean", "toggle", {"entity_id": "input_boolean.maintenance"}, blocking=True)
    assert hub.states.get("input_boolean.free_charging").state == "on"
    assert hub.states.get("input_boolean.maintenance").state == "off"
    with pytest.raises(OrgeError, match="not an input_boolean"):
        await call("input_boolean", "turn_on", {"entity_id": "input_boolean.nope"}, blocking=True)
    await hub.async_stop()
    assert (path / ".storage" / "restore_state.db").is_file()

    hub, _result = await start_station(path)
    assert hub.states.get("input_boolean.free_charging").state == "on"  # restored
    assert hub.states.get("input_boolean.maintenance").state == "on"  # initial wins


def test_schema_rejects_bad_names(config_dir: Any) -> None:
    from orge.setup import check_configuration

    path = config_dir("input_boolean:\n  Not A Slug: {}\n")
    (problem,) = check_configuration(str(path)).problems
    assert "configuration.yaml" in problem and "slug" in problem


async def test_corrupt_restore_file_is_reported_not_fatal(
    config_dir: Any, start_station: Any, caplog: Any
) -> None:
    path = config_dir(CONFIG)
    (path / ".storage").mkdir()
    (path / ".storage" / "restore_state.db").write_bytes(b"this is not a database" * 100)
    hub, _result = await start_station(path)
    assert "starting without restored states" in caplog.text
    assert hub.states.get("input_boolean.free_charging").state == "off"
    assert list((path / ".storage").glob("restore_state.db.unreadable-*"))  # kept aside
    await hub.services.async_call(
        "input_boolean", "turn_on", {"entity_id": "input_boolean.free_charging"}, blocking=True
    )
    await hub.async_stop()
    hub, _result = await start_station(path)  # a fresh file works again
    assert hub.states.get("input_boolean.free_charging").state == "on"
