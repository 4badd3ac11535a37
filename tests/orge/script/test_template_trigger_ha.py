"""The template trigger and its watcher as Home Assistant runs them
(components/template/trigger.py, helpers/event.py async_track_template_result, 2024.x)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from conftest import settle  # type: ignore[import-not-found]

LATE = """
automation:
  - alias: late
    triggers:
      - trigger: template
        value_template: "{{ states('sensor.late') | float > 5 }}"
    actions: {action: test.record, data: {value: "late {{ trigger.to_state.state }}"}}
  - alias: late with default
    triggers:
      - trigger: template
        value_template: "{{ states('sensor.late2') | float(0) > 5 }}"
    actions: {action: test.record, data: {value: "late2 {{ trigger.description }}"}}
"""


async def test_failing_first_render_stays_subscribed_and_unarmed(
    station: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    hub, rec = await station(LATE)
    # float without a default on 'unknown' raises (HA 2021.12+): logged, not armed
    assert (
        "Error initializing 'template' trigger for 'automation automation.late (late)'"
        in caplog.text
    )
    hub.states.async_set("sensor.late", "10")  # renders true, but was never seen false
    hub.states.async_set("sensor.late2", "10")  # rendered false at start: armed, fires
    await settle(hub)
    assert rec.values() == ["late2 sensor.late2 via template"]
    hub.states.async_set("sensor.late", "3")  # seen false: armed
    hub.states.async_set("sensor.late", "12")
    await settle(hub)
    assert rec.values() == ["late2 sensor.late2 via template", "late 12"]


async def test_render_error_changes_nothing_and_is_logged_once(
    station: Any, caplog: pytest.LogCaptureFixture
) -> None:
    hub, rec = await station(LATE)
    hub.states.async_set("sensor.late", "1")
    caplog.clear()
    caplog.set_level(logging.WARNING)
    hub.states.async_set("sensor.late", "n/a")  # error: neither arms nor disarms
    hub.states.async_set("sensor.late", "still n/a")  # a second error in a row: no new log
    assert (
        caplog.text.count(
            "Error evaluating 'template' trigger for 'automation automation.late (late)'"
        )
        == 1
    )
    hub.states.async_set("sensor.late", "9")  # armed before the errors: fires
    await settle(hub)
    assert rec.values() == ["late 9"]
    hub.states.async_set("sensor.late", "oops")
    hub.states.async_set("sensor.late", "11")  # true -> error -> true: no second firing
    await settle(hub)
    assert rec.values() == ["late 9"]


async def test_for_survives_an_error_and_is_cancelled_by_another_result(station: Any) -> None:
    hub, rec = await station(
        """
        automation:
          - alias: power for
            triggers:
              - trigger: template
                value_template: "{{ states('sensor.p') | float > 1 }}"
                for: {seconds: 0.15}
            actions: {action: test.record, data: {value: "p {{ trigger.for.total_seconds() }}"}}
          - alias: level for
            triggers:
              - trigger: template
                value_template: "{{ states('sensor.level') | int(0) }}"
                for: {seconds: 0.15}
            actions: {action: test.record, data: {value: level}}
        """
    )
    hub.states.async_set("sensor.p", "0")
    hub.states.async_set("sensor.level", "0")
    hub.states.async_set("sensor.p", "5")  # pending
    hub.states.async_set("sensor.p", "bad")  # an error does not cancel the pending run
    hub.states.async_set("sensor.level", "5")  # pending
    hub.states.async_set("sensor.level", "6")  # another (true) result cancels it, unarmed
    await settle(hub, 0.3)
    assert rec.values() == ["p 0.15"]


async def test_watcher_keeps_what_a_failed_render_read(orge: Any) -> None:
    from orge.script.tracking import TemplateWatcher
    from orge.template import Template

    results: list[Any] = []
    errors: list[str] = []
    tpl = Template("{{ states('sensor.late') | float * 2 }}", orge)
    watcher = TemplateWatcher(
        orge,
        tpl,
        {},
        lambda result, _e: results.append(result),
        "test",
        on_error=lambda err, _e: errors.append(type(err).__name__),
    )
    assert watcher.start() is None and watcher.last_error is not None
    assert watcher.entities == {"sensor.late"}
    orge.states.async_set("sensor.other", "1")
    orge.states.async_set("sensor.late", "x")
    orge.states.async_set("sensor.late", "4")
    assert errors == ["TemplateError"] and results == [8.0]
    watcher.stop()
