"""`orge scaffold component`: the generated component passes its own test, loads in
`orge check-config` and `orge run`, and shows its entity and service over the HTTP API."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from orge.scaffold import ScaffoldError, _targets, scaffold_component

REPO = Path(__file__).resolve().parents[2]
TOKEN = "scaffold-test-token-0123456789"


def orge_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orge", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def api(port: int, path: str, body: dict | None = None) -> tuple[int, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read() or b"null")


def wait_for_api(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"orge run exited {proc.returncode}: {proc.stdout.read()}")
        try:
            api(port, "/api/")
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("orge run never answered on its HTTP port")


def test_scaffolded_custom_component_works(tmp_path: Path) -> None:
    created = orge_cli("scaffold", "component", "pulse_meter", "-c", str(tmp_path))
    assert created.returncode == 0, created.stderr
    folder = tmp_path / "custom_components" / "pulse_meter"
    for name in ("manifest.yaml", "__init__.py", "services.yaml", "tests/test_pulse_meter.py"):
        assert (folder / name).is_file(), name

    # Its generated test passes as generated, run the way a developer runs it.
    generated = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=folder, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "3 passed" in generated.stdout

    port = free_port()
    (tmp_path / "configuration.yaml").write_text(
        "pulse_meter:\n  name: Pulses\n  initial: 4\n"
        "http:\n  server_host: 127.0.0.1\n"
        f"  server_port: {port}\n"
        f"  access_tokens:\n    - name: test\n      token: {TOKEN}\n"
    )
    checked = orge_cli("check-config", "-c", str(tmp_path), "--json", "--strict")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    answer = json.loads(checked.stdout)
    assert answer["valid"] and "pulse_meter" in answer["components"]
    assert answer["warnings"] == []

    proc = subprocess.Popen(
        [sys.executable, "-m", "orge", "run", "-c", str(tmp_path)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        wait_for_api(port, proc)
        status, state = api(port, "/api/states/sensor.pulses_count")
        assert status == 200 and state["state"] == "4"
        _, services = api(port, "/api/services")
        mine = next(entry for entry in services if entry["domain"] == "pulse_meter")
        assert mine["services"]["increment"]["fields"]["amount"]["example"] == 5
        status, _ = api(port, "/api/services/pulse_meter/increment", {"amount": 3})
        assert status == 200
        _, state = api(port, "/api/states/sensor.pulses_count")
        assert state["state"] == "7"
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Pulse", "not a valid domain"),
        ("9lives", "not a valid domain"),
        ("pulse-meter", "not a valid domain"),
        ("", "not a valid domain"),
        ("sensor", "domain of the engine"),
        ("orge", "domain of the engine"),
        ("esp32", "already exists"),
    ],
)
def test_refuses_bad_or_taken_names(tmp_path: Path, name: str, reason: str) -> None:
    result = orge_cli("scaffold", "component", name, "-c", str(tmp_path))
    assert result.returncode == 1
    assert reason in result.stderr
    assert not (tmp_path / "custom_components").exists()


def test_refuses_a_custom_component_of_the_same_name(tmp_path: Path) -> None:
    scaffold_component("meter_two", str(tmp_path))
    with pytest.raises(ScaffoldError, match="already exists"):
        scaffold_component("meter_two", str(tmp_path))


def test_never_overwrites_a_file(tmp_path: Path) -> None:
    """A folder without a manifest is no component, but its files are kept: nothing is
    written when any target exists."""
    folder = tmp_path / "custom_components" / "relay"
    folder.mkdir(parents=True)
    (folder / "services.yaml").write_text("mine: {}\n")
    result = orge_cli("scaffold", "component", "relay", "-c", str(tmp_path))
    assert result.returncode == 1
    assert "never overwrites" in result.stderr
    assert (folder / "services.yaml").read_text() == "mine: {}\n"
    assert sorted(p.name for p in folder.iterdir()) == ["services.yaml"]


def test_builtin_targets_are_the_checkout() -> None:
    """Without -c the component goes to components/NAME/ and its test to
    tests/components/NAME/ (a package there, as the other component tests)."""
    folder, files = _targets("door_lock", None)
    assert Path(folder) == REPO / "components" / "door_lock"
    assert set(files) == {
        str(REPO / "components" / "door_lock" / name)
        for name in ("manifest.yaml", "__init__.py", "services.yaml")
    } | {
        str(REPO / "tests" / "components" / "door_lock" / name)
        for name in ("test_door_lock.py", "__init__.py")
    }
    assert (
        "import components.door_lock as component"
        in files[str(REPO / "tests" / "components" / "door_lock" / "test_door_lock.py")]
    )
