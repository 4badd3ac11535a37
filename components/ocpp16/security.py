"""Security for OCPP 1.6J (the OCA whitepaper "Improved security for OCPP 1.6-J"): its
messages and configuration keys mapped onto the protocol-neutral `ocpp_station.security`
and `ocpp_station.certificates` (the same store, policy and events as 2.0.1).

- keys: SecurityProfile (ReadWrite, only upwards: the station reconnects with the new
  profile and goes back to the previous one when it cannot connect with it),
  AuthorizationKey (write-only: never reported; the Basic auth password, rotated as in
  2.0.1 A01: the old one is kept until the CSMS accepts the new one), CpoName (the CSR's
  organization), CertificateSignedMaxChainSize, CertificateStoreMaxLength,
  AdditionalRootCertificateCheck (false: no root certificate rollover check);
- ExtendedTriggerMessage(SignChargePointCertificate) -> SignCertificate (csr), repeated
  while no CertificateSigned comes; CertificateSigned, InstallCertificate
  (CentralSystemRootCertificate / ManufacturerRootCertificate),
  GetInstalledCertificateIds, DeleteCertificate; SecurityEventNotification queued in the
  journal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..ocpp_station.connection import ConnectFailed
from ..ocpp_station.security import WHITEPAPER_CRITICAL_EVENTS, StationSecurity
from ..ocpp_station.sender import CallRejected, LinkDown, NoAnswer

if TYPE_CHECKING:
    from .state import SecurityState

_LOGGER = logging.getLogger(__name__)
# the whitepaper's CertificateUseEnumType -> the store's (2.0.1) names
_USES = {
    "CentralSystemRootCertificate": "CSMSRootCertificate",
    "ManufacturerRootCertificate": "ManufacturerRootCertificate",
}
_PROFILE = "security/profile16"
_PROFILE_PREVIOUS = "security/profile16_previous"
# the whitepaper's names (its security events list) of the events the shared policy
# names as 2.0.1 does: Central System / Charge Point for CSMS / Charging Station
WHITEPAPER_EVENT_NAMES = {
    "FailedToAuthenticateAtCsms": "FailedToAuthenticateAtCentralSystem",
    "CsmsFailedToAuthenticate": "CentralSystemFailedToAuthenticate",
    "InvalidCsmsCertificate": "InvalidCentralSystemCertificate",
    "InvalidChargingStationCertificate": "InvalidChargePointCertificate",
}
SIGN_WAIT = 60.0  # s before an unanswered SignCertificate is repeated (doubling)
SIGN_REPEATS = 3


class Security16:
    """The security keys and orders of one station (`SecurityState`)."""

    def __init__(self, station: SecurityState) -> None:
        self.station = station
        self.shared = StationSecurity(
            station.orge,
            station.config,
            station.orge.config.path(),
            station.orge.config.path(".storage", "ocpp16_certificates"),
            station.journal,
            station.sender.wake,
            station.clock.iso,
            lambda: station.clock.synced,
            "SecurityEventNotification",  # the whitepaper's security events
            WHITEPAPER_EVENT_NAMES,
            WHITEPAPER_CRITICAL_EVENTS,
        )
        self.previous_profile: int | None = None  # kept until the new one connects
        self._installed = False
        self._unlisten: Callable[[], None] = lambda: None

    async def start(self) -> None:
        """Stored password and security profile win over the configured ones."""
        station = self.station
        station.password = await self.shared.load(station.password)
        stored = await station.journal.get_setting(_PROFILE)
        if stored is not None:
            self.shared.profile = int(stored)
        previous = await station.journal.get_setting(_PROFILE_PREVIOUS)
        self.previous_profile = int(previous) if previous is not None else None
        station.keys.values["SecurityProfile"] = str(self.shared.profile)
        self._unlisten = self.shared.listen(station.orge, lambda: station.role.active)
        self.shared.watch_expiry(self._renew)
        station.clock.on_step = self.shared.clock_stepped  # SettingSystemTime

    def stop(self) -> None:
        self._unlisten()
        self.shared.stop()

    # --- connections -----------------------------------------------------------------

    def connect_options(self) -> dict[str, Any]:
        return self.shared.connect_options()

    async def connect_failed(self, failure: ConnectFailed) -> bool:
        """A refused new AuthorizationKey: back to the old one (True: dial again at once
        with it, no hand-over); a new SecurityProfile the station cannot connect with:
        back to the previous profile (whitepaper)."""
        reverted = await self.shared.connect_failed(failure)
        if reverted:
            self.station.password = self.shared.password
        if self.previous_profile is not None:
            _LOGGER.warning(
                "Cannot connect with security profile %d; back to %d",
                self.shared.profile,
                self.previous_profile,
            )
            await self._set_profile(self.previous_profile, None)
        return reverted

    async def connected(self) -> None:
        await self.shared.connected()
        if self.previous_profile is not None:
            self.previous_profile = None
            await self.station.journal.delete_setting(_PROFILE_PREVIOUS)

    async def _set_profile(self, profile: int, previous: int | None) -> None:
        journal = self.station.journal
        self.shared.profile = profile
        self.previous_profile = previous
        self.station.keys.values["SecurityProfile"] = str(profile)
        await journal.set_setting(_PROFILE, profile)
        if previous is None:
            await journal.delete_setting(_PROFILE_PREVIOUS)
        else:
            await journal.set_setting(_PROFILE_PREVIOUS, previous)

    # --- configuration keys ----------------------------------------------------------

    def change_configuration(self, key: str, value: str) -> str | None:
        """ChangeConfiguration of SecurityProfile / AuthorizationKey (None: not ours).
        The change (and the reconnect it needs) happens after the answer."""
        if key == "AuthorizationKey":
            # whitepaper: 16-40 characters, as 2.0.1's passwordString
            if not 16 <= len(value) <= 40:
                return "Rejected"
            self.station.spawn(self._rotate(value))
            return "Accepted"
        if key == "SecurityProfile":
            try:
                profile = int(value)
            except ValueError:
                return "Rejected"
            current = self.shared.profile
            url = self.station.url
            if (
                profile < current  # never down (whitepaper, 2.0.1 A05)
                or profile > 3
                or (profile >= 2 and not url.startswith("wss://"))
                or (profile == 3 and self.shared.client_certificate() is None)
            ):
                return "Rejected"
            if profile != current:
                self.station.spawn(self._upgrade(profile, current))
            return "Accepted"
        return None

    async def _rotate(self, password: str) -> None:
        if await self.shared.rotate_password(password):
            self.station.password = password
            await self._reconnect()

    async def _upgrade(self, profile: int, current: int) -> None:
        await self._set_profile(profile, current)
        await self.shared.event("ReconfigurationOfSecurityParameters", f"SecurityProfile {profile}")
        await self._reconnect()

    async def _reconnect(self) -> None:
        link = self.station.link
        if link is not None:
            self.station.registration.forget()  # boot again on the new connection
            await link.connection.close_for_reconnect()

    # --- certificates ----------------------------------------------------------------

    def extended_trigger(self, requested_message: str) -> str | None:
        """ExtendedTriggerMessage of SignChargePointCertificate (None: not ours)."""
        return "Accepted" if requested_message == "SignChargePointCertificate" else None

    def sign_soon(self) -> None:
        async def send(csr: str) -> bool:
            link = self.station.link
            if link is None:
                return False
            try:
                answer: dict[str, Any] = await link.send_call("SignCertificate", {"csr": csr})
            except (NoAnswer, CallRejected, LinkDown) as err:
                _LOGGER.warning("SignCertificate not answered: %s", err)
                return False
            return answer.get("status") == "Accepted"

        cpo = self.station.keys.get("CpoName") or self.station.config["vendor"]
        self.shared.sign_soon(send, cpo, SIGN_WAIT, SIGN_REPEATS)

    def _renew(self) -> None:
        if self.station.link is not None:  # sent once the link is up otherwise (booted)
            self.sign_soon()

    def booted(self) -> None:
        """Boot accepted: the first of this start reports StartupOfTheDevice; a station
        certificate close to its expiry is renewed now."""
        self.shared.booted()
        if self.shared.renewal_due():
            self.sign_soon()

    async def certificate_signed(self, certificate_chain: str) -> str:
        self._installed = await self.shared.accept_signed(certificate_chain)
        return "Accepted" if self._installed else "Rejected"

    async def after_certificate_signed(self) -> None:
        """Under profile 3 the station reconnects with the new certificate at once
        (OCA TC_074_CS step 7)."""
        if self._installed and self.shared.profile >= 3:
            self._installed = False
            await self._reconnect()

    def install_certificate(self, certificate_type: str, certificate: str) -> str:
        """Accepted / Rejected / Failed (the whitepaper's CertificateStatusEnumType)."""
        use = _USES.get(certificate_type)
        if use is None:
            return "Rejected"
        status = self.shared.store.install(use, certificate)
        if status == "Accepted" and use == "CSMSRootCertificate":
            self.station.spawn(
                self.shared.event("ReconfigurationOfSecurityParameters", f"{use} installed")
            )
        return status

    def get_installed_certificate_ids(
        self, certificate_type: str
    ) -> tuple[str, list[dict[str, str]] | None]:
        """(Accepted | NotFound, the hash data of the stored roots of that use)."""
        use = _USES.get(certificate_type)
        found = self.shared.store.installed([use]) if use else []
        if not found:
            return "NotFound", None
        return "Accepted", [entry.hash_data.as_payload() for entry in found]

    def delete_certificate(self, certificate_hash_data: dict[str, str]) -> str:
        """Accepted / Failed (the station certificate) / NotFound."""
        return self.shared.store.delete(certificate_hash_data)
