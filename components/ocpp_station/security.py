"""The station's security policy, shared by both protocols (2.0.1 blocks A and M, the
OCPP 1.6 security whitepaper).

`StationSecurity` owns, for one protocol component:

- the security profile (1: Basic auth over ws://, 2: TLS + Basic auth, 3: TLS with the
  station's client certificate, no Basic auth; 2.0.1 A00 / whitepaper §2) and the
  credentials of the next connection (`connect_options`);
- password rotation (2.0.1 A01 SecurityCtrlr.BasicAuthPassword, whitepaper
  AuthorizationKey): the new password is tried at the next connection while the old one
  is kept; when the CSMS refuses the new one (HTTP 401/403) the station goes back to the
  old one; the old one is forgotten only once the CSMS accepted a connection with the new
  one. Both are kept in the journal's settings (a restart in between loses nothing);
- the certificate store (`certificates.CertificateStore`) under the config's
  `.storage/<domain>_certificates`;
- security events (SecurityEventNotification, the same payload in both protocols:
  type, timestamp, techInfo): each is one line on the `orge.security` logger (the
  SecurityLog of GetLog); critical ones are queued in the journal every time, so they
  reach the CSMS after an offline period or a restart too; a non-critical type is
  queued at most once per `REPORT_EVERY` with how many came meanwhile (`event`).

Passwords are registered as secrets (`orge.redact`) before anything could log them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orge.config import missing_files, option_problem
from orge.core import EVENT_LOGIN_FAILED, Orge, OwnedTasks
from orge.redact import register_secret

from .certificates import CertificateError, CertificateStore
from .connection import ConnectFailed
from .journal import KIND_OTHER

SECURITY_LOGGER = logging.getLogger("orge.security")
# s: a non-critical event type is queued at most once per this (`StationSecurity.event`)
REPORT_EVERY = 600.0
_CHECK_EVERY = 6 * 3600.0  # s between two looks at the station certificate's expiry
_PASSWORD = "security/password"
_PREVIOUS = "security/password_previous"
# the event names of 2.0.1 Part 2 Appendix 1 "Security events" (the 1.6 whitepaper's list
# is the same but for four names: ocpp16/security.py WHITEPAPER_EVENT_NAMES)
SECURITY_EVENTS = (
    "FirmwareUpdated",
    "FailedToAuthenticateAtCsms",
    "CsmsFailedToAuthenticate",
    "SettingSystemTime",
    "StartupOfTheDevice",
    "ResetOrReboot",
    "SecurityLogWasCleared",
    "ReconfigurationOfSecurityParameters",
    "MemoryExhaustion",
    "InvalidMessages",
    "AttemptedReplayAttacks",
    "TamperDetectionActivated",
    "InvalidFirmwareSignature",
    "InvalidFirmwareSigningCertificate",
    "InvalidCsmsCertificate",
    "InvalidChargingStationCertificate",
    "InvalidTLSVersion",
    "InvalidTLSCipherSuite",
)
# the critical ones of that list (2.0.1 Part 2 Appendix 1 "Security events", column
# Critical; A04.FR.02: queued, guaranteed delivery). The whitepaper marks the same ones but
# InvalidFirmwareSignature, which it does not call critical: WHITEPAPER_CRITICAL_EVENTS.
CRITICAL_EVENTS = frozenset(
    {
        "FirmwareUpdated",
        "SettingSystemTime",
        "StartupOfTheDevice",
        "ResetOrReboot",
        "SecurityLogWasCleared",
        "MemoryExhaustion",
        "TamperDetectionActivated",
        "InvalidFirmwareSignature",
    }
)
WHITEPAPER_CRITICAL_EVENTS = CRITICAL_EVENTS - {"InvalidFirmwareSignature"}
# not in the spec's list (its type is free text, string[50]): a wrong token at the
# station's own HTTP API / WebSocket (the bus event EVENT_LOGIN_FAILED)
LOGIN_FAILED_AT_STATION_API = "FailedLoginAtStationApi"


def configured_profile(config: Mapping[str, Any]) -> int:
    """The configured security profile: the `security_profile` option, else 3 when a
    client certificate is configured on a wss:// URL, 2 for wss://, 1 for ws://.
    Raises ValueError when profile 2 or 3 is asked for on a ws:// URL (they are TLS)."""
    url = str(config["url"])
    profile = config.get("security_profile")
    if profile is None:
        if not url.startswith("wss://"):
            return 1
        return 3 if config.get("client_certificate") else 2
    if int(profile) >= 2 and not url.startswith("wss://"):
        raise ValueError(f"security_profile {profile} needs a wss:// URL (TLS), not {url}")
    return int(profile)


def config_problems(domain: str, config_dir: str, config: Mapping[str, Any]) -> list[str]:
    """What check-config reports about a block's security options (a schema cannot see
    them): profile 2/3 on ws://, a client certificate without its key (or the other way
    round), files that are not there, profile 3 with no certificate at all."""
    problems = []
    try:
        profile = configured_profile(config)
    except ValueError as err:  # at the URL's line: the option to change, most often
        return [option_problem(domain, config_dir, config.get("url"), str(err))]
    cert, key = config.get("client_certificate"), config.get("client_key")
    if bool(cert) != bool(key):
        text = "client_certificate and client_key must be given together"
        problems.append(option_problem(domain, config_dir, cert or key, text))
    problems += missing_files(
        domain, config_dir, config, ("client_certificate", "client_key", "ca_file")
    )
    installed = os.path.join(config_dir, ".storage", f"{domain}_certificates", "station")
    if profile == 3 and not cert and not os.path.isfile(os.path.join(installed, "key.pem")):
        text = (
            "security_profile 3 needs client_certificate and client_key (the station "
            "certificate; none was installed by the CSMS either)"
        )
        problems.append(option_problem(domain, config_dir, config.get("url"), text))
    return problems


class StationSecurity:
    """Security profile, password rotation, certificates and events of one component.

    `config_dir` is the configuration directory (relative certificate paths are read
    from it), `journal` the component's AsyncJournal, `wake` its sender's wake-up,
    `clock_iso` its clock (ISO 8601 UTC of a monotonic instant, None: now), `time_synced`
    whether that clock is set from the CSMS, `event_action` the protocol's message for a
    security event (2.0.1 and the 1.6 whitepaper: SecurityEventNotification),
    `event_names` the protocol's names of the events this module names as 2.0.1 does
    (the whitepaper says Central System / Charge Point where 2.0.1 says CSMS / Charging
    Station), `critical` the event types (2.0.1 names) the protocol calls critical.
    """

    def __init__(
        self,
        orge: Orge,
        config: Mapping[str, Any],
        config_dir: str,
        store_dir: str,
        journal: Any,
        wake: Callable[[], None],
        clock_iso: Callable[[float | None], str],
        time_synced: Callable[[], bool],
        event_action: str,
        event_names: Mapping[str, str] | None = None,
        critical: Collection[str] = CRITICAL_EVENTS,
    ) -> None:
        self.config = config
        self.config_dir = config_dir
        self.journal = journal
        self._wake = wake
        self._clock_iso = clock_iso
        self._time_synced = time_synced
        self._event_action = event_action
        self._event_names = dict(event_names or {})
        self._critical = frozenset(critical)
        self.profile = configured_profile(config)
        self.store = CertificateStore(store_dir)
        self.password: str | None = config.get("password")
        self.previous_password: str | None = None  # kept until the new one is accepted
        self._signed = asyncio.Event()  # a CertificateSigned was accepted
        self._tasks = OwnedTasks(orge)  # signing, the expiry watch, events; ended at stop
        self._signing: asyncio.Task[Any] | None = None
        self._started_at = time.monotonic()  # this start of the device (the process)
        self._startup_reported = False
        self._early_steps: list[tuple[float, float]] = []  # (step s, monotonic) before it
        self._throttles: dict[str, _Throttle] = {}  # non-critical event type: its reports

    async def load(self, configured: str | None) -> str | None:
        """The password to dial with: a rotated one from the journal wins over the
        configured one; a rotation not yet accepted keeps the old one for the fallback."""
        stored = await self.journal.get_setting(_PASSWORD)
        previous = await self.journal.get_setting(_PREVIOUS)
        for secret in (stored, previous):
            if secret:
                register_secret(str(secret))
        self.password = str(stored) if stored else configured
        self.previous_password = str(previous) if previous else None
        return self.password

    # --- connections -------------------------------------------------------------------

    def connect_options(self) -> dict[str, Any]:
        """`open_connection` keywords for this profile. Profile 3 presents the station
        certificate (the one installed by CertificateSigned, else the configured
        `client_certificate` / `client_key`) and sends no Basic auth (2.0.1 A00: profile
        3 authenticates the station by its certificate)."""
        options: dict[str, Any] = {
            "password": self.password if self.profile < 3 else None,
            "ca_file": self.config.get("ca_file"),
            "verify_tls": self.config.get("verify_tls", True),
            "trusted": [str(path) for path in self.store.trusted_roots()],
        }
        if self.profile >= 2:
            options["client_cert"] = self.client_certificate()
        return options

    def client_certificate(self) -> tuple[str, str] | None:
        """(chain file, key file) presented under profile 3 (and offered under 2 when
        installed, which a CSMS may ignore)."""
        installed = self.store.client_certificate()
        if installed is not None:
            return installed
        cert, key = self.config.get("client_certificate"), self.config.get("client_key")
        if cert and key:
            return os.path.join(self.config_dir, str(cert)), os.path.join(self.config_dir, str(key))
        return None

    # --- the station certificate (2.0.1 A02-A04, whitepaper "Certificate management") ---

    def sign_soon(
        self,
        send: Callable[[str], Awaitable[bool]],
        organization: str,
        wait: float,
        repeats: int,
    ) -> None:
        """Ask the CSMS to sign a new key pair (CSR subject O=`organization`, CN=the
        station id): `send(csr_pem)` sends the protocol's SignCertificate and returns
        whether it was Accepted. While no CertificateSigned
        follows within `wait` s the request is repeated with a new CSR, the wait doubled
        each time, at most `repeats` times (2.0.1 A02 CertSigningWaitMinimum /
        CertSigningRepeatTimes). One request at a time."""
        if self._signing is None or self._signing.done():
            self._signing = self._tasks.async_create_background_task(
                self._sign(send, organization, wait, repeats), "certificate signing"
            )

    async def _sign(
        self,
        send: Callable[[str], Awaitable[bool]],
        organization: str,
        wait: float,
        repeats: int,
    ) -> None:
        for _attempt in range(repeats + 1):
            self._signed.clear()
            csr = self.store.create_csr(organization, str(self.config["station_id"]))
            if not await send(csr):
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._signed.wait(), wait)
                return
            wait *= 2

    async def accept_signed(self, chain_pem: str) -> bool:
        """CertificateSigned: install the chain for the pending key (True), or refuse it
        with the event InvalidChargingStationCertificate (False)."""
        try:
            self.store.accept_signed(chain_pem)
        except CertificateError as err:
            SECURITY_LOGGER.warning("CertificateSigned rejected: %s", err)
            await self.event("InvalidChargingStationCertificate", str(err))
            return False
        SECURITY_LOGGER.info("New charging station certificate installed")
        self._signed.set()
        return True

    def renewal_due(self) -> bool:
        """The station certificate expires within `certificate_renew_days` (A04)."""
        days = float(self.config.get("certificate_renew_days", 30))
        return self.store.renewal_due(dt.timedelta(days=days))

    def watch_expiry(self, renew: Callable[[], None]) -> None:
        """A04: every `_CHECK_EVERY` s, `renew()` (the protocol's SignCertificate) when
        the station certificate is due (`renewal_due`); a boot checks too (the
        protocol calls `renew` after an accepted boot when due)."""

        async def watch() -> None:
            while True:
                await asyncio.sleep(_CHECK_EVERY)
                if self.renewal_due():
                    renew()

        self._tasks.async_create_background_task(watch(), "certificate expiry watch")

    def stop(self) -> None:
        self._tasks.async_cancel_all()

    def firmware_certificate_refused(self, signing_certificate: str | None) -> bool:
        """A signed firmware update whose signing certificate is not issued by an
        installed ManufacturerRootCertificate (2.0.1 L01: answer InvalidCertificate; the
        whitepaper's SignedUpdateFirmware likewise), with the event
        InvalidFirmwareSigningCertificate queued. Without a manufacturer root installed
        there is nothing to check against: not refused."""
        if not signing_certificate:
            return False
        if self.store.issued_by_root(signing_certificate, "ManufacturerRootCertificate") in (
            None,
            True,
        ):
            return False
        self._tasks.async_create_background_task(
            self.event("InvalidFirmwareSigningCertificate", "not issued by a manufacturer root"),
            "security event",
        )
        return True

    # --- password rotation (A01) ------------------------------------------------------

    async def rotate_password(self, new: str) -> bool:
        """A new Basic auth password from the CSMS: used from the next connection, the
        current one kept until the CSMS accepts the new one. False when it is the same."""
        register_secret(new)
        if new == self.password:
            return False
        if self.previous_password is None and self.password:
            self.previous_password = self.password
            await self.journal.set_setting(_PREVIOUS, self.password)
        self.password = new
        await self.journal.set_setting(_PASSWORD, new)
        await self.event("ReconfigurationOfSecurityParameters", "the Basic auth password changed")
        return True

    async def connect_failed(self, failure: ConnectFailed) -> bool:
        """A dial failed: when the CSMS refused the credentials (HTTP 401/403) of a
        password not yet accepted, go back to the previous one (True: the caller dials
        again on the same protocol with it, A01 - the refusal is the new password's,
        not the station's, so no fallback). The refused one is forgotten in the journal
        too (a restart dials with the old one). Events: FailedToAuthenticateAtCsms for
        every refusal, InvalidCsmsCertificate for a CSMS TLS certificate that failed
        verification."""
        if failure.untrusted_csms:
            await self.event("InvalidCsmsCertificate", failure.message)
        status = failure.status
        if status not in (401, 403):
            return False
        await self.event("FailedToAuthenticateAtCsms", f"HTTP {status}")
        if self.previous_password is None:
            return False
        SECURITY_LOGGER.warning(
            "The CSMS refused the new Basic auth password (HTTP %s); the old one is used again",
            status,
        )
        self.password = self.previous_password
        self.previous_password = None
        await self.journal.set_setting(_PASSWORD, self.password)
        await self.journal.delete_setting(_PREVIOUS)
        return True

    async def connected(self) -> None:
        """The CSMS accepted a connection: a new password is now the only one."""
        if self.previous_password is not None:
            self.previous_password = None
            await self.journal.delete_setting(_PREVIOUS)
            SECURITY_LOGGER.info("The CSMS accepted the new Basic auth password")

    # --- events ------------------------------------------------------------------------

    def listen(self, orge: Any, active: Callable[[], bool]) -> Callable[[], None]:
        """Report failed logins at the station's own API (the bus event the http
        component fires) while `active()` (the component holding the CSMS link); returns
        the unsubscribe function."""

        async def login_failed(event: Any) -> None:
            if active():
                data = event.data
                where = f" from {data['address']}" if data.get("address") else ""
                await self.event(LOGIN_FAILED_AT_STATION_API, f"{data.get('reason')}{where}")

        unsubscribe: Callable[[], None] = orge.bus.async_listen(EVENT_LOGIN_FAILED, login_failed)
        return unsubscribe

    def booted(self, causes: Iterable[tuple[str, str | None]] = ()) -> None:
        """An accepted BootNotification: the first of this start of the device queues
        StartupOfTheDevice (critical, Part 2 appendix "Security events"), stamped with
        the start's time, then the start's `causes` ((event, techInfo): ResetOrReboot
        after a Reset, ...). Reconnects of the same start send nothing: the device did
        not start again. Queued after the boot, so the component that holds the link
        reports it (a fallback on standby never piles up events it would send later)."""
        if self._startup_reported:
            return
        self._startup_reported = True
        events = [("StartupOfTheDevice", "ORGE started"), *causes]
        steps, self._early_steps = self._early_steps, []

        async def report() -> None:
            for kind, tech_info in events:
                await self.event(kind, tech_info, at=self._started_at)
            for step, at in steps:  # the boot's currentTime, after the start (in order)
                await self.event("SettingSystemTime", _moved(step), at=at)

        self._tasks.async_create_background_task(report(), "startup security events")

    def invalid_message(self, description: str) -> None:
        """The CSMS sent a frame that is not a valid OCPP-J message (`description`: the
        CALLERROR code and text it was answered with): the security event
        InvalidMessages (2.0.1 Part 2 appendix, the 1.6 whitepaper's list; not a
        critical one: `event` logs every one and queues one per `REPORT_EVERY` s)."""
        self._tasks.async_create_background_task(
            self.event("InvalidMessages", description), "security event"
        )

    def clock_stepped(self, step: float) -> None:
        """The CSMS's currentTime moved the station's time by `step` s (more than
        `clock.STEP_REPORTED`): SettingSystemTime (critical). One set by the first
        BootNotification's answer is queued after StartupOfTheDevice (`booted`)."""
        if not self._startup_reported:
            self._early_steps.append((step, time.monotonic()))
            return
        self._tasks.async_create_background_task(
            self.event("SettingSystemTime", _moved(step)), "security event"
        )

    async def event(self, kind: str, tech_info: str | None = None, at: float | None = None) -> None:
        """A security event (type `kind`, one of SECURITY_EVENTS named as 2.0.1 does, or
        a vendor name, at most 50 characters; techInfo at most 255; `at`: when it
        happened, a `time.monotonic()` of this start, default now).

        Every one is a line on the security log (`orge.security`, A04.FR.03: all events,
        critical or not). A critical one (`critical`) is queued in the journal as a
        SecurityEventNotification, every time: none is lost while offline or over a
        restart (2.0.1 A04.FR.02, the whitepaper's "queued"). A non-critical one is
        queued at most once per `REPORT_EVERY` s per type, and never while the last one
        of its type is still waiting in the journal; the ones in between are counted and
        the next report (the latest occurrence, at the latest when the period ends)
        says how many: "(N times since the last report)". So a station locked out by
        its CSMS (HTTP 401 at every dial) or facing a bad CSMS certificate journals one
        event per type, not one per attempt, and never pushes meter values out of a
        full queue (`journal._make_room` drops only them, never `other`)."""
        critical = kind in self._critical
        kind = self._event_names.get(kind, kind)
        at = time.monotonic() if at is None else at
        SECURITY_LOGGER.warning("Security event %s%s", kind, f": {tech_info}" if tech_info else "")
        if critical:
            await self._queue(kind, tech_info, at)
            return
        throttle = self._throttles.setdefault(kind, _Throttle())
        throttle.counted += 1
        throttle.last = (tech_info, at)
        await self._report(kind, throttle)
        if throttle.counted and (throttle.timer is None or throttle.timer.done()):
            throttle.timer = self._tasks.async_create_background_task(
                self._report_later(kind, throttle), "security event report"
            )

    async def _report(self, kind: str, throttle: _Throttle) -> None:
        """Queue the counted occurrences of `kind` as one event when the period is over
        and the last report left the journal."""
        async with throttle.lock:
            now = time.monotonic()
            if not throttle.counted or (
                throttle.queued_at is not None and now - throttle.queued_at < REPORT_EVERY
            ):
                return
            if throttle.entry_id is not None and await self.journal.has(throttle.entry_id):
                return  # not delivered yet (offline): one waiting per type is enough
            count, (tech_info, at) = throttle.counted, throttle.last
            note = f" ({count} times since the last report)" if count > 1 else ""
            throttle.counted = 0
            throttle.queued_at = now
            text = (tech_info or kind)[: 255 - len(note)] + note  # the count is never cut
            throttle.entry_id = await self._queue(kind, text, at)

    async def _report_later(self, kind: str, throttle: _Throttle) -> None:
        """Report what was counted once the period is over; while the last report still
        waits in the journal (offline), look again every tenth of a period."""
        while throttle.counted:
            since = time.monotonic() if throttle.queued_at is None else throttle.queued_at
            wait = since + REPORT_EVERY - time.monotonic()
            await asyncio.sleep(wait if wait > 0 else REPORT_EVERY / 10)
            await self._report(kind, throttle)

    async def _queue(self, kind: str, tech_info: str | None, at: float) -> int:
        """Journal one SecurityEventNotification; its journal id."""
        payload: dict[str, Any] = {"type": kind[:50], "timestamp": self._clock_iso(at)}
        if tech_info:
            payload["techInfo"] = tech_info[:255]
        entry = await self.journal.append(
            self._event_action, payload, KIND_OTHER, time_synced=self._time_synced()
        )
        self._wake()
        return int(entry.id)


@dataclass
class _Throttle:
    """The reports of one non-critical event type (`StationSecurity.event`)."""

    queued_at: float | None = None  # monotonic, the last one queued
    entry_id: int | None = None  # its journal id (until delivered)
    counted: int = 0  # occurrences not reported yet
    last: tuple[str | None, float] = (None, 0.0)  # the latest: (techInfo, monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    timer: asyncio.Task[None] | None = None


def _moved(step: float) -> str:
    return f"station time moved {step:+.1f} s to the CSMS time"
