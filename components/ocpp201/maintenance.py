"""Firmware and logs for OCPP 2.0.1 (blocks L and N): UpdateFirmware and GetLog payloads
mapped onto the protocol-neutral `ocpp_station.firmware` and `ocpp_station.diagnostics`,
their status notifications queued in the journal (delivered after a restart too)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.v201 import call_result

from components.ocpp_station.diagnostics import LogRequest, LogUploader
from components.ocpp_station.firmware import FirmwareRequest, FirmwareUpdater
from components.ocpp_station.journal import KIND_OTHER

if TYPE_CHECKING:
    from .state import MaintenanceState


class Maintenance201:
    """UpdateFirmware (L01/L02) and GetLog (N01), given the station as `MaintenanceState`."""

    def __init__(self, station: MaintenanceState) -> None:
        self.station = station
        self.firmware = FirmwareUpdater(station.orge, self._firmware_status, self._busy)
        self.logs = LogUploader(station.orge, station.station_id, self._log_status, station.journal)

    def start(self) -> None:
        if self.firmware.resume():  # this start is the update's restart: BootReason
            self.station.boot_reason = "FirmwareUpdate"

    async def _queue(self, action: str, payload: dict[str, Any]) -> None:
        station = self.station
        await station.journal.append(action, payload, KIND_OTHER, time_synced=station.clock.synced)
        station.sender.wake()

    async def _firmware_status(self, status: str, request_id: int | None) -> None:
        payload: dict[str, Any] = {"status": status}
        if request_id is not None:
            payload["requestId"] = request_id
        await self._queue("FirmwareStatusNotification", payload)
        # security events (the SecurityLog's lines too): L01.FR.03, and the appendix's
        # critical FirmwareUpdated once the new firmware runs
        if status == "InvalidSignature":
            await self.station.security.shared.event("InvalidFirmwareSignature")
        elif status == "Installed":
            await self.station.security.shared.event("FirmwareUpdated", f"request {request_id}")

    async def _log_status(self, status: str, request_id: int | None) -> None:
        payload: dict[str, Any] = {"status": status}
        if request_id is not None:
            payload["requestId"] = request_id
        await self._queue("LogStatusNotification", payload)

    def _busy(self) -> bool:
        return bool(self.station.transactions)

    def update_firmware(
        self, request_id: int, firmware: dict[str, Any], retries: int | None,
        retry_interval: int | None,
    ) -> Any:  # fmt: skip
        """UpdateFirmware (L01): status Accepted / AcceptedCanceled / Rejected /
        InvalidCertificate (a signing certificate no installed manufacturer root issued)."""
        profile = int(self.station.model.value("SecurityCtrlr", "SecurityProfile") or 0)
        signed = firmware.get("signing_certificate") and firmware.get("signature")
        if profile >= 3 and not signed:  # signed firmware only under profile 3 (TC_L_18)
            return call_result.UpdateFirmware(status="Rejected")
        security = self.station.security.shared
        if security.firmware_certificate_refused(firmware.get("signing_certificate")):
            return call_result.UpdateFirmware(status="InvalidCertificate")  # L01, TC_L_05
        request = FirmwareRequest.from_ocpp(firmware, request_id, retries, retry_interval)
        status = self.firmware.start(request)
        return call_result.UpdateFirmware(status=status)

    def get_log(
        self, request_id: int, log_type: str, log: dict[str, Any], retries: int | None,
        retry_interval: int | None,
    ) -> Any:  # fmt: skip
        """GetLog (N01): status Accepted / AcceptedCanceled / Rejected and the file name."""
        request = LogRequest.from_ocpp(log_type, log, request_id, retries, retry_interval)
        status, name = self.logs.start(request)
        return call_result.GetLog(status=status, filename=name if status != "Rejected" else None)
