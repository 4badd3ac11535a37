"""timer: start/pause/change/cancel/finish with events, and restore across a restart."""

from __future__ import annotations

from typing import Any

from orge.core import callback
from orge.testing import async_fire_time_changed

CONFIG = """
timer:
  session:
    duration: 0.2
  plain:
    restore: false
"""


async def test_lifecycle_and_events(config_dir: Any, start_station: Any) -> None:
    hub, _result = await start_station(config_dir(CONFIG))
    events: list[str] = []
    for name in ("started", "restarted", "paused", "cancelled", "finished"):
        hub.bus.async_listen(f"timer.{name}", callback(lambda e: events.append(e.event_type)))
    target = {"entity_id": "timer.session"}
    call = hub.services.async_call
    assert hub.states.get("timer.session").attributes["duration"] == "0:00:00"
    await call("timer", "start", target, blocking=True)
    assert hub.states.get("timer.session").state == "active"
    await async_fire_time_changed(hub, 0.3)
    assert hub.states.get("timer.session").state == "idle"
    await call("timer", "start", {**target, "duration": 10}, blocking=True)
    await call("timer", "start", target, blocking=True)
    await call("timer", "pause", target, blocking=True)
    paused = hub.states.get("timer.session")
    assert paused.state == "paused" and paused.attributes["remaining"] == "0:00:10"
    await call("timer", "start", target, blocking=True)
    await call("timer", "change", {**target, "duration": 5}, blocking=True)
    assert hub.states.get("timer.session").attributes["remaining"] in ("0:00:15", "0:00:14")
    await call("timer", "cancel", target, blocking=True)
    await call("timer", "start", target, blocking=True)
    await call("timer", "finish", target, blocking=True)
    assert events == [
        "timer.started",
        "timer.finished",
        "timer.started",
        "timer.restarted",
        "timer.paused",
        "timer.started",
        "timer.cancelled",
        "timer.started",
        "timer.finished",
    ]


async def test_restore_running_and_expired(
    config_dir: Any, start_station: Any, orge_clock: Any
) -> None:
    path = config_dir(CONFIG)
    hub, _result = await start_station(path)
    await hub.services.async_call(
        "timer",
        "start",
        {"entity_id": ["timer.session", "timer.plain"], "duration": 30},
        blocking=True,
    )
    await hub.async_stop()
    hub, _result = await start_station(path)
    assert hub.states.get("timer.session").state == "active"  # resumed
    assert hub.states.get("timer.plain").state == "idle"  # restore: false
    await hub.services.async_call(
        "timer", "start", {"entity_id": "timer.session", "duration": 0.2}, blocking=True
    )
    await hub.async_stop()
    orge_clock.advance(0.3)  # runs out while the station is down
    hub, _result = await start_station(path)
    assert hub.states.get("timer.session").state == "idle"
