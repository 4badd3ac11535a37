"""The configurations that ship: the default station and the documented example."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO

EXAMPLE_SECRETS = {
    "ngrok_authtoken": "2exampleNgrokToken",
    "http_token": "example-http-token-0123456789",
    "station_password": "example-station-password",
    "mqtt_password": "example-mqtt-password",
}


def run_check(config: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orge", "check-config", "-c", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )


def test_default_config_is_valid() -> None:
    result = run_check(REPO / "config")
    data = json.loads(result.stdout)
    assert data["errors"] == {} and result.returncode == 0, result.stdout


def test_example_documents_valid_options(tmp_path: Path) -> None:
    """configuration.yaml.example passes check-config (with its secrets supplied)."""
    shutil.copy(REPO / "configuration.yaml.example", tmp_path / "configuration.yaml")
    (tmp_path / "secrets.yaml").write_text(
        "".join(f"{key}: {value}\n" for key, value in EXAMPLE_SECRETS.items())
    )
    result = run_check(tmp_path)
    data = json.loads(result.stdout)
    assert data["errors"] == {} and result.returncode == 0, result.stdout
    for secret in EXAMPLE_SECRETS.values():
        assert secret not in result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_default_station_starts_and_stops_within_5s(tmp_path: Path) -> None:
    """The README's main job: the default config runs, serves port 8000's API, stops on
    SIGTERM within 5 s. Run on a copy with free ports so parallel runs do not collide."""
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config, ignore=shutil.ignore_patterns(".storage"))
    notify_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(notify_path)
    csms_port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "NOTIFY_SOCKET": notify_path,
        "ORGE_HTTP_PORT": str(_free_port()),
        "ORGE_DEMO_CSMS_PORT": str(csms_port),
        "OCPP_201_URL": f"ws://127.0.0.1:{csms_port}/ocpp",
        "OCPP_16_URL": f"ws://127.0.0.1:{csms_port}/ocpp",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "orge", "run", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        sock.settimeout(30)
        assert sock.recv(100) == b"READY=1"
        time.sleep(1.0)  # let the charger and the CSMS link come up
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=15)
        stop_seconds = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert proc.returncode == 0, output
    assert stop_seconds < 5, output
    assert "failed to set up" not in output, output
    assert "Traceback" not in output, output
