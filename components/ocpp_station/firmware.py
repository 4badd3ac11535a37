"""Firmware updates from the CSMS, protocol-neutral: OCPP 2.0.1 `UpdateFirmware` (block L,
L01/L02), OCPP 1.6 `UpdateFirmware` (Firmware Management profile) and the 1.6 security
whitepaper's `SignedUpdateFirmware` drive `orge update` (orge/update.py).

The steps and the status reported at each (protocol-neutral names are OCPP 2.0.1's
FirmwareStatusEnumType; the 1.6 component maps them):

    DownloadScheduled while waiting for retrieveDateTime
    Downloading -> the release (an ORGE wheel `orge-<version>-...whl`) fetched over HTTP(S)
                   into .storage/firmware/download-<ns>/ (removed when the update ends), `retries` extra attempts `retryInterval` s apart
                   -> Downloaded | DownloadFailed
    when a signing certificate and a signature are given: the signature (base64) checked
                   with the certificate's public key over SHA-256 of the file (RSA PKCS#1
                   v1.5 or ECDSA) -> SignatureVerified | InvalidSignature (also logged as a
                   security event, logger `orge.security`)
    InstallScheduled while waiting for installDateTime; then wait until no session runs
                   (a switch restarts the station: never during a session, L01.FR.06)
    Installing  -> `orge.update.install_only`: a venv beside the live release
                   -> InstallationFailed when pip fails
    InstallRebooting -> the pending update is written to .storage/ocpp_firmware.json, then
                   `orge update --to WHEEL --detach --result-file ...` runs in a process of
                   its own (new session): it checks the configuration, switches, restarts
                   the station, watches its health and switches back when the new release
                   is not healthy in time
    hand-off: when the station cannot write the releases (the hardened orge.service:
                   /opt/orge read-only, no right to restart itself) or ORGE_UPDATE_HANDOFF=1,
                   the station installs nothing itself: it writes
                   .storage/firmware/request.json ({to, result_file}) and the root unit
                   orge-update.service, started by orge-update.path, runs `orge update
                   --from-request` (install, check, switch, restart, watch, roll back); a
                   request nobody takes within 60 s ends InstallationFailed
    after the restart (or, when check-config refused the release, without one): the
                   station reads the result file -> Installed when it runs the new
                   version, else InstallationFailed (rolled back or refused)

The prefix, restart command, health URL, dependency source of `orge update` come from
its environment variables (ORGE_PREFIX, ORGE_RESTART_COMMAND, ORGE_HEALTH_URL,
ORGE_DEPS_FROM, ORGE_WHEELHOUSE), as for the command itself (docs/operations.md).
A second request while one runs cancels the first (2.0.1 L01.FR.24: AcceptedCanceled),
except once the switch has begun (then Rejected: the running update ends on its own).
A station not installed as releases under ORGE_PREFIX (no `current` link: a development
checkout) answers Rejected.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import shutil
import ssl
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orge.core import Orge
from orge.redact import redact

if TYPE_CHECKING:
    from orge import update as orge_update

_LOGGER = logging.getLogger(__name__)
_SECURITY = logging.getLogger("orge.security")
STATE_FILE = "ocpp_firmware.json"
REQUEST_FILE = "request.json"  # read by orge-update.path / orge-update.service
HANDOFF_TIMEOUT = 60.0  # seconds for orge-update.service to take a request
POLL_SECONDS = 1.0

Notify = Callable[[str, int | None], Awaitable[None]]


class SignatureError(Exception):
    """The signature does not verify with the certificate (or either is malformed)."""


@dataclass
class FirmwareRequest:
    """One UpdateFirmware: `location` (URL of the wheel), `retrieve_at` / `install_at`
    (epoch seconds, None: now), `retries` (extra download attempts), `retry_interval`
    (seconds), `signing_certificate` (PEM) and `signature` (base64), `request_id` (None
    for 1.6 UpdateFirmware)."""

    location: str
    retrieve_at: float | None = None
    install_at: float | None = None
    retries: int = 0
    retry_interval: float = 0.0
    signing_certificate: str | None = None
    signature: str | None = None
    request_id: int | None = None

    @classmethod
    def from_ocpp(
        cls,
        firmware: dict[str, Any],
        request_id: int | None,
        retries: int | None,
        retry_interval: int | None,
    ) -> FirmwareRequest:
        """From FirmwareType (2.0.1 UpdateFirmware, 1.6 whitepaper SignedUpdateFirmware;
        the ocpp library's snake_case keys): location, retrieve_date_time,
        install_date_time, signing_certificate, signature."""
        from .diagnostics import parse_time

        return cls(
            location=firmware["location"],
            retrieve_at=parse_time(firmware.get("retrieve_date_time")),
            install_at=parse_time(firmware.get("install_date_time")),
            retries=retries or 0,
            retry_interval=float(retry_interval or 0),
            signing_certificate=firmware.get("signing_certificate"),
            signature=firmware.get("signature"),
            request_id=request_id,
        )


def verify_signature(data: bytes, certificate_pem: str, signature_b64: str) -> None:
    """Check `signature_b64` (base64 of the signature) of SHA-256 over `data` with the
    certificate's public key: RSA (PKCS#1 v1.5) or ECDSA. Raises SignatureError."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
        signature = base64.b64decode(signature_b64, validate=True)
    except ValueError as err:
        raise SignatureError(f"malformed certificate or signature: {err}") from None
    key = certificate.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            raise SignatureError(f"unsupported key type {type(key).__name__}")
    except InvalidSignature:
        raise SignatureError("the signature does not match the firmware file") from None


def download(location: str, target: str, timeout: float = 120.0) -> None:
    """GET `location` into `target` (written beside it, then renamed). HTTPS checks the
    server against the system's CAs (SSL_CERT_FILE adds one). Raises OSError."""
    parts = urllib.parse.urlsplit(location)
    if parts.scheme not in ("http", "https"):
        raise OSError(f"cannot download from a {parts.scheme or 'relative'} location")
    context = ssl.create_default_context() if parts.scheme == "https" else None
    partial = target + ".part"
    with urllib.request.urlopen(location, timeout=timeout, context=context) as answer:
        with open(partial, "wb") as out:
            while chunk := answer.read(1 << 16):
                out.write(chunk)
    os.replace(partial, target)


class FirmwareUpdater:
    """One firmware update at a time, for one station.

    `notify(status, request_id)` queues the protocol's FirmwareStatusNotification (durably:
    the journal delivers it after a restart). `busy()` is True while a session runs.
    """

    def __init__(
        self,
        orge: Orge,
        notify: Notify,
        busy: Callable[[], bool],
    ) -> None:
        self.orge = orge
        self.notify = notify
        self.busy = busy
        self.state_path = orge.config.path(".storage", STATE_FILE)
        self.folder = orge.config.path(".storage", "firmware")
        self.task: asyncio.Task[None] | None = None
        self.status = "Idle"
        self.request_id: int | None = None

    # --- state across restarts -------------------------------------------------------

    def _pending(self) -> dict[str, Any] | None:
        try:
            with open(self.state_path, encoding="utf-8") as handle:
                return dict(json.load(handle))
        except (OSError, ValueError):
            return None

    def _save(self, data: dict[str, Any] | None) -> None:
        if data is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.state_path)
            return
        _write_json(self.state_path, data)

    @staticmethod
    def _can_install(prefix: str) -> bool:
        """The station may write the releases itself (a station run by hand, or a test);
        under the hardened orge.service /opt/orge is read-only (ProtectSystem=strict) and
        the update is handed to the root unit orge-update.service instead."""
        if os.environ.get("ORGE_UPDATE_HANDOFF") == "1":  # always hand off (root runs it)
            return False
        releases = os.path.join(prefix, "releases")
        return os.access(prefix, os.W_OK) and (
            not os.path.exists(releases) or os.access(releases, os.W_OK)
        )

    def resume(self) -> bool:
        """At start: an update whose switch began before the restart is followed to its
        end (Installed / InstallationFailed). True when there was one (this start is the
        update's restart: 2.0.1 boots with reason FirmwareUpdate)."""
        pending = self._pending()
        if pending is None:
            return False
        self.request_id = pending.get("request_id")
        self.status = "InstallRebooting"
        self.task = self.orge.async_create_background_task(
            self._follow(pending), "firmware update result"
        )
        return True

    # --- requests ----------------------------------------------------------------------

    def start(self, request: FirmwareRequest) -> str:
        """Begin an update: "Accepted", "AcceptedCanceled" (the running one is cancelled)
        or "Rejected" (a switch is under way, or the location is not HTTP(S))."""
        from orge import update as orge_update  # loaded when an update is asked for

        if urllib.parse.urlsplit(request.location).scheme not in ("http", "https"):
            return "Rejected"
        prefix = _options(self.orge.config.path()).prefix
        if orge_update.Layout(prefix).live() is None:
            _LOGGER.error(
                "UpdateFirmware refused: no release is live under %s (ORGE_PREFIX); this "
                "station was not installed with `orge update` (deploy/provision.sh)",
                prefix,
            )
            return "Rejected"
        status = "Accepted"
        if self.task is not None and not self.task.done():
            if self._pending() is not None:
                return "Rejected"
            self.task.cancel()
            status = "AcceptedCanceled"
        self.request_id = request.request_id
        self.task = self.orge.async_create_background_task(self._run(request), "firmware update")
        return status

    async def _report(self, status: str, request_id: int | None) -> None:
        self.status = status
        _LOGGER.info("Firmware update %s: %s", request_id, status)
        await self.notify(status, request_id)

    async def _run(self, request: FirmwareRequest) -> None:
        from orge import update as orge_update

        rid = request.request_id
        loop = asyncio.get_running_loop()
        download_dir = ""
        try:
            if request.retrieve_at is not None and request.retrieve_at > time.time():
                await self._report("DownloadScheduled", rid)
                await _sleep_until(request.retrieve_at)
            name = os.path.basename(urllib.parse.urlsplit(request.location).path)
            # a folder per request: a cancelled one never removes a newer one's file
            download_dir = os.path.join(self.folder, f"download-{time.time_ns()}")
            os.makedirs(download_dir, exist_ok=True)
            wheel = os.path.join(download_dir, name or "firmware.whl")
            await self._report("Downloading", rid)
            for attempt in range(request.retries + 1):
                try:
                    await loop.run_in_executor(None, download, request.location, wheel)
                    break
                except OSError as err:
                    _LOGGER.warning(
                        "Firmware download attempt %d of %d failed: %s",
                        attempt + 1,
                        request.retries + 1,
                        redact(str(getattr(err, "reason", err))),
                    )
                    if attempt < request.retries:
                        await asyncio.sleep(request.retry_interval)
            else:
                await self._report("DownloadFailed", rid)
                return
            await self._report("Downloaded", rid)
            if request.signing_certificate and request.signature:
                with open(wheel, "rb") as handle:
                    data = handle.read()
                try:
                    verify_signature(data, request.signing_certificate, request.signature)
                except SignatureError as err:
                    _SECURITY.warning("InvalidFirmwareSignature: %s (%s)", name, err)
                    await self._report("InvalidSignature", rid)
                    return
                await self._report("SignatureVerified", rid)
            if request.install_at is not None and request.install_at > time.time():
                await self._report("InstallScheduled", rid)
                await _sleep_until(request.install_at)
            while self.busy():  # never switch during a session
                await asyncio.sleep(POLL_SECONDS)
            await self._report("Installing", rid)
            options = _options(self.orge.config.path())
            try:
                version = orge_update.resolve_source(wheel, None).version
                if self._can_install(options.prefix):
                    await loop.run_in_executor(
                        None, lambda: orge_update.install_only(wheel, options, say=_LOGGER.info)
                    )
            except (orge_update.UpdateError, OSError) as err:
                _LOGGER.error("Installing %s failed: %s", name, err)
                await self._report("InstallationFailed", rid)
                return
            pending: dict[str, Any] = {
                "request_id": rid,
                "version": version,
                "download_dir": download_dir,
                "result_file": os.path.join(self.folder, f"result-{int(time.time() * 1000)}.json"),
                "started": time.time(),
            }
            self._save(pending)
            await self._report("InstallRebooting", rid)
            if self._can_install(options.prefix):
                argv = ["--to", wheel, "--result-file", pending["result_file"]]
                argv += ["--prefix", options.prefix, "-c", options.config]
                _LOGGER.info("Starting `orge update %s` detached", " ".join(argv))
                orge_update.detach(argv, options.prefix)
            else:
                request_file = os.path.join(self.folder, REQUEST_FILE)
                self._save({**pending, "request_file": request_file})
                _write_json(request_file, {"to": wheel, "result_file": pending["result_file"]})
                _LOGGER.info("Asked orge-update.path to update to %s", version)
                pending["request_file"] = request_file
            await self._follow(pending)
        except asyncio.CancelledError:
            raise
        except Exception:
            _LOGGER.exception("Firmware update %s failed", rid)
            await self._report("InstallationFailed", rid)
            self._save(None)
        finally:
            if download_dir and self._pending() is None:  # ended before the switch
                shutil.rmtree(download_dir, ignore_errors=True)

    async def _follow(self, pending: dict[str, Any]) -> None:
        """Wait for the detached update's result file; report the outcome once."""
        import orge

        rid = pending.get("request_id")
        request_file = pending.get("request_file")
        while True:
            try:
                with open(pending["result_file"], encoding="utf-8") as handle:
                    result = json.load(handle)
                break
            except (OSError, ValueError):
                pass
            waited = time.time() - float(pending.get("started", time.time()))
            if request_file and os.path.exists(request_file) and waited > HANDOFF_TIMEOUT:
                # nobody took the request: orge-update.path is not enabled on this station
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(request_file)
                result = {"result": "failed", "reason": "orge-update.path did not take the request"}
                break
            await asyncio.sleep(POLL_SECONDS)
        ok = result.get("result") == "updated" and orge.__version__ == pending["version"]
        if not ok:
            _LOGGER.error(
                "Firmware %s not installed: %s", pending["version"], result.get("reason", result)
            )
        # cleared first: a crash between the two repeats nothing worse than a lost status
        self._save(None)
        with contextlib.suppress(OSError):
            os.unlink(pending["result_file"])
        if pending.get("download_dir"):  # the release is installed; the wheel is not needed
            shutil.rmtree(pending["download_dir"], ignore_errors=True)
        await self._report("Installed" if ok else "InstallationFailed", rid)


def _options(config_dir: str) -> orge_update.Options:
    from orge import update as orge_update

    env = os.environ.get
    return orge_update.Options(
        prefix=env("ORGE_PREFIX", orge_update.DEFAULT_PREFIX),
        config=os.path.abspath(config_dir),
        restart_command=env("ORGE_RESTART_COMMAND", orge_update.DEFAULT_RESTART),
        health_url=env("ORGE_HEALTH_URL", orge_update.DEFAULT_HEALTH_URL),
        deps_from=env("ORGE_DEPS_FROM"),
        wheelhouse=env("ORGE_WHEELHOUSE"),
        python=sys.executable,
    )


def _write_json(path: str, data: dict[str, Any]) -> None:
    """Written beside, synced, renamed: a reader sees the whole file or none."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


async def _sleep_until(when: float | None) -> None:
    if when is not None and when > time.time():
        await asyncio.sleep(when - time.time())
