"""The state the parts of the 1.6J station share, as typed interfaces (a leaf module: it
imports no other module of this component, so no part imports the station).

`Ocpp16Station` holds the state and the order logic (`orders.Orders`, `smart.Smart`);
the parts it wires are given the station typed as the small `Protocol` of what they use:

- `DriverState`: `driver.present_id_tag` (a driver's id tag: local stop or start);
- `MaintenanceState`: `Maintenance16` (firmware and diagnostics);
- `LinkState`: `Link` (the handlers of the CSMS's orders call these decisions and runs);
- `ReservationState`: `Reservation16` (ReserveNow / CancelReservation);
- `AuthorizationState`: `Authorization16` (local authorization: cache, list, offline).

`Tx` is the record of a running transaction (`txs`: connector -> Tx).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..ocpp_station.arming import StartArming
    from ..ocpp_station.boot import Registration
    from ..ocpp_station.clock import StationClock
    from ..ocpp_station.entities import LinkSensors
    from ..ocpp_station.evse import EvseBinding
    from ..ocpp_station.journal import AsyncJournal
    from ..ocpp_station.role import LinkRole
    from ..ocpp_station.security import StationSecurity
    from ..ocpp_station.sender import JournalSender
    from .config_keys import ConfigKeys


@dataclass
class Tx:
    """A transaction this station runs on one connector."""

    local_id: str
    connector: int
    id_tag: str
    meter_start: int
    meter_task: asyncio.Task[None] | None = None
    stop_reason: str | None = None  # set when ORGE itself stops it (reset, unlock, invalid id)
    extra: dict[str, Any] = field(default_factory=dict)


class DriverState(Protocol):
    """What `driver.present_id_tag` uses of the station."""

    bindings: dict[int, EvseBinding]
    txs: dict[int, Tx]
    arming: StartArming

    async def authorize_id_tag_info(self, id_tag: str) -> tuple[str, str | None]:
        """Authorize at the CSMS: (IdTagInfo status, parentIdTag or None)."""
        ...

    async def run_stop(self, binding: EvseBinding, reason: str) -> None:
        """Ask the controller to stop the connector's session."""
        ...


class SecurityOrders(Protocol):
    """The security whitepaper's orders `Link` hands to `Security16` (security.py), and
    its shared policy (`Maintenance16` checks firmware signing certificates with it)."""

    shared: StationSecurity

    def extended_trigger(self, requested_message: str) -> str | None: ...

    def sign_soon(self) -> None: ...

    async def certificate_signed(self, certificate_chain: str) -> str: ...

    async def after_certificate_signed(self) -> None: ...

    def install_certificate(self, certificate_type: str, certificate: str) -> str: ...

    def get_installed_certificate_ids(
        self, certificate_type: str
    ) -> tuple[str, list[dict[str, str]] | None]: ...

    def delete_certificate(self, certificate_hash_data: dict[str, str]) -> str: ...


class SecurityState(Protocol):
    """What `Security16` uses of the station (its password follows the rotation)."""

    orge: Any
    config: dict[str, Any]
    url: str
    password: str | None
    clock: StationClock
    journal: AsyncJournal
    sender: JournalSender
    keys: ConfigKeys
    role: LinkRole
    registration: Registration
    link: Any  # the Link of the open connection (send_call, connection), or None

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...


class MaintenanceState(Protocol):
    """What `Maintenance16` uses of the station."""

    orge: Any
    station_id: str
    clock: StationClock
    journal: AsyncJournal
    sender: JournalSender
    txs: dict[int, Tx]
    security: SecurityOrders


class MaintenanceOrders(Protocol):
    """The firmware and diagnostics orders `Link` hands to `Maintenance16`."""

    def update_firmware(
        self, location: str, retrieve_date: str, retries: int | None, retry_interval: int | None
    ) -> None: ...

    def signed_update_firmware(
        self, request_id: int, firmware: dict[str, Any], retries: int | None,
        retry_interval: int | None,
    ) -> str: ...  # fmt: skip

    def get_diagnostics(
        self, location: str, retries: int | None, retry_interval: int | None,
        start_time: str | None, stop_time: str | None,
    ) -> str | None: ...  # fmt: skip

    def get_log(
        self, request_id: int, log_type: str, log: dict[str, Any], retries: int | None,
        retry_interval: int | None,
    ) -> tuple[str, str | None]: ...  # fmt: skip


class LinkState(Protocol):
    """What `Link` (the 1.6 order handlers) uses of the station: each order's decision
    (answered at once) and its run (started after the answer, `spawn`)."""

    station_id: str
    response_timeout: float
    keys: ConfigKeys
    maintenance: MaintenanceOrders
    security: SecurityOrders

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...

    async def remote_start(
        self, id_tag: str, connector_id: int | None, profile: dict[str, Any] | None
    ) -> str: ...

    async def remote_start_run(self, connector_id: int | None) -> None: ...

    async def remote_stop(self, transaction_id: int) -> str: ...

    async def remote_stop_run(self, transaction_id: int) -> None: ...

    def clear_cache(self) -> str: ...

    async def reset_run(self, kind: str) -> None: ...

    def change_availability(self, connector_id: int, kind: str) -> str: ...

    async def unlock(self, connector_id: int) -> str: ...

    def trigger_decision(self, message: str, connector_id: int | None) -> str: ...

    async def trigger_run(self, message: str, connector_id: int | None) -> None: ...

    def change_configuration(self, key: str, value: str) -> str: ...

    def data_transfer(
        self, vendor_id: str, message_id: str | None, data: str | None
    ) -> tuple[str, str | None]: ...

    def set_charging_profile(self, connector_id: int, profile: dict[str, Any]) -> str: ...

    def clear_charging_profile(
        self,
        profile_id: int | None,
        connector_id: int | None,
        purpose: str | None,
        stack: int | None,
    ) -> str: ...

    def composite_schedule(
        self, connector_id: int, duration: int, unit: str | None
    ) -> dict[str, Any]: ...


class ReservationState(Protocol):
    """What `Reservation16` uses of the station."""

    orge: Any
    journal: AsyncJournal
    clock: StationClock
    txs: dict[int, Tx]
    arming: StartArming
    bindings: dict[int, EvseBinding]
    keys: ConfigKeys


class CallSender(Protocol):
    """The open link's CALL (`link.Link.send_call`)."""

    async def send_call(
        self, action: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        """One CALL with a camelCase payload; returns the answer's payload."""
        ...


class AuthorizationState(Protocol):
    """What `Authorization16` uses of the station."""

    journal: AsyncJournal
    keys: ConfigKeys
    sender: JournalSender
    clock: StationClock
    sensors: LinkSensors
    accepted: bool  # BootNotification accepted on the current connection

    @property
    def link(self) -> CallSender | None:
        """The open link, None while offline."""
        ...
