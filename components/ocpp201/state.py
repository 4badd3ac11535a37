"""The state the blocks of an OCPP 2.0.1 station share, as typed interfaces (a leaf
module: it imports no other module of this component, so no block imports the station).

`Station201` holds the state and wires the blocks; each block is given the station typed
as the small `Protocol` of what it reads plus the outward actions it may call
(queue a status, queue or send meter values, a heartbeat, apply settings):

- `MaintenanceState`: `Maintenance201` (firmware and logs, blocks L and N);
- `SmartChargingState`: `SmartCharging` (block K);
- `OrdersState`: `Orders` (every other CSMS request);
- `OrdersForTransactions`: what `TransactionLog` asks of the orders (the limits, the
  after-transaction work).

`Transaction` is the record of an open transaction the blocks share (`transactions`:
EVSE id -> Transaction).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from components.ocpp_station.ended_values import keep_for_end

if TYPE_CHECKING:
    from components.ocpp_station.arming import StartArming
    from components.ocpp_station.boot import Registration
    from components.ocpp_station.charging_limits import ChargingLimits
    from components.ocpp_station.clock import StationClock
    from components.ocpp_station.connection import Connection
    from components.ocpp_station.entities import LinkSensors
    from components.ocpp_station.evse import EvseBinding
    from components.ocpp_station.journal import AsyncJournal
    from components.ocpp_station.recovery import SessionRecovery
    from components.ocpp_station.role import LinkRole
    from components.ocpp_station.security import StationSecurity
    from components.ocpp_station.sender import JournalSender
    from components.ocpp_station.session import StationSessions
    from components.ocpp_station.timers import SettingsWake

    from .device_model import DeviceModel


@dataclass
class Transaction:
    """A transaction this station opened (mirrors the journal's record)."""

    tx_id: str
    evse_id: int
    connector_id: int
    id_token: dict[str, Any] | None = None
    remote_start_id: int | None = None
    charging_state: str = "EVConnected"
    timer: asyncio.Task[None] | None = field(default=None, repr=False)  # sampling
    group: str | None = None  # the starting token's groupIdToken (who may stop it locally)
    reservation_id: int | None = None  # the reservation its start used (H03)
    # meter values kept for the Ended event (TxEndedInterval samples, J01/J02)
    ended_values: list[dict[str, Any]] = field(default_factory=list, repr=False)
    ended_timer: asyncio.Task[None] | None = field(default=None, repr=False)

    def keep_for_end(self, meter: dict[str, Any] | None) -> None:
        keep_for_end(self.ended_values, meter)

    stop_token: dict[str, Any] | None = None  # the token a driver stopped it with
    stop_requested: str | None = None  # the reason of a stop asked of the controller

    def data(self) -> dict[str, Any]:
        """The journal record's data: what a restart needs to carry the transaction on
        (its group decides who may stop it locally; the kept TxEnded values go into the
        Ended event however long ORGE was down)."""
        return {
            "connector_id": self.connector_id,
            "id_token": self.id_token,
            "remote_start_id": self.remote_start_id,
            "charging_state": self.charging_state,
            "group": self.group,
            "ended_values": self.ended_values,
            "stop_requested": self.stop_requested,
            "reservation_id": self.reservation_id,
        }

    @classmethod
    def from_record(cls, tx_id: str, evse_id: int, data: dict[str, Any]) -> Transaction:
        """The transaction as `data()` stored it in the journal (before a restart)."""
        return cls(
            tx_id,
            evse_id,
            data.get("connector_id", 1),
            data.get("id_token"),
            data.get("remote_start_id"),
            data.get("charging_state", "EVConnected"),
            group=data.get("group"),
            ended_values=list(data.get("ended_values") or []),
            stop_requested=data.get("stop_requested"),
            reservation_id=data.get("reservation_id"),
        )


class SecurityOrders(Protocol):
    """What `Orders` and `Maintenance201` ask of `Security201` (security.py)."""

    shared: StationSecurity

    def trigger_sign(self) -> str: ...

    def sign_soon(self) -> None: ...


class SecurityState(Protocol):
    """What `Security201` reads and writes of the station (the link's URL and password
    follow the network profile and the password rotation)."""

    orge: Any
    config: dict[str, Any]
    station_id: str
    url: str
    password: str | None
    clock: StationClock
    journal: AsyncJournal
    sender: JournalSender
    model: DeviceModel
    role: LinkRole
    registration: Registration
    link: Connection | None
    boot_reason: str


class MaintenanceState(Protocol):
    """What `Maintenance201` reads and writes of the station."""

    orge: Any
    station_id: str
    clock: StationClock
    journal: AsyncJournal
    sender: JournalSender
    model: DeviceModel
    transactions: dict[int, Transaction]
    boot_reason: str
    security: SecurityOrders


class SmartChargingState(Protocol):
    """What `SmartCharging` reads of the station."""

    orge: Any
    config: dict[str, Any]
    clock: StationClock
    journal: AsyncJournal
    sender: JournalSender
    evses: dict[int, EvseBinding]
    transactions: dict[int, Transaction]
    link: Connection | None


class OrdersState(SmartChargingState, Protocol):
    """What `Orders` reads and writes of the station, and its outward actions."""

    model: DeviceModel
    settings: SettingsWake
    arming: StartArming
    recovery: SessionRecovery
    registration: Registration
    boot_accepted: bool
    boot_reason: str
    password: str | None
    security: SecurityOrders

    def queue_status(self, binding: EvseBinding) -> None:
        """Queue the connector's current StatusNotification."""
        ...

    def queue_meter(self, binding: EvseBinding, trigger: str) -> None:
        """Queue a TransactionEvent Updated with the meter (in the journal, in order)."""
        ...

    async def send_meter_values(self, binding: EvseBinding, context: str = ...) -> None:
        """Send a MeterValues request now (outside a transaction)."""
        ...

    async def heartbeat(self, link: Connection) -> None:
        """One Heartbeat on `link` (LinkDown / NoAnswer / CallRejected)."""
        ...

    def apply_backoff_settings(self) -> None:
        """OCPPCommCtrlr.RetryBackOff* changed: the reconnect back-off takes them."""
        ...

    def apply_ping_interval(self) -> None:
        """OCPPCommCtrlr.WebSocketPingInterval changed: the open socket takes it."""
        ...


class OrdersForTransactions(Protocol):
    """What `TransactionLog` asks of the orders."""

    limits: ChargingLimits

    async def transaction_ended(self, binding: EvseBinding) -> None:
        """After-transaction work: transaction profiles, scheduled availability, reset."""
        ...


class ReservationState(Protocol):
    """What `Reservation201` reads of the station (it queues its own messages)."""

    orge: Any
    clock: StationClock
    journal: AsyncJournal
    sender: JournalSender
    model: DeviceModel
    evses: dict[int, EvseBinding]
    transactions: dict[int, Transaction]
    arming: StartArming


class AuthorizationState(Protocol):
    """What `Authorization201` uses of the station."""

    orge: Any
    clock: StationClock
    journal: AsyncJournal
    sender: JournalSender
    model: DeviceModel
    evses: dict[int, EvseBinding]
    transactions: dict[int, Transaction]
    link: Connection | None
    boot_accepted: bool
    sensors: LinkSensors
    sessions: StationSessions
