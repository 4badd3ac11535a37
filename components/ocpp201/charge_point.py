"""The OCPP 2.0.1 ChargePoint: CSMS orders routed to the station's blocks.

The shared connection (`ocpp_station.connection`) answers malformed frames and unknown
actions itself and hands this class one CALL at a time, so no handler awaits a call of
its own: anything to send because of an order goes out from an `@after` hook (run as a
task after the reply) or a task the station creates.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ocpp.routing import after, on
from ocpp.v201 import ChargePoint

from ..ocpp_station.schema_errors import SchemaChecked

if TYPE_CHECKING:
    from .orders import Orders

_LOGGER = logging.getLogger(__name__)


class StationChargePoint(SchemaChecked, ChargePoint):
    """Routes each CSMS order to `Orders`; every other action gets NotImplemented /
    NotSupported from the library; a payload breaking its schema gets a small CALLERROR
    and one WARNING line (`SchemaChecked`)."""

    schema_version = "2.0.1"

    def __init__(
        self,
        station_id: str,
        connection: Any,
        orders: Orders,
        response_timeout: float,
        logger: logging.Logger,
    ) -> None:
        super().__init__(station_id, connection, response_timeout, logger=logger)
        self.connection = connection  # answers a schema violation (SchemaChecked)
        self.orders = orders

    # --- transactions -------------------------------------------------------------

    @on("RequestStartTransaction")
    def on_request_start(self, **kwargs: Any) -> Any:
        return self.orders.request_start(**kwargs)

    @after("RequestStartTransaction")
    async def after_request_start(self, **kwargs: Any) -> None:
        await self.orders.after_request_start(**kwargs)

    @on("RequestStopTransaction")
    def on_request_stop(self, transaction_id: str, **kwargs: Any) -> Any:
        return self.orders.request_stop(transaction_id)

    @after("RequestStopTransaction")
    async def after_request_stop(self, transaction_id: str, **kwargs: Any) -> None:
        await self.orders.after_request_stop(transaction_id)

    @on("GetTransactionStatus")
    async def on_get_transaction_status(self, transaction_id: str | None = None, **_: Any) -> Any:
        return await self.orders.get_transaction_status(transaction_id)

    # --- station control -------------------------------------------------------------

    @on("Reset")
    def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> Any:
        return self.orders.reset(type, evse_id)

    @after("Reset")
    async def after_reset(self, type: str, evse_id: int | None = None, **_: Any) -> None:
        await self.orders.after_reset(type, evse_id)

    @on("ChangeAvailability")
    async def on_change_availability(
        self, operational_status: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        return await self.orders.change_availability(operational_status, evse)

    @on("UnlockConnector")
    async def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any) -> Any:
        return await self.orders.unlock_connector(evse_id, connector_id)

    @on("TriggerMessage")
    def on_trigger_message(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        return self.orders.trigger_message(requested_message, evse)

    @after("TriggerMessage")
    async def after_trigger_message(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> None:
        await self.orders.after_trigger_message(requested_message, evse)

    # --- device model ----------------------------------------------------------------

    @on("GetVariables")
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        self.orders.check_items("GetVariables", len(get_variable_data))
        return self.orders.get_variables(get_variable_data)

    @on("SetVariables")
    async def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        self.orders.check_items("SetVariables", len(set_variable_data))
        return await self.orders.set_variables(set_variable_data)

    @after("SetVariables")
    async def after_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> None:
        await self.orders.after_set_variables(set_variable_data)

    @on("GetBaseReport")
    def on_get_base_report(self, request_id: int, report_base: str, **_: Any) -> Any:
        return self.orders.get_base_report(request_id, report_base)

    @after("GetBaseReport")
    async def after_get_base_report(self, request_id: int, report_base: str, **_: Any) -> None:
        await self.orders.after_get_base_report(request_id, report_base)

    @on("GetReport")
    def on_get_report(
        self,
        request_id: int,
        component_variable: list[dict[str, Any]] | None = None,
        component_criteria: list[str] | None = None,
        **_: Any,
    ) -> Any:
        return self.orders.get_report(request_id, component_variable, component_criteria)

    @after("GetReport")
    async def after_get_report(
        self,
        request_id: int,
        component_variable: list[dict[str, Any]] | None = None,
        component_criteria: list[str] | None = None,
        **_: Any,
    ) -> None:
        await self.orders.after_get_report(request_id, component_variable, component_criteria)

    # --- firmware and logs (maintenance.py) ----------------------------------------------

    @on("UpdateFirmware")
    def on_update_firmware(
        self, request_id: int, firmware: dict[str, Any], retries: int | None = None,
        retry_interval: int | None = None, **_: Any,
    ) -> Any:  # fmt: skip
        return self.orders.station.maintenance.update_firmware(
            request_id, firmware, retries, retry_interval
        )

    @on("GetLog")
    def on_get_log(
        self, request_id: int, log_type: str, log: dict[str, Any], retries: int | None = None,
        retry_interval: int | None = None, **_: Any,
    ) -> Any:  # fmt: skip
        return self.orders.station.maintenance.get_log(
            request_id, log_type, log, retries, retry_interval
        )

    # --- local authorization and customer information (authorization.py) -------------

    @on("SendLocalList")
    async def on_send_local_list(
        self, version_number: int, update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None, **_: Any,
    ) -> Any:  # fmt: skip
        return await self.orders.station.authorization.send_local_list(
            version_number, update_type, local_authorization_list
        )

    @on("GetLocalListVersion")
    def on_get_local_list_version(self, **_: Any) -> Any:
        return self.orders.station.authorization.get_local_list_version()

    @on("ClearCache")
    async def on_clear_cache(self, **_: Any) -> Any:
        return await self.orders.station.authorization.clear_cache()

    @on("CustomerInformation")
    def on_customer_information(
        self, request_id: int, report: bool, clear: bool, customer_identifier: str | None = None,
        id_token: dict[str, Any] | None = None, customer_certificate: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:  # fmt: skip
        return self.orders.station.authorization.customer_information(
            request_id, report, clear, customer_identifier, id_token, customer_certificate
        )

    @after("CustomerInformation")
    async def after_customer_information(
        self, request_id: int, report: bool, clear: bool, customer_identifier: str | None = None,
        id_token: dict[str, Any] | None = None, customer_certificate: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:  # fmt: skip
        answer = self.orders.station.authorization.customer_information(
            request_id, report, clear, customer_identifier, id_token, customer_certificate
        )
        if answer.status == "Accepted":
            await self.orders.station.authorization.after_customer_information(
                request_id, report, clear, id_token, customer_identifier, customer_certificate
            )

    # --- security: certificates (security.py; A02-A04, M03-M05) -------------------------

    @on("CertificateSigned")
    async def on_certificate_signed(
        self, certificate_chain: str, certificate_type: str | None = None, **_: Any
    ) -> Any:
        security = self.orders.station.security
        return await security.certificate_signed(certificate_chain, certificate_type)

    @after("CertificateSigned")
    async def after_certificate_signed(self, **_: Any) -> None:
        await self.orders.station.security.after_certificate_signed()

    @on("InstallCertificate")
    def on_install_certificate(self, certificate_type: str, certificate: str, **_: Any) -> Any:
        return self.orders.station.security.install_certificate(certificate_type, certificate)

    @on("GetInstalledCertificateIds")
    def on_get_installed_certificate_ids(
        self, certificate_type: list[str] | None = None, **_: Any
    ) -> Any:
        return self.orders.station.security.get_installed_certificate_ids(certificate_type)

    @on("DeleteCertificate")
    def on_delete_certificate(self, certificate_hash_data: dict[str, str], **_: Any) -> Any:
        return self.orders.station.security.delete_certificate(certificate_hash_data)

    @on("SetNetworkProfile")
    async def on_set_network_profile(
        self, configuration_slot: int, connection_data: dict[str, Any], **_: Any
    ) -> Any:
        return await self.orders.station.security.set_network_profile(
            configuration_slot, connection_data
        )

    # --- smart charging --------------------------------------------------------------

    @on("SetChargingProfile")
    def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> Any:
        return self.orders.set_charging_profile(evse_id, charging_profile)

    @after("SetChargingProfile")
    async def after_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> None:
        await self.orders.apply_limits()

    @on("ClearChargingProfile")
    def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        return self.orders.clear_charging_profile(charging_profile_id, charging_profile_criteria)

    @after("ClearChargingProfile")
    async def after_clear_charging_profile(self, **_: Any) -> None:
        await self.orders.apply_limits()

    @on("GetChargingProfiles")
    def on_get_charging_profiles(
        self,
        request_id: int,
        charging_profile: dict[str, Any],
        evse_id: int | None = None,
        **_: Any,
    ) -> Any:
        return self.orders.get_charging_profiles(request_id, evse_id, charging_profile)

    @after("GetChargingProfiles")
    async def after_get_charging_profiles(
        self,
        request_id: int,
        charging_profile: dict[str, Any],
        evse_id: int | None = None,
        **_: Any,
    ) -> None:
        await self.orders.after_get_charging_profiles(request_id, evse_id, charging_profile)

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(
        self, duration: int, evse_id: int, charging_rate_unit: str | None = None, **_: Any
    ) -> Any:
        return self.orders.get_composite_schedule(duration, evse_id, charging_rate_unit)

    # --- reservations (reservation.py) ----------------------------------------------------

    @on("ReserveNow")
    async def on_reserve_now(
        self, id: int, expiry_date_time: str, id_token: dict[str, Any],
        connector_type: str | None = None, evse_id: int | None = None,
        group_id_token: dict[str, Any] | None = None, **_: Any,
    ) -> Any:  # fmt: skip
        return await self.orders.station.reservation.reserve_now(
            id, expiry_date_time, id_token, connector_type, evse_id, group_id_token
        )

    @after("ReserveNow")
    def after_reserve_now(self, **_: Any) -> None:
        self.orders.station.reservation.after_answer()

    @on("CancelReservation")
    async def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        return await self.orders.station.reservation.cancel_reservation(reservation_id)

    @after("CancelReservation")
    def after_cancel_reservation(self, **_: Any) -> None:
        self.orders.station.reservation.after_answer()

    @on("DataTransfer")
    def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: Any = None, **_: Any
    ) -> Any:
        return self.orders.data_transfer(vendor_id, message_id, data)
