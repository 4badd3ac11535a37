"""The 1.6J handlers of the CSMS's orders, over the shared connection.

The socket, Basic auth, TLS, ping and the CALL path are `ocpp_station.connection`'s.
`Link` is the `ocpp` library's ChargePoint with one `@on` handler per supported order; the
handlers only decide and answer, and every outgoing call an order causes is started after
the answer (`@after` or a task): the connection serves the CSMS's calls one at a time.

Outgoing messages use `Link.send_call(action, payload)` with camelCase payloads (as they
sit in the journal); they end in the answer payload, `CallRejected` (CALLERROR),
`NoAnswer` (timeout) or `LinkDown`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint
from ocpp.v16 import call_result as result

from ..ocpp_station.connection import OCPP16, Connection
from ..ocpp_station.schema_errors import SchemaChecked

if TYPE_CHECKING:
    from .state import LinkState

_LOGGER = logging.getLogger(__name__)
SUBPROTOCOL = OCPP16
# Every frame is logged here at INFO; quiet unless `log_messages: true`.
_WIRE = logging.getLogger("components.ocpp16.wire")


class Link(SchemaChecked, ChargePoint):
    """One connection's view of the CSMS, with the 1.6 order handlers; a payload
    breaking its schema gets a small CALLERROR and one WARNING line (`SchemaChecked`)."""

    schema_version = "1.6"

    def __init__(self, station: LinkState, connection: Connection) -> None:
        logger = getattr(station, "wire_logger", _WIRE)
        super().__init__(
            station.station_id, connection, response_timeout=station.response_timeout, logger=logger
        )
        self.station = station
        self.connection = connection
        self.closed: asyncio.Future[None] = connection.closed
        connection.attach(self, station.station_id, station.response_timeout)

    async def run(self) -> None:
        """Wait until the connection ends (returns; never raises for a closed link)."""
        await asyncio.shield(self.closed)

    async def send_call(
        self, action: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        """One CALL with a camelCase payload; returns the answer's payload."""
        return await self.connection.call(action, payload, timeout)

    # --- orders from the CSMS: decide and answer here; act after the answer -------------

    @on("RemoteStartTransaction")
    async def on_remote_start(
        self, id_tag: str, connector_id: int | None = None, charging_profile: dict | None = None
    ) -> Any:
        # a service call to the controller, not an OCPP call: fine inside the handler
        status = await self.station.remote_start(id_tag, connector_id, charging_profile)
        return result.RemoteStartTransaction(status=status)

    @after("RemoteStartTransaction")
    def after_remote_start(
        self, id_tag: str, connector_id: int | None = None, charging_profile: dict | None = None
    ) -> Any:
        return self.station.spawn(self.station.remote_start_run(connector_id))

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, transaction_id: int) -> Any:
        return result.RemoteStopTransaction(status=await self.station.remote_stop(transaction_id))

    @after("RemoteStopTransaction")
    def after_remote_stop(self, transaction_id: int) -> Any:
        # the controller is stopped after the answer went out: a CSMS that handles one
        # call per station at a time must not wait for the charger (issue 10 point 2)
        return self.station.spawn(self.station.remote_stop_run(transaction_id))

    # --- local authorization (authorization.py) ------------------------------------------

    @on("ClearCache")
    async def on_clear_cache(self) -> Any:
        return result.ClearCache(status=await self.station.authorization.clear_cache())

    @on("SendLocalList")
    async def on_send_local_list(
        self, list_version: int, update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
    ) -> Any:  # fmt: skip
        return result.SendLocalList(
            status=await self.station.authorization.send_local_list(
                list_version, update_type, local_authorization_list
            )
        )

    @on("GetLocalListVersion")
    def on_get_local_list_version(self) -> Any:
        return result.GetLocalListVersion(
            list_version=self.station.authorization.get_local_list_version()
        )

    @on("Reset")
    def on_reset(self, type: str) -> Any:
        return result.Reset(status="Accepted")

    @after("Reset")
    def after_reset(self, type: str) -> Any:
        return self.station.spawn(self.station.reset_run(type))

    @on("ChangeAvailability")
    def on_change_availability(self, connector_id: int, type: str) -> Any:
        return result.ChangeAvailability(
            status=self.station.change_availability(connector_id, type)
        )

    @on("UnlockConnector")
    async def on_unlock(self, connector_id: int) -> Any:
        return result.UnlockConnector(status=await self.station.unlock(connector_id))

    @on("TriggerMessage")
    def on_trigger(self, requested_message: str, connector_id: int | None = None) -> Any:
        return result.TriggerMessage(
            status=self.station.trigger_decision(requested_message, connector_id)
        )

    @after("TriggerMessage")
    def after_trigger(self, requested_message: str, connector_id: int | None = None) -> Any:
        return self.station.spawn(self.station.trigger_run(requested_message, connector_id))

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None) -> Any:
        known, unknown = self.station.keys.report(key)
        return result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str) -> Any:
        return result.ChangeConfiguration(status=self.station.change_configuration(key, value))

    @on("SetChargingProfile")
    def on_set_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any]) -> Any:
        return result.SetChargingProfile(
            status=self.station.set_charging_profile(connector_id, cs_charging_profiles)
        )

    @on("ClearChargingProfile")
    def on_clear_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
    ) -> Any:
        return result.ClearChargingProfile(
            status=self.station.clear_charging_profile(
                id, connector_id, charging_profile_purpose, stack_level
            )
        )

    @on("GetCompositeSchedule")
    def on_composite(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None
    ) -> Any:
        return result.GetCompositeSchedule(
            **self.station.composite_schedule(connector_id, duration, charging_rate_unit)
        )

    # --- firmware and diagnostics (maintenance.py) --------------------------------------

    @on("UpdateFirmware")
    def on_update_firmware(
        self, location: str, retrieve_date: str, retries: int | None = None,
        retry_interval: int | None = None,
    ) -> Any:  # fmt: skip
        self.station.maintenance.update_firmware(location, retrieve_date, retries, retry_interval)
        return result.UpdateFirmware()

    @on("SignedUpdateFirmware")
    def on_signed_update_firmware(
        self, request_id: int, firmware: dict[str, Any], retries: int | None = None,
        retry_interval: int | None = None,
    ) -> Any:  # fmt: skip
        return result.SignedUpdateFirmware(
            status=self.station.maintenance.signed_update_firmware(
                request_id, firmware, retries, retry_interval
            )
        )

    @on("GetDiagnostics")
    def on_get_diagnostics(
        self, location: str, retries: int | None = None, retry_interval: int | None = None,
        start_time: str | None = None, stop_time: str | None = None,
    ) -> Any:  # fmt: skip
        return result.GetDiagnostics(
            file_name=self.station.maintenance.get_diagnostics(
                location, retries, retry_interval, start_time, stop_time
            )
        )

    @on("GetLog")
    def on_get_log(
        self, log: dict[str, Any], log_type: str, request_id: int, retries: int | None = None,
        retry_interval: int | None = None,
    ) -> Any:  # fmt: skip
        status, name = self.station.maintenance.get_log(
            request_id, log_type, log, retries, retry_interval
        )
        return result.GetLog(status=status, filename=name)

    # --- security whitepaper (security.py) ----------------------------------------------

    @on("ExtendedTriggerMessage")
    def on_extended_trigger(self, requested_message: str, connector_id: int | None = None) -> Any:
        status = self.station.security.extended_trigger(requested_message)
        if status is None:  # the other messages as TriggerMessage does them
            status = self.station.trigger_decision(requested_message, connector_id)
        return result.ExtendedTriggerMessage(status=status)

    @after("ExtendedTriggerMessage")
    def after_extended_trigger(
        self, requested_message: str, connector_id: int | None = None
    ) -> Any:
        if requested_message == "SignChargePointCertificate":
            self.station.security.sign_soon()
            return None
        return self.station.spawn(self.station.trigger_run(requested_message, connector_id))

    @on("CertificateSigned")
    async def on_certificate_signed(self, certificate_chain: str) -> Any:
        status = await self.station.security.certificate_signed(certificate_chain)
        return result.CertificateSigned(status=status)

    @after("CertificateSigned")
    async def after_certificate_signed(self, certificate_chain: str) -> None:
        await self.station.security.after_certificate_signed()

    @on("InstallCertificate")
    def on_install_certificate(self, certificate_type: str, certificate: str) -> Any:
        status = self.station.security.install_certificate(certificate_type, certificate)
        return result.InstallCertificate(status=status)

    @on("GetInstalledCertificateIds")
    def on_get_installed_certificate_ids(self, certificate_type: str) -> Any:
        status, found = self.station.security.get_installed_certificate_ids(certificate_type)
        return result.GetInstalledCertificateIds(status=status, certificate_hash_data=found)

    @on("DeleteCertificate")
    def on_delete_certificate(self, certificate_hash_data: dict[str, str]) -> Any:
        # the library hands the payload over in snake_case; the store speaks OCPP's names
        hash_data = snake_to_camel_case(certificate_hash_data)
        return result.DeleteCertificate(status=self.station.security.delete_certificate(hash_data))

    # --- reservations (reservation.py) ---------------------------------------------------

    @on("ReserveNow")
    async def on_reserve_now(
        self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int,
        parent_id_tag: str | None = None,
    ) -> Any:  # fmt: skip
        return result.ReserveNow(
            status=await self.station.reservation.reserve_now(
                connector_id, expiry_date, id_tag, reservation_id, parent_id_tag
            )
        )

    @after("ReserveNow")
    def after_reserve_now(self, **_: Any) -> None:
        self.station.reservation.after_answer()

    @on("CancelReservation")
    async def on_cancel_reservation(self, reservation_id: int) -> Any:
        return result.CancelReservation(
            status=await self.station.reservation.cancel_reservation(reservation_id)
        )

    @after("CancelReservation")
    def after_cancel_reservation(self, **_: Any) -> None:
        self.station.reservation.after_answer()

    @on("DataTransfer")
    def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> Any:
        status, answer = self.station.data_transfer(vendor_id, message_id, data)
        return result.DataTransfer(status=status, data=answer)
