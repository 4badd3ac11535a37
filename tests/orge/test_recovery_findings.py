"""What a new-user test of the station found, each held by a real `orge run` or
`orge check-config` subprocess where it was seen that way:

- an unreadable `secrets.yaml` is one line naming the file (no traceback), everywhere;
- names check-config knows are wrong are a warning and a notification at run time too;
- problems only the full check finds are listed everywhere (mode stays normal);
- a deleted or unreadable `configuration.yaml` starts on the last good copy when there is
  one, and is exit 78 only without one;
- a YAML error after the first line of a block indented too far names that line;
- messages name files relative to the config dir, permission errors too;
- what ORGE writes in `.storage/` is 0600 (the folder 0700) whatever the umask.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from orge.storage import ensure_private_file, write_private_file
from tests.conftest import REPO
from tests.orge.test_cli import orge_cmd
from tests.orge.test_recovery import TOKEN, Station, api, free_port
from tests.orge.test_recovery import good_run as good_run  # a fixture, used by name

# Root reads any file through CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH; without them a
# chmod 000 file is unreadable to root as to anyone (the station's `orge` user).
NO_DAC = [
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search",
    "--inh-caps=-dac_override,-dac_read_search",
]


def no_dac_prefix() -> list[str]:
    """The command prefix under which this process cannot read a chmod 000 file."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root and setpriv is missing: a chmod 000 file stays readable")
    return NO_DAC


def run_as_operator(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*no_dac_prefix(), sys.executable, "-m", "orge", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )


# --- 1. an unreadable secrets.yaml ------------------------------------------------------


def test_unreadable_secrets_is_one_line_in_check_config_and_run(
    config_dir: Callable[..., Path],
) -> None:
    path = config_dir(
        "orge:\n  name: !secret station_name\nhttp:\n",
        files={"secrets.yaml": "station_name: Field\n"},
    )
    os.chmod(path / "secrets.yaml", 0o000)
    expected = "secrets.yaml: cannot read: [Errno 13] Permission denied"

    check = run_as_operator("check-config", "-c", str(path))
    assert check.returncode == 1
    assert "Traceback" not in check.stdout + check.stderr
    assert check.stdout.splitlines()[1:] == [f"  {expected}"]

    token = orge_cmd("auth", "create-token", "operator", "-c", str(path))
    token_text = token.stdout.strip().splitlines()[-1]
    port = free_port()
    station = Station(path, env={"ORGE_HTTP_PORT": str(port)}, prefix=no_dac_prefix())
    try:
        station.wait_for("ORGE started")
        problems = api(port, "/api/config/problems", token_text)
        notification = api(port, "/api/states/persistent_notification.config_problem_1", token_text)
    finally:
        output = station.stop()
    assert "Traceback" not in output and "Checking the configuration failed" not in output
    assert f"ERROR (MainThread) [orge.setup] {expected}\n" in output, output
    assert problems["mode"] == "recovery"
    assert problems["problems"] == [expected]
    assert notification["attributes"]["message"].startswith(f"{expected}\n")


def test_unreadable_include_names_it_relative_to_the_config_dir(
    config_dir: Callable[..., Path],
) -> None:
    path = config_dir("automation: !include automations.yaml\n", files={"automations.yaml": "[]\n"})
    os.chmod(path / "automations.yaml", 0o000)
    check = run_as_operator("check-config", "--json", "-c", str(path))
    answer = json.loads(check.stdout)
    assert answer["errors"] == {
        "configuration": ["automations.yaml: cannot read: [Errno 13] Permission denied"]
    }
    assert str(path) not in json.dumps(answer["errors"])


# --- 3. unknown names at run time -------------------------------------------------------

UNKNOWN_NAMES = {
    "configuration.yaml": "esp32:\n  port: simulator\nautomation: !include automations.yaml\n"
    "http:\n  server_host: 127.0.0.1\n  server_port: {port}\n"
    f"  access_tokens:\n    - name: field\n      token: {TOKEN}\n",
    "automations.yaml": (
        "- id: typo\n"
        "  triggers:\n"
        "    - trigger: state\n"
        "      entity_id: sensor.charger_stat\n"
        "  actions:\n"
        "    - action: esp32.simulat\n"
        "      data:\n"
        "        event: plug_in\n"
    ),
}


def test_names_check_config_knows_are_wrong_are_shown_at_run_time(tmp_path: Path) -> None:
    port = free_port()
    for name, text in UNKNOWN_NAMES.items():
        (tmp_path / name).write_text(text.replace("{port}", str(port)))
    entity = (
        "automations.yaml, line 4: entity `sensor.charger_stat` does not exist; "
        "did you mean `sensor.charger_state`?"
    )
    service = (
        "automations.yaml, line 6: service `esp32.simulat` does not exist; "
        "did you mean `esp32.simulate`?"
    )
    check = orge_cmd("check-config", "-c", str(tmp_path))
    assert (
        check.returncode == 0 and f"  {entity}" in check.stdout and f"  {service}" in check.stdout
    )

    station = Station(tmp_path)
    try:
        station.wait_for("ORGE started")
        states = {s["entity_id"]: s for s in api(port, "/api/states")}
    finally:
        output = station.stop()
    assert f"WARNING (MainThread) [orge.check_names] {entity}\n" in output, output
    assert f"WARNING (MainThread) [orge.check_names] {service}\n" in output
    for entity_id, message in (
        ("persistent_notification.unknown_name_sensor_charger_stat", entity),
        ("persistent_notification.unknown_name_esp32_simulat", service),
    ):
        assert states[entity_id]["state"] == "notifying"
        assert states[entity_id]["attributes"]["message"] == message
    # Names that exist raise nothing: exactly these two.
    assert sorted(e for e in states if ".unknown_name_" in e) == [
        "persistent_notification.unknown_name_esp32_simulat",
        "persistent_notification.unknown_name_sensor_charger_stat",
    ]


# --- 4. problems only the full check finds ------------------------------------------------


def test_problems_of_the_full_check_are_listed_everywhere(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "configuration.yaml").write_text(
        "automation: !include automations.yaml\n"
        f"http:\n  server_host: 127.0.0.1\n  server_port: {port}\n"
        f"  access_tokens:\n    - name: field\n      token: {TOKEN}\n"
    )
    (tmp_path / "automations.yaml").write_text("foo: bar\n")
    check = json.loads(orge_cmd("check-config", "--json", "-c", str(tmp_path)).stdout)
    expected = check["errors"]["automation"]
    assert len(expected) == 3 and all("automations.yaml, line 1" in line for line in expected)

    station = Station(tmp_path)
    try:
        station.wait_for("ORGE started")
        problems = api(port, "/api/config/problems")
        config = api(port, "/api/config")
        sensor = api(port, "/api/states/binary_sensor.configuration_problem")
        health = api(port, "/api/health", token="")
        states = {s["entity_id"]: s for s in api(port, "/api/states")}
    finally:
        output = station.stop()
    assert "Traceback" not in output
    assert "Configuration not kept as the last good one" in output
    # The same lines as check-config (voluptuous orders one block's errors by hash: the
    # order may differ between two processes).
    expected = sorted(expected)
    assert problems["mode"] == "normal" and sorted(problems["problems"]) == expected
    assert sorted(config["config_problems"]) == expected and config["recovery_mode"] is False
    assert sensor["state"] == "on" and sorted(sensor["attributes"]["problems"]) == expected
    # Health stays as it was: `orge update` rolls back on anything but "ok", and a problem
    # the old version had too must not block every update (docs/operations.md).
    assert health["status"] == "ok"
    messages = [
        states[f"persistent_notification.config_problem_{n}"]["attributes"]["message"]
        for n in (1, 2, 3)
    ]
    assert sorted(m.split("\n")[0] for m in messages) == expected
    assert not (tmp_path / ".storage" / "last_good").exists()


# --- 5. configuration.yaml gone, a last good copy kept ------------------------------------


@pytest.mark.parametrize("how", ["deleted", "unreadable"])
def test_missing_configuration_yaml_starts_on_the_last_good_copy(
    how: str, good_run: tuple[Path, int, str], tmp_path: Path
) -> None:
    good, port, _ = good_run
    path = tmp_path / "config"
    shutil.copytree(good, path)
    prefix: list[str] = []
    if how == "deleted":
        (path / "configuration.yaml").unlink()
        expected = "configuration.yaml: file not found"
    else:
        os.chmod(path / "configuration.yaml", 0o000)
        prefix = no_dac_prefix()
        expected = "configuration.yaml: cannot read: [Errno 13] Permission denied"
    station = Station(path, prefix=prefix)
    try:
        station.wait_for("ORGE started")
        problems = api(port, "/api/config/problems")
        probe = api(port, "/api/states/sensor.probe")
    finally:
        output = station.stop()
    assert station.proc.returncode == 0, output
    assert "starting on the last good configuration" in output
    assert problems["mode"] == "last_good" and problems["problems"] == [expected]
    assert probe["state"] == "before"


def test_missing_configuration_yaml_without_a_copy_is_exit_78_saying_so(tmp_path: Path) -> None:
    result = orge_cmd("run", "-c", str(tmp_path))
    assert result.returncode == 78
    assert result.stderr.strip() == (
        f"orge: {tmp_path}/configuration.yaml: not found (start from "
        "configuration.yaml.example); no last good copy in .storage/last_good to start on "
        "instead"
    )


# --- 11. the line of a YAML error -----------------------------------------------------------


def test_over_indented_first_line_of_a_block_is_the_line_named(tmp_path: Path) -> None:
    """The shipped configuration with its line 23 (`  server_port: ...`, the first line
    under `http:`) indented one space too far: the line to fix is 23, not 24."""
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config, ignore=shutil.ignore_patterns(".storage"))
    lines = (config / "configuration.yaml").read_text().split("\n")
    assert lines[21] == "http:" and lines[22].startswith("  server_port:")
    lines[22] = " " + lines[22]
    (config / "configuration.yaml").write_text("\n".join(lines))
    check = orge_cmd("check-config", "-c", str(config))
    assert check.returncode == 1
    assert check.stdout.splitlines()[1].startswith(
        "  configuration.yaml, line 23: invalid YAML: this line is indented more than the "
        "lines after it that belong with it (line 24 on)"
    ), check.stdout


def test_under_indented_line_is_still_the_line_named() -> None:
    """The opposite mistake: line 3 indented too little; the lines around agree on 2."""
    from orge.exceptions import ConfigError
    from orge.yaml import parse_yaml

    with pytest.raises(ConfigError) as err:
        parse_yaml("http:\n  server_port: 8000\n use_x_forwarded_for: true\n  b: 1\n", "c.yaml")
    assert str(err.value).startswith(
        "c.yaml, line 3: invalid YAML: this line is indented less than the line above it"
    )


# --- 12. .storage is private --------------------------------------------------------------


def _modes(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]
    }


def test_storage_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """The shipped station (recorder, OCPP 2.0.1 and 1.6 journals, restored states, the
    demo meter, the lock, the last good copy) run by hand with umask 022."""
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config, ignore=shutil.ignore_patterns(".storage"))
    csms_port = free_port()
    env = {
        "ORGE_HTTP_PORT": str(free_port()),
        "ORGE_DEMO_CSMS_PORT": str(csms_port),
        "OCPP_201_URL": f"ws://127.0.0.1:{csms_port}/ocpp",
        "OCPP_16_URL": f"ws://127.0.0.1:{csms_port}/ocpp",
    }
    created = subprocess.run(
        [sys.executable, "-m", "orge", "auth", "create-token", "web", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        umask=0o022,
    )
    assert created.returncode == 0, created.stderr
    station = Station(config, env=env, umask=0o022)
    try:
        station.wait_for("ORGE started")
    finally:
        output = station.stop()
    assert station.proc.returncode == 0, output
    assert "Configuration kept as the last good one" in output
    modes = _modes(config / ".storage")
    for name in (
        "auth_tokens.json",
        "orge.db",
        "demo_meter.json",
        "ocpp201.db",
        "ocpp16.db",
        "restore_state.db",
        "orge.lock",
        "last_good/configuration.yaml",
    ):
        assert name in modes, sorted(modes)
    # The last good copy keeps each file's own mode (issue 9: "same permissions"), inside
    # a 0700 folder; everything else ORGE writes is 0600.
    copied = "last_good/configuration.yaml"
    assert modes[copied] == stat.S_IMODE((config / "configuration.yaml").stat().st_mode)
    wrong = {n: oct(m) for n, m in modes.items() if m & 0o077 and n != copied}
    assert wrong == {}, wrong
    directories = [n for n in modes if (config / ".storage" / n).is_dir()]
    assert all(modes[n] == 0o700 for n in directories), {n: oct(modes[n]) for n in directories}


def test_storage_helpers_tighten_what_an_older_version_left_open(tmp_path: Path) -> None:
    storage = tmp_path / ".storage"
    storage.mkdir(mode=0o755)
    os.chmod(storage, 0o755)
    database = storage / "recorder.db"
    for name in ("recorder.db", "recorder.db-wal"):
        (storage / name).write_bytes(b"")
        os.chmod(storage / name, 0o644)
    ensure_private_file(str(database), sqlite=True)
    assert stat.S_IMODE(storage.stat().st_mode) == 0o700
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert stat.S_IMODE((storage / "recorder.db-wal").stat().st_mode) == 0o600
    # A folder that is not .storage (a recorder db_url elsewhere) is the operator's.
    elsewhere = tmp_path / "data"
    elsewhere.mkdir()
    os.chmod(elsewhere, 0o755)
    write_private_file(str(elsewhere / "x.json"), b"{}")
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o755
    assert stat.S_IMODE((elsewhere / "x.json").stat().st_mode) == 0o600
    assert (elsewhere / "x.json").read_bytes() == b"{}"
