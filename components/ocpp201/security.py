"""Security for OCPP 2.0.1 (blocks A and M, station side): the payloads of SignCertificate,
CertificateSigned, InstallCertificate, GetInstalledCertificateIds and DeleteCertificate
mapped onto the protocol-neutral `ocpp_station.certificates` / `ocpp_station.security`.

- TriggerMessage(SignChargingStationCertificate) or a station certificate close to its
  expiry (`certificate_renew_days`, A04) -> SignCertificateRequest with a CSR made on the
  station (O = SecurityCtrlr.OrganizationName, CN = the station id, A02); when no
  CertificateSigned follows within SecurityCtrlr.CertSigningWaitMinimum seconds it is
  sent again, the wait doubled each time, at most CertSigningRepeatTimes times (A02);
- CertificateSigned (A02/A03): Accepted when the chain holds the CSR's key (it is used
  from the next connection: the station reconnects at once), else Rejected and the event
  InvalidChargingStationCertificate;
- InstallCertificate (M05), GetInstalledCertificateIds (M03), DeleteCertificate (M04);
- SetNetworkProfile (B09) and the network profile each connection uses, with the fallback
  to the next slot of OCPPCommCtrlr.NetworkConfigurationPriority (B10,
  `ocpp_station.network`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.v201 import call_result

from components.ocpp_station.connection import ConnectFailed
from components.ocpp_station.network import NetworkProfile, NetworkProfiles, parse_priority
from components.ocpp_station.security import StationSecurity
from components.ocpp_station.sender import CallRejected, LinkDown, NoAnswer

if TYPE_CHECKING:
    from .state import SecurityState

_LOGGER = logging.getLogger(__name__)
STATION_CERTIFICATE = "ChargingStationCertificate"


class Security201:
    """The security orders and the certificate renewal of one station (`SecurityState`)."""

    def __init__(self, station: SecurityState) -> None:
        self.station = station
        self.shared = StationSecurity(
            station.orge,
            station.config,
            station.orge.config.path(),
            station.orge.config.path(".storage", "ocpp201_certificates"),
            station.journal,
            station.sender.wake,
            station.clock.iso,
            lambda: station.clock.synced,
            "SecurityEventNotification",  # 2.0.1 A04 / the whitepaper's security events
        )
        self.network = NetworkProfiles(
            station.journal,
            NetworkProfile(1, station.url, self.shared.profile),
            station.station_id,
            lambda: self.shared.client_certificate() is not None,
        )
        self._installed = False  # the last CertificateSigned was installed
        self._start_causes: list[tuple[str, str | None]] = []  # security events of this start
        self._unlisten: Callable[[], None] = lambda: None

    @property
    def store(self) -> Any:
        return self.shared.store

    async def start(self) -> None:
        model = self.station.model
        password = self.station.password
        if password and model.value("SecurityCtrlr", "BasicAuthPassword") != password:
            # a refused password an earlier release left in the device model (it only
            # reset the journal's): the model holds the password in use again
            await self._store_model_password(password)
        await self.network.load()
        model.variables["SecurityCtrlr/CertificateEntries"].dynamic = self.store.count
        model.variables["SecurityCtrlr/SecurityProfile"].dynamic = lambda: self.shared.profile
        self.store.max_chain_size = int(model.value("SecurityCtrlr", "MaxCertificateChainSize"))
        self.shared.watch_expiry(self._renew)
        self._unlisten = self.shared.listen(self.station.orge, lambda: self.station.role.active)
        self.station.clock.on_step = self.shared.clock_stepped  # SettingSystemTime

    def stop(self) -> None:
        self._unlisten()
        self.shared.stop()

    async def startup_events(self) -> None:
        """Why this start happened, from its BootReason (read before the first accepted
        boot sets it back to PowerUp): ResetOrReboot after a Reset or a watchdog,
        reported with StartupOfTheDevice at the first accepted boot (`booted`).
        FirmwareUpdated goes out when the update's restart reports Installed
        (maintenance.py)."""
        reason = self.station.boot_reason
        if reason in ("RemoteReset", "ScheduledReset", "LocalReset", "Watchdog"):
            self._start_causes.append(("ResetOrReboot", f"BootReason {reason}"))

    # --- connections (the lifecycle's hooks) ------------------------------------------

    def connect_options(self) -> dict[str, Any]:
        """The next connection's URL (station.url) and credentials: the network profile
        NetworkConfigurationPriority puts first, or the one the fallback moved to."""
        station = self.station
        model = station.model
        self.network.configure(
            parse_priority(str(model.value("OCPPCommCtrlr", "NetworkConfigurationPriority"))),
            int(model.value("OCPPCommCtrlr", "NetworkProfileConnectionAttempts")),
        )
        profile = self.network.current()
        self.shared.profile = profile.security_profile
        if profile.url != station.url:
            station.url = profile.url
            station.registration.forget()  # another CSMS: boot there (B10)
        return self.shared.connect_options()

    async def connect_failed(self, failure: ConnectFailed) -> bool:
        """A dial failed: a refused new password falls back to the old one (A01; True:
        dial again at once with it, the network profile's attempts not counted), a TLS
        certificate the station does not trust is a security event, and the network
        profile falls back after its attempts (B10)."""
        if await self.shared.connect_failed(failure):
            await self._password_refused(self.shared.password)
            return True
        self.network.failed()
        return False

    async def _password_refused(self, old: str | None) -> None:
        """`old` is the password again: SecurityCtrlr.BasicAuthPassword holds it again,
        in the journal too, so nothing dials with the refused one later (a restart,
        `orge once`, the next SetVariables)."""
        self.station.password = old
        await self._store_model_password(old)

    async def _store_model_password(self, password: str | None) -> None:
        """SecurityCtrlr.BasicAuthPassword := `password`, persisted as SetVariables
        persists it (None: back to empty, the setting deleted)."""
        station = self.station
        var = station.model.variables["SecurityCtrlr/BasicAuthPassword"]
        var.value = password or ""
        setting = f"{station.model.SETTING_PREFIX}{var.key}"
        if password:
            await station.journal.set_setting(setting, password)
        else:
            await station.journal.delete_setting(setting)

    async def connected(self) -> None:
        """The CSMS accepted the handshake."""
        await self.shared.connected()
        await self.network.connected()

    async def set_network_profile(
        self, configuration_slot: int, connection_data: dict[str, Any]
    ) -> Any:
        """SetNetworkProfile (B09): Accepted (stored in the slot, used when
        NetworkConfigurationPriority puts it first or the fallback reaches it) or
        Rejected (not OCPP 2.0 over JSON, a security profile below the current one, a
        TLS profile on ws://, profile 3 without a certificate, the slot in use)."""
        reason: str | None = None
        if connection_data.get("ocpp_version") != "OCPP20":
            reason = "only OCPP20 (2.0.1) profiles"
        elif connection_data.get("ocpp_transport") != "JSON":
            reason = "only the JSON transport"
        else:
            reason = await self.network.set_slot(
                configuration_slot,
                str(connection_data["ocpp_csms_url"]),
                int(connection_data["security_profile"]),
            )
        if reason is not None:
            _LOGGER.warning("SetNetworkProfile rejected: %s", reason)
            return call_result.SetNetworkProfile(
                status="Rejected",
                status_info={"reason_code": "InvalidProfile", "additional_info": reason[:512]},
            )
        self._reconfigured(f"network profile slot {configuration_slot} set")
        return call_result.SetNetworkProfile(status="Accepted")

    # --- certificates ------------------------------------------------------------------

    def install_certificate(self, certificate_type: str, certificate: str) -> Any:
        """InstallCertificate (M05): Accepted / Rejected / Failed."""
        status = self.store.install(certificate_type, certificate)
        if status == "Accepted" and certificate_type == "CSMSRootCertificate":
            self._reconfigured(f"{certificate_type} installed")
        return call_result.InstallCertificate(status=status)

    def get_installed_certificate_ids(self, certificate_type: list[str] | None) -> Any:
        """GetInstalledCertificateIds (M03): the hash data of the stored roots of the
        asked types (all when none), or NotFound."""
        found = self.store.installed(certificate_type or None)
        if not found:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(
            status="Accepted",
            certificate_hash_data_chain=[
                {"certificateType": e.use, "certificateHashData": e.hash_data.as_payload()}
                for e in found
            ],
        )

    def delete_certificate(self, certificate_hash_data: dict[str, str]) -> Any:
        """DeleteCertificate (M04): Accepted / NotFound / Failed (the station certificate)."""
        # the library hands the payload over in snake_case; the store speaks OCPP's names
        status = self.store.delete(snake_to_camel_case(certificate_hash_data))
        if status == "Accepted":
            self._reconfigured("certificate deleted")
        return call_result.DeleteCertificate(status=status)

    async def certificate_signed(self, certificate_chain: str, certificate_type: str | None) -> Any:
        """CertificateSigned (A02/A03): Accepted and installed, or Rejected (a chain that
        does not hold the CSR's key, not valid now, too long; the event
        InvalidChargingStationCertificate)."""
        if certificate_type not in (None, STATION_CERTIFICATE):  # no ISO 15118 (V2G) here
            return call_result.CertificateSigned(status="Rejected")
        self._installed = await self.shared.accept_signed(certificate_chain)
        return call_result.CertificateSigned(status="Accepted" if self._installed else "Rejected")

    async def after_certificate_signed(self) -> None:
        """The new certificate is used from the next connection: under profile 3 that
        connection starts now (A02: the station switches to it)."""
        link = self.station.link
        if self._installed and self.shared.profile >= 3 and link is not None:
            self._installed = False
            await link.close_for_reconnect()

    # --- SignCertificate -------------------------------------------------------------

    def trigger_sign(self) -> str:
        """TriggerMessage(SignChargingStationCertificate): Accepted (sent after the answer)."""
        return "Accepted"

    def sign_soon(self) -> None:
        """Send a SignCertificateRequest now (and again while no certificate comes)."""
        model = self.station.model

        async def send(csr: str) -> bool:
            link = self.station.link
            if link is None:
                return False
            try:
                answer = await link.call(
                    "SignCertificate", {"csr": csr, "certificateType": STATION_CERTIFICATE}
                )
            except (NoAnswer, CallRejected, LinkDown) as err:
                _LOGGER.warning("SignCertificate not answered: %s", err)
                return False
            return answer.get("status") == "Accepted"

        self.shared.sign_soon(
            send,
            str(model.value("SecurityCtrlr", "OrganizationName")),
            float(model.value("SecurityCtrlr", "CertSigningWaitMinimum")),
            int(model.value("SecurityCtrlr", "CertSigningRepeatTimes")),
        )

    def _renew(self) -> None:
        if self.station.link is not None:  # sent once the link is up otherwise (booted)
            self.sign_soon()

    def booted(self) -> None:
        """Boot accepted: the first of this start reports StartupOfTheDevice and why the
        station started (`startup_events`); a certificate that is due is renewed now."""
        self.shared.booted(self._start_causes)
        if self.shared.renewal_due():
            self.sign_soon()

    def _reconfigured(self, what: str) -> None:
        self.station.orge.async_create_task(
            self.shared.event("ReconfigurationOfSecurityParameters", what)
        )
