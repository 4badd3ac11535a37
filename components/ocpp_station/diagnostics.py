"""Diagnostics for the CSMS, protocol-neutral: a bundle of the station's recent logs,
uploaded to the location the CSMS names.

Used by OCPP 2.0.1 `GetLog` (block N, N01: DiagnosticsLog and SecurityLog), OCPP 1.6
`GetDiagnostics` (Firmware Management profile) and the 1.6 security whitepaper's `GetLog`.
The protocol components map payloads and statuses; everything else is here.

The bundle is a tar.gz (`<station>-<kind>-<UTC time>.tar.gz`) holding:

    log.txt         the log lines within the window: journald's (`journalctl -u orge
                    --since --until -o short-iso`) when the station runs as a systemd
                    unit, else ORGE's own log ring (orge.log.RING)
    check.json      `orge check-config --json` of the live configuration
    versions.json   ORGE, Python and library versions
    journal.json    the OCPP journal's state (queued messages, set-aside messages, open
                    transactions)
    (SecurityLog: log.txt holds only the security events, logger `orge.security`)

Every text goes through orge.redact before it is written: no secret leaves the station.

Upload (the location's scheme): `ftp://` and `ftps://` store the file with ftplib (STOR
into the URL's path); `http://` / `https://` PUT the file to `<location><file name>` when
the location ends with `/`, else POST it as `multipart/form-data` (field `file`) to the
location. Statuses, in protocol-neutral names (OCPP 2.0.1 UploadLogStatusEnumType):
Uploading, Uploaded, UploadFailure, BadMessage, NotSupportedOperation, PermissionDenied,
and AcceptedCanceled for a request a newer one cancelled (N01.FR.12).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import platform
import shutil
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from orge.core import Orge
from orge.log import RING
from orge.redact import redact

_LOGGER = logging.getLogger(__name__)
SECURITY_LOGGER = "orge.security"
UNIT = "orge"

Notify = Callable[[str, int | None], Awaitable[None]]


@dataclass
class LogRequest:
    """What the CSMS asked for: `location` (URL), `kind` ("DiagnosticsLog" or
    "SecurityLog"), the window in epoch seconds (None: open), `retries` (extra attempts)
    and `retry_interval` (seconds), `request_id` (None for 1.6 GetDiagnostics)."""

    location: str
    kind: str = "DiagnosticsLog"
    since: float | None = None
    until: float | None = None
    retries: int = 0
    retry_interval: float = 0.0
    request_id: int | None = None

    @classmethod
    def from_ocpp(
        cls,
        log_type: str,
        log: dict[str, Any],
        request_id: int | None,
        retries: int | None,
        retry_interval: int | None,
    ) -> LogRequest:
        """From GetLog's LogParametersType (2.0.1, 1.6 whitepaper; the ocpp library's
        snake_case keys): remote_location, oldest_timestamp, latest_timestamp."""
        return cls(
            location=log["remote_location"],
            kind=log_type,
            since=parse_time(log.get("oldest_timestamp")),
            until=parse_time(log.get("latest_timestamp")),
            retries=retries or 0,
            retry_interval=float(retry_interval or 0),
            request_id=request_id,
        )


def parse_time(value: str | None) -> float | None:
    """An OCPP dateTime (RFC 3339) as epoch seconds; None stays None."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def file_name(station_id: str, kind: str, now: float | None = None) -> str:
    stamp = datetime.fromtimestamp(now or time.time(), UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{station_id}-{kind}-{stamp}.tar.gz"


def under_systemd() -> bool:
    """Run by systemd as a service (it sets INVOCATION_ID for every unit it starts)."""
    return bool(os.environ.get("INVOCATION_ID")) and shutil.which("journalctl") is not None


def _journal_time(epoch: float) -> str:
    # journalctl reads local time without a zone; give it UTC explicitly
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


async def journald_lines(since: float | None, until: float | None) -> list[str]:
    """`journalctl -u orge -o short-iso` lines within the window. Raises OSError when
    journalctl fails."""
    command = ["journalctl", "-u", UNIT, "-o", "short-iso", "--no-pager"]
    if since is not None:
        command += ["--since", _journal_time(since)]
    if until is not None:
        command += ["--until", _journal_time(until)]
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    if proc.returncode != 0:
        raise OSError(f"journalctl exited {proc.returncode}: {err.decode(errors='replace')[:200]}")
    return out.decode(errors="replace").splitlines()


async def log_lines(kind: str, since: float | None, until: float | None) -> list[str]:
    """The log lines of the window (journald under systemd, else the log ring); for a
    SecurityLog only the security events."""
    if under_systemd():
        lines = await journald_lines(since, until)
    else:
        lines = RING.between(since, until)
    if kind == "SecurityLog":
        lines = [line for line in lines if f"[{SECURITY_LOGGER}]" in line]
    return lines


async def check_config(config_dir: str) -> Any:
    """`orge check-config --json` of the configuration (it redacts its own output)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orge",
        "check-config",
        "-c",
        config_dir,
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=config_dir,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    except TimeoutError:
        proc.kill()
        return {"error": "check-config took longer than 120 s"}
    try:
        return json.loads(out)
    except ValueError:
        return {"error": f"check-config exited {proc.returncode}", "stderr": err.decode()[-2000:]}


def versions() -> dict[str, str]:
    from importlib import metadata

    import orge

    found = {"orge": orge.__version__, "python": platform.python_version()}
    for name in ("ocpp", "websockets", "aiohttp", "voluptuous", "cryptography", "pyserial"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


async def journal_state(journal: Any) -> dict[str, Any]:
    """The OCPP journal's state: messages waiting, messages set aside (with why), open
    transactions (ocpp_station.journal)."""
    return {
        "queued": await journal.count(),
        "aside": await journal.aside(),
        "open_transactions": [
            {"tx_id": r.tx_id, "evse_id": r.evse_id} for r in await journal.transactions()
        ],
    }


def build_bundle(files: dict[str, str]) -> bytes:
    """A tar.gz of these text files, each redacted."""
    import tarfile  # when a bundle is asked for: ~0.3 MiB a running station rarely needs

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = redact(text).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def upload(location: str, name: str, data: bytes, timeout: float = 60.0) -> None:
    """Send the bundle to the location (see the module doc). Raises OSError (and its
    urllib / ftplib subclasses) when the server does not take it."""
    parts = urllib.parse.urlsplit(location)
    if parts.scheme in ("ftp", "ftps"):
        import ftplib

        ftp = (
            ftplib.FTP_TLS(timeout=timeout)
            if parts.scheme == "ftps"
            else ftplib.FTP(timeout=timeout)
        )
        try:
            ftp.connect(parts.hostname or "", parts.port or 21)
            ftp.login(urllib.parse.unquote(parts.username or "anonymous"),
                      urllib.parse.unquote(parts.password or ""))  # fmt: skip
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
            path = urllib.parse.unquote(parts.path or "/")
            target = path + name if path.endswith("/") else path
            ftp.storbinary(f"STOR {target}", io.BytesIO(data))
            ftp.quit()
        except ftplib.Error as err:
            raise OSError(f"FTP: {err}") from None
        finally:
            ftp.close()
        return
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"cannot upload to a {parts.scheme or 'relative'} location")
    if location.endswith("/"):
        request = urllib.request.Request(location + name, data=data, method="PUT")
        request.add_header("Content-Type", "application/gzip")
    else:
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                "Content-Type: application/gzip\r\n\r\n"
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        request = urllib.request.Request(location, data=body, method="POST")
        request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        if answer.status >= 300:
            raise OSError(f"HTTP {answer.status}")


class LogUploader:
    """One upload at a time; a new request cancels the running one (2.0.1 N01.FR.12:
    the answer is then AcceptedCanceled).

    `notify(status, request_id)` sends the protocol's status notification (the protocol
    component maps the neutral status); `journal` is the station's AsyncJournal.
    """

    def __init__(self, orge: Orge, station_id: str, notify: Notify, journal: Any) -> None:
        self.orge = orge
        self.station_id = station_id
        self.notify = notify
        self.journal = journal
        self.task: asyncio.Task[None] | None = None
        self.current: LogRequest | None = None

    def start(self, request: LogRequest) -> tuple[str, str]:
        """Begin an upload; returns (status, file name), status "Accepted",
        "AcceptedCanceled" (one was running and is cancelled) or "Rejected" (a location
        this station cannot upload to)."""
        scheme = urllib.parse.urlsplit(request.location).scheme
        name = file_name(self.station_id, request.kind)
        if scheme not in ("http", "https", "ftp", "ftps"):
            return "Rejected", name
        status = "Accepted"
        cancelled: LogRequest | None = None
        if self.task is not None and not self.task.done():
            self.task.cancel()
            status = "AcceptedCanceled"
            cancelled = self.current
        self.current = request
        self.task = self.orge.async_create_background_task(
            self._run(request, name, cancelled), f"diagnostics upload {name}"
        )
        return status, name

    async def bundle(self, request: LogRequest) -> bytes:
        lines = await log_lines(request.kind, request.since, request.until)
        files = {"log.txt": "\n".join(lines) + ("\n" if lines else "")}
        if request.kind != "SecurityLog":
            files["check.json"] = json.dumps(await check_config(self.orge.config.path()), indent=2)
            files["versions.json"] = json.dumps(versions(), indent=2)
            files["journal.json"] = json.dumps(
                await journal_state(self.journal), indent=2, default=str
            )
        window = {
            "station": self.station_id,
            "kind": request.kind,
            "since": request.since,
            "until": request.until,
            "source": "journald" if under_systemd() else "log ring",
            "lines": len(lines),
        }
        files["window.json"] = json.dumps(window, indent=2)
        return await asyncio.get_running_loop().run_in_executor(None, build_bundle, files)

    async def _run(self, request: LogRequest, name: str, cancelled: LogRequest | None) -> None:
        rid = request.request_id
        try:
            if cancelled is not None:  # N01.FR.12: the first request's end is reported
                await self.notify("AcceptedCanceled", cancelled.request_id)
            await self.notify("Uploading", rid)
            data = await self.bundle(request)
            for attempt in range(request.retries + 1):
                try:
                    await asyncio.get_running_loop().run_in_executor(
                        None, upload, request.location, name, data
                    )
                except (OSError, ValueError) as err:
                    _LOGGER.warning(
                        "Uploading %s (attempt %d of %d) failed: %s",
                        name,
                        attempt + 1,
                        request.retries + 1,
                        redact(str(err)),
                    )
                    if attempt < request.retries:
                        await asyncio.sleep(request.retry_interval)
                    continue
                _LOGGER.info("Uploaded %s (%d bytes)", name, len(data))
                await self.notify("Uploaded", rid)
                return
            await self.notify("UploadFailure", rid)
        except asyncio.CancelledError:
            raise
        except Exception:
            _LOGGER.exception("Building or uploading %s failed", name)
            await self.notify("UploadFailure", rid)
        finally:
            if self.current is request:
                self.current = None
