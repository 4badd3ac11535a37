"""check-config on an option naming a file that is not there (TLS certificates, keys, CA
files of every component): the problem names the file and line to edit, as every other
problem does (`Invalid config for '<domain>' at <file>, line N: ...`)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.orge.test_cli import orge_cmd

CONFIG = """http:
  ssl_certificate: /nonexistent/http.crt
  ssl_key: http.key
ocpp201:
  url: wss://127.0.0.1:9/ocpp
  station_id: CP1
  ca_file: /nonexistent/ca.pem
  client_certificate: station.pem
  client_key: station.key
mqtt:
  broker: 127.0.0.1
  certificate: certs/mqtt-ca.pem
  client_cert: /nonexistent/mqtt.crt
  client_key: present.key
orge:
  packages:
    legacy: !include legacy.yaml
"""
# ocpp16 from a package file: the problem names that file and its line.
LEGACY = """ocpp16:
  url: wss://127.0.0.1:9/ocpp
  station_id: CP1
  ca_file: ca16.pem
"""

EXPECTED = [
    "Invalid config for 'http' at configuration.yaml, line 2: ssl_certificate file "
    "/nonexistent/http.crt not found",
    "Invalid config for 'http' at configuration.yaml, line 3: ssl_key file http.key not found",
    "Invalid config for 'ocpp201' at configuration.yaml, line 8: client_certificate file "
    "station.pem not found",
    "Invalid config for 'ocpp201' at configuration.yaml, line 9: client_key file station.key "
    "not found",
    "Invalid config for 'ocpp201' at configuration.yaml, line 7: ca_file file /nonexistent/ca.pem "
    "not found",
    "Invalid config for 'mqtt' at configuration.yaml, line 12: certificate file "
    "certs/mqtt-ca.pem not found",
    "Invalid config for 'mqtt' at configuration.yaml, line 13: client_cert file "
    "/nonexistent/mqtt.crt not found",
    "Invalid config for 'ocpp16' at legacy.yaml, line 4: ca_file file ca16.pem not found",
]


def test_every_missing_file_is_named_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "configuration.yaml").write_text(CONFIG)
    (tmp_path / "legacy.yaml").write_text(LEGACY)
    (tmp_path / "present.key").write_text("a key file that is there\n")
    plain = orge_cmd("check-config", "-c", str(tmp_path))
    assert plain.returncode == 1, plain.stdout + plain.stderr
    shown = [line.strip() for line in plain.stdout.splitlines()[1:]]
    assert sorted(line for line in shown if "not found" in line) == sorted(EXPECTED), shown
    as_json = orge_cmd("check-config", "-c", str(tmp_path), "--json")
    errors = json.loads(as_json.stdout)["errors"]
    found = [line for lines in errors.values() for line in lines if "not found" in line]
    assert sorted(found) == sorted(EXPECTED)
    # the file that is there is not reported
    assert "present.key" not in plain.stdout


def test_relative_files_are_read_from_the_config_folder(tmp_path: Path) -> None:
    """A relative path is the config folder's, wherever check-config is run from."""
    (tmp_path / "configuration.yaml").write_text(CONFIG)
    (tmp_path / "legacy.yaml").write_text(LEGACY)
    for name in (
        "present.key",
        "http.key",
        "station.pem",
        "station.key",
        "certs/mqtt-ca.pem",
        "ca16.pem",
    ):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x\n")
    plain = orge_cmd("check-config", "-c", str(tmp_path), cwd=Path("/"))
    missing = sorted(line.strip() for line in plain.stdout.splitlines() if "not found" in line)
    assert missing == sorted(line for line in EXPECTED if "/nonexistent/" in line)


PAIRS = """http:
  ssl_certificate: http.crt
ocpp201:
  url: ws://127.0.0.1:9/ocpp
  station_id: CP1
  security_profile: 2
ocpp16:
  url: wss://127.0.0.1:9/ocpp
  station_id: CP1
  client_key: station.key
"""


def test_certificate_pairs_and_profiles_are_named_with_file_and_line(tmp_path: Path) -> None:
    """The problems of an option that needs another (a certificate without its key) or a
    profile the URL cannot carry name the line to edit: the given one's, the URL's."""
    (tmp_path / "configuration.yaml").write_text(PAIRS)
    for name in ("http.crt", "station.key"):
        (tmp_path / name).write_text("x\n")
    plain = orge_cmd("check-config", "-c", str(tmp_path))
    assert plain.returncode == 1, plain.stdout + plain.stderr
    shown = [line.strip() for line in plain.stdout.splitlines()]
    assert (
        "Invalid config for 'http' at configuration.yaml, line 2: ssl_certificate and "
        "ssl_key must be given together" in shown
    ), shown
    assert (
        "Invalid config for 'ocpp201' at configuration.yaml, line 4: security_profile 2 "
        "needs a wss:// URL (TLS), not ws://127.0.0.1:9/ocpp" in shown
    ), shown
    assert (
        "Invalid config for 'ocpp16' at configuration.yaml, line 10: client_certificate "
        "and client_key must be given together" in shown
    ), shown


def test_a_value_of_the_wrong_kind_is_named_in_yaml_words(tmp_path: Path) -> None:
    """`expected text, got a mapping`, not the loader's class name (NodeDict)."""
    (tmp_path / "configuration.yaml").write_text(
        "ngrok:\n  agent:\n    command:\n      path: /usr/bin/ngrok\n    authtoken: !secret token\n"
    )
    (tmp_path / "secrets.yaml").write_text("token: 2abcdefghijklmnopqrstuvwxyz\n")
    plain = orge_cmd("check-config", "-c", str(tmp_path))
    assert plain.returncode == 1, plain.stdout + plain.stderr
    assert "expected text, got a mapping" in plain.stdout, plain.stdout
    assert "Node" not in plain.stdout
