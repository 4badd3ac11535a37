"""input_datetime: formats, attributes, set_datetime, restore, use in a time trigger."""

from __future__ import annotations

from typing import Any

import pytest

from orge.exceptions import OrgeError

CONFIG = """
input_datetime:
  free_from:
    has_time: true
    initial: "22:00"
  tariff_change:
    has_date: true
    has_time: true
  holiday:
    has_date: true
"""


async def test_values_services_and_restore(config_dir: Any, start_station: Any) -> None:
    path = config_dir(CONFIG)
    hub, _result = await start_station(path)
    state = hub.states.get("input_datetime.free_from")
    assert state.state == "22:00:00"
    assert (state.attributes["hour"], state.attributes["minute"]) == (22, 0)
    assert state.attributes["timestamp"] == 22 * 3600
    assert hub.states.get("input_datetime.holiday").state == "unknown"
    call = hub.services.async_call
    await call(
        "input_datetime",
        "set_datetime",
        {"entity_id": "input_datetime.tariff_change", "datetime": "2026-03-01 06:30:00"},
        blocking=True,
    )
    await call(
        "input_datetime",
        "set_datetime",
        {"entity_id": "input_datetime.holiday", "date": "2026-12-25"},
        blocking=True,
    )
    tariff = hub.states.get("input_datetime.tariff_change")
    assert tariff.state == "2026-03-01 06:30:00" and tariff.attributes["day"] == 1
    assert tariff.attributes["timestamp"] == 1772346600.0  # UTC station
    with pytest.raises(OrgeError, match="Invalid date/time"):
        await call(
            "input_datetime",
            "set_datetime",
            {"entity_id": "input_datetime.holiday", "date": "christmas"},
            blocking=True,
        )
    await call(
        "input_datetime",
        "set_datetime",
        {"entity_id": "input_datetime.free_from", "time": "23:15"},
        blocking=True,
    )
    await hub.async_stop()
    hub, _result = await start_station(path)
    assert hub.states.get("input_datetime.tariff_change").state == "2026-03-01 06:30:00"
    assert hub.states.get("input_datetime.holiday").state == "2026-12-25"
    assert hub.states.get("input_datetime.free_from").state == "22:00:00"  # initial wins
