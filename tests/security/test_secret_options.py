"""Secrets written in configuration.yaml itself (not through `!secret`) where the schema
refuses them: check-config (text and --json), the `orge run` log and /api/config/problems
must explain the problem (file, line, option) without quoting the secret.

Which options hold a secret is one rule, `orge.redact.is_secret_name` (the one `!env_var`
uses): every such option of the shipped components is covered here, each written wrongly
in several ways.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import voluptuous as vol

from orge.config import CORE_SCHEMA
from orge.loader import ComponentIndex
from orge.redact import is_secret_name
from tests.orge.test_cli import orge_cmd
from tests.orge.test_recovery import Station, api, free_port

# One distinct secret per option and shape, so a leak names what leaked.
HTTP_TOKEN = "Sup3rS3cretTok"  # 14 characters: too short for an access token
OCPP201_PASSWORD = "Sup3rS3cret201"
OCPP16_PASSWORD = "Sup3rS3cret16x"
MQTT_PASSWORD = "Mqtt-Sup3rS3cret"
NGROK_TOKEN = "Ngrok-Sup3rS3cret"
DEMO_PASSWORD = "Demo-Sup3rS3cret"

# (config, [(domain, option path as check-config names it, line)], secrets in it)
CASES: list[tuple[str, list[tuple[str, str, int]], list[str]]] = [
    (
        # flow mappings and lists where a text goes; a token too short
        f"""http:
  access_tokens:
    - name: fleet
      token: {HTTP_TOKEN}
ocpp201:
  url: ws://127.0.0.1:9/ocpp
  station_id: CP1
  password: {{{OCPP201_PASSWORD}}}
ocpp16:
  url: ws://127.0.0.1:9/ocpp
  station_id: CP1
  password: [{OCPP16_PASSWORD}]
mqtt:
  broker: 127.0.0.1
  password: {{{MQTT_PASSWORD}}}
ngrok:
  agent:
    authtoken: [{NGROK_TOKEN}]
demo_csms:
  password: [{DEMO_PASSWORD}]
""",
        [
            ("http", "access_tokens->0->token", 4),
            ("ocpp201", "password", 8),
            ("ocpp16", "password", 12),
            ("mqtt", "password", 15),
            ("ngrok", "agent->authtoken", 18),
            ("demo_csms", "password", 20),
        ],
        [HTTP_TOKEN, OCPP201_PASSWORD, OCPP16_PASSWORD, MQTT_PASSWORD, NGROK_TOKEN, DEMO_PASSWORD],
    ),
    (
        # the secret as a mapping's key with a value, nested mappings, a list of them;
        # a token that is not a mapping's entry at all
        f"""http:
  access_tokens:
    - {HTTP_TOKEN}x-long-enough
ocpp201:
  url: ws://127.0.0.1:9/ocpp
  station_id: CP1
  password:
    {OCPP201_PASSWORD}: {OCPP201_PASSWORD}
ocpp16:
  url: ws://127.0.0.1:9/ocpp
  station_id: CP1
  password: {{a: {{{OCPP16_PASSWORD}}}}}
mqtt:
  broker: 127.0.0.1
  password: [{{{MQTT_PASSWORD}: 1}}]
ngrok:
  agent:
    authtoken: {{{NGROK_TOKEN}}}
demo_csms:
  password:
    - {DEMO_PASSWORD}: null
""",
        [
            ("http", "access_tokens->0", 3),
            ("ocpp201", "password", 8),
            ("ocpp16", "password", 12),
            ("mqtt", "password", 15),
            ("ngrok", "agent->authtoken", 18),
            ("demo_csms", "password", 21),
        ],
        [HTTP_TOKEN, OCPP201_PASSWORD, OCPP16_PASSWORD, MQTT_PASSWORD, NGROK_TOKEN, DEMO_PASSWORD],
    ),
    (
        # a number where a text goes (ngrok's authtoken must be text); the whole block of
        # a secret refused at its parent (an agent given as a list): shown with the secret
        # masked; a token valid but its entry holding an unknown option
        f"""http:
  access_tokens:
    - name: fleet
      token: {HTTP_TOKEN}-long-enough
      tokne: 1
ngrok:
  agent:
    - authtoken: {NGROK_TOKEN}
      port: 8000
mqtt:
  broker: 127.0.0.1
  password: {MQTT_PASSWORD}
  port: not-a-port
""",
        [
            ("http", "access_tokens->0->tokne", 5),
            ("ngrok", "agent", 8),
            ("mqtt", "port", 13),
        ],
        [HTTP_TOKEN, NGROK_TOKEN, MQTT_PASSWORD],
    ),
    (
        "ngrok:\n  agent:\n    authtoken: 987654321\n",
        [("ngrok", "agent->authtoken", 3)],
        ["987654321"],
    ),
]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    (path / "configuration.yaml").write_text(text)
    return path


def _assert_clean(where: str, text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret!r} shown by {where}:\n{text}"


def _assert_explained(text: str, problems: list[tuple[str, str, int]]) -> None:
    for domain, option, line in problems:
        wanted = f"Invalid config for '{domain}' at configuration.yaml, line {line}: "
        lines = [found for found in text.splitlines() if wanted in found]
        assert lines, f"{wanted!r} missing in:\n{text}"
        assert any(f"'{option}'" in found for found in lines), f"{option} in {lines}"


def test_check_config_never_shows_a_secret_written_in_configuration_yaml(
    tmp_path: Path,
) -> None:
    for number, (text, problems, secrets) in enumerate(CASES):
        path = _write(tmp_path, f"case{number}", text)
        plain = orge_cmd("check-config", "-c", str(path))
        assert plain.returncode == 1, plain.stdout + plain.stderr
        _assert_clean(f"case {number}: check-config", plain.stdout + plain.stderr, secrets)
        _assert_explained(plain.stdout, problems)
        as_json = orge_cmd("check-config", "-c", str(path), "--json")
        assert as_json.returncode == 1
        _assert_clean(f"case {number}: --json", as_json.stdout + as_json.stderr, secrets)
        answer = json.loads(as_json.stdout)
        _assert_explained(
            "\n".join(line for lines in answer["errors"].values() for line in lines), problems
        )


def test_run_log_and_api_never_show_a_secret_written_in_configuration_yaml(
    tmp_path: Path,
) -> None:
    """The first case in a real `orge run`: recovery mode (every block is wrong), the log's
    lines and /api/config/problems name file and line, never the secrets."""
    text, problems, secrets = CASES[0]
    path = _write(tmp_path, "run", text)
    token = orge_cmd("auth", "create-token", "operator", "-c", str(path))
    assert token.returncode == 0, token.stderr
    bearer = token.stdout.strip().splitlines()[-1]
    port = free_port()
    station = Station(path, env={"ORGE_HTTP_PORT": str(port)})
    try:
        station.wait_for("ORGE started")
        answer = api(port, "/api/config/problems", bearer)
    finally:
        output = station.stop()
    _assert_clean("orge run", output, secrets)
    _assert_explained(output, problems)
    _assert_clean("/api/config/problems", json.dumps(answer), secrets)
    _assert_explained("\n".join(answer["problems"]), problems)


def _option_names(schema: Any, seen: set[int]) -> set[str]:
    """The option names of a voluptuous schema, as far as plain structure shows them."""
    if id(schema) in seen:
        return set()
    seen.add(id(schema))
    names: set[str] = set()
    if isinstance(schema, vol.Schema):
        names |= _option_names(schema.schema, seen)
    elif isinstance(schema, dict):
        for key, value in schema.items():
            name = key.schema if isinstance(key, vol.Marker) else key
            if isinstance(name, str):
                names.add(name)
            names |= _option_names(value, seen)
    elif isinstance(schema, (list, tuple)):
        for item in schema:
            names |= _option_names(item, seen)
    elif isinstance(schema, (vol.All, vol.Any)):
        for item in schema.validators:
            names |= _option_names(item, seen)
    return names


def test_every_secret_option_of_the_shipped_components_is_covered() -> None:
    """A component that adds a secret-holding option adds it to CASES above."""
    found: dict[str, set[str]] = {"orge": _option_names(CORE_SCHEMA, set())}
    index = ComponentIndex(None)
    for domain, component in index.components.items():
        if component.is_library:
            continue
        module = importlib.import_module(f"components.{domain}")
        found[domain] = _option_names(getattr(module, "CONFIG_SCHEMA", None), set())
    secret = {
        f"{domain}.{name}"
        for domain, names in found.items()
        for name in names
        if is_secret_name(name)
    }
    # client_key / ssl_key are file names (the key itself is in the file): masked all the
    # same, by the one rule; their "not found" problems are covered by the file tests.
    assert secret == {
        "http.access_tokens",
        "http.token",
        "http.ssl_key",
        "ocpp201.password",
        "ocpp201.client_key",
        "ocpp16.password",
        "ocpp16.client_key",
        "mqtt.password",
        "mqtt.client_key",
        "ngrok.authtoken",
        "demo_csms.password",
    }
