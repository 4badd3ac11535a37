"""`orge update`: install a release beside the live one, check it, switch, restart, watch,
and switch back on its own when the new release is not healthy in time.

The layout under a prefix (default `/opt/orge`, the one `deploy/provision.sh` makes):

    <prefix>/releases/<version>/      one venv per release (bin/orge, bin/python, ...)
    <prefix>/releases/<version>/orge-release.json   written last: the release is complete
    <prefix>/current -> releases/<version>          the live release; the unit runs
                                                     <prefix>/current/bin/orge
    <prefix>/update.json                             which releases were live, in order

A release is complete only once `orge-release.json` is in it; a folder without it (a power
cut during an install) is removed and built again. The switch is one `rename(2)` of a new
symlink over `current`, so at every instant `current` names one complete release. Nothing
is ever downloaded from a place the operator did not name: the code comes from the wheel
file, the http(s) URL of a wheel (fetched with the standard library, the server's TLS
certificate and host name verified against the system's CAs or `SSL_CERT_FILE`, redirects
followed only on the same scheme, host and port) or the local git repository given, its
dependencies from pip's configured index, from `--wheelhouse DIR` only, or from an installed
site-packages (`--deps-from`).

Old releases are deleted after a successful update: the live one, the one live before it
(for `--rollback`) and the `--keep N` (default 1) most recently installed others stay.

This module uses the standard library only: `deploy/provision.sh` runs it from a wheel or
a source tree before any ORGE is installed (`python3 -m orge.update ...`).

Health (docs/operations.md): `GET /api/health` without a token, `{"status": "ok" |
"degraded" | "recovery", "version", "uptime_s", "failed_components", "csms_connected",
"last_good_config"}`; where a station does not have it yet, `GET /api/config` and
`GET /api/states` with a bearer token give the version, recovery mode, the last good copy and
failed components (`persistent_notification.setup_failed_<domain>`, orge/setup.py).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import http.client
import json
import os
import re
import shlex
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DEFAULT_PREFIX = "/opt/orge"
# deploy/orge.service's PYTHONPYCACHEPREFIX: the station's compiled modules, by source path
DEFAULT_PYCACHE = "/var/cache/orge/pycache"
DEFAULT_CONFIG = "/etc/orge/config"
DEFAULT_RESTART = "systemctl restart orge"
DEFAULT_HEALTH_URL = "http://127.0.0.1:8000/api/health"
DEFAULT_DEADLINE = 120.0
DEFAULT_KEEP = 1  # releases kept besides the live and the previous one
DEPS_PTH = "_orge_deps.pth"  # a release's line to the site-packages of --deps-from
DOWNLOADS = ".downloads"  # in the releases folder; not a version name, never a release
DOWNLOAD_TIMEOUT = 60.0  # s without a byte from the server
RELEASE_FILE = "orge-release.json"
STATE_FILE = "update.json"
LOCK_FILE = ".update.lock"
# PEP 427: {distribution}-{version}(-{build tag})?-{python tag}-{abi tag}-{platform tag}.whl
_WHEEL_NAME = re.compile(r"^orge-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")
_SHA256_HEX = re.compile(r"^[0-9A-Fa-f]{64}$")
_VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_SETUP_FAILED = "persistent_notification.setup_failed_"


class UpdateError(Exception):
    """An update, rollback or install that could not be done; the message says why and
    what state the station is in."""


class RolledBack(UpdateError):
    """The new release was not healthy in time; the previous one is live again."""


Say = Callable[[str], None]


def _quiet(_line: str) -> None:
    pass


# --- the layout ----------------------------------------------------------------------


@dataclass
class Release:
    """One installed release: `version` (its folder name), `path`, and what it came from."""

    version: str
    path: str
    source: str = ""
    installed_at: str = ""

    @property
    def orge(self) -> str:
        return os.path.join(self.path, "bin", "orge")


class Layout:
    """The releases under one prefix and the `current` symlink."""

    def __init__(self, prefix: str, pycache: str | None = None) -> None:
        self.prefix = os.path.abspath(prefix)
        self.pycache = pycache  # the station's compiled-module cache, None: not known
        self.releases_dir = os.path.join(self.prefix, "releases")
        self.current = os.path.join(self.prefix, "current")
        self.state_path = os.path.join(self.prefix, STATE_FILE)

    def release_path(self, version: str) -> str:
        if not _VERSION_NAME.match(version) or version in (".", ".."):
            raise UpdateError(f"{version!r} is not a version name (letters, digits, . _ + -)")
        return os.path.join(self.releases_dir, version)

    def release(self, version: str) -> Release | None:
        """The complete release of this version, or None."""
        path = self.release_path(version)
        try:
            with open(os.path.join(path, RELEASE_FILE), encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return None
        return Release(version, path, data.get("source", ""), data.get("installed_at", ""))

    def releases(self) -> list[Release]:
        """Complete releases, oldest install first."""
        try:
            names = os.listdir(self.releases_dir)
        except FileNotFoundError:
            return []
        found = [r for n in names if _VERSION_NAME.match(n) and (r := self.release(n))]
        return sorted(found, key=lambda r: (r.installed_at, r.version))

    def live(self) -> str | None:
        """The version `current` points to, or None before the first install."""
        try:
            target = os.readlink(self.current)
        except OSError:
            return None
        return os.path.basename(os.path.normpath(target))

    def switch(self, version: str) -> None:
        """Point `current` at this release in one rename (a reader sees the old or the new
        link, never none)."""
        if self.release(version) is None:
            raise UpdateError(f"release {version} is not installed in {self.releases_dir}")
        temporary = f"{self.current}.{os.getpid()}.new"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        os.symlink(os.path.join("releases", version), temporary)
        os.replace(temporary, self.current)
        _fsync_dir(self.prefix)
        self.forget_compiled()

    def forget_compiled(self) -> None:
        """Drop the station's compiled modules of `current/...`: its cache (the unit's
        PYTHONPYCACHEPREFIX) is keyed by source path, and those paths now name another
        release's files. Python would compile a changed file again only if its size or
        time differed; the next start compiles them all instead (once)."""
        if self.pycache:
            mirror = os.path.join(self.pycache, self.current.lstrip(os.sep))
            shutil.rmtree(mirror, ignore_errors=True)

    def history(self) -> list[str]:
        """Versions that were live, oldest first (the last one is live)."""
        try:
            with open(self.state_path, encoding="utf-8") as handle:
                return list(json.load(handle).get("history", []))
        except (OSError, ValueError):
            return []

    def record(self, history: list[str], result: dict[str, Any]) -> None:
        data = {"history": history[-20:], "last": result}
        _write_atomic(self.state_path, json.dumps(data, indent=2) + "\n")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One update at a time per prefix (a second one fails at once)."""
        os.makedirs(self.prefix, exist_ok=True)
        with open(os.path.join(self.prefix, LOCK_FILE), "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UpdateError(f"another `orge update` is running on {self.prefix}") from None
            yield


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: str, text: str) -> None:
    fd, temporary = tempfile.mkstemp(prefix=".tmp.", dir=os.path.dirname(path))
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


# --- installing a release ------------------------------------------------------------


@dataclass
class Source:
    """What to install: a wheel file, or a tag of a local git repository."""

    kind: str  # "wheel" | "url" | "tag"
    version: str
    location: str  # the wheel's path, or the repository
    tag: str = ""
    url: str = ""  # where a downloaded wheel came from (without credentials or query)
    sha256: str = ""  # the wheel's expected SHA-256 (64 lower-case hex digits), or ""

    def describe(self) -> str:
        if self.url:
            return self.url
        return self.location if self.kind == "wheel" else f"{self.location}@{self.tag}"


def shown_url(url: str) -> str:
    """A URL as it may be shown and recorded: without user, password, query and fragment
    (where a download token would be)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # not a number: shown as it is after the host (no secret there)
        port = parts.netloc.rpartition("@")[2].rpartition(":")[2] or None
    netloc = f"{host}:{port}" if port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def sha256_hex(text: str) -> str:
    """`--sha256`: the SHA-256 of a wheel as release notes publish it (64 hex digits, either
    case; `sha256sum` prints it), lower-cased. Raises ValueError for anything else."""
    text = text.strip().removeprefix("sha256:")
    if not _SHA256_HEX.match(text):
        raise ValueError(f"{text!r} is not a SHA-256 digest (64 hexadecimal digits)")
    return text.lower()


def verify_sha256(path: str, expected: str, shown: str) -> None:
    """Raise UpdateError unless the file at `path` has the SHA-256 `expected` (lower-case
    hex); `shown` names the wheel in the message (its URL without credentials, or path)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise UpdateError(
            f"{shown}: SHA-256 {digest.hexdigest()} is not the expected {expected} "
            "(--sha256): not this release's wheel, or damaged; nothing installed"
        )


def resolve_source(to: str, repo: str | None, sha256: str | None = None) -> Source:
    """`--to`: a path to `orge-<version>-...whl` (or `file://` URL to one), the http(s) URL
    of such a wheel (downloaded by `install_release` only if that version is not installed
    yet), else a tag of the git repository `repo`. With `sha256` (see `sha256_hex`) the
    wheel must have that digest: a wheel file is checked here, a download once fetched and
    before anything is installed. Raises UpdateError for anything else, a digest that does
    not match, or a digest given for a git tag (there is no wheel to check)."""
    if not sha256:
        return _source(to, repo)
    try:
        expected = sha256_hex(sha256)
    except ValueError as err:
        raise UpdateError(f"--sha256: {err}") from None
    if not to.startswith(("http://", "https://")) and not to.endswith(".whl"):
        raise UpdateError(f"--sha256 checks a wheel; {to} is not one (a git tag has none)")
    source = _source(to, repo)
    source.sha256 = expected
    if source.kind == "wheel":
        verify_sha256(source.location, expected, source.describe())
    return source


def _source(to: str, repo: str | None) -> Source:
    if to.startswith(("http://", "https://")):
        try:
            _request(to)
        except ValueError as err:
            raise UpdateError(f"{shown_url(to)}: not a usable URL ({err})") from None
        name = urllib.parse.unquote(os.path.basename(urllib.parse.urlsplit(to).path))
        match = _WHEEL_NAME.match(name)
        if not match:
            raise UpdateError(
                f"{shown_url(to)}: not the URL of an ORGE wheel (orge-<version>-...whl)"
            )
        return Source("url", match["version"], to, url=shown_url(to))
    path = to[len("file://") :] if to.startswith("file://") else to
    if "://" in path:
        raise UpdateError(
            f"{shown_url(to)}: give a wheel file, an http(s) URL of one, or a tag of a local "
            "git repository; ORGE downloads nothing else"
        )
    if path.endswith(".whl"):
        match = _WHEEL_NAME.match(os.path.basename(path))
        if not match:
            raise UpdateError(f"{to}: not an ORGE wheel name (orge-<version>-...whl)")
        if not os.path.isfile(path):
            raise UpdateError(f"{to}: no such wheel file")
        return Source("wheel", match["version"], os.path.abspath(path))
    if not repo:
        raise UpdateError(f"{to}: not a wheel file; for a git tag give --repo DIR")
    found = subprocess.run(
        ["git", "-C", repo, "rev-parse", "--verify", "--quiet", f"refs/tags/{to}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if found.returncode != 0:
        raise UpdateError(f"{to}: no such tag in the git repository {repo}")
    return Source("tag", to.removeprefix("v") if to[1:2].isdigit() else to, repo, to)


def install_release(
    layout: Layout,
    source: Source,
    *,
    python: str = sys.executable,
    deps_from: str | None = None,
    wheelhouse: str | None = None,
    say: Say = _quiet,
) -> tuple[Release, bool]:
    """Build `<prefix>/releases/<version>/` (a venv with ORGE from `source`) unless it is
    already complete. Returns the release and whether anything was installed.

    `deps_from`: a site-packages folder whose packages the release uses (a `.pth` line)
    while pip installs ORGE alone (`--no-deps`): nothing is fetched. `wheelhouse`: pip
    installs from that folder only (`--no-index --find-links`). Neither: pip's configured
    index. Raises UpdateError when pip or the build fails (the half-built folder is
    removed) or when the installed code is not the version named.
    """
    existing = layout.release(source.version)
    if existing:
        say(f"release {source.version} is already installed in {existing.path}")
        return existing, False
    path = layout.release_path(source.version)
    if os.path.exists(path):
        say(f"removing an incomplete install in {path}")
        shutil.rmtree(path)
    os.makedirs(layout.releases_dir, exist_ok=True)
    say(f"installing ORGE {source.version} from {source.describe()} into {path}")
    try:
        with tempfile.TemporaryDirectory(prefix="orge-update-") as scratch:
            if source.kind == "url":
                downloads = os.path.join(layout.releases_dir, DOWNLOADS)
                wheel = download_wheel(source.location, downloads, say)
                if source.sha256:  # before the venv: a wrong wheel installs nothing
                    verify_sha256(wheel, source.sha256, source.describe())
                    say(f"SHA-256 of {source.describe()} is the expected one")
            elif source.kind == "wheel":
                wheel = source.location
            else:
                wheel = _wheel_from_tag(source, scratch)
            _run([python, "-m", "venv", path], "creating the venv")
            pip = [os.path.join(path, "bin", "python"), "-m", "pip", "install", "--quiet"]
            pip += ["--disable-pip-version-check", "--no-warn-script-location"]
            if deps_from:
                _link_site_packages(path, os.path.realpath(deps_from))
                pip.append("--no-deps")
            elif wheelhouse:
                pip += ["--no-index", "--find-links", wheelhouse]
            _run([*pip, wheel], "pip install")
        installed = _installed_version(path)
        if installed != source.version and source.kind in ("wheel", "url"):
            raise UpdateError(f"{source.describe()} holds ORGE {installed}, not {source.version}")
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    finally:
        if source.kind == "url":  # the venv holds the code now; the wheel is not kept
            shutil.rmtree(os.path.join(layout.releases_dir, DOWNLOADS), ignore_errors=True)
    release = Release(
        source.version, path, source.describe(), datetime.now(UTC).isoformat(timespec="seconds")
    )
    data = {"version": release.version, "orge_version": installed, "source": release.source}
    data["installed_at"] = release.installed_at
    if source.sha256:  # what the wheel was checked against, for an audit
        data["sha256"] = source.sha256
    _write_atomic(os.path.join(path, RELEASE_FILE), json.dumps(data, indent=2) + "\n")
    say(f"installed ORGE {installed} as release {source.version}")
    return release, True


class _SameOrigin(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to the scheme, host and port the operator named: a wheel
    is never fetched from anywhere else (nor moved from https to http)."""

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        old, new = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        if (old.scheme, old.hostname, old.port) != (new.scheme, new.hostname, new.port):
            raise UpdateError(
                f"{shown_url(req.full_url)} redirects to {shown_url(newurl)}, another server "
                "than the one named; nothing downloaded"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def download_wheel(url: str, directory: str, say: Say = _quiet) -> str:
    """Fetch the wheel at `url` into `directory` (created) and return its path. https is
    verified: the certificate against the system's CAs (or `SSL_CERT_FILE` /
    `SSL_CERT_DIR`), the host name against it. A partial file is never left behind.
    Raises UpdateError (HTTP error, TLS failure, no answer within DOWNLOAD_TIMEOUT s, a
    redirect to another server)."""
    name = urllib.parse.unquote(os.path.basename(urllib.parse.urlsplit(url).path))
    os.makedirs(directory, exist_ok=True)
    target = os.path.join(directory, name)
    partial = f"{target}.part"
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=ssl.create_default_context()), _SameOrigin()
    )
    shown = shown_url(url)
    if url.startswith("http://"):
        say(f"warning: {shown} is plain http: anyone on the way can change the wheel; use https")
    try:
        request = _request(url)
    except ValueError as err:  # a port that is not a number, a broken host
        raise UpdateError(f"cannot download {shown}: not a usable URL ({err})") from None
    say(f"downloading {shown}")
    try:
        with opener.open(request, timeout=DOWNLOAD_TIMEOUT) as answer, open(partial, "wb") as out:
            shutil.copyfileobj(answer, out)
        os.replace(partial, target)
    except urllib.error.HTTPError as err:
        raise UpdateError(f"cannot download {shown}: HTTP {err.code} {err.reason}") from None
    except (OSError, ValueError, http.client.HTTPException) as err:
        reason = err.reason if isinstance(err, urllib.error.URLError) else err
        raise UpdateError(
            f"cannot download {shown}: {_without_secrets(str(reason), url)}"
        ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
    return target


def _request(url: str) -> urllib.request.Request:
    """The GET of `url`; a user and password in it go into an Authorization: Basic
    header (RFC 7617), never into the host part urllib would try to resolve. Raises
    ValueError for a URL whose port is not a number."""
    parts = urllib.parse.urlsplit(url)
    parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    if parts.username is None and parts.password is None:
        return urllib.request.Request(url)
    user = urllib.parse.unquote(parts.username or "")
    password = urllib.parse.unquote(parts.password or "")
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    bare = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return urllib.request.Request(bare, headers={"Authorization": f"Basic {token}"})


def _without_secrets(text: str, url: str) -> str:
    """`text` (an error message) without the URL's password and query, should a library
    have quoted them."""
    parts = urllib.parse.urlsplit(url)
    for secret in (parts.password, parts.query, url):
        if secret:
            text = text.replace(secret, "***")
    return text


def prune_releases(layout: Layout, keep: int = DEFAULT_KEEP, say: Say = _quiet) -> list[str]:
    """Delete old releases: the live one, the one live before it (what `--rollback` goes
    back to), the `keep` most recently installed others, and any release whose libraries
    one of those uses (`--deps-from` inside it) stay. Returns the versions deleted (their
    folders are gone). Raises UpdateError for a negative `keep`."""
    if keep < 0:
        raise UpdateError(f"--keep must be 0 or more, not {keep}")
    live = layout.live()
    history = [version for version in layout.history() if version != live]
    protected = {live, history[-1] if history else None}
    releases = list(reversed(layout.releases()))  # newest install first
    others = [r for r in releases if r.version not in protected]
    kept = [r for r in releases if r.version in protected] + others[:keep]
    doomed = others[keep:]
    changed = True
    while changed:  # a kept release's libraries may come from one that would go
        changed = False
        used = {path: r.version for r in kept for path in _libraries_of(r.path)}
        for release in list(doomed):
            inside = os.path.realpath(release.path) + os.sep
            user = next((v for path, v in used.items() if path.startswith(inside)), None)
            if user is not None:
                say(f"keeping old release {release.version}: {user} uses its libraries")
                doomed.remove(release)
                kept.append(release)
                changed = True
    for release in doomed:
        say(f"removing old release {release.version} ({release.path})")
        # orge-release.json first: a power cut half-way leaves an incomplete folder, which
        # is never taken for a release (and is rebuilt if that version is installed again)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(release.path, RELEASE_FILE))
        shutil.rmtree(release.path, ignore_errors=True)
    return [release.version for release in doomed]


def _libraries_of(venv: str) -> list[str]:
    """The site-packages folders (resolved) a release takes its libraries from through
    `_link_site_packages`; none for a release with its own."""
    found = []
    with contextlib.suppress(OSError):
        for own in _site_packages(venv):
            with contextlib.suppress(OSError), open(os.path.join(own, DEPS_PTH)) as handle:
                found += [os.path.realpath(line.strip()) for line in handle if line.strip()]
    return found


def _release_env() -> dict[str, str]:
    """The environment for a release's own programs: without the caller's PYTHONPATH,
    which would put other code before the release's (provision.sh runs this module
    from a checkout through PYTHONPATH)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def _run(command: list[str], what: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, env=_release_env(), **kwargs)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise UpdateError(f"{what} failed (exit {result.returncode}): " + " | ".join(detail))
    return result


def _wheel_from_tag(source: Source, scratch: str) -> str:
    """`git archive` of the tag, built into a wheel (`pip wheel --no-deps`)."""
    import tarfile  # here: `orge` builds its parser with this module on every command

    tree = os.path.join(scratch, "tree")
    os.makedirs(tree)
    archive = os.path.join(scratch, "tree.tar")
    _run(["git", "-C", source.location, "archive", "-o", archive, source.tag], "git archive")
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    out = os.path.join(scratch, "wheels")
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", out, tree],
        f"building a wheel of tag {source.tag}",
    )
    (wheel,) = [os.path.join(out, name) for name in os.listdir(out) if name.endswith(".whl")]
    return wheel


def _link_site_packages(venv: str, site_packages: str) -> None:
    """A `.pth` line in the venv's site-packages: Python appends that folder to sys.path
    after the venv's own, so the release's ORGE comes first and the libraries come from
    there. A bare path line: that folder's own `.pth` files are not run."""
    (own,) = _site_packages(venv)
    with open(os.path.join(own, DEPS_PTH), "w", encoding="utf-8") as handle:
        handle.write(site_packages + "\n")


def _site_packages(venv: str) -> list[str]:
    lib = os.path.join(venv, "lib")
    return [
        os.path.join(lib, name, "site-packages")
        for name in os.listdir(lib)
        if name.startswith("python")
    ]


def _installed_version(venv: str) -> str:
    result = _run(
        [os.path.join(venv, "bin", "python"), "-c", "import orge; print(orge.__version__)"],
        "importing the installed ORGE",
        cwd=venv,
    )
    return result.stdout.strip()


# --- checking, restarting, watching --------------------------------------------------


def check_release(release: Release, config_dir: str) -> list[str]:
    """`orge check-config --json` of the live configuration with the release's code: the
    problems (redacted by check-config itself), empty when valid."""
    result = subprocess.run(
        [release.orge, "check-config", "-c", config_dir, "--json"],
        capture_output=True,
        text=True,
        cwd=config_dir,
        timeout=300,
        env=_release_env(),
    )
    try:
        data = json.loads(result.stdout)
    except ValueError:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        return [
            f"check-config of {release.version} failed (exit {result.returncode}): "
            + " | ".join(tail)
        ]
    problems = [line for lines in data.get("errors", {}).values() for line in lines]
    if result.returncode != 0 and not problems:
        problems = [f"check-config of {release.version} exited {result.returncode}"]
    return problems


def restart(command: str, say: Say = _quiet) -> None:
    """Run the restart command (default `systemctl restart orge`); UpdateError if it fails."""
    say(f"restarting: {command}")
    _run(shlex.split(command), f"the restart command {command!r}", timeout=120)


@dataclass
class Health:
    """What the station says about itself; `reachable` False when it gives no answer."""

    reachable: bool
    status: str = ""
    version: str = ""
    failed_components: list[str] = field(default_factory=list)
    csms_connected: bool | None = None
    detail: str = ""

    def problem(self, version: str, csms_before: bool | None) -> str | None:
        """Why this is not a healthy station running `version`, or None."""
        if not self.reachable:
            return f"no answer from the station ({self.detail})"
        if self.version != version:
            return f"the station runs version {self.version or 'unknown'}, not {version}"
        if self.status != "ok":
            return f"the station is {self.status}" + (f": {self.detail}" if self.detail else "")
        if self.failed_components:
            return "components failed: " + ", ".join(self.failed_components)
        if csms_before and not self.csms_connected:
            return "the CSMS link is not up (it was before the update)"
        return None


def read_health(url: str, token: str | None = None, timeout: float = 5.0) -> Health:
    """GET the health URL; when the station has no `/api/health` (401 or 404) and a token
    is given, ask `/api/config` and `/api/states` of the same API instead."""
    import urllib.error  # here: `orge` builds its parser with this module on every command

    try:
        data = _get_json(url, None, timeout)
    except urllib.error.HTTPError as err:
        # a station without /api/health answers 401 (its API wants a token for any other
        # path) or 404
        if err.code not in (401, 404) or not token:
            return Health(False, detail=f"HTTP {err.code} from {url}")
        return _health_from_api(url.rsplit("/api/", 1)[0] + "/api/", token, timeout)
    except (OSError, ValueError) as err:
        return Health(False, detail=str(getattr(err, "reason", err)))
    return Health(
        True,
        status=str(data.get("status", "")),
        version=str(data.get("version", "")),
        failed_components=list(data.get("failed_components") or []),
        csms_connected=data.get("csms_connected"),
    )


def _health_from_api(base: str, token: str, timeout: float) -> Health:
    try:
        config = _get_json(base + "config", token, timeout)
        states = _get_json(base + "states", token, timeout)
    except (OSError, ValueError) as err:
        return Health(False, detail=str(getattr(err, "reason", err)))
    failed = sorted(
        s["entity_id"][len(_SETUP_FAILED) :]
        for s in states
        if str(s.get("entity_id", "")).startswith(_SETUP_FAILED)
    )
    status = "recovery" if config.get("recovery_mode") else "ok"
    if status == "ok" and (failed or config.get("using_last_good")):
        status = "degraded"
    detail = "running on the last good configuration" if config.get("using_last_good") else ""
    return Health(True, status, str(config.get("version", "")), failed, None, detail)


def _get_json(url: str, token: str | None, timeout: float) -> Any:
    import urllib.request

    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.loads(answer.read().decode())


def wait_healthy(
    url: str,
    token: str | None,
    version: str,
    csms_before: bool | None,
    deadline: float,
    say: Say = _quiet,
) -> str | None:
    """Poll once a second until the station is healthy on `version` (None) or `deadline`
    seconds pass (the last reason it was not)."""
    end = time.monotonic() + deadline
    reason = "no answer yet"
    while True:
        health = read_health(url, token, timeout=min(5.0, max(end - time.monotonic(), 0.5)))
        reason = health.problem(version, csms_before)
        if reason is None:
            return None
        if time.monotonic() >= end:
            return reason
        time.sleep(1.0)


# --- the commands ----------------------------------------------------------------------


@dataclass
class Options:
    """What `orge update` works on; defaults are the provisioned station's."""

    prefix: str = DEFAULT_PREFIX
    pycache: str | None = DEFAULT_PYCACHE  # the station's compiled modules (forgotten at a switch)
    config: str = DEFAULT_CONFIG
    restart_command: str = DEFAULT_RESTART
    health_url: str = DEFAULT_HEALTH_URL
    token: str | None = None
    deadline: float = DEFAULT_DEADLINE
    repo: str | None = None
    deps_from: str | None = None
    wheelhouse: str | None = None
    python: str = sys.executable
    keep: int = DEFAULT_KEEP  # old releases kept besides the live and the previous one
    sha256: str | None = None  # the wheel's expected SHA-256 (--sha256), or None


def update(to: str, options: Options, say: Say = print) -> str:
    """Install `to`, check it, switch, restart, watch; on a failure after the switch,
    switch back, restart and raise UpdateError saying what happened. Returns the new live
    version."""
    layout = Layout(options.prefix, options.pycache)
    with layout.locked():
        source = resolve_source(to, options.repo, options.sha256)
        previous = layout.live()
        if previous == source.version:
            say(f"ORGE {previous} is already live; nothing to do")
            return previous
        release, _ = install_release(
            layout,
            source,
            python=options.python,
            deps_from=options.deps_from,
            wheelhouse=options.wheelhouse,
            say=say,
        )
        say(f"checking {options.config} with ORGE {release.version}")
        problems = check_release(release, options.config)
        if problems:
            raise UpdateError(
                f"the configuration does not pass check-config with {release.version}; "
                f"{previous or 'nothing'} stays live:\n  " + "\n  ".join(problems)
            )
        before = read_health(options.health_url, options.token) if previous else Health(False)
        csms_before = before.csms_connected if before.reachable else None
        history = layout.history() or ([previous] if previous else [])
        layout.switch(release.version)
        say(f"switched {layout.current} from {previous or 'nothing'} to {release.version}")
        failure = _restart_and_watch(options, release.version, csms_before, say)
        if failure is None:
            layout.record([*history, release.version], _result("updated", release.version))
            say(f"ORGE {release.version} is live and healthy")
            prune_releases(layout, options.keep, say)
            return release.version
        if previous is None:
            layout.record([*history, release.version], _result("failed", release.version))
            raise UpdateError(f"ORGE {release.version} is not healthy: {failure}")
        say(f"ORGE {release.version} is not healthy: {failure}; switching back to {previous}")
        layout.switch(previous)
        back = _restart_and_watch(options, previous, csms_before, say)
        layout.record(history, _result("rolled_back", release.version, failure))
        state = "healthy again" if back is None else f"not healthy either: {back}"
        raise RolledBack(
            f"update to {release.version} rolled back: {failure}. "
            f"ORGE {previous} is live again and {state}"
        )


def rollback(options: Options, say: Say = print) -> str:
    """Switch back to the release that was live before the current one, restart, watch.
    Returns the version now live; UpdateError when there is none to go back to."""
    layout = Layout(options.prefix, options.pycache)
    with layout.locked():
        live = layout.live()
        history = layout.history()
        if live and history and history[-1] == live:
            history = history[:-1]
        target = next((v for v in reversed(history) if v != live and layout.release(v)), None)
        if target is None:
            raise UpdateError(f"no earlier release to go back to (live: {live or 'none'})")
        layout.switch(target)
        say(f"switched {layout.current} from {live} to {target}")
        failure = _restart_and_watch(options, target, None, say)
        layout.record(history, _result("rollback", target, failure))
        if failure:
            raise UpdateError(f"rolled back to {target}, but it is not healthy: {failure}")
        say(f"ORGE {target} is live and healthy")
        return target


def status_lines(options: Options) -> list[str]:
    """One line per release, the live one marked with `*`."""
    layout = Layout(options.prefix, options.pycache)
    live = layout.live()
    lines = [
        f"{'*' if r.version == live else ' '} {r.version}  installed {r.installed_at}  from {r.source}"
        for r in layout.releases()
    ]
    if not lines:
        return [f"no releases in {layout.releases_dir}"]
    last: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        with open(layout.state_path, encoding="utf-8") as handle:
            last = json.load(handle).get("last") or {}
    if last:
        lines.append(
            f"last: {last.get('result')} {last.get('version')} at {last.get('at')}"
            + (f" ({last['reason']})" if last.get("reason") else "")
        )
    return lines


def _restart_and_watch(
    options: Options, version: str, csms_before: bool | None, say: Say
) -> str | None:
    try:
        restart(options.restart_command, say)
    except UpdateError as err:
        return str(err)
    say(f"waiting up to {options.deadline:.0f} s for ORGE {version} to be healthy")
    return wait_healthy(
        options.health_url, options.token, version, csms_before, options.deadline, say
    )


def _result(result: str, version: str, reason: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"result": result, "version": version}
    data["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    if reason:
        data["reason"] = reason
    return data


# --- command line ----------------------------------------------------------------------


def _count(text: str) -> int:
    """A whole number of 0 or more (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 0 or more")
    return value


def _digest(text: str) -> str:
    try:
        return sha256_hex(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `orge update` (and of `python3 -m orge.update`)."""
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--to", metavar="VERSION", help="a wheel file, the http(s) URL of one, or a tag of --repo"
    )
    what.add_argument("--rollback", action="store_true", help="go back to the previous release")
    what.add_argument("--status", action="store_true", help="list releases; * is live")
    what.add_argument(
        "--from-request",
        metavar="FILE",
        help="the update a station asked for: FILE holds {to, result_file} (orge-update.path)",
    )
    what.add_argument(
        "--install-only",
        metavar="VERSION",
        help="install a release and make it live if none is (provisioning); no restart",
    )
    env = os.environ.get
    parser.add_argument("--prefix", default=env("ORGE_PREFIX", DEFAULT_PREFIX))
    parser.add_argument(
        "--pycache",
        metavar="DIR",
        default=env("ORGE_PYCACHE", DEFAULT_PYCACHE),
        help="the station's compiled-module cache (the unit's PYTHONPYCACHEPREFIX)",
    )
    parser.add_argument("-c", "--config", default=env("ORGE_CONFIG", DEFAULT_CONFIG))
    parser.add_argument("--repo", metavar="DIR", help="local git repository holding the tags")
    parser.add_argument(
        "--sha256",
        type=_digest,  # a malformed digest stops here, before anything is done
        metavar="HEX",
        help="the wheel's SHA-256 as the release notes publish it: the wheel of --to or "
        "--install-only (file or download) is checked before anything is installed",
    )
    parser.add_argument("--restart-command", default=env("ORGE_RESTART_COMMAND", DEFAULT_RESTART))
    parser.add_argument("--health-url", default=env("ORGE_HEALTH_URL", DEFAULT_HEALTH_URL))
    parser.add_argument(
        "--token-file",
        metavar="FILE",
        help="a file holding an API token, for stations without /api/health",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=float(env("ORGE_UPDATE_DEADLINE", DEFAULT_DEADLINE)),
        metavar="SECONDS",
    )
    parser.add_argument(
        "--deps-from",
        default=env("ORGE_DEPS_FROM"),
        metavar="SITE_PACKAGES",
        help="use the libraries installed there; pip installs ORGE alone (nothing fetched)",
    )
    parser.add_argument(
        "--wheelhouse",
        default=env("ORGE_WHEELHOUSE"),
        metavar="DIR",
        help="install from this folder only",
    )
    parser.add_argument("--python", default=sys.executable, help="Python for new venvs")
    parser.add_argument(
        "--keep",
        type=_count,  # checked before anything is installed, not after the switch
        default=env("ORGE_UPDATE_KEEP", str(DEFAULT_KEEP)),  # converted by argparse too
        metavar="N",
        help="after an update, old releases kept besides the live and the previous one "
        f"(default {DEFAULT_KEEP}); older ones are deleted",
    )
    parser.add_argument(
        "--result-file",
        metavar="FILE",
        help="write the outcome there as JSON ({result, version, reason, at}) when done",
    )
    parser.add_argument(
        "--detach",
        action="store_true",
        help="run in a process of its own that outlives the station's restart, return at once",
    )


def run_command(args: argparse.Namespace) -> int:
    """Exit 0 done, 1 failed (the message says what is live), 2 rolled back. With
    `--detach`: start the same command detached (`detach`) and exit 0."""
    if getattr(args, "detach", False):
        detach(_argv_without_detach(), args.prefix)
        return 0
    token = None
    if args.token_file:
        with open(args.token_file, encoding="utf-8") as handle:
            token = handle.read().strip()
    options = Options(
        prefix=args.prefix,
        pycache=args.pycache,
        config=os.path.abspath(args.config),
        restart_command=args.restart_command,
        health_url=args.health_url,
        token=token or os.environ.get("ORGE_TOKEN") or None,
        deadline=args.deadline,
        repo=args.repo,
        deps_from=args.deps_from,
        wheelhouse=args.wheelhouse,
        python=args.python,
        keep=args.keep,
        sha256=getattr(args, "sha256", None),
    )
    if getattr(args, "from_request", None):
        try:
            args.to, args.result_file = take_request(args.from_request)
        except UpdateError as err:
            print(f"orge update: {err}", file=sys.stderr)
            return 1
    outcome: dict[str, Any] = {"result": "failed", "version": args.to or args.install_only}
    try:
        if args.status:
            print("\n".join(status_lines(options)))
        elif args.rollback:
            outcome = _result("rollback", rollback(options))
        elif args.install_only:
            outcome = _result("installed", install_only(args.install_only, options).version)
        else:
            outcome = _result("updated", update(args.to, options))
    except UpdateError as err:
        print(f"orge update: {err}", file=sys.stderr)
        result = "rolled_back" if isinstance(err, RolledBack) else "failed"
        outcome = _result(result, outcome.get("version") or "", str(err))
        return 2 if isinstance(err, RolledBack) else 1
    finally:
        if getattr(args, "result_file", None):
            _write_atomic(os.path.abspath(args.result_file), json.dumps(outcome) + "\n")
            # root writes it (orge-update.service); the station's user reads it
            os.chmod(args.result_file, 0o644)
    return 0


def take_request(path: str) -> tuple[str, str | None]:
    """Read and remove a station's update request (`{"to": WHEEL, "result_file": FILE}`,
    written by the station's OCPP firmware update into its .storage): the wheel to update
    to and where to write the outcome. Removed first, so orge-update.path does not start
    the same update twice. Raises UpdateError when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        os.unlink(path)
    except (OSError, ValueError) as err:
        raise UpdateError(f"{path}: no readable update request ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("to"), str):
        raise UpdateError(f'{path}: an update request names the wheel in "to"')
    result_file = data.get("result_file")
    return data["to"], result_file if isinstance(result_file, str) else None


def _argv_without_detach() -> list[str]:
    return [arg for arg in sys.argv[1:] if arg != "--detach"]


def detach(argv: list[str], prefix: str) -> int:
    """Run `python -m orge.update ARGV` in a process that outlives the station's restart;
    returns its pid (0 under systemd-run).

    Under systemd (INVOCATION_ID set: we run inside orge.service) a child would be in the
    unit's control group and killed with it by `systemctl restart orge`, so it becomes a
    transient unit of its own (`systemd-run --unit orge-update-<time> --collect`). Else a
    new session (setsid): the restart's SIGTERM to the station does not reach it. Its
    output goes to `<prefix>/update.log`.
    """
    # `orge update` may have been run as `orge update ...`: argv then starts with "update"
    argv = argv[1:] if argv[:1] == ["update"] else argv
    command = [sys.executable, "-m", "orge.update", *argv]
    if os.environ.get("INVOCATION_ID") and shutil.which("systemd-run"):
        unit = f"orge-update-{int(time.time())}"
        _run(["systemd-run", "--unit", unit, "--collect", "--quiet", *command], "systemd-run")
        return 0
    os.makedirs(prefix, exist_ok=True)
    with open(os.path.join(prefix, "update.log"), "ab") as log:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_release_env(),
            cwd=os.getcwd(),
        )
    return proc.pid


def install_only(to: str, options: Options, say: Say = print) -> Release:
    """Install a release; make it live when no release is (a first install). Provisioning
    uses this; it says `unchanged` when the release was already there and live."""
    layout = Layout(options.prefix, options.pycache)
    with layout.locked():
        release, installed = install_release(
            layout,
            resolve_source(to, options.repo, options.sha256),
            python=options.python,
            deps_from=options.deps_from,
            wheelhouse=options.wheelhouse,
            say=say,
        )
        if layout.live() is None:
            layout.switch(release.version)
            layout.record([release.version], _result("installed", release.version))
            say(f"{layout.current} -> releases/{release.version}")
        elif not installed:
            say(f"unchanged: {layout.current} -> releases/{layout.live()}")
        return release


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orge update", description=(__doc__ or "").split("\n")[0])
    add_arguments(parser)
    return run_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
