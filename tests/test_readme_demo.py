"""The README on a clean clone: `pip install .` (not editable) into a new venv, run from
another directory; the web view answers, /api/health answers without a token, the demo
vehicle reaches `charging` by itself within 90 s, and SIGTERM stops ORGE within 5 s.

pip uses its normal cache (~/.cache/pip or $PIP_CACHE_DIR), so after the first run the
install takes seconds and needs no network.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import REPO

DEMO_DEADLINE = 90.0  # seconds from `orge run` to sensor.charger_state == charging


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, token: str | None = None) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.headers.get("Content-Type", ""), answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read()


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def test_readme_on_a_clean_clone(tmp_path: Path) -> None:
    clone, venv, elsewhere = tmp_path / "orge", tmp_path / "venv", tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    _run(["git", "clone", "-q", str(REPO), str(clone)], tmp_path, env, 60)
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env, 120)
    python, orge = str(venv / "bin" / "python"), str(venv / "bin" / "orge")
    _run([python, "-m", "pip", "install", "-q", str(clone)], elsewhere, env, 600)
    where = _run([python, "-c", "import orge; print(orge.__file__)"], elsewhere, env, 30)
    assert str(venv) in where and str(clone) not in where  # the installed copy runs

    config = str(clone / "config")
    http_port, csms_port = _free_port(), _free_port()
    env.update(
        ORGE_HTTP_PORT=str(http_port),
        ORGE_DEMO_CSMS_PORT=str(csms_port),
        OCPP_201_URL=f"ws://127.0.0.1:{csms_port}/ocpp",
        OCPP_16_URL=f"ws://127.0.0.1:{csms_port}/ocpp",
    )
    # What scripts/run does before it starts the station: a token for the web view.
    token = _run([orge, "auth", "create-token", "readme", "-c", config], elsewhere, env, 60)
    token = token.strip().splitlines()[-1]
    base = f"http://127.0.0.1:{http_port}"

    started = time.monotonic()
    proc = subprocess.Popen(
        [orge, "run", "-c", config],
        cwd=elsewhere,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    states: list[str] = []
    try:
        view = health = None
        while time.monotonic() - started < DEMO_DEADLINE and proc.poll() is None:
            try:
                if view is None:
                    view = _get(base + "/")
                if health is None:
                    health = _get(base + "/api/health")
                status, _, body = _get(base + "/api/states/sensor.charger_state", token)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
                continue
            if status == 200:
                state: Any = json.loads(body)["state"]
                if not states or states[-1] != state:
                    states.append(state)
                if state == "charging":
                    break
            time.sleep(0.5)
        reached = time.monotonic() - started
        assert states and states[-1] == "charging", f"states seen: {states}"
        assert reached < DEMO_DEADLINE
        assert view is not None and view[0] == 200 and view[1].startswith("text/html")
        assert health is not None and health[0] == 200
        assert json.loads(health[2])["status"] in ("ok", "degraded")
        # After start the station is whole: every component up, the CSMS link up.
        final = json.loads(_get(base + "/api/health")[2])
        assert final["status"] == "ok" and final["failed_components"] == [], final
        assert final["csms_connected"] is True, final

        stop = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=15)
        stop_seconds = time.monotonic() - stop
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, output
    assert stop_seconds < 5, output
    assert "Traceback" not in output, output
    assert token not in output
