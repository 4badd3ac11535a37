"""`orge update` end to end: three wheels of ORGE built from copies of this tree (1.0.0,
1.1.0, and 1.2.0 which cannot start), installed side by side under a prefix, a real station
(`<prefix>/current/bin/orge run`) restarted by a stand-in for systemctl, health read from
its real HTTP API.

The releases' venvs take ORGE from their wheel and the libraries from this test venv's
site-packages (`--deps-from`), so no library is fetched and each release runs its own code:
the version the running station reports is the one its release installed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from orge.testing.ocpp_csms import self_signed_tls
from orge.update import (
    DOWNLOADS,
    RELEASE_FILE,
    Layout,
    Options,
    UpdateError,
    download_wheel,
    install_only,
    prune_releases,
    read_health,
    resolve_source,
    wait_healthy,
)
from tests.conftest import REPO
from tests.deploy.wheels import SITE_PACKAGES, build_wheels
from tests.fileservers import FileServer

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
RESTART = Path(__file__).resolve().parent.parent / "deploy" / "restart_station.py"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("wheels")
    return build_wheels(tmp, {"1.0.0": False, "1.1.0": False, "1.2.0": True})


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


@needs_git
def test_sources_are_only_what_the_operator_named(tmp_path: Path) -> None:
    with pytest.raises(UpdateError, match="downloads nothing else"):
        resolve_source("ftp://example.com/orge-9.0.0-py3-none-any.whl", None)
    with pytest.raises(UpdateError, match="not the URL of an ORGE wheel"):
        resolve_source("https://example.com/orge-9.0.0.tar.gz", None)
    url = "https://fleet:s3cret@example.com:8443/r/orge-9.0.0-py3-none-any.whl?token=t0k"
    source = resolve_source(url, None)
    assert (source.kind, source.version, source.location) == ("url", "9.0.0", url)
    # what is shown and recorded in orge-release.json: no credentials, no token
    assert source.describe() == "https://example.com:8443/r/orge-9.0.0-py3-none-any.whl"
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
    cache = tmp_path / "pycache"
    layout = Layout(str(tmp_path / "orge"), pycache=str(cache))
    for version in ("1", "2"):
        path = Path(layout.release_path(version))
        path.mkdir(parents=True)
        (path / RELEASE_FILE).write_text(json.dumps({"version": version}))
    Path(layout.release_path("3")).mkdir()
    layout.switch("1")
    inode = os.lstat(layout.current).st_ino
    # what the station compiled from release 1 through `current` (PYTHONPYCACHEPREFIX
    # mirrors source paths), and from a release's own path (a borrowed library)
    mirror = cache / layout.current.lstrip("/") / "lib"
    mirror.mkdir(parents=True)
    (mirror / "core.cpython-311.opt-2.pyc").write_bytes(b"release 1")
    borrowed = cache / layout.release_path("1").lstrip("/")
    borrowed.mkdir(parents=True)
    layout.switch("2")
    assert os.readlink(layout.current) == "releases/2"
    assert os.lstat(layout.current).st_ino != inode
    assert sorted(os.listdir(tmp_path / "orge")) == ["current", "releases"]
    assert not (cache / layout.current.lstrip("/")).exists()  # compiled again at the start
    assert borrowed.is_dir()  # the same files still
    with pytest.raises(UpdateError, match="release 3 is not installed"):
        layout.switch("3")
    assert layout.live() == "2"


class _Health(BaseHTTPRequestHandler):
    """GET /api/health answers `answer` (the shape of docs/operations.md); any other
    path 404; with `answer` None, /api/health is 404 too (a station without it)."""

    answer: dict[str, Any] | None = None

    def do_GET(self) -> None:
        if self.path == "/api/health" and self.answer is not None:
            body = json.dumps(self.answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(401 if self.path.startswith("/api/") else 404)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[str, type[_Health]]]:
    handler = type("Handler", (_Health,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/health", handler
    server.shutdown()
    server.server_close()


HEALTHY = {
    "status": "ok",
    "version": "1.1.0",
    "uptime_s": 12.5,
    "failed_components": [],
    "csms_connected": True,
    "last_good_config": False,
}


@pytest.mark.parametrize(
    ("answer", "csms_before", "problem"),
    [
        (HEALTHY, True, None),
        ({**HEALTHY, "csms_connected": False}, False, None),
        ({**HEALTHY, "csms_connected": None}, None, None),
        ({**HEALTHY, "csms_connected": False}, True, "the CSMS link is not up (it was before"),
        ({**HEALTHY, "version": "1.0.0"}, True, "runs version 1.0.0, not 1.1.0"),
        ({**HEALTHY, "status": "recovery"}, True, "the station is recovery"),
        ({**HEALTHY, "status": "degraded", "failed_components": ["esp32"]}, True, "is degraded"),
        ({**HEALTHY, "failed_components": ["esp32"]}, True, "components failed: esp32"),
    ],
)
def test_health_judged_as_the_issue_says(
    health_server: tuple[str, type[_Health]],
    answer: dict[str, Any],
    csms_before: bool | None,
    problem: str | None,
) -> None:
    """Healthy: ready (`ok`), every component up, the CSMS connected if it was before, and
    the new version serving."""
    url, handler = health_server
    handler.answer = answer
    found = read_health(url).problem("1.1.0", csms_before)
    assert found == problem if problem is None else problem in (found or "")


def test_no_health_and_no_token_is_not_healthy(health_server: tuple[str, type[_Health]]) -> None:
    url, _handler = health_server
    health = read_health(url)
    assert not health.reachable and health.detail == f"HTTP 401 from {url}"
    assert wait_healthy(url, None, "1.1.0", None, deadline=0) == (
        f"no answer from the station (HTTP 401 from {url})"
    )
    port = _free_port()  # nothing listens there
    assert "no answer from the station" in (
        read_health(f"http://127.0.0.1:{port}/api/health").problem("1.1.0", None) or ""
    )


@needs_git
def test_install_from_a_git_tag(tmp_path: Path) -> None:
    """`--to TAG --repo DIR`: the tag's tree (not the work tree) becomes the release."""
    repo = tmp_path / "repo"
    shutil.copytree(
        REPO,
        repo,
        ignore=shutil.ignore_patterns(".git", ".venv", "tests", "build", "*.egg-info", ".storage"),
    )
    init = repo / "orge" / "__init__.py"
    init.write_text('"""ORGE."""\n\n__version__ = "3.0.0"\n')
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "3.0.0"], check=True)
    subprocess.run([*git, "tag", "v3.0.0"], check=True)
    init.write_text('"""ORGE."""\n\n__version__ = "3.0.1.dev0"\n')  # not committed
    options = Options(prefix=str(tmp_path / "orge"), repo=str(repo), deps_from=SITE_PACKAGES)
    release = install_only("v3.0.0", options, say=lambda _l: None)
    assert release.version == "3.0.0"
    assert json.loads((Path(release.path) / RELEASE_FILE).read_text())["orge_version"] == "3.0.0"
    assert release.source == f"{repo}@v3.0.0"


def test_update_from_an_https_url_then_old_releases_deleted(
    station: Station, wheels: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--to https://...whl`: fetched from the server named (its certificate verified),
    installed, live; then the releases beyond the live one, the previous one and `--keep`
    are deleted."""
    tls, ca_file = self_signed_tls(str(tmp_path))
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)  # the station's CAs trust the test server
    install_only(str(wheels["1.0.0"]), station.options(), say=lambda _l: None)
    subprocess.run(station.restart.split(), check=True)
    deadline = time.monotonic() + 60
    while read_health(station.options().health_url, station.options().token).version != "1.0.0":
        assert time.monotonic() < deadline, station.log.read_text()
        time.sleep(0.5)
    # installed beside, never live: an old release by the time 1.1.0 is live
    install_only(str(wheels["1.2.0"]), station.options(), say=lambda _l: None)
    releases = station.prefix / "releases"
    assert sorted(os.listdir(releases)) == ["1.0.0", "1.2.0"]

    with FileServer(wheels["1.1.0"].parent, tls=tls) as server:
        url = server.url(wheels["1.1.0"].name)
        done = station.update_cli("--to", url, "--keep", "0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [(r.method, r.path) for r in server.received] == [("GET", f"/{wheels['1.1.0'].name}")]
    assert f"downloading {url}" in done.stdout
    assert os.readlink(station.prefix / "current") == "releases/1.1.0"
    assert station.serving_version() == "1.1.0"
    assert json.loads((releases / "1.1.0" / RELEASE_FILE).read_text())["source"] == url
    # live 1.1.0 and previous 1.0.0 stay; with --keep 0 nothing else: 1.2.0 is gone, and
    # the downloaded wheel too (the venv holds the code)
    assert sorted(os.listdir(releases)) == ["1.0.0", "1.1.0"]
    assert "removing old release 1.2.0" in done.stdout
    back = station.update_cli("--rollback")  # what stays is enough to go back
    assert back.returncode == 0, back.stderr
    assert station.serving_version() == "1.0.0"


def test_download_verifies_tls_and_stays_on_the_named_server(
    tmp_path: Path, wheels: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    tls, ca_file = self_signed_tls(str(tmp_path))
    downloads = tmp_path / "releases" / DOWNLOADS
    name = wheels["1.0.0"].name
    with FileServer(wheels["1.0.0"].parent, tls=tls) as server:
        # a certificate no CA of the system vouches for: refused, nothing written
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        with pytest.raises(UpdateError, match="CERTIFICATE_VERIFY_FAILED"):
            download_wheel(server.url(name), str(downloads))
        assert list(downloads.iterdir()) == []
        monkeypatch.setenv("SSL_CERT_FILE", ca_file)
        with pytest.raises(UpdateError, match="HTTP 404"):
            download_wheel(server.url("orge-7.0.0-py3-none-any.whl"), str(downloads))
        got = download_wheel(server.url(name), str(downloads))
        assert Path(got).read_bytes() == wheels["1.0.0"].read_bytes()
        # a user and password in the URL go as Basic auth (RFC 7617), never shown
        said: list[str] = []
        secret_url = server.url(name).replace("://", "://fleet:s3cr%40t@") + "?token=T0K"
        download_wheel(secret_url, str(downloads), said.append)
        last = server.received[-1]
        assert last.path == f"/{name}?token=T0K"
        assert last.headers["Authorization"] == "Basic " + base64.b64encode(b"fleet:s3cr@t").decode(
            "ascii"
        )
        assert said == [f"downloading {server.url(name)}"]
    # a port that is not a number: a clear error that does not quote the password
    with pytest.raises(UpdateError, match="not a usable URL") as refused:
        resolve_source("https://fleet:s3cret@example.invalid:x1/orge-1.0.0-py3-none-any.whl", None)
    assert "s3cret" not in str(refused.value)

    class Elsewhere(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{other}/{name}")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    other = _free_port()
    redirecting = ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    threading.Thread(target=redirecting.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{redirecting.server_address[1]}/{name}"
        with pytest.raises(UpdateError, match="another server than the one named"):
            download_wheel(url, str(tmp_path / "elsewhere"))
    finally:
        redirecting.shutdown()
        redirecting.server_close()


def test_prune_keeps_live_previous_and_n_more(tmp_path: Path) -> None:
    layout = Layout(str(tmp_path))
    for day, version in enumerate(["1.0", "1.1", "1.2", "1.3", "1.4", "1.5"], start=1):
        path = Path(layout.release_path(version))
        path.mkdir(parents=True)
        (path / "bin").mkdir()
        installed = f"2026-01-{day:02d}T00:00:00+00:00"
        (path / RELEASE_FILE).write_text(json.dumps({"installed_at": installed}))
    # 1.2 was live before 1.4 (1.3 and 1.5 were installed, never live); 1.4 is live
    layout.record(["1.0", "1.2", "1.4"], {"result": "updated", "version": "1.4"})
    layout.switch("1.4")
    lines: list[str] = []
    assert prune_releases(layout, 1, say=lines.append) == ["1.3", "1.1", "1.0"]
    assert sorted(os.listdir(layout.releases_dir)) == ["1.2", "1.4", "1.5"]
    assert lines[0] == f"removing old release 1.3 ({layout.releases_dir}/1.3)"
    assert prune_releases(layout, 1) == []  # nothing more to do
    # 1.5 takes its libraries from 1.2's venv (installed with --deps-from there)
    libraries = Path(layout.release_path("1.2"), "lib", "python3.11", "site-packages")
    libraries.mkdir(parents=True)
    own = Path(layout.release_path("1.5"), "lib", "python3.11", "site-packages")
    own.mkdir(parents=True)
    (own / "_orge_deps.pth").write_text(f"{libraries}\n")
    lines.clear()
    history = ["1.0", "1.2", "1.4", "1.5"]
    layout.record(history, {"result": "updated", "version": "1.5"})
    layout.switch("1.5")  # live 1.5, previous 1.4: 1.2 stays for 1.5's libraries
    assert prune_releases(layout, 0, say=lines.append) == []
    assert lines == ["keeping old release 1.2: 1.5 uses its libraries"]
    layout.record(history[:-1], {"result": "rollback", "version": "1.4"})
    layout.switch("1.4")
    assert prune_releases(layout, 0) == ["1.5"]
    assert [r.version for r in layout.releases()] == ["1.2", "1.4"]
    with pytest.raises(UpdateError, match="--keep must be 0 or more"):
        prune_releases(layout, -1)


def test_keep_is_checked_before_anything_is_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from orge.update import main

    for argv, env in ((["--keep", "-1"], None), ([], "two")):
        if env is not None:
            monkeypatch.setenv("ORGE_UPDATE_KEEP", env)
        with pytest.raises(SystemExit) as exit_info:
            main(["--to", str(tmp_path / "orge-1.0.0-py3-none-any.whl"), *argv])
        assert exit_info.value.code == 2  # argparse's usage error: nothing installed
        assert "--keep: " in capsys.readouterr().err


def test_sha256_is_checked_before_anything_is_installed(
    station: Station, wheels: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--sha256 HEX` (the digest the release notes publish): a wheel file or a download
    that does not have it is an error naming both digests, and nothing is installed,
    switched or left behind; the right digest (either case) installs, and is recorded."""
    import hashlib

    tls, ca_file = self_signed_tls(str(tmp_path))
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    install_only(str(wheels["1.0.0"]), station.options(), say=lambda _l: None)
    releases = station.prefix / "releases"
    right = hashlib.sha256(wheels["1.1.0"].read_bytes()).hexdigest()
    wrong = hashlib.sha256(b"another wheel").hexdigest()

    done = station.update_cli("--to", str(wheels["1.1.0"]), "--sha256", wrong)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"SHA-256 {right} is not the expected {wrong}" in done.stderr
    assert "nothing installed" in done.stderr
    assert sorted(os.listdir(releases)) == ["1.0.0"]
    assert os.readlink(station.prefix / "current") == "releases/1.0.0"

    with FileServer(wheels["1.1.0"].parent, tls=tls) as server:
        url = server.url(wheels["1.1.0"].name)
        bad = station.update_cli("--install-only", url, "--sha256", wrong)
        assert bad.returncode == 1, bad.stdout + bad.stderr
        assert f"{url}: SHA-256 {right} is not the expected {wrong}" in bad.stderr
        assert sorted(os.listdir(releases)) == ["1.0.0"]  # no venv, no .downloads left
        good = station.update_cli("--install-only", url, "--sha256", right.upper())
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"SHA-256 of {url} is the expected one" in good.stdout
    assert sorted(os.listdir(releases)) == ["1.0.0", "1.1.0"]
    assert json.loads((releases / "1.1.0" / RELEASE_FILE).read_text())["sha256"] == right
    assert os.readlink(station.prefix / "current") == "releases/1.0.0"  # installed beside


def test_sha256_malformed_or_for_a_tag_is_refused_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from orge.update import main

    wheel = tmp_path / "orge-1.0.0-py3-none-any.whl"
    wheel.write_bytes(b"not read: the digest is refused first")
    with pytest.raises(SystemExit) as exit_info:
        main(["--to", str(wheel), "--sha256", "abc123", "--prefix", str(tmp_path / "p")])
    assert exit_info.value.code == 2  # argparse's usage error: nothing done
    assert "--sha256: 'abc123' is not a SHA-256 digest" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
    with pytest.raises(UpdateError, match="--sha256 checks a wheel; v1.0 is not one"):
        resolve_source("v1.0", str(REPO), "0" * 64)
