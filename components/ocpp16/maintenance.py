"""Firmware and diagnostics for OCPP 1.6: UpdateFirmware and GetDiagnostics (Firmware
Management profile), SignedUpdateFirmware and GetLog (security whitepaper), mapped onto
the protocol-neutral `ocpp_station.firmware` and `ocpp_station.diagnostics`; their status
notifications are queued in the journal (delivered after a restart too).

A request with a requestId (the whitepaper's messages) is reported with
SignedFirmwareStatusNotification / LogStatusNotification and the statuses of OCPP 2.0.1;
plain UpdateFirmware / GetDiagnostics with FirmwareStatusNotification /
DiagnosticsStatusNotification, whose status lists are shorter (1.6 §7.25, §7.24): a step
1.6 has no name for is not reported, and UploadFailure is 1.6's UploadFailed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..ocpp_station.diagnostics import LogRequest, LogUploader, parse_time
from ..ocpp_station.firmware import FirmwareRequest, FirmwareUpdater
from ..ocpp_station.journal import KIND_OTHER

if TYPE_CHECKING:
    from .state import MaintenanceState

# OCPP 1.6 FirmwareStatus (§7.25)
FIRMWARE_STATUS_16 = {
    "Downloading", "Downloaded", "DownloadFailed", "Installing", "Installed",
    "InstallationFailed", "Idle",
}  # fmt: skip
# OCPP 1.6 DiagnosticsStatus (§7.24) from the neutral upload status
DIAGNOSTICS_STATUS_16 = {
    "Uploading": "Uploading",
    "Uploaded": "Uploaded",
    "UploadFailure": "UploadFailed",
    "BadMessage": "UploadFailed",
    "NotSupportedOperation": "UploadFailed",
    "PermissionDenied": "UploadFailed",
}


class Maintenance16:
    """The firmware and diagnostics orders, given the station as `MaintenanceState`."""

    def __init__(self, station: MaintenanceState) -> None:
        self.station = station
        self.firmware = FirmwareUpdater(station.orge, self._firmware_status, self._busy)
        self.logs = LogUploader(station.orge, station.station_id, self._log_status, station.journal)

    def start(self) -> None:
        self.firmware.resume()

    def _busy(self) -> bool:
        return bool(self.station.txs)

    async def _queue(self, action: str, payload: dict[str, Any]) -> None:
        station = self.station
        await station.journal.append(action, payload, KIND_OTHER, time_synced=station.clock.synced)
        station.sender.wake()

    async def _firmware_status(self, status: str, request_id: int | None) -> None:
        if request_id is not None:
            payload = {"status": status, "requestId": request_id}
            await self._queue("SignedFirmwareStatusNotification", payload)
            if status == "InvalidSignature":  # the whitepaper's security event list
                await self.station.security.shared.event("InvalidFirmwareSignature")
        elif status in FIRMWARE_STATUS_16:
            await self._queue("FirmwareStatusNotification", {"status": status})
        if status == "Installed":  # the whitepaper's critical FirmwareUpdated, both orders
            await self.station.security.shared.event("FirmwareUpdated")

    async def _log_status(self, status: str, request_id: int | None) -> None:
        if request_id is not None:
            if status != "AcceptedCanceled":  # not in the whitepaper's UploadLogStatusEnumType
                payload = {"status": status, "requestId": request_id}
                await self._queue("LogStatusNotification", payload)
        else:
            status_16 = DIAGNOSTICS_STATUS_16.get(status)
            if status_16 is not None:  # 1.6 has no AcceptedCanceled
                await self._queue("DiagnosticsStatusNotification", {"status": status_16})

    def update_firmware(
        self, location: str, retrieve_date: str, retries: int | None, retry_interval: int | None
    ) -> None:
        """UpdateFirmware (1.6 §6.52). Its answer has no status: a request this station
        refuses (not an HTTP(S) location, not installed as releases) is only logged."""
        firmware = {"location": location, "retrieve_date_time": retrieve_date}
        self.firmware.start(FirmwareRequest.from_ocpp(firmware, None, retries, retry_interval))

    def signed_update_firmware(
        self, request_id: int, firmware: dict[str, Any], retries: int | None,
        retry_interval: int | None,
    ) -> str:  # fmt: skip
        """SignedUpdateFirmware (whitepaper): Accepted / AcceptedCanceled / Rejected /
        InvalidCertificate (a signing certificate no installed manufacturer root issued)."""
        security = self.station.security.shared
        if security.firmware_certificate_refused(firmware.get("signing_certificate")):
            return "InvalidCertificate"
        request = FirmwareRequest.from_ocpp(firmware, request_id, retries, retry_interval)
        return self.firmware.start(request)

    def get_diagnostics(
        self, location: str, retries: int | None, retry_interval: int | None,
        start_time: str | None, stop_time: str | None,
    ) -> str | None:  # fmt: skip
        """GetDiagnostics (1.6 §6.20): the file name, or None when nothing will be sent."""
        request = LogRequest(
            location=location,
            since=parse_time(start_time),
            until=parse_time(stop_time),
            retries=retries or 0,
            retry_interval=float(retry_interval or 0),
        )
        status, name = self.logs.start(request)
        return None if status == "Rejected" else name

    def get_log(
        self, request_id: int, log_type: str, log: dict[str, Any], retries: int | None,
        retry_interval: int | None,
    ) -> tuple[str, str | None]:  # fmt: skip
        """GetLog (whitepaper): (status, file name)."""
        request = LogRequest.from_ocpp(log_type, log, request_id, retries, retry_interval)
        status, name = self.logs.start(request)
        return status, None if status == "Rejected" else name
