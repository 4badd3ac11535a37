"""`orge schema export`: the JSON Schema an editor validates configuration.yaml with.

It must accept the shipped configurations as an editor reads them (a tag's value is the
text after the tag: `!env_var NAME default` is "NAME default", `!include f.yaml` is
"f.yaml") and reject the broken blocks of the check-config tests that are schema errors.
Out of scope, because they are not schema errors or JSON Schema cannot say them: broken
YAML (tests/orge/test_cli.py::test_check_config_broken_yaml), duplicate keys, missing
includes, dependency cycles, template syntax, a register `count` that does not fit its
`data_type`, a register key used twice, input_number min above max, an input_select
`initial` not among its options, and mqtt reconnect_min above reconnect_max.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from orge.json_schema import INCLUDE
from orge.schema_export import export_schema
from tests.conftest import REPO


class EditorLoader(yaml.SafeLoader):
    """YAML as the YAML language server reads it: a custom tag gives its node as is."""


def _tagged(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


EditorLoader.add_multi_constructor("!", _tagged)


def as_editor_reads(text: str) -> Any:
    return yaml.load(text, EditorLoader)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = export_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _errors(validator: jsonschema.Draft7Validator, data: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(data)]


@pytest.mark.parametrize("path", ["configuration.yaml.example", "config/configuration.yaml"])
def test_shipped_configurations_are_accepted(
    validator: jsonschema.Draft7Validator, path: str
) -> None:
    data = as_editor_reads((REPO / path).read_text())
    assert _errors(validator, data) == []


AUTOMATION_BASE = "automation:\n"
BROKEN = {
    # tests/components/esp32/test_esp32_config.py::test_check_config_rejects_bad_block
    "esp32 baudrate not supported": "esp32:\n  port: /dev/ttyUSB9\n  baudrate: 12345\n",
    "esp32 baudrate not a number": "esp32:\n  port: /dev/ttyUSB9\n  baudrate: fast\n",
    "esp32 max_current above 32": "esp32:\n  port: /dev/ttyUSB9\n  max_current: 40\n",
    "esp32 max_current below 6": "esp32:\n  port: /dev/ttyUSB9\n  max_current: 5\n",
    "esp32 port a number": "esp32:\n  port: 123\n",
    "esp32 no port": "esp32:\n  baudrate: 115200\n",
    "esp32 simulator options on a device": "esp32:\n  port: /dev/ttyUSB9\n  simulator: {}\n",
    # tests/components/esp32/test_esp32_config.py::test_cli_check_config_exit_code
    "esp32 baudrate and max_current": (
        "esp32:\n  port: /dev/ttyUSB0\n  baudrate: 1234\n  max_current: 99\n"
    ),
    # tests/components/modbus_meter/test_modbus_meter_config.py
    "modbus data_type unknown": (
        "modbus_meter:\n  host: 192.0.2.10\n  registers:\n"
        "    - {key: power, address: 20, data_type: float64}\n"
    ),
    "modbus model unknown": "modbus_meter:\n  port: /dev/ttyUSB1\n  model: abb_b99\n",
    "modbus neither port nor host": "modbus_meter:\n  model: abb_b23\n",
    "modbus port and host": "modbus_meter:\n  port: /dev/ttyUSB1\n  host: gw\n  model: abb_b23\n",
    "modbus neither model nor registers": "modbus_meter:\n  port: /dev/ttyUSB1\n",
    "modbus serial option with host": (
        "modbus_meter:\n  host: gw\n  baudrate: 9600\n  model: abb_b23\n"
    ),
    "modbus scan_interval below 1 s": (
        "modbus_meter:\n  port: x\n  model: abb_b23\n  scan_interval: 0.5\n"
    ),
    "modbus parity": "modbus_meter:\n  port: x\n  model: abb_b23\n  parity: X\n",
    "modbus key upper case": (
        "modbus_meter:\n  port: x\n  registers:\n    - {key: Energy, address: 1, data_type: uint16}\n"
    ),
    "modbus key errors is taken": (
        "modbus_meter:\n  port: x\n  registers:\n    - {key: errors, address: 1, data_type: int16}\n"
    ),
    # tests/components/mqtt/test_outbox.py::test_check_config_names_file_and_line
    "mqtt bad base_topic and service": (
        "mqtt:\n  broker: 127.0.0.1\n  base_topic: orge/#\n  protocol: 4.0\n"
        "  allowed_services: [not a service]\n  client_key: /k.pem\n"
    ),
    "mqtt client_key without client_cert": "mqtt:\n  broker: 127.0.0.1\n  client_key: /k.pem\n",
    # tests/components/ngrok/test_ngrok.py::test_check_config_names_file_and_line
    "ngrok timeout and tunnel list": (
        "ngrok:\n  timeout: 0.01\n  expected_tunnels:\n    ssh: [tcp://a:1]\n"
    ),
    # tests/components/power_monitor/test_power_monitor.py
    "power_monitor scan_interval, name, sysfs_root": (
        "power_monitor:\n  scan_interval: 0\n  name: Pi Board\n  sysfs_root: fake/sys\n"
    ),
    # tests/components/input_boolean/test_input_boolean.py::test_schema_rejects_bad_names
    "input_boolean name not a slug": "input_boolean:\n  Not A Slug: {}\n",
    # tests/orge/test_cli.py::test_check_config_problems_exit_1_and_mask_secrets (core part)
    "core time zone unknown": "orge:\n  time_zone: Nowhere/Else\n",
    # tests/orge/test_setup.py::test_cycle_and_missing_dependency_are_reported
    "unknown domain": "nowhere:\n",
    # tests/components/automation/test_automation.py::CHECKS (inlined, not included)
    "automation unknown trigger platform": (
        AUTOMATION_BASE
        + "- id: a\n  triggers:\n    - trigger: sometimes\n  actions: {action: test.x}\n"
    ),
    "automation bad for duration": (
        AUTOMATION_BASE + "- id: a\n  triggers:\n    - trigger: state\n      entity_id: sensor.x\n"
        "      for: a while\n  actions: {action: test.x}\n"
    ),
    "automation service name format": (
        AUTOMATION_BASE + "- id: a\n  triggers: {trigger: event, event_type: x}\n  actions:\n"
        "    - action: not_a_service\n"
    ),
    "automation legacy keys, unknown platform": (
        AUTOMATION_BASE
        + "- id: a\n  trigger:\n    - platform: nothing\n  action: {service: test.x}\n"
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_configurations_are_rejected(
    validator: jsonschema.Draft7Validator, case: str
) -> None:
    data = as_editor_reads(BROKEN[case])
    errors = list(validator.iter_errors(data))
    assert errors, case
    # The problem is found in the block that has it, not somewhere else.
    (domain,) = data
    assert all(list(error.absolute_path)[:1] in ([domain], []) for error in errors), case


PROBE = {
    "custom_components/probe/manifest.yaml": "domain: probe\nname: Probe\n",
    "custom_components/probe/__init__.py": (
        "import voluptuous as vol\n"
        "CONFIG_SCHEMA = vol.Schema({vol.Optional('password'): str, "
        "vol.Optional('port', description='Where it listens'): int})\n"
        "async def async_setup(orge, config):\n    return True\n"
    ),
}


def test_cli_export_with_custom_components(config_dir: Any, tmp_path: Path) -> None:
    """A real `orge schema export -c DIR -o FILE`: the custom component's schema is in, with
    its description; its broken block of tests/orge/test_cli.py is rejected."""
    path = config_dir("probe:\n  port: 5\n", files=PROBE)
    out = tmp_path / "schema.json"
    done = subprocess.run(
        [sys.executable, "-m", "orge", "schema", "export", "-c", str(path), "-o", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    schema = json.loads(out.read_text())
    probe = schema["properties"]["probe"]["anyOf"][1]
    assert probe["properties"]["port"] == {
        "description": "Where it listens",
        "anyOf": [{"type": "integer"}, INCLUDE],  # or `!include port.yaml`
    }
    validator = jsonschema.Draft7Validator(schema)
    assert not list(validator.iter_errors({"probe": {"port": 5}}))
    # a second block only for a domain that takes a list, as check-config rules
    # (orge.setup.takes_blocks): probe's schema is one mapping
    assert list(validator.iter_errors({"probe": {"port": 5}, "probe second": {}}))
    assert not list(validator.iter_errors({"automation": [], "automation more": []}))
    broken = as_editor_reads("probe:\n  password: !secret pw\n  port: !secret pw\n")
    errors = list(validator.iter_errors(broken))
    assert errors, "port: an int, the secret's name is text"


def test_cli_refuses_a_missing_config_dir(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    done = subprocess.run(
        [sys.executable, "-m", "orge", "schema", "export", "-c", str(missing)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert f"{missing}: no such configuration directory" in done.stderr


def test_secrets_and_includes_as_an_editor_reads_them(
    validator: jsonschema.Draft7Validator,
) -> None:
    text = (
        "orge:\n  packages:\n    charger: !include packages/charger.yaml\n"
        "    meter: {modbus_meter: {port: x}}\n"
        "automation: !include automations.yaml\n"
        "script: !include_dir_named scripts/\n"
        "http:\n  server_port: !env_var ORGE_HTTP_PORT 8000\n"
        "mqtt:\n  broker: b\n  password: !secret mqtt_password\n  keepalive: !env_var KEEP 60\n"
    )
    assert _errors(validator, as_editor_reads(text)) == []


def _own(option: dict[str, Any]) -> dict[str, Any]:
    """An option's own shape: what it shows, and its schema without the `!include` text
    every value also takes."""
    options = [part for part in option.get("anyOf", []) if part != INCLUDE]
    if len(options) != 1 or "anyOf" not in option:
        return option
    return {**{k: v for k, v in option.items() if k != "anyOf"}, **options[0]}


def test_options_carry_description_default_and_ranges() -> None:
    schema = export_schema()
    esp32 = schema["properties"]["esp32"]["anyOf"][0]
    esp32["properties"] = {name: _own(opt) for name, opt in esp32["properties"].items()}
    retries = esp32["properties"]["retries"]
    assert retries["default"] == 1 and retries["minimum"] == 0 and retries["maximum"] == 5
    assert esp32["required"] == ["port"] and esp32["additionalProperties"] is False
    status = esp32["properties"]["status_interval"]
    assert status["default"] == 10.0  # seconds, as a duration option takes them
    assert status["description"].endswith("[s]") and status["minimum"] == 0.05
    port = esp32["properties"]["port"]
    assert port["examples"][0].startswith("/dev/serial/by-id/")
    core = schema["properties"]["orge"]["anyOf"][1]
    assert _own(core["properties"]["unit_system"])["enum"] == ["metric", "us_customary"]


VALID = {
    "esp32 durations in every form": (
        "esp32:\n  port: simulator\n  status_interval: '00:00:10'\n  ack_timeout: {seconds: 3}\n"
        "  retries: '2'\n  max_current: 16\n  simulator: {time_scale: 0.5, cable_rating: 32}\n"
    ),
    "modbus user register map": (
        "modbus_meter:\n  host: 192.0.2.10\n  slave: 3\n  registers:\n"
        "    - {key: energy, address: 0x5000, data_type: uint64, scale: 0.01,\n"
        "       unit_of_measurement: kWh, device_class: energy, state_class: total_increasing}\n"
        "    - {key: power, address: 20, data_type: float32, count: 2, word_order: little}\n"
    ),
    "modbus serial, lower-case parity": (
        "modbus_meter:\n  port: /dev/ttyUSB1\n  model: abb_b23\n  parity: even\n  baudrate: '9600'\n"
    ),
    "entity ids as one comma-separated text": (
        "automation:\n  - triggers: {trigger: state, entity_id: 'sensor.a, Sensor.B'}\n"
        "    actions: {action: test.x}\n"
        "ngrok:\n  api_url: HTTP://127.0.0.1:4040\n"
    ),
    "mqtt protocol as a number": (
        "mqtt:\n  broker: b\n  protocol: 5\n  keepalive: '60'\n  tls_insecure: 'off'\n"
        "  entity_min_interval: {sensor.meter_power: 10}\n"
        "  buttons: {stop-1: {name: Stop, action: esp32.stop_charging}}\n"
    ),
    "http lists and networks": (
        "http:\n  server_host: [0.0.0.0, '::']\n  trusted_proxies: 10.0.0.0/8\n"
        "  cors_allowed_origins: HTTPS://ops.example.com\n"
        "  login_attempts_threshold: -1\n"
    ),
    "helpers with empty items": "timer:\n  t:\ninput_boolean:\n  a:\n  b: {initial: on}\n",
    "empty blocks": "automation:\n  -\ntemplate: {}\nscript: []\n",
    "automations in both spellings": (
        "automation:\n"
        "  - alias: new\n    triggers: {trigger: time_pattern, minutes: /5}\n"
        "    conditions: '{{ true }}'\n    actions: {action: test.x, target: {entity_id: a.b}}\n"
        "  - alias: old\n    trigger: {platform: homeassistant, event: start}\n"
        "    condition: {or: [{condition: template, value_template: '{{ true }}'}]}\n"
        "    action:\n"
        "      - service: test.x\n        entity_id: sensor.y\n"
        "      - delay: '00:00:01'\n"
        "      - choose:\n          - conditions: '{{ true }}'\n            sequence: [{event: e}]\n"
        "        default: [{stop: done}]\n"
        "      - repeat: {count: 2, sequence: [{variables: {a: 1}}]}\n"
        "      - if: [{condition: state, entity_id: sensor.x, state: 'on', for: {minutes: 1}}]\n"
        "        then: [{wait_template: '{{ true }}', timeout: 5}]\n"
        "      - parallel: [{action: test.y}, {sequence: [{action: test.z}]}]\n"
        "      - condition: numeric_state\n        entity_id: sensor.x\n        above: 5\n"
        "        continue_on_error: true\n"
    ),
    "script with fields": (
        "script:\n  go:\n    fields: {reason: {required: true, selector: {text: {}}}}\n"
        "    sequence: [{action: test.x, data: {r: '{{ reason }}'}}]\n"
    ),
}


@pytest.mark.parametrize("case", list(VALID))
def test_what_the_station_accepts_is_accepted(
    validator: jsonschema.Draft7Validator, config_dir: Any, case: str
) -> None:
    """The station's own check-config accepts each of these, and so must the export."""
    from orge.setup import check_configuration

    assert check_configuration(str(config_dir(VALID[case]))).problems == []
    assert _errors(validator, as_editor_reads(VALID[case])) == []


NOTIFY_BLUEPRINT = """\
blueprint:
  name: Notify
  domain: automation
  input:
    target_event:
      name: Event to fire
    sensor:
      default: sensor.x
      selector:
        entity: {domain: sensor}
triggers:
  - trigger: state
    entity_id: !input sensor
actions:
  - event: !input target_event
"""
USE_NOTIFY = "automation:\n  - alias: Custom\n    use_blueprint:\n      path: mine/notify.yaml\n"
# tests/components/automation/test_blueprints.py::BAD, as the schema must see them
BAD_INPUTS = {
    "missing input": "      input: {sensor: sensor.y}\n",
    "mistyped input": "      input: {target_event: x, sensor: binary_sensor.y}\n",
    "unknown input": "      input:\n        target_event: x\n        sensr: sensor.z\n",
}


def test_blueprint_inputs_of_the_config_dir(config_dir: Any) -> None:
    """`-c DIR` exports the inputs of DIR's blueprints: required ones, their selectors, no
    others; the shipped ones too, with their descriptions."""
    from orge.setup import check_configuration

    files = {"blueprints/automation/mine/notify.yaml": NOTIFY_BLUEPRINT}
    good = USE_NOTIFY + "      input: {target_event: moved, sensor: Sensor.Y}\n"
    path = config_dir(good, **files)
    assert check_configuration(str(path)).problems == []
    schema = export_schema(str(path))
    validator = jsonschema.Draft7Validator(schema)
    assert _errors(validator, as_editor_reads(good)) == []
    for case, inputs in BAD_INPUTS.items():
        assert check_configuration(str(config_dir(USE_NOTIFY + inputs, **files))).problems
        assert _errors(validator, as_editor_reads(USE_NOTIFY + inputs)), case
    uses = json.dumps(schema["properties"]["automation"])
    assert '"const": "orge/current_limit.yaml"' in uses
    assert "Reduced current (A)" in uses
    # A path no blueprint has is left to check-config (it names the file and line).
    unknown = "automation:\n  - use_blueprint: {path: other/x.yaml, input: {a: 1}}\n"
    assert _errors(validator, as_editor_reads(unknown)) == []


# Each tag where the station's loader (orge/yaml.py) takes it, as the editor sees it.
TAGGED = """\
orge:
  station_id: !env_var OCPP_STATION_NAME
  time_zone: !env_var ORGE_TZ Europe/Paris
http:
  server_port: !env_var ORGE_HTTP_PORT 8000
  use_x_forwarded_for: !env_var ORGE_XFF off
  access_tokens: !secret fleet_tokens
  cors_allowed_origins: !secret origins
mqtt:
  broker: b
  password: !secret mqtt_password
  keepalive: !env_var MQTT_KEEPALIVE 60
  include: !include mqtt_include.yaml
automation: !include automations.yaml
script: !include_dir_named scripts/
"""
TAGGED_FILES = {
    "secrets.yaml": (
        "fleet_tokens:\n  - {name: fleet, token: 0123456789abcdef0123}\n"
        "origins: [https://ops.example.com]\nmqtt_password: pw\n"
    ),
    "mqtt_include.yaml": "entities: [sensor.power]\n",
    "automations.yaml": "",
    "scripts/x.yaml": "sequence: []\n",
}
# A plain word (no tag), or a tag whose default the slot does not take: the station refuses.
PLAIN_WORDS = {
    "number": "http:\n  server_port: ORGE_HTTP_PORT\n",
    "number, lower case": "http:\n  server_port: port\n",
    "boolean": "http:\n  use_x_forwarded_for: ORGE_XFF\n",
    "duration": "mqtt:\n  broker: b\n  keepalive: MQTT_KEEPALIVE\n",
    "number with a word default": "http:\n  server_port: !env_var ORGE_HTTP_PORT eighty\n",
    "time zone": "orge:\n  time_zone: ORGE_TZ\n",
}


def test_tags_where_the_loader_takes_them(
    validator: jsonschema.Draft7Validator, config_dir: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The editor takes each tag where the station does: `!env_var NAME default` with a
    default the slot takes, `!secret` standing for a list or a mapping (a secret keeps its
    YAML type), `!include` of an option's list or mapping."""
    from orge.setup import check_configuration

    monkeypatch.setenv("OCPP_STATION_NAME", "CP1")
    for name in ("ORGE_TZ", "ORGE_HTTP_PORT", "ORGE_XFF", "MQTT_KEEPALIVE"):
        monkeypatch.delenv(name, raising=False)
    result = check_configuration(str(config_dir(TAGGED, files=TAGGED_FILES)))
    assert result.problems == [], result.problems
    assert _errors(validator, as_editor_reads(TAGGED)) == []


@pytest.mark.parametrize("case", sorted(PLAIN_WORDS))
def test_plain_words_are_refused_where_a_value_of_a_type_goes(
    validator: jsonschema.Draft7Validator, config_dir: Any, case: str
) -> None:
    """An untagged word (an upper-case one included: it is not an `!env_var`) where a number,
    boolean, duration, URL or time zone goes: check-config refuses it, so does the editor."""
    from orge.setup import check_configuration

    assert check_configuration(str(config_dir(PLAIN_WORDS[case]))).problems
    assert _errors(validator, as_editor_reads(PLAIN_WORDS[case])), case


# Tags where check-config takes them and the editor must too (json_schema.include_anywhere,
# or_tag_word, _url): (configuration.yaml, the files it names).
AUTOMATION = "triggers: {trigger: homeassistant, event: start}\nactions: {event: started}\n"
ACCEPTED_TAGS = {
    "access token from secrets.yaml": (
        "http:\n  access_tokens:\n    - name: fleet\n      token: !secret tok\n",
        {"secrets.yaml": "tok: 0123456789abcdef0123\n"},
    ),
    "ocpp password and url from secrets.yaml": (
        "ocpp201:\n  url: !secret csms_url\n  station_id: CP1\n  password: !secret pw\n",
        {"secrets.yaml": "csms_url: wss://csms.example/ocpp\npw: Sup3rS3cret\n"},
    ),
    "http url from secrets.yaml": (
        "ngrok:\n  api_url: !secret agent_url\n",
        {"secrets.yaml": "agent_url: http://127.0.0.1:4040\n"},
    ),
    "mqtt and ngrok secrets": (
        "mqtt:\n  broker: b\n  password: !secret mqtt_pw\n"
        "ngrok:\n  agent:\n    authtoken: !secret ngrok_token\n",
        {"secrets.yaml": "mqtt_pw: pw123456\nngrok_token: 2abcDEF_ghi\n"},
    ),
    "an automation as a list item": (
        "automation:\n  - !include a.yaml\n",
        {"a.yaml": AUTOMATION},
    ),
    "an automation's action, a trigger and an action as list items": (
        "automation:\n  - triggers:\n      - !include trig.yaml\n    action: !include act.yaml\n"
        "  - triggers: {trigger: homeassistant, event: start}\n"
        "    actions:\n      - !include one_action.yaml\n      - {event: done}\n",
        {
            "trig.yaml": "trigger: homeassistant\nevent: start\n",
            "act.yaml": "- event: started\n",
            "one_action.yaml": "event: started\n",
        },
    ),
    "a script's sequence, a helper, a template, a register": (
        "script:\n  go:\n    sequence: !include seq.yaml\n"
        "input_number:\n  limit: !include limit.yaml\n"
        "template:\n  - !include t.yaml\n"
        "modbus_meter:\n  host: 192.0.2.10\n  registers:\n    - !include reg.yaml\n",
        {
            "seq.yaml": "- event: go\n",
            "limit.yaml": "min: 6\nmax: 32\n",
            "t.yaml": "sensor:\n  - name: t\n    state: '{{ 1 }}'\n",
            "reg.yaml": "key: energy\naddress: 0x5000\ndata_type: uint32\n",
        },
    ),
    "a number and a mapping of an option from files": (
        "http:\n  server_port: !include port.yaml\n"
        "esp32:\n  port: simulator\n  simulator: !include sim.yaml\n",
        {"port.yaml": "8123\n", "sim.yaml": "time_scale: 0.5\n"},
    ),
}


@pytest.mark.parametrize("case", sorted(ACCEPTED_TAGS))
def test_secret_and_include_are_taken_where_check_config_takes_them(
    validator: jsonschema.Draft7Validator, config_dir: Any, case: str
) -> None:
    from orge.setup import check_configuration

    text, files = ACCEPTED_TAGS[case]
    assert check_configuration(str(config_dir(text, files=files))).problems == []
    assert _errors(validator, as_editor_reads(text)) == []


# The exceptions the export's docstring and the README state, each with both verdicts:
# (configuration.yaml, its files, check-config accepts it, the editor accepts it).
EXCEPTIONS = {
    # a !secret name is a plain word to the editor: refused where a number, boolean,
    # duration or time zone goes (a plain word there is a mistake the editor shows)
    "number from secrets.yaml": (
        "http:\n  server_port: !secret port\n",
        {"secrets.yaml": "port: 8123\n"},
        True,
        False,
    ),
    "boolean from secrets.yaml": (
        "http:\n  use_x_forwarded_for: !secret xff\n",
        {"secrets.yaml": "xff: true\n"},
        True,
        False,
    ),
    # `!include` where a fixed word goes (a trigger's kind, a choice of words)
    "fixed word from a file": (
        "orge:\n  unit_system: !include unit.yaml\n",
        {"unit.yaml": "metric\n"},
        True,
        False,
    ),
    # and the other way: a word where a secret or a URL goes may be a !secret name
    "a short access token written as a word": (
        "http:\n  access_tokens:\n    - name: fleet\n      token: Sup3rS3cretTok\n",
        {},
        False,
        True,
    ),
    "a word where a URL goes": ("ngrok:\n  api_url: localhost\n", {}, False, True),
}


@pytest.mark.parametrize("case", sorted(EXCEPTIONS))
def test_the_stated_exceptions(
    validator: jsonschema.Draft7Validator, config_dir: Any, case: str
) -> None:
    from orge.setup import check_configuration

    text, files, station, editor = EXCEPTIONS[case]
    assert (check_configuration(str(config_dir(text, files=files))).problems == []) is station
    assert (_errors(validator, as_editor_reads(text)) == []) is editor
