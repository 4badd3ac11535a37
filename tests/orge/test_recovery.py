"""Recovery: a station never goes dark (issue 9, points 1 and 2).

Real `orge run` subprocesses, a real HTTP port, real files: a broken configuration runs on
the last good copy (or in recovery mode) and says so through the API; no config is exit 78;
one station per config dir; `orge once` and `scripts/run` refuse beside a running one; a
port another program holds leaves the rest running.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orge.config import load_configuration
from orge.lock import AlreadyRunning, InstanceLock, running_pid
from orge.recovery import find_last_good, last_good_saved_at, save_last_good
from orge.yaml import load_yaml, track_files
from tests.conftest import REPO
from tests.orge.test_cli import orge_cmd

TOKEN = "field-token-0123456789abcdef"
PROBE = {
    # Stands in for the charger: its one sensor shows which configuration it was set up from.
    "custom_components/probe/manifest.yaml": "domain: probe\nname: Probe\n",
    "custom_components/probe/__init__.py": (
        "import voluptuous as vol\n"
        "CONFIG_SCHEMA = vol.Schema({vol.Required('value'): str})\n"
        "async def async_setup(orge, config):\n"
        "    orge.states.async_set('sensor.probe', config['value'])\n"
        "    return True\n"
    ),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Station:
    """A real `orge run -c DIR`; its output is read on a thread so the pipe never fills."""

    def __init__(
        self,
        config: Path,
        env: dict[str, str] | None = None,
        prefix: list[str] | None = None,
        umask: int = -1,
    ) -> None:
        """`prefix`: a command the station runs under (setpriv); `umask`: its umask."""
        self.proc = subprocess.Popen(
            [*(prefix or []), sys.executable, "-m", "orge", "run", "-c", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
            umask=umask,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            self.output.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} not seen in:\n{''.join(self.output)}")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        time.sleep(0.1)
        while not self.lines.empty():
            self.output.append(self.lines.get())
        return "".join(self.output)


def api(port: int, path: str, token: str = TOKEN) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read().decode()
    return json.loads(body) if body[:1] in "[{" else body


GOOD = """\
orge:
  name: Field station
http:
  server_host: 127.0.0.1
  server_port: {port}
  access_tokens:
    - name: field
      token: !secret api_token
probe: !include probe.yaml
"""


def write_good(path: Path, port: int) -> None:
    for name, text in {
        **PROBE,
        "configuration.yaml": GOOD.format(port=port),
        "probe.yaml": "value: before\n",
        "secrets.yaml": f"api_token: {TOKEN}\nprobe_value: also-before\n",
    }.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    os.chmod(path / "secrets.yaml", 0o600)


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    """A config dir after one clean start: (dir, http port, the run's output)."""
    path = tmp_path_factory.mktemp("good")
    port = free_port()
    write_good(path, port)
    station = Station(path)
    try:
        station.wait_for("ORGE started")
        status = api(port, "/api/config/problems")
        sensor = api(port, "/api/states/binary_sensor.configuration_problem")
    finally:
        output = station.stop()
    assert status["mode"] == "normal" and status["problems"] == []
    assert status["last_good_saved_at"] is not None
    assert sensor["state"] == "off"
    assert sensor["attributes"]["last_good_saved_at"] == status["last_good_saved_at"]
    return path, port, output


def test_clean_start_keeps_last_good_copy_with_includes_and_permissions(
    good_run: tuple[Path, int, str],
) -> None:
    path, _port, output = good_run
    copy = path / ".storage" / "last_good"
    assert "Configuration kept as the last good one" in output
    for name in ("configuration.yaml", "probe.yaml", "secrets.yaml"):
        assert (copy / name).read_bytes() == (path / name).read_bytes()
        assert stat.S_IMODE((copy / name).stat().st_mode) == stat.S_IMODE(
            (path / name).stat().st_mode
        )
    assert stat.S_IMODE((copy / "secrets.yaml").stat().st_mode) == 0o600
    # The custom component is code, not configuration: it is not part of the copy.
    assert not (copy / "custom_components").exists()
    assert TOKEN not in output


BREAKS = {
    "yaml_syntax_in_include": (
        {"probe.yaml": "value: [after\n"},
        "probe.yaml, line 1: invalid YAML: a '[' opened on line 1 is never closed",
    ),
    "missing_secret": (
        {"probe.yaml": "value: !secret probe_valeu\n"},
        "probe.yaml, line 1: Secret probe_valeu not defined",
    ),
    "schema_error_in_core": (
        {
            "probe.yaml": "value: after\n",
            "configuration.yaml": "orge:\n  name: Field station\n  time_zone: Mars/Olympus\n",
        },
        "Invalid config for 'orge' at configuration.yaml, line 3: invalid time zone",
    ),
}


@pytest.mark.parametrize("kind", sorted(BREAKS))
def test_broken_config_runs_on_last_good_copy_and_says_so(
    kind: str, good_run: tuple[Path, int, str], tmp_path: Path
) -> None:
    good, port, _ = good_run
    path = tmp_path / "config"
    shutil.copytree(good, path)
    edits, expected = BREAKS[kind]
    for name, text in edits.items():
        if name == "configuration.yaml":
            # Break the core section of the operator's own file, keep the rest as it was.
            text = text + GOOD.format(port=port).split("\n", 2)[2]
        (path / name).write_text(text)
    station = Station(path)
    try:
        station.wait_for("ORGE started")
        config = api(port, "/api/config")
        problems = api(port, "/api/config/problems")
        sensor = api(port, "/api/states/binary_sensor.configuration_problem")
        probe = api(port, "/api/states/sensor.probe")
        notification = api(port, "/api/states/persistent_notification.config_problem_1")
    finally:
        output = station.stop()
    assert station.proc.returncode == 0, output
    assert "Traceback" not in output, output
    assert expected in output
    assert "starting on the last good configuration" in output
    # The station runs as before the bad edit.
    assert probe["state"] == "before"
    assert config["location_name"] == "Field station"
    assert "probe" in config["components"] and "http" in config["components"]
    # ... and says so in every place an operator or a monitor looks.
    assert config["using_last_good"] is True and config["recovery_mode"] is False
    assert any(expected in line for line in config["config_problems"])
    assert problems["mode"] == "last_good"
    assert problems["last_good_saved_at"] == last_good_iso(good)
    assert sensor["state"] == "on"
    assert sensor["attributes"]["using_last_good"] is True
    assert sensor["attributes"]["device_class"] == "problem"
    assert notification["state"] == "notifying"
    assert expected in notification["attributes"]["message"]
    assert "last good configuration" in notification["attributes"]["message"]
    # A start on the copy is not a clean start: the copy stays as it was.
    assert (path / ".storage/last_good/probe.yaml").read_text() == "value: before\n"


def last_good_iso(path: Path) -> str:
    from orge.recovery import iso_time

    return str(iso_time(last_good_saved_at(str(path))))


def test_fixed_config_runs_normally_again(good_run: tuple[Path, int, str], tmp_path: Path) -> None:
    """After the operator fixes the file and restarts, the warning is gone and the new
    configuration becomes the last good one."""
    good, port, _ = good_run
    path = tmp_path / "config"
    shutil.copytree(good, path)
    (path / "probe.yaml").write_text("value: fixed\n")
    station = Station(path)
    try:
        station.wait_for("ORGE started")
        problems = api(port, "/api/config/problems")
        probe = api(port, "/api/states/sensor.probe")
        sensor = api(port, "/api/states/binary_sensor.configuration_problem")
    finally:
        station.stop()
    assert problems["mode"] == "normal" and problems["problems"] == []
    assert probe["state"] == "fixed" and sensor["state"] == "off"
    assert (path / ".storage/last_good/probe.yaml").read_text() == "value: fixed\n"


RECOVERY_CASES = {
    # Nothing loads: http starts with its defaults, on $ORGE_HTTP_PORT, tokens from .storage.
    "yaml_error_http_defaults": (
        "orge:\n  name: Broken\nprobe: !include probe.yaml\nhttp:\n  server_port: 1\n",
        "probe.yaml, line 1: invalid YAML: a '[' opened on line 1 is never closed",
        True,
    ),
    # The YAML loads: http keeps its own valid block (its port, its YAML token).
    "schema_errors_http_block_kept": (
        "orge:\n  time_zone: Mars/Olympus\nprobe:\n  value: 5\n"
        "http:\n  server_host: 127.0.0.1\n  server_port: {port}\n"
        f"  access_tokens:\n    - name: yaml\n      token: {TOKEN}\n",
        "Invalid config for 'probe' at configuration.yaml, line 4: expected str",
        False,
    ),
}


@pytest.mark.parametrize("case", sorted(RECOVERY_CASES))
def test_first_broken_config_starts_recovery_mode(case: str, config_dir) -> None:  # type: ignore[no-untyped-def]
    configuration, expected, token_from_storage = RECOVERY_CASES[case]
    port = free_port()
    path = config_dir(
        configuration.replace("{port}", str(port)),
        files={**PROBE, "probe.yaml": "value: [unclosed\n"},
    )
    token = TOKEN
    if token_from_storage:
        created = orge_cmd("auth", "create-token", "operator", "-c", str(path))
        token = created.stdout.strip().splitlines()[-1]
    station = Station(path, env={"ORGE_HTTP_PORT": str(port)})
    try:
        station.wait_for("ORGE started")
        page = api(port, "/", token="")
        config = api(port, "/api/config", token)
        problems = api(port, "/api/config/problems", token)
        components = api(port, "/api/components", token)
        sensor = api(port, "/api/states/binary_sensor.configuration_problem", token)
        states = api(port, "/api/states", token)
    finally:
        output = station.stop()
    assert station.proc.returncode == 0, output
    assert "Traceback" not in output, output
    assert "starting in recovery mode" in output
    # Only the API, the web view and notifications: nothing that touches a charger.
    assert components == ["http", "persistent_notification"]
    assert 'id="config-banner"' in page
    assert config["recovery_mode"] is True and config["using_last_good"] is False
    assert any(expected in line for line in config["config_problems"]), config
    assert problems["mode"] == "recovery" and problems["last_good_saved_at"] is None
    assert sensor["state"] == "on" and sensor["attributes"]["recovery_mode"] is True
    # One notification per problem, each naming its file and line.
    messages = [
        s["attributes"]["message"]
        for s in states
        if s["entity_id"].startswith("persistent_notification.config_problem_")
    ]
    assert len(messages) == len(problems["problems"])
    assert any(expected in message for message in messages)
    assert all("recovery mode" in message for message in messages)
    assert find_last_good(str(path)) is None


@pytest.mark.parametrize("case", ["no_directory", "no_configuration_yaml", "a_file_not_a_dir"])
def test_nothing_to_run_is_one_line_and_exit_78(case: str, tmp_path: Path) -> None:
    target = {
        "no_directory": tmp_path / "missing",
        "no_configuration_yaml": tmp_path,
        "a_file_not_a_dir": tmp_path / "configuration.yaml",
    }[case]
    if case == "a_file_not_a_dir":
        target.write_text("orge:\n")
    result = orge_cmd("run", "-c", str(target))
    assert result.returncode == 78
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("orge: ") and str(target) in result.stderr
    assert "Traceback" not in result.stderr
    # Under systemd the line carries priority err, so `journalctl -p err` shows it.
    journal = orge_cmd("run", "-c", str(target), env={"JOURNAL_STREAM": "8:1234"})
    assert journal.returncode == 78 and journal.stderr.startswith("<3>orge: ")


def test_shipped_unit_does_not_restart_on_exit_78(tmp_path: Path) -> None:
    unit = (REPO / "deploy" / "orge.service").read_text()
    assert "RestartPreventExitStatus=78" in unit.splitlines()
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    # Point ExecStart at this checkout's orge so verify checks the unit, not the install.
    local = tmp_path / "orge.service"
    program = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    program = program.removeprefix("ExecStart=").split()[0]
    local.write_text(unit.replace(program, str(REPO / ".venv/bin/orge")))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(local)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "Failed to parse" not in result.stderr and "Unknown key" not in result.stderr


@pytest.fixture
def running(config_dir) -> Iterator[tuple[Path, Station]]:  # type: ignore[no-untyped-def]
    path = config_dir("orge:\n  name: first\n")
    station = Station(path)
    station.wait_for("ORGE started")
    yield path, station
    station.stop()


def test_second_run_on_one_dir_exits_at_once(running: tuple[Path, Station]) -> None:
    path, first = running
    start = time.monotonic()
    second = orge_cmd("run", "-c", str(path))
    assert time.monotonic() - start < 10
    assert second.returncode == 75
    assert f"already running (pid {first.proc.pid})" in second.stderr
    assert "Traceback" not in second.stderr
    status = orge_cmd("status", "-c", str(path))
    assert status.returncode == 0 and f"(pid {first.proc.pid})" in status.stdout
    assert first.proc.poll() is None  # the first one is untouched
    first.stop()
    assert orge_cmd("status", "-c", str(path)).returncode == 3


def test_once_refuses_beside_running_station(running: tuple[Path, Station]) -> None:
    path, first = running
    result = orge_cmd("once", "-c", str(path), "--timeout", "2")
    assert result.returncode == 1
    answer = json.loads(result.stdout)
    assert answer["ok"] is False
    assert f"already running (pid {first.proc.pid})" in answer["error"]
    assert "systemctl stop orge" in answer["error"] and "systemctl stop orge" in result.stderr


def test_scripts_run_touches_no_token_beside_running_station(
    running: tuple[Path, Station],
) -> None:
    path, first = running
    assert orge_cmd("auth", "create-token", "local-web-view", "-c", str(path)).returncode == 0
    before = json.loads(orge_cmd("auth", "list", "--json", "-c", str(path)).stdout)
    result = subprocess.run(
        [str(REPO / "scripts" / "run")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ORGE_CONFIG": str(path)},
    )
    assert result.returncode == 1
    assert f"already running (pid {first.proc.pid})" in result.stderr
    after = json.loads(orge_cmd("auth", "list", "--json", "-c", str(path)).stdout)
    assert after == before


def test_port_in_use_is_logged_and_the_rest_runs(config_dir) -> None:  # type: ignore[no-untyped-def]
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    path = config_dir(
        f"http:\n  server_host: 127.0.0.1\n  server_port: {port}\nprobe:\n  value: up\n",
        files=PROBE,
    )
    station = Station(path)
    try:
        started = station.wait_for("ORGE started")
        assert station.proc.poll() is None
    finally:
        output = station.stop()
        blocker.close()
    assert "probe" in started
    assert f"port {port} on 127.0.0.1 is in use by another program" in output
    assert "`http: server_port`" in output and "ORGE_HTTP_PORT" in output
    assert "Traceback" not in output
    # A start with a component down is not a good start.
    assert find_last_good(str(path)) is None


# --- the parts, in one process ------------------------------------------------------------


def test_lock_names_its_holder_and_dies_with_it(tmp_path: Path) -> None:
    assert running_pid(str(tmp_path)) is None
    with InstanceLock(str(tmp_path)):
        assert running_pid(str(tmp_path)) == os.getpid()
        with pytest.raises(AlreadyRunning) as err:
            InstanceLock(str(tmp_path)).acquire()
        assert err.value.pid == os.getpid()
    assert running_pid(str(tmp_path)) is None
    # A killed holder leaves the file but no lock.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from orge.lock import InstanceLock; "
            f"InstanceLock({str(tmp_path)!r}).acquire(); print('locked', flush=True); "
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    assert running_pid(str(tmp_path)) == holder.pid
    holder.kill()
    holder.wait()
    assert running_pid(str(tmp_path)) is None
    InstanceLock(str(tmp_path)).acquire()


def test_track_files_records_includes_and_secrets(config_dir) -> None:  # type: ignore[no-untyped-def]
    path = config_dir(
        "a: !include a.yaml\nnamed: !include_dir_named parts\n",
        files={
            "a.yaml": "x: !secret s\n",
            "secrets.yaml": "s: v\n",
            "parts/one.yaml": "1\n",
            "unused.yaml": "never: read\n",
        },
    )
    with track_files() as files:
        load_yaml(str(path / "configuration.yaml"), str(path))
    assert set(files) == {
        str(path / name)
        for name in ("configuration.yaml", "a.yaml", "secrets.yaml", "parts/one.yaml")
    } | {str(path / "parts") + os.sep}
    assert files[str(path / "a.yaml")] == "x: !secret s\n"


def test_save_last_good_is_atomic_and_skips_unchanged(config_dir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = config_dir(
        "a: !include sub/a.yaml\nb: !include_dir_merge_list empty\n",
        files={"sub/a.yaml": "x: 1\n"},
    )
    (path / "empty").mkdir()
    os.chmod(path / "sub/a.yaml", 0o640)
    with track_files() as files:
        load_yaml(str(path / "configuration.yaml"), str(path))
    first = save_last_good(str(path), files)
    assert first is not None and last_good_saved_at(str(path)) == first
    copy = path / ".storage/last_good"
    assert (copy / "sub/a.yaml").read_text() == "x: 1\n"
    assert stat.S_IMODE((copy / "sub/a.yaml").stat().st_mode) == 0o640
    # The copy loads on its own, the empty include folder too.
    assert load_configuration(str(path), find_last_good(str(path))) == {"a": {"x": 1}, "b": []}
    assert save_last_good(str(path), files) == first  # same files: not written again
    files[str(path / "sub/a.yaml")] = "x: 2\n"
    second = save_last_good(str(path), files)
    assert second is not None and second >= first
    assert (copy / "sub/a.yaml").read_text() == "x: 2\n"
    assert not (path / ".storage/last_good.new").exists()
    assert not (path / ".storage/last_good.old").exists()
    # A file outside the config dir cannot keep its place in a copy: no copy at all.
    files[str(tmp_path.parent / "elsewhere.yaml")] = "y: 1\n"
    assert save_last_good(str(path), files) is None
    assert (copy / "sub/a.yaml").read_text() == "x: 2\n"


def test_recovery_mode_http_block_broken_uses_defaults_and_port_variable(
    config_dir: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from orge.setup import check_configuration, recovery_mode_result

    path = config_dir(
        "http:\n  server_port: not_a_port\n  access_tokens: []\nesp32:\n  port: /dev/ttyUSB0\n"
    )
    broken = check_configuration(str(path))
    assert any("'http'" in line and "line 2" in line for line in broken.problems)
    monkeypatch.setenv("ORGE_HTTP_PORT", "18555")
    result = recovery_mode_result(broken)
    assert [c.domain for c in result.order] == ["http", "persistent_notification"]
    assert result.blocks["http"]["server_port"] == 18555
    assert result.blocks["http"]["server_host"] == ["0.0.0.0"]
    assert not result.problems
    monkeypatch.delenv("ORGE_HTTP_PORT")
    assert recovery_mode_result(broken).blocks["http"]["server_port"] == 8000


async def test_last_good_copy_only_after_a_clean_deep_check(
    config_dir: Callable[..., Path], start_station: Callable[..., Any]
) -> None:
    """As in Home Assistant an invalid automation is skipped and the others run, but such a
    configuration is not kept as the last good one; nor is one edited since the start."""
    from orge.setup import async_keep_last_good

    good = "automation:\n  - id: fine\n    triggers: {trigger: event, event_type: go}\n    actions: [{delay: 1}]\n"
    bad = (
        good
        + "  - id: bad\n    triggers: {trigger: state, entity_id: sensor.x, for: soon}\n    actions: [{delay: 1}]\n"
    )
    path = config_dir(bad)
    hub, result = await start_station(path)
    assert not result.problems and hub.states.get("automation.fine").state == "on"
    assert await async_keep_last_good(hub) is None
    assert find_last_good(str(path)) is None

    path.joinpath("configuration.yaml").write_text(good)
    hub, _result = await start_station(path)
    path.joinpath("configuration.yaml").write_text(good + "# edited\n")
    assert await async_keep_last_good(hub) is None  # not the files this start read
    path.joinpath("configuration.yaml").write_text(good)
    saved = await async_keep_last_good(hub)
    assert saved is not None and last_good_saved_at(str(path)) == saved
    sensor = hub.states.get("binary_sensor.configuration_problem")
    assert sensor.state == "off" and sensor.attributes["last_good_saved_at"] is not None


async def test_unloadable_last_good_copy_falls_back_to_recovery_mode(
    config_dir: Callable[..., Path],
    start_station: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from orge.recovery import recovery_status

    path = config_dir("probe:\n  value: before\n", files=PROBE)
    with track_files() as files:
        load_yaml(str(path / "configuration.yaml"), str(path))
    assert save_last_good(str(path), files) is not None
    (path / ".storage/last_good/configuration.yaml").write_text("probe: [\n")
    (path / "configuration.yaml").write_text("probe:\n  value: 1\n")
    monkeypatch.setenv("ORGE_HTTP_PORT", str(free_port()))
    hub, _result = await start_station(path)
    status = recovery_status(hub)
    assert status.mode == "recovery"
    assert sorted(hub.config.components) == ["http", "persistent_notification"]
    assert status.problems[0].startswith("Invalid config for 'probe' at configuration.yaml, line 2")
    assert status.problems[1] == (
        "The last good copy does not load either: configuration.yaml, line 1: invalid YAML: "
        "a '[' opened on line 1 is never closed (the parser says: while parsing a flow node: "
        "expected the node content, but found '<stream end>')"
    )
    assert hub.states.get("persistent_notification.config_problem_2") is not None
