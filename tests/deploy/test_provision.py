"""deploy/provision.sh under `--root` in a temporary directory, as a person runs it: the
fleet's existing /etc/ocpp_station.env, a wheel of ORGE, `orge once` against a real CSMS.
Run twice: the second run changes nothing and says so. `--dry-run` changes nothing. The
station password never appears in any output.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
import yaml

from orge.loader import _normalize
from tests.conftest import REPO
from tests.deploy.test_units import ANALYZE
from tests.deploy.wheels import SITE_PACKAGES, build_wheels
from tests.ocpp_csms import OcppCsms

PROVISION = REPO / "deploy" / "provision.sh"
STATION = "ORGE_AC_042"
PASSWORD = "s3cret-Station-Passw0rd"
NGROK_TOKEN = "2exampleNgrokAuthtoken0123"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheels(tmp_path_factory.mktemp("wheel"), {"2.0.0": False})["2.0.0"]


def fleet_env(url: str, **changes: str | None) -> str:
    """A station's /etc/ocpp_station.env as the fleet writes it today."""
    values: dict[str, str | None] = {
        "OCPP_STATION_NAME": STATION,
        "OCPP_STATION_PASSWORD": PASSWORD,
        "OCPP_PRIMARY": "201",
        "OCPP_201_URL": f"{url}/{STATION}",
        "OCPP_16_URL": f"{url}/{STATION}",
        "OCPP_HEARTBEAT_SECONDS": "60",
        **changes,
    }
    return "".join(f"{key}={value}\n" for key, value in values.items() if value is not None)


async def provision(*args: str | Path) -> tuple[int, str]:
    """Run provision.sh (without blocking the test CSMS's loop); stdout+stderr."""
    proc = await asyncio.create_subprocess_exec(
        "bash", str(PROVISION), "--python", sys.executable, "--deps-from", SITE_PACKAGES,
        *map(str, args),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        cwd="/", env={**os.environ, "PYTHONPATH": ""},
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 300)
    return proc.returncode or 0, out.decode()


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every file and link under root (mode, content hash / link target), but the state a
    station writes itself (.storage/) and Python's byte code."""
    files = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if "/.storage" in f"/{rel}" or "__pycache__" in rel:
            continue
        if path.is_symlink():
            files[rel] = (0, os.readlink(path))
        elif path.is_file():
            files[rel] = (path.stat().st_mode, hashlib.sha256(path.read_bytes()).hexdigest())
        else:
            files[rel] = (path.stat().st_mode, "")
    return files


async def test_provision_twice_under_root(tmp_path: Path, wheel: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    env_file = root / "etc" / "ocpp_station.env"
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        env_file.write_text(fleet_env(csms.url()))
        env_file.chmod(0o600)

        code, first = await provision("--env-file", env_file, "--root", root, "--wheel", wheel)
        assert code == 0, first
        assert [m.action for m in csms.received()][:1] == ["BootNotification"]  # orge once
        assert f"[8/9] CSMS: ok: orge once: the CSMS accepted {STATION}" in first
        assert first.rstrip().endswith("change(s).")
        assert os.readlink(root / "opt/orge/current") == "releases/2.0.0"
        assert (root / "etc/orge/config/configuration.yaml").read_bytes() == (
            REPO / "config/configuration.yaml"
        ).read_bytes()
        assert (root / "etc/systemd/system/orge.service").read_text() == (
            REPO / "deploy/orge.service"
        ).read_text()
        # the fleet's file is where the unit reads it: not copied, not changed
        assert not (root / "etc/orge/station.env").exists()
        assert "[6/9] station env: unchanged" in first
        # what needs the real system is named, not run
        assert "skipped (--root): useradd --system" in first
        assert "skipped (--root): systemctl enable orge" in first
        assert "skipped (--root): systemctl restart orge" in first

        before = snapshot(root)
        code, second = await provision("--env-file", env_file, "--root", root, "--wheel", wheel)
        assert code == 0, second
        assert second.rstrip().endswith("Nothing changed: the station was already provisioned.")
        assert ": changed:" not in second
        assert snapshot(root) == before
    for output in (first, second):
        assert PASSWORD not in output


async def test_a_station_env_elsewhere_is_installed_0600(tmp_path: Path, wheel: Path) -> None:
    root = tmp_path / "root"
    env_file = tmp_path / "station.env"
    env_file.write_text(
        fleet_env(
            "ws://127.0.0.1:9/ocpp", NGROK_AUTHTOKEN=NGROK_TOKEN, NGROK_DOMAIN="st42.ngrok.app"
        )
    )
    code, out = await provision(
        "--env-file", env_file, "--root", root, "--wheel", wheel, "--no-once"
    )
    assert code == 0, out
    assert os.readlink(root / "usr/local/bin/orge") == "/opt/orge/current/bin/orge"
    # the tunnel: its unit, and a config that names the domain but holds no token (the
    # agent reads NGROK_AUTHTOKEN from the env file, as the unit says)
    assert (root / "etc/systemd/system/ngrok.service").read_text() == (
        REPO / "deploy/ngrok.service"
    ).read_text()
    ngrok = (root / "etc/orge/ngrok.yml").read_text()
    assert "addr: 8000" in ngrok and "domain: st42.ngrok.app" in ngrok
    assert NGROK_TOKEN not in ngrok and NGROK_TOKEN not in out
    installed = root / "etc/orge/station.env"
    assert installed.read_text() == env_file.read_text()
    assert installed.stat().st_mode & 0o777 == 0o600
    assert PASSWORD not in out
    if ANALYZE:  # the unit it installed is one systemd accepts (paths as on the station)
        result = subprocess.run(
            [ANALYZE, "security", "--offline=true", f"--root={root}", "orge.service"],
            capture_output=True,
            text=True,
        )
        assert "Overall exposure level for orge.service" in result.stdout


async def test_dry_run_lists_the_steps_and_changes_nothing(tmp_path: Path, wheel: Path) -> None:
    root = tmp_path / "root"
    env_file = tmp_path / "ocpp_station.env"
    env_file.write_text(fleet_env("ws://127.0.0.1:9/ocpp"))
    code, out = await provision(
        "--env-file", env_file, "--root", root, "--wheel", wheel, "--dry-run"
    )
    assert code == 0, out
    assert not root.exists() or not any(root.iterdir())
    for step in range(1, 10):
        assert f"[{step}/9] " in out
    assert "[4/9] ORGE: would install" in out
    assert "[7/9] check: ok: Configuration in" in out  # checked with this checkout's code
    assert out.rstrip().endswith("Dry run: nothing was changed.")
    assert PASSWORD not in out


async def test_dry_run_needs_no_version(tmp_path: Path) -> None:
    """A fresh clone has no tags: a dry run still checks the env file and the configuration."""
    env_file = tmp_path / "ocpp_station.env"
    env_file.write_text(fleet_env("ws://127.0.0.1:9/ocpp"))
    code, out = await provision("--env-file", env_file, "--root", tmp_path / "root", "--dry-run")
    assert code == 0, out
    assert "[4/9] ORGE: would install (the --version TAG or --wheel FILE to give)" in out
    assert "[7/9] check: ok: Configuration in" in out
    assert PASSWORD not in out
    code, out = await provision("--env-file", env_file, "--root", tmp_path / "root")
    assert code == 2
    assert "give the version to install: --version TAG or --wheel FILE" in out


@pytest.mark.parametrize("missing", ["OCPP_STATION_NAME", "OCPP_STATION_PASSWORD"])
async def test_a_missing_variable_is_named(tmp_path: Path, wheel: Path, missing: str) -> None:
    env_file = tmp_path / "ocpp_station.env"
    env_file.write_text(fleet_env("ws://127.0.0.1:9/ocpp", **{missing: None}))
    root = tmp_path / "root"
    code, out = await provision("--env-file", env_file, "--root", root, "--wheel", wheel)
    assert code == 1
    assert f"[1/9] env file: {env_file} does not set {missing} (required)" in out
    assert PASSWORD not in out
    assert not root.exists() or not any(root.iterdir())  # stopped before changing anything


async def test_bad_lines_and_values_name_file_and_line(tmp_path: Path, wheel: Path) -> None:
    env_file = tmp_path / "ocpp_station.env"
    env_file.write_text(fleet_env("ws://127.0.0.1:9/ocpp") + "this is not an assignment\n")
    code, out = await provision(
        "--env-file", env_file, "--root", tmp_path, "--wheel", wheel, "--dry-run"
    )
    assert code == 1
    assert f"{env_file} line 7: no '=' on this line: systemd ignores it" in out
    env_file.write_text(fleet_env("http://csms.example/ocpp"))
    code, out = await provision(
        "--env-file", env_file, "--root", tmp_path, "--wheel", wheel, "--dry-run"
    )
    assert code == 1
    assert "OCPP_201_URL must be a ws:// or wss:// URL" in out
    assert PASSWORD not in out


async def test_a_configuration_with_problems_stops_at_the_check(
    tmp_path: Path, wheel: Path
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "configuration.yaml").write_text("orge:\n  name: x\nhttp:\n  server_port: nope\n")
    env_file = tmp_path / "ocpp_station.env"
    env_file.write_text(fleet_env("ws://127.0.0.1:9/ocpp"))
    code, out = await provision(
        "--env-file",
        env_file,
        "--root",
        tmp_path / "root",
        "--wheel",
        wheel,
        "--config-from",
        config,
        "--dry-run",
    )
    assert code == 1
    assert "[7/9] check: orge check-config found problems:" in out
    assert "configuration.yaml" in out and "server_port" in out


async def test_a_csms_that_refuses_the_station_stops_at_step_8(tmp_path: Path, wheel: Path) -> None:
    """The CSMS answers 401 (another password): provisioning stops before the units, says
    so, and prints the JSON of `orge once`, which never holds the password either."""
    root = tmp_path / "root"
    env_file = tmp_path / "ocpp_station.env"
    async with OcppCsms(passwords={STATION: "the-csms-expects-another"}) as csms:
        env_file.write_text(fleet_env(csms.url()))
        code, out = await provision("--env-file", env_file, "--root", root, "--wheel", wheel)
        assert any(a.outcome == "unauthorized" for a in csms.attempts)
    assert code == 1, out
    assert "[8/9] CSMS: orge once did not reach the CSMS:" in out
    assert '"ok": false' in out
    assert "[9/9]" not in out and not (root / "etc/systemd/system/orge.service").exists()
    assert PASSWORD not in out


async def test_a_wheel_without_the_published_sha256_installs_nothing(
    tmp_path: Path, wheel: Path
) -> None:
    """`--sha256 HEX` goes to `orge update --install-only`: a wheel with another digest
    stops step 4 with both digests named, and no release is installed."""
    env_file = tmp_path / "ocpp_station.env"
    env_file.write_text(fleet_env("ws://127.0.0.1:9/ocpp"))
    root = tmp_path / "root"
    right = hashlib.sha256(wheel.read_bytes()).hexdigest()
    wrong = hashlib.sha256(b"a wheel from elsewhere").hexdigest()
    code, out = await provision(
        "--env-file", env_file, "--root", root, "--wheel", wheel, "--sha256", wrong
    )
    assert code == 1, out
    assert "[4/9] ORGE: installing ORGE failed: " in out
    assert f"SHA-256 {right} is not the expected {wrong}" in out
    assert not (root / "opt" / "orge" / "current").exists()
    assert not (root / "opt" / "orge" / "releases" / "2.0.0").exists()
    code, out = await provision(
        "--env-file", env_file, "--root", root, "--wheel", wheel, "--sha256", "abc"
    )
    assert code == 1 and "--sha256: not 64 hexadecimal digits" in out


async def test_a_missing_python_is_named(tmp_path: Path) -> None:
    """A minimal Debian has no python3, which reads the env file: said, not `command not
    found` from the middle of the script (on the real system it is installed first)."""
    env_file = tmp_path / "ocpp_station.env"
    env_file.write_text(fleet_env("ws://127.0.0.1:9/ocpp"))
    root = tmp_path / "root"
    missing = tmp_path / "no" / "python3"
    code, out = await provision(
        "--env-file", env_file, "--root", root, "--dry-run", "--python", missing
    )
    assert code == 1, out
    assert f"[1/9] env file: {missing}: not found; it reads the env file" in out
    assert "command not found" not in out


async def test_the_configuration_is_installed_0644_root(tmp_path: Path, wheel: Path) -> None:
    """A checkout's files are 0664 (git archive) and owned by whoever cloned it; installed
    by root they were kept so, leaving the station's configuration writable by that user
    and group. Installed: 0644 files, 0755 folders, owned by the installer (root)."""
    config = tmp_path / "checkout" / "config"
    (config / "packages").mkdir(parents=True)
    (config / "configuration.yaml").write_text((REPO / "config/configuration.yaml").read_text())
    (config / "packages" / "extra.yaml").write_text("{}\n")
    for path in (config, config / "packages"):
        path.chmod(0o775)
    for path in (config / "configuration.yaml", config / "packages" / "extra.yaml"):
        path.chmod(0o664)
    if os.geteuid() == 0:  # the clone of a user (uid 1000), provisioned by root
        for path in (config, *config.rglob("*")):
            os.chown(path, 1000, 1000)
    env_file = tmp_path / "ocpp_station.env"
    env_file.write_text(fleet_env("ws://127.0.0.1:9/ocpp"))
    root = tmp_path / "root"
    code, out = await provision(
        "--env-file", env_file, "--root", root, "--wheel", wheel, "--no-once",
        "--config-from", config,
    )  # fmt: skip
    assert code == 0, out
    installed = root / "etc/orge/config"
    for path in (installed, installed / "packages"):
        assert path.stat().st_mode & 0o777 == 0o755, path
        assert path.stat().st_uid == os.geteuid(), path
    for path in (installed / "configuration.yaml", installed / "packages" / "extra.yaml"):
        assert path.stat().st_mode & 0o777 == 0o644, path
        assert path.stat().st_uid == os.geteuid(), path


def _name(requirement: str) -> str:
    """The project name of a requirement (PEP 508): `pymodbus[serial]>=3.16,<4` -> pymodbus."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    assert match, requirement
    return match.group(0)


def test_the_wheel_declares_every_library_its_components_need(wheel: Path) -> None:
    """A station gets its libraries from the wheel's Requires-Dist alone: a component
    whose manifest names another (ocpp16 and ocpp201 named websockets after it became a
    test library) fails `orge check-config` on a provisioned station, while every test
    venv has it."""
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        declared = {
            _normalize(_name(req))
            for req in Parser().parsestr(archive.read(metadata).decode()).get_all("Requires-Dist")
            if "extra ==" not in req
        }
        needed = {
            (name, _normalize(_name(requirement)))
            for name in archive.namelist()
            if name.startswith("components/") and name.endswith("/manifest.yaml")
            for requirement in yaml.safe_load(archive.read(name)).get("requirements") or []
        }
    assert needed, "no component manifest in the wheel"
    assert {(name, req) for name, req in needed if req not in declared} == set()
