"""The `orge` command as an operator and systemd use it: a real subprocess each time."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO

CUSTOM = {
    "custom_components/probe/manifest.yaml": "domain: probe\nname: Probe\n",
    "custom_components/probe/__init__.py": (
        "import voluptuous as vol\n"
        "CONFIG_SCHEMA = vol.Schema({vol.Optional('password'): str, vol.Optional('port'): int})\n"
        "async def async_setup(orge, config):\n"
        "    import logging\n"
        "    logging.getLogger(__name__).warning('probe password is %s', config.get('password'))\n"
        "    return True\n"
    ),
}


def orge_cmd(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orge", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        cwd=cwd or REPO,
        timeout=timeout,
    )


def test_version_and_help() -> None:
    from orge import __version__

    assert orge_cmd("--version").stdout.strip() == f"orge {__version__}"
    for command in ("run", "check-config"):
        result = orge_cmd(command, "--help")
        assert result.returncode == 0 and "-c DIR" in result.stdout


def test_check_config_valid_and_json(config_dir) -> None:  # type: ignore[no-untyped-def]
    path = config_dir("orge:\n  name: ok\nprobe:\n  port: 5\n", files=CUSTOM)
    result = orge_cmd("check-config", "-c", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout
    result = orge_cmd("check-config", "-c", str(path), "--json")
    data = json.loads(result.stdout)
    assert data["valid"] is True and data["components"] == ["probe"]


def test_check_config_problems_exit_1_and_mask_secrets(config_dir) -> None:  # type: ignore[no-untyped-def]
    path = config_dir(
        "orge:\n  time_zone: Nowhere/Else\nprobe:\n  password: !secret pw\n  port: !secret pw\n",
        files={**CUSTOM, "secrets.yaml": "pw: correct-horse-battery\n"},
    )
    result = orge_cmd("check-config", "-c", str(path))
    assert result.returncode == 1
    assert "configuration.yaml, line 2" in result.stdout and "invalid time zone" in result.stdout
    assert "Invalid config for 'probe' at configuration.yaml, line 5: expected int" in result.stdout
    assert "'***'" in result.stdout
    assert "correct-horse-battery" not in result.stdout + result.stderr
    data = json.loads(orge_cmd("check-config", "-c", str(path), "--json").stdout)
    assert data["valid"] is False and set(data["errors"]) == {"orge", "probe"}


def test_check_config_broken_yaml(config_dir) -> None:  # type: ignore[no-untyped-def]
    path = config_dir("orge:\n  name: [unclosed\nprobe:\n")
    result = orge_cmd("check-config", "-c", str(path))
    assert result.returncode == 1
    assert "configuration.yaml, line 3: invalid YAML" in result.stdout


def _recv_all(sock: socket.socket, until: str, timeout: float) -> list[str]:
    messages: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and until not in messages:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            break
    return messages


def test_run_speaks_systemd_and_stops_on_sigterm_within_5s(config_dir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = config_dir(
        "orge:\n  name: t\nprobe:\n  password: !secret pw\n",
        files={**CUSTOM, "secrets.yaml": "pw: correct-horse-battery\n"},
    )
    notify_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(notify_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "orge", "run", "-c", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": str(REPO),
            "NOTIFY_SOCKET": notify_path,
            "WATCHDOG_USEC": "400000",
            "JOURNAL_STREAM": "8:1234",
        },
    )
    try:
        messages = _recv_all(sock, "READY=1", 20)
        assert "READY=1" in messages
        assert "WATCHDOG=1" in _recv_all(sock, "WATCHDOG=1", 2)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=10)
        assert time.monotonic() - start < 5
        assert proc.returncode == 0
        assert "STOPPING=1" in _recv_all(sock, "STOPPING=1", 2)
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert "correct-horse-battery" not in output
    assert "probe password is ***" in output
    # Under journald: a syslog priority per line and no timestamp (journald adds its own).
    assert "<6>INFO [orge.cli] ORGE started" in output
    assert "<4>WARNING [custom_components.probe] probe password is ***" in output


def test_run_sigint_and_plain_log_format(config_dir) -> None:  # type: ignore[no-untyped-def]
    path = config_dir("orge:\n  name: t\n")
    env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "NOTIFY_SOCKET")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "orge", "run", "-c", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**env, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "ORGE started" in line:
            break
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert " INFO (MainThread) [orge.cli] ORGE started" in line
    assert line[:4].isdigit()  # starts with the date
    assert "Received SIGINT" in rest


def test_installed_wheel_runs_from_another_directory(tmp_path: Path, config_dir) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "site"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    assert (target / "components" / "__init__.py").is_file()
    path = config_dir("orge:\n  name: wheel\nprobe:\n  port: 1\n", files=CUSTOM)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [str(target / "bin" / "orge"), "check-config", "-c", str(path)],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(target)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Every built-in component's manifest shipped with the wheel.
    shipped = {p.parent.name for p in (target / "components").glob("*/manifest.yaml")}
    in_repo = {p.parent.name for p in (REPO / "components").glob("*/manifest.yaml")}
    assert shipped == in_repo
