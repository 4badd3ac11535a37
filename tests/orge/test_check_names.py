"""Names that do not exist: check-config (a real `orge check-config` subprocess) and the
check once a station has started (a real station in this loop)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orge.check_names import find_unknown_names, known_names
from orge.setup import check_configuration
from orge.suggest import did_you_mean, nearest, option_names
from tests.orge.test_cli import orge_cmd

STATION = """\
esp32:
  port: simulator
input_boolean:
  free_charging:
automation:
  - id: authorize_free
    triggers:
      - trigger: state
        entity_id: sensor.charger_stat
        to: ev_connected
    conditions:
      - condition: template
        value_template: "{{ is_state('input_boolean.free_chargin', 'on') }}"
    actions:
      - action: esp32.authorise
  - use_blueprint:
      path: orge/fault_alert.yaml
      input:
        charger_state: sensor.charger_state
        stop_action: esp32.stop_chargin
script:
  stop_it:
    sequence:
      - service: esp32.stop_charging
      - action: script.stop_itt
      - action: input_boolean.turn_off
        target:
          entity_id: input_boolean.free_charging
"""

# (line, the message's words) of each name above that does not exist.
EXPECTED = [
    "configuration.yaml, line 9: entity `sensor.charger_stat` does not exist; "
    "did you mean `sensor.charger_state`?",
    "configuration.yaml, line 13: entity `input_boolean.free_chargin` does not exist; "
    "did you mean `input_boolean.free_charging`?",
    "configuration.yaml, line 15: service `esp32.authorise` does not exist; "
    "did you mean `esp32.authorize`?",
    "configuration.yaml, line 20: service `esp32.stop_chargin` does not exist; "
    "did you mean `esp32.stop_charging`?",
    "configuration.yaml, line 25: service `script.stop_itt` does not exist; "
    "did you mean `script.stop_it`?",
]


def test_check_config_names_unknown_services_and_entities(
    config_dir: Callable[..., Path],
) -> None:
    path = config_dir(STATION)
    result = orge_cmd("check-config", "-c", str(path))
    assert result.returncode == 0, result.stdout + result.stderr  # warnings only
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert lines[0].startswith(f"Configuration in {path} is valid")
    assert lines[1] == f"{len(EXPECTED)} warning(s):"
    assert lines[2:] == EXPECTED


def test_strict_makes_warnings_fail(config_dir: Callable[..., Path]) -> None:
    path = config_dir(STATION)
    strict = orge_cmd("check-config", "-c", str(path), "--strict")
    assert strict.returncode == 1
    assert EXPECTED[0] in strict.stdout
    as_json = orge_cmd("check-config", "-c", str(path), "--json")
    data = json.loads(as_json.stdout)
    assert as_json.returncode == 0
    assert data["valid"] is True and data["warnings"] == EXPECTED


def test_correct_names_give_no_warning(config_dir: Callable[..., Path]) -> None:
    fixed = (
        STATION.replace("charger_stat\n", "charger_state\n")
        .replace("free_chargin'", "free_charging'")
        .replace("authorise", "authorize")
        .replace("stop_chargin\n", "stop_charging\n")
        .replace("stop_itt", "stop_it")
    )
    result = orge_cmd("check-config", "-c", str(config_dir(fixed)), "--strict")
    assert result.returncode == 0, result.stdout
    assert "warning" not in result.stdout


def test_errors_still_fail_without_strict(config_dir: Callable[..., Path]) -> None:
    path = config_dir(STATION + "recordr:\n")
    result = orge_cmd("check-config", "-c", str(path))
    assert result.returncode == 1
    line = STATION.count("\n") + 1
    assert (
        f"configuration.yaml, line {line}: Component 'recordr' not found; did you mean `recorder`?"
    ) in result.stdout


def test_unknown_option_suggests_the_nearest(config_dir: Callable[..., Path]) -> None:
    path = config_dir(
        "esp32:\n  port: simulator\n  baudrat: 9600\n"
        "input_number:\n  limit: {min: 6, max: 32, stepp: 1}\n"
        "automation:\n"
        "  - id: typo\n"
        "    trigers: {trigger: event, event_type: ping}\n"
        "    actions: {action: orge.stop}\n"
    )
    result = orge_cmd("check-config", "-c", str(path))
    assert result.returncode == 1
    for line in (
        "Invalid config for 'esp32' at configuration.yaml, line 3: 'baudrat' is an invalid "
        "option for 'esp32'; did you mean `baudrate`?",
        # a key the operator names (the helper's id), then the helper's own options
        "Invalid config for 'input_number' at configuration.yaml, line 5: 'limit->stepp' is "
        "an invalid option for 'input_number'; did you mean `step`?",
        # no schema at hand: the required key found missing beside it
        "Invalid config for 'automation' 'typo' at configuration.yaml, line 8: 'trigers' is "
        "an invalid option for 'automation'; did you mean `triggers`?",
    ):
        assert line in result.stdout, result.stdout


CUSTOM = {
    "custom_components/maker/manifest.yaml": "domain: maker\nname: Maker\n",
    "custom_components/maker/__init__.py": (
        "from orge.entity import SensorEntity, async_add_entities\n"
        "class Made(SensorEntity):\n"
        "    _attr_name = 'made here'\n"
        "    _attr_state = 1\n"
        "async def async_setup(orge, config):\n"
        "    await async_add_entities(orge, 'maker', [Made()])\n"
        "    return True\n"
    ),
}

LATE = """\
maker:
persistent_notification:
automation:
  - id: watch
    triggers:
      - trigger: state
        entity_id: [sensor.made_here, sensor.made_her]
    actions:
      - action: persistent_notification.create
        data: {message: "{{ states('sensor.made_here') }}"}
"""


def test_broken_services_yaml_is_a_warning_with_its_line(config_dir: Callable[..., Path]) -> None:
    files = dict(CUSTOM)
    files["custom_components/maker/services.yaml"] = "make:\n  description: ok\n   fields: {}\n"
    path = config_dir("maker:\n", files=files)
    result = orge_cmd("check-config", "-c", str(path), "--json")
    data = json.loads(result.stdout)
    assert result.returncode == 0 and data["errors"] == {}
    services_yaml = path / "custom_components" / "maker" / "services.yaml"
    assert len(data["warnings"]) == 1
    assert data["warnings"][0].startswith(f"{services_yaml}, line 3: ")


def test_unknown_ids_wait_for_the_running_station(config_dir: Callable[..., Path]) -> None:
    """A custom component may create any id: check-config cannot tell, so it says nothing."""
    path = config_dir(LATE, files=CUSTOM)
    result = check_configuration(str(path))
    assert not result.problems
    assert known_names(result).complete is False
    assert find_unknown_names(result) == []


async def test_late_unknown_entity_notified_once_started(
    config_dir: Callable[..., Path],
    start_station: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = config_dir(LATE, files=CUSTOM)
    caplog.set_level(logging.WARNING, logger="orge.check_names")
    hub, result = await start_station(path)
    assert not result.problems
    assert hub.states.get("sensor.made_here") is not None
    message = (
        "configuration.yaml, line 7: entity `sensor.made_her` does not exist; "
        "did you mean `sensor.made_here`?"
    )
    notification = hub.states.get("persistent_notification.unknown_name_sensor_made_her")
    assert notification is not None
    assert notification.state == "notifying"
    assert notification.attributes["message"] == message
    assert [r.getMessage() for r in caplog.records if r.name == "orge.check_names"] == [message]
    others = [
        s.entity_id
        for s in hub.states.async_all("persistent_notification")
        if s.entity_id.startswith("persistent_notification.unknown_name_")
    ]
    assert others == ["persistent_notification.unknown_name_sensor_made_her"]


def test_suggest() -> None:
    assert nearest("sensor.charger_stat", ["sensor.charger_state", "sensor.pwm"]) == (
        "sensor.charger_state"
    )
    assert nearest("xyz", ["sensor.charger_state"]) is None
    assert did_you_mean("recordr", ["recorder", "http"]) == "; did you mean `recorder`?"
    assert did_you_mean("zzz", ["recorder"]) == ""


def test_option_names_follow_the_schema_path() -> None:
    from components.esp32 import CONFIG_SCHEMA

    assert "baudrate" in option_names(CONFIG_SCHEMA, [])
    assert "time_scale" in option_names(CONFIG_SCHEMA, ["simulator"])
    assert option_names(CONFIG_SCHEMA, ["nothing_here"]) == []


# A station whose only entity domains are esp32's (sensor, binary_sensor, number) and
# input_boolean: no switch, button or select, and no light integration at all.
NO_SWITCH = """\
esp32:
  port: simulator
input_boolean:
  free_charging:
automation:
  - id: domains
    triggers:
      - trigger: state
        entity_id: sensor.charger_state
    actions:
      - action: switch.turn_on
        target:
          entity_id: switch.charger
      - action: light.turn_on
      - action: number.set_value
        data: {entity_id: number.charger_max_current, value: 10}
      - action: input_boolean.turn_on
        target:
          entity_id: input_boolean.free_charging
"""


async def test_entity_domain_service_of_a_domain_without_entities_does_not_exist(
    config_dir: Callable[..., Path], start_station: Callable[..., Any]
) -> None:
    """Home Assistant: an action of a domain with no integration loaded is not found
    ("Action switch.turn_on not found"). The engine registers `switch.turn_on` with the
    first switch entity: check-config says so as for any unknown service, and the running
    station agrees; services of components (input_boolean.turn_on) and of a domain that
    has entities (number.set_value) stay valid."""
    path = config_dir(NO_SWITCH)
    result = orge_cmd("check-config", "-c", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    warnings = [line.strip() for line in result.stdout.splitlines()[2:]]
    assert [w.split(" does not exist")[0] for w in warnings] == [
        "configuration.yaml, line 11: service `switch.turn_on`",
        "configuration.yaml, line 13: entity `switch.charger`",
        "configuration.yaml, line 14: service `light.turn_on`",
    ]
    hub, checked = await start_station(path)
    assert not checked.problems
    assert not hub.services.has_service("switch", "turn_on")
    assert hub.services.has_service("number", "set_value")
    assert hub.services.has_service("input_boolean", "turn_on")
    assert hub.states.get("persistent_notification.unknown_name_switch_turn_on") is not None
