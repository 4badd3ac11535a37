"""`orge update` end to end: three wheels of ORGE built from copies of this tree (1.0.0,
1.1.0, and 1.2.0 which cannot start), installed side by side under a prefix, a real station
(`<prefix>/current/bin/orge run`) restarted by a stand-in for systemctl, health read from
its real HTTP API.

The releases' venvs take ORGE from their wheel and the libraries from this test venv's
site-packages (`--deps-from`), so no library is fetched and each release runs its own code:
the version the running station reports is the one its release installed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from orge.update import (
    RELEASE_FILE,
    Layout,
    Options,
    UpdateError,
    install_only,
    read_health,
    resolve_source,
)
from tests.conftest import REPO
from tests.deploy.wheels import SITE_PACKAGES, build_wheel

RESTART = Path(__file__).resolve().parent.parent / "deploy" / "restart_station.py"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("wheels")
    return {
        "1.0.0": build_wheel(tmp, "1.0.0"),
        "1.1.0": build_wheel(tmp, "1.1.0"),
        "1.2.0": build_wheel(tmp, "1.2.0", cannot_start=True),
    }


class Station:
    """A prefix, a configuration with a free port and a token, and the running station."""

    def __init__(self, tmp: Path) -> None:
        self.prefix = tmp / "opt" / "orge"
        self.config = tmp / "etc" / "orge" / "config"
        self.config.mkdir(parents=True)
        self.port = _free_port()
        (self.config / "configuration.yaml").write_text(
            f"orge:\n  name: Update test\nhttp:\n  server_port: {self.port}\n"
            "persistent_notification:\n"
        )
        self.pidfile = tmp / "orge.pid"
        self.log = tmp / "orge.log"
        self.token_file = tmp / "token"
        created = subprocess.run(
            [
                sys.executable,
                "-m",
                "orge",
                "auth",
                "create-token",
                "update",
                "-c",
                str(self.config),
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
        )
        self.token_file.write_text(created.stdout.strip().splitlines()[-1])
        self.restart = " ".join(
            [
                sys.executable,
                str(RESTART),
                str(self.prefix),
                str(self.config),
                str(self.pidfile),
                str(self.log),
            ]
        )

    def options(self, deadline: float = 60) -> Options:
        return Options(
            prefix=str(self.prefix),
            config=str(self.config),
            restart_command=self.restart,
            health_url=f"http://127.0.0.1:{self.port}/api/health",
            token=self.token_file.read_text(),
            deadline=deadline,
            deps_from=SITE_PACKAGES,
        )

    def update_cli(self, *args: str, deadline: float = 60) -> subprocess.CompletedProcess[str]:
        """`orge update ...` as an operator runs it: the live release's own orge."""
        return subprocess.run(
            [
                str(self.prefix / "current" / "bin" / "orge"),
                "update",
                *args,
                "--prefix",
                str(self.prefix),
                "-c",
                str(self.config),
                "--restart-command",
                self.restart,
                "--health-url",
                f"http://127.0.0.1:{self.port}/api/health",
                "--token-file",
                str(self.token_file),
                "--deps-from",
                SITE_PACKAGES,
                "--deadline",
                str(deadline),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )

    def serving_version(self) -> str:
        """The version the running station reports in `GET /api/config` (HA's shape)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/config",
            headers={"Authorization": f"Bearer {self.token_file.read_text()}"},
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())["version"]

    def pid(self) -> int:
        return int(self.pidfile.read_text())

    def stop(self) -> None:
        if self.pidfile.exists():
            try:
                os.kill(self.pid(), signal.SIGTERM)
            except ProcessLookupError:
                pass


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    station = Station(tmp_path)
    yield station
    station.stop()


def test_update_rollback_automatic_and_by_hand(station: Station, wheels: dict[str, Path]) -> None:
    # provisioning's first install, then the first start (as `systemctl enable --now`)
    install_only(str(wheels["1.0.0"]), station.options(), say=lambda _l: None)
    assert os.readlink(station.prefix / "current") == "releases/1.0.0"
    subprocess.run(station.restart.split(), check=True)
    deadline = time.monotonic() + 60
    while read_health(station.options().health_url, station.options().token).version != "1.0.0":
        assert time.monotonic() < deadline, station.log.read_text()
        time.sleep(0.5)

    # an update that works: the new code serves, the old release stays beside it
    done = station.update_cli("--to", str(wheels["1.1.0"]))
    assert done.returncode == 0, done.stderr
    assert "ORGE 1.1.0 is live and healthy" in done.stdout
    assert os.readlink(station.prefix / "current") == "releases/1.1.0"
    assert station.serving_version() == "1.1.0"
    assert Path(f"/proc/{station.pid()}/exe").exists()
    assert (station.prefix / "releases" / "1.0.0" / RELEASE_FILE).exists()

    # a release that cannot start: switched back, restarted, the old version serves again
    failed = station.update_cli("--to", str(wheels["1.2.0"]), deadline=15)
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert "update to 1.2.0 rolled back" in failed.stderr
    assert "ORGE 1.1.0 is live again and healthy again" in failed.stderr
    assert os.readlink(station.prefix / "current") == "releases/1.1.0"
    assert station.serving_version() == "1.1.0"
    assert "this build cannot start" in station.log.read_text()

    # by hand: back to the release before 1.1.0
    back = station.update_cli("--rollback")
    assert back.returncode == 0, back.stderr
    assert os.readlink(station.prefix / "current") == "releases/1.0.0"
    assert station.serving_version() == "1.0.0"

    status = station.update_cli("--status")
    assert status.returncode == 0
    lines = status.stdout.splitlines()
    assert [line[:8] for line in lines[:3]] == ["* 1.0.0 ", "  1.1.0 ", "  1.2.0 "]
    assert lines[3].startswith("last: rollback 1.0.0")


def test_config_that_fails_with_the_new_code_switches_nothing(
    station: Station, wheels: dict[str, Path]
) -> None:
    """check-config with the new code runs before the switch: a problem stops there, the
    live release is untouched and nothing is restarted."""
    install_only(str(wheels["1.0.0"]), station.options(), say=lambda _l: None)
    (station.config / "configuration.yaml").write_text("orge:\n  no_such_option: 1\n")
    with pytest.raises(
        UpdateError, match="does not pass check-config with 1.1.0; 1.0.0 stays live"
    ):
        from orge.update import update

        update(str(wheels["1.1.0"]), station.options(), say=lambda _l: None)
    assert os.readlink(station.prefix / "current") == "releases/1.0.0"
    assert not station.pidfile.exists()  # never restarted


def test_a_second_install_changes_nothing_and_an_incomplete_one_is_rebuilt(
    tmp_path: Path, wheels: dict[str, Path]
) -> None:
    options = Options(prefix=str(tmp_path / "orge"), deps_from=SITE_PACKAGES)
    lines: list[str] = []
    install_only(str(wheels["1.0.0"]), options, say=lines.append)
    release_file = tmp_path / "orge" / "releases" / "1.0.0" / RELEASE_FILE
    first = release_file.read_text()
    lines.clear()
    install_only(str(wheels["1.0.0"]), options, say=lines.append)
    assert lines[-1].startswith("unchanged:")
    assert release_file.read_text() == first
    # a power cut during an install leaves a folder without orge-release.json
    partial = tmp_path / "orge" / "releases" / "1.1.0"
    (partial / "bin").mkdir(parents=True)
    assert Layout(options.prefix).release("1.1.0") is None
    install_only(str(wheels["1.1.0"]), options, say=lines.append)
    assert "removing an incomplete install" in " ".join(lines)
    assert json.loads((partial / RELEASE_FILE).read_text())["orge_version"] == "1.1.0"
    assert os.readlink(tmp_path / "orge" / "current") == "releases/1.0.0"  # live stays


def test_sources_are_only_what_the_operator_named(tmp_path: Path) -> None:
    with pytest.raises(UpdateError, match="downloads nothing itself"):
        resolve_source("https://example.com/orge-9.0.0-py3-none-any.whl", None)
    with pytest.raises(UpdateError, match="no such wheel file"):
        resolve_source(str(tmp_path / "orge-9.0.0-py3-none-any.whl"), None)
    with pytest.raises(UpdateError, match="not an ORGE wheel name"):
        resolve_source(str(tmp_path / "other-1.0-py3-none-any.whl"), None)
    with pytest.raises(UpdateError, match="give --repo"):
        resolve_source("v1.0.0", None)
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    with pytest.raises(UpdateError, match="no such tag"):
        resolve_source("v1.0.0", str(tmp_path / "repo"))
    with pytest.raises(UpdateError, match="not a version name"):
        Layout(str(tmp_path)).release_path("../etc")


def test_switch_is_one_rename(tmp_path: Path) -> None:
    """`current` is replaced by rename(2): it exists at every instant and names a complete
    release; a release without its orge-release.json is refused."""
    layout = Layout(str(tmp_path))
    for version in ("1", "2"):
        path = Path(layout.release_path(version))
        path.mkdir(parents=True)
        (path / RELEASE_FILE).write_text(json.dumps({"version": version}))
    Path(layout.release_path("3")).mkdir()
    layout.switch("1")
    inode = os.lstat(layout.current).st_ino
    layout.switch("2")
    assert os.readlink(layout.current) == "releases/2"
    assert os.lstat(layout.current).st_ino != inode
    assert sorted(os.listdir(tmp_path)) == ["current", "releases"]
    with pytest.raises(UpdateError, match="release 3 is not installed"):
        layout.switch("3")
    assert layout.live() == "2"
