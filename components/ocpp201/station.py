"""The OCPP 2.0.1 station: connection loop, boot, heartbeat, status, transactions.

Everything transaction-related goes through the journal (written before it is sent,
deleted when confirmed) and is delivered by one sender in order. Status notifications
are sent directly (they describe the present, so a stale one is worthless); after an
offline period longer than OfflineThreshold every connector's status is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from components.ocpp_station.arming import StartArming
from components.ocpp_station.backoff import ReconnectBackoff
from components.ocpp_station.boot import Registration
from components.ocpp_station.clock import StationClock
from components.ocpp_station.config import StationIdentity
from components.ocpp_station.connection import (
    OCPP16,
    OCPP201,
    ConnectFailed,
)
from components.ocpp_station.connection import Connection as Link
from components.ocpp_station.entities import LinkSensors
from components.ocpp_station.evse import ConnectorView, EvseBinding, SessionEvent
from components.ocpp_station.journal import (
    AsyncJournal,
    Entry,
    boot_id,
)
from components.ocpp_station.lifecycle import StationLifecycle
from components.ocpp_station.metrics import ocpp_metrics
from components.ocpp_station.recovery import SessionRecovery
from components.ocpp_station.role import LinkRole
from components.ocpp_station.security import configured_profile
from components.ocpp_station.sender import (
    CallRejected,
    JournalSender,
    LinkDown,
    NoAnswer,
    RetryPolicy,
)
from components.ocpp_station.session import StationSessions
from components.ocpp_station.session_steps import (
    Call,
    boot_until_accepted,
    heartbeat,
    heartbeat_loop,
    resend_every_status,
)
from components.ocpp_station.urls import station_url
from orge import __version__
from orge.core import EVENT_ORGE_FINAL_WRITE, EVENT_ORGE_STOP, Orge, OwnedTasks, callback

from .authorization import Authorization201
from .charge_point import StationChargePoint
from .device_model import DeviceModel
from .maintenance import Maintenance201
from .orders import Orders
from .reservation import Reservation201
from .security import Security201
from .transactions import Transaction, TransactionLog

_LOGGER = logging.getLogger(__name__)
DOMAIN = "ocpp201"
ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"


class Station201(StationLifecycle, TransactionLog):
    """One OCPP 2.0.1 charging station (one connection, several EVSEs)."""

    protocol_label = "OCPP 2.0.1"

    def __init__(self, orge: Orge, config: dict[str, Any], identity: StationIdentity) -> None:
        self.orge = orge
        self.config = {**config, "station_id": identity.station_id}
        config = self.config
        self.station_id = identity.station_id
        self.password = identity.password
        self.url = identity.url
        self.clock = StationClock()
        self.journal = AsyncJournal(
            orge.config.path(".storage", "ocpp201.db"), config["queue_size"]
        )
        self.role = LinkRole(
            orge,
            DOMAIN,
            fallback_enabled=config["fallback"],
            failures_before_fallback=config["fallback_after"],
        )
        self.model = DeviceModel(
            {**config, "heartbeat_interval": config["heartbeat_interval"]},
            self.station_id,
            configured_profile(config),
            self.clock.iso,
            self.password,
        )
        self.backoff = ReconnectBackoff()
        self.sensors = LinkSensors(orge, DOMAIN, "OCPP 2.0.1", url=lambda: self.url)
        self.orders = Orders(self)
        self.maintenance = Maintenance201(self)
        self.authorization = Authorization201(self)  # cache, local list (C, D, N09)
        self.evses: dict[int, EvseBinding] = {}
        self.transactions: dict[int, Transaction] = {}
        # accepted starts held until the vehicle is plugged in (shared with ocpp16)
        self.arming = StartArming(
            orge,
            lambda: float(self.model.value("TxCtrlr", "EVConnectionTimeOut")),
            self.sensors.set_error,
        )
        self.recovery = SessionRecovery(self.journal, self.arming)  # crash safety (shared)
        self.reservation = Reservation201(self)  # ReserveNow / CancelReservation (block H)
        self.link: Link | None = None
        self.boot_accepted = False
        self.boot_reason = "PowerUp"
        self.registration = Registration()  # this connection's boot status (shared policy)
        self.last_status: dict[tuple[int, int], str] = {}  # confirmed by the CSMS
        self.reported: dict[tuple[int, int], str] = {}  # last queued (de-duplication)
        self._status_queue: asyncio.Queue[tuple[tuple[int, int], dict[str, Any]]] = asyncio.Queue()
        self.offline_since: float | None = None
        self.ever_connected = False
        self._tx_queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self._tasks = OwnedTasks(orge)  # journal writer, aligned data, the connection
        self.sender = JournalSender(
            self.journal,
            self._retry_policy,
            prepare=self._prepare,
            on_confirmed=self._confirmed,
            on_aside=self._moved_aside,
        )
        self.sessions = StationSessions(orge, DOMAIN, "OCPP 2.0.1", self.journal)
        self.security = Security201(self)  # profiles, password rotation, certificates
        ocpp_metrics(orge).watch(OCPP201, self.journal, self.sender)  # /api/metrics
        self.wire_logger = logging.getLogger(f"components.{DOMAIN}.wire")
        # (set both ways: the logger outlives a station restarted in the same process)
        self.wire_logger.setLevel(logging.INFO if config["log_messages"] else logging.WARNING)
        self.stopping = False
        self._attempted = 0.0  # when the current connection was made (shared-URL retry)
        # SetVariables of a timer's variable applies at once (issue 10 point 3)
        self.settings = self.sender.settings

    # --- lifecycle ---------------------------------------------------------------------

    async def async_start(self) -> None:
        await self.journal.open()
        self.journal.on_count = self.sensors.set_queue
        self.model.load(await self.journal.settings(DeviceModel.SETTING_PREFIX))
        self.password = await self.security.shared.load(self.orders.stored_password(self.password))
        await self.security.start()
        self.apply_backoff_settings()
        self.boot_reason = await self.journal.get_setting("boot_reason", "PowerUp")
        await self.orders.load()
        await self.authorization.load()
        self.maintenance.start()
        await self.security.startup_events()
        self.model.variables[
            "ChargingStation/AvailabilityState"
        ].dynamic = self.orders.availability_state
        await self.sensors.async_add()
        self.sensors.set_queue(self.journal.count_cached)
        for evse_config in self.config["evse"]:
            binding = EvseBinding(
                self.orge, evse_config, self._evse_changed, ready_grace=self.config["ready_grace"]
            )
            binding.inoperative = self.orders.is_inoperative(binding.evse_id)
            binding.on_stop_request = self._journal_stop_request
            self.evses[binding.evse_id] = binding
            self.orders.model_connector(binding)
        for record in await self.journal.transactions():
            binding = self.evses.get(record.evse_id)
            if binding is None:
                continue
            tx = Transaction.from_record(record.tx_id, record.evse_id, record.data)
            self.transactions[record.evse_id] = tx
            binding.session.resume(tx.charging_state, tx.stop_requested)
            _LOGGER.info(
                "Resuming transaction %s on EVSE %d from the journal", tx.tx_id, tx.evse_id
            )
        # taken now: a resumed transaction the controller has ended meanwhile is closed
        # below, and its held start must still count as used (not be armed again)
        resumed = set(self.transactions)
        await self.reservation.load()
        await self.sessions.async_start(self.evses.values())
        for binding in self.evses.values():
            binding.start()
            if binding.evse_id in self.transactions:
                self._start_sampling(self.transactions[binding.evse_id])
                binding.refresh()  # ends it now if the vehicle left meanwhile
        self._register_services()
        self.role.on_deactivate = self._step_down
        self.role.start()
        # held starts and sessions found after a restart (on standby, adopt_sessions
        # opens the transaction when this component takes over)
        await self.recovery.restore(self.evses, resumed)
        self.orge.bus.async_listen_once(EVENT_ORGE_STOP, self._on_stop)
        self.orge.bus.async_listen_once(EVENT_ORGE_FINAL_WRITE, self._on_final_write)
        self._tasks.async_create_background_task(self._tx_writer(), f"{DOMAIN} journal writer")
        self._tasks.async_create_background_task(self._aligned_loop(), f"{DOMAIN} aligned data")
        self._tasks.async_create_background_task(self.run_lifecycle(), f"{DOMAIN} connection")

    async def _journal_stop_request(self, binding: EvseBinding, reason: str) -> None:
        """The stop's reason in the open transaction's journal record, before the
        controller is told (the Ended event carries it after a crash in between)."""
        tx = self.transactions.get(binding.evse_id)
        if tx is not None:
            tx.stop_requested = reason
            await self.journal.update_transaction(tx.tx_id, tx.data())

    def _register_services(self) -> None:
        import voluptuous as vol

        from orge.core import SupportsResponse

        async def authorize(call: Any) -> dict[str, Any]:
            return await self.orders.local_authorize(
                call.data["id_token"], call.data["type"], call.data.get("evse_id")
            )

        self.orge.services.async_register(
            DOMAIN,
            "authorize",
            authorize,
            vol.Schema(
                {
                    vol.Required("id_token"): vol.All(str, vol.Length(min=1, max=36)),
                    vol.Optional("type", default="ISO14443"): vol.In(
                        [
                            "Central",
                            "eMAID",
                            "ISO14443",
                            "ISO15693",
                            "KeyCode",
                            "Local",
                            "MacAddress",
                            "NoAuthorization",
                        ]
                    ),
                    vol.Optional("evse_id"): vol.All(vol.Coerce(int), vol.Range(min=1)),
                }
            ),
            supports_response=SupportsResponse.OPTIONAL,
            description={
                "name": "Authorize",
                "description": "A driver's id token: stops the transaction it started (or "
                "one of its group); else Authorize at the CSMS and, when Accepted, the "
                "controller is authorised once the vehicle is plugged in and the transaction "
                "carries the token.",
            },
        )

    async def _on_stop(self, _event: Any) -> None:
        self.stopping = True
        self.reservation.book.stop()
        link = self.link  # a reconnect (a new password) may drop it while we settle
        if link is not None:
            await self.sender.settle(self.config["response_timeout"])
            await link.close()

    async def _on_final_write(self, _event: Any) -> None:
        # Let the writer put already-captured events in the journal before closing it.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._tx_queue.join(), 1.0)
        self._tasks.async_cancel_all()
        self.arming.stop()
        self.sessions.stop()
        self.security.stop()
        for binding in self.evses.values():
            binding.stop()
        await self.journal.close()

    def apply_backoff_settings(self) -> None:
        """Take OCPPCommCtrlr.RetryBackOff* into the reconnect back-off (after SetVariables)."""
        self.backoff.configure(
            self.model.value("OCPPCommCtrlr", "RetryBackOffWaitMinimum"),
            self.model.value("OCPPCommCtrlr", "RetryBackOffRandomRange"),
            self.model.value("OCPPCommCtrlr", "RetryBackOffRepeatTimes"),
        )

    def _retry_policy(self, entry: Entry) -> RetryPolicy:
        return RetryPolicy(
            attempts=int(self.model.value("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent")),
            interval=float(
                self.model.value("OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent")
            ),
        )

    def _prepare(self, entry: Entry) -> dict[str, Any]:
        if entry.time_synced:
            return entry.payload
        return self.clock.correct_payload(
            entry.payload, entry.created_wall, entry.created_mono, entry.boot_id == boot_id()
        )

    def _moved_aside(self, entry: Entry, reason: str) -> None:
        self.sensors.set_error(f"{entry.action} moved aside: {reason}")

    # --- connection --------------------------------------------------------------------

    def subprotocols(self) -> list[str]:
        """ocpp2.0.1 first; ocpp1.6 too when ocpp16 is configured on the same URL."""
        check = self.orge.data.get("config_check")
        other = getattr(check, "blocks", {}).get("ocpp16") if check else None
        if isinstance(other, dict) and other.get("url"):
            other_url = station_url(
                other["url"],
                other.get("station_id", self.station_id),
                other.get("append_station_id", "auto"),
            )
            if other_url == self.url:
                return [OCPP201, OCPP16]
        return [OCPP201]

    # --- lifecycle hooks (the loop is ocpp_station.lifecycle's) ---------------------------

    def ping_interval(self) -> float:
        return float(self.model.value("OCPPCommCtrlr", "WebSocketPingInterval"))

    def open_timeout(self) -> float:
        return max(5.0, self.config["response_timeout"])

    def set_link_state(self, state: str, **attributes: Any) -> None:
        self.sensors.set_connection(state, **attributes)

    def connect_options(self) -> dict[str, Any]:
        return self.security.connect_options()  # network and security profile (security.py)

    def invalid_frame(self, description: str) -> None:
        self.security.shared.invalid_message(description)

    async def connect_failed(self, failure: ConnectFailed) -> bool:
        return await self.security.connect_failed(failure)

    def report_error(self, message: str) -> None:
        self.sensors.set_error(message)

    async def run_session(self, connection: Link) -> ConnectFailed | None:
        self._attempted = time.monotonic()
        await self.security.connected()  # a new password / network profile holds now
        return await self._session(connection)

    def _session_task_failed(self, err: BaseException) -> None:
        if not isinstance(err, LinkDown):
            _LOGGER.error("OCPP 2.0.1 session task failed: %r", err, exc_info=err)
            self.sensors.set_error(f"internal error: {type(err).__name__}: {err}")

    async def pause_before_retry(self, delay: float, failure: ConnectFailed | None) -> None:
        await asyncio.sleep(delay)
        if failure is not None and failure.shared_url:
            await self._wait_while_fallback_holds_link(self._attempted)

    async def _wait_while_fallback_holds_link(self, attempted: float) -> None:
        """The CSMS chose ocpp1.6 on the shared URL and ocpp16 holds the link there: retry
        only every `primary_retry_interval` (each retry opens a second connection for the
        same station id on the same endpoint, which a CSMS may answer by dropping the
        first). With separate URLs the primary keeps its normal back-off."""
        interval = self.config["primary_retry_interval"]
        while self.role.is_primary and self.role.fallback_link_up():
            left = attempted + interval - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 1.0))

    async def _session(self, connection: Any) -> ConnectFailed | None:
        """Run one connection until it closes; a ConnectFailed if it was refused."""
        negotiated = connection.subprotocol
        if negotiated == OCPP16:
            # The CSMS picked 1.6 on the URL shared with ocpp16: the socket is left open
            # for ocpp16 (a CSMS must not see a second socket for one station).
            self.role.hand_over(self.url, connection)
            failed = ConnectFailed(
                "the CSMS chose ocpp1.6 on this URL; handing over to ocpp16", refused=True
            )
            failed.shared_url = True
            return failed
        cp = StationChargePoint(
            self.station_id,
            connection,
            self.orders,
            self.config["response_timeout"],
            self.wire_logger,
        )
        link = self.link = connection
        connection.attach(cp, self.station_id, self.config["response_timeout"])
        connection.call_gate = self.registration.gate(OCPP201)  # B03.FR.08 while Rejected
        self.sensors.set_protocol(OCPP201)
        result: ConnectFailed | None = None
        # this connection's loops, ended with it; a lost link is the lifecycle's to handle
        session = OwnedTasks(self.orge, on_error=self._session_task_failed)
        try:
            accepted = await self._boot(link)
            if not accepted:
                return ConnectFailed("BootNotification rejected by the CSMS", refused=True)
            self.backoff.reset()
            self.security.booted()  # a station certificate due for renewal (A04)
            self.role.report_connected(OCPP201)
            self.sensors.set_connection("connected")
            self.sensors.set_error("none")
            resend_all = resend_every_status(
                not self.ever_connected,
                self.offline_since,
                time.monotonic(),
                float(self.model.value("OCPPCommCtrlr", "OfflineThreshold")),
            )
            self.offline_since = None
            self._status_queue = asyncio.Queue()  # stale entries of an old link: dropped
            self._send_statuses(all_connectors=resend_all)
            self.ever_connected = True
            session.async_create_background_task(self._status_loop(link), f"{DOMAIN} status")
            session.async_create_background_task(self._heartbeat_loop(link), f"{DOMAIN} heartbeat")
            session.async_create_background_task(self._deliver(link), f"{DOMAIN} delivery")
            await link.closed
        except LinkDown:
            pass
        finally:
            session.async_cancel_all()
            await link.close()
            self.link = None
            if self.offline_since is None:
                self.offline_since = time.monotonic()
            self.role.report_disconnected()
            self.sensors.set_protocol("none")
            if self.boot_accepted and not self.stopping:
                _LOGGER.warning("Lost the OCPP 2.0.1 connection to the CSMS")
        return result

    @callback
    def _step_down(self) -> None:
        """The primary is back (we are the fallback): end our transactions, deliver what
        the link can take within a few seconds, then close it."""
        mono = time.monotonic()
        for evse_id in list(self.transactions):
            binding = self.evses[evse_id]
            event = SessionEvent(
                "ended", "AbnormalCondition", binding.session.charging_state, "Other"
            )
            self._tx_queue.put_nowait(("session", binding, event, mono))
        self.orge.async_create_task(self._close_after_flush())

    async def _close_after_flush(self, grace: float = 5.0) -> None:
        link = self.link
        deadline = time.monotonic() + grace
        await asyncio.wait_for(self._tx_queue.join(), grace)
        while link is not None and link.is_open and self.journal.count_cached:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        if link is not None:
            await link.close()

    def adopt_sessions(self) -> None:
        """Taking over as the fallback: a session already running becomes a transaction
        of ours (while on standby nothing was journaled, so nothing stale piles up)."""
        mono = time.monotonic()
        for binding in self.evses.values():
            if binding.session.active and binding.evse_id not in self.transactions:
                event = SessionEvent("started", "Authorized", binding.session.charging_state)
                self._tx_queue.put_nowait(("session", binding, event, mono))

    def boot_payload(self) -> dict[str, Any]:
        station: dict[str, Any] = {
            "model": self.config["model"],
            "vendorName": self.config["vendor"],
            "firmwareVersion": self.config.get("firmware_version") or f"ORGE {__version__}",
        }
        if self.config.get("serial_number"):
            station["serialNumber"] = self.config["serial_number"]
        return {"chargingStation": station, "reason": self.boot_reason}

    # --- boot and heartbeat: the shared session steps with 2.0.1's payloads ------------

    async def _boot(self, link: Link) -> bool:
        if not await boot_until_accepted(
            link.call, link.closed, self, self.config["boot_retry_interval"]
        ):
            raise LinkDown()
        return True

    def boot_content(self, payload: dict[str, Any]) -> Any:
        return payload["chargingStation"]  # the reason changes from boot to boot

    async def on_boot_skipped(self, call: Call) -> None:
        await heartbeat(call, self.clock, self.report_error)  # re-reads the CSMS time

    async def on_boot_accepted(self, interval: int) -> None:
        self.boot_accepted = True
        if interval > 0:
            self.model.variables["OCPPCommCtrlr/HeartbeatInterval"].value = interval
        if self.boot_reason != "PowerUp":
            self.boot_reason = "PowerUp"
            await self.journal.set_setting("boot_reason", "PowerUp")
        _LOGGER.info(
            "BootNotification accepted by %s (heartbeat %d s)", self.url, self.heartbeat_interval()
        )

    def on_boot_refused(self, status: str, wait: float) -> None:
        self.boot_accepted = False
        self.sensors.set_connection(status.lower() if status else "pending")
        if status == "Rejected":
            message = f"BootNotification rejected; retrying in {wait} s"
            self.sensors.set_error(message)
            self.role.report_failure(message, refused=True)

    def heartbeat_interval(self) -> int:
        return int(self.model.value("OCPPCommCtrlr", "HeartbeatInterval"))

    async def heartbeat(self, link: Link) -> None:
        """One Heartbeat; the answer's currentTime sets the station clock.
        Raises LinkDown / NoAnswer / CallRejected."""
        await heartbeat(link.call, self.clock, self.report_error)

    async def _heartbeat_loop(self, link: Link) -> None:
        await heartbeat_loop(
            link.call, self.clock, self.settings, self.heartbeat_interval, self.report_error
        )

    async def _deliver(self, link: Link) -> None:
        async def send(entry: Entry, payload: dict[str, Any]) -> Any:
            return await link.call(entry.action, payload)

        with contextlib.suppress(LinkDown):
            await self.sender.run(send)

    # --- status ------------------------------------------------------------------------

    def status_payload(self, binding: EvseBinding, view: ConnectorView) -> dict[str, Any]:
        return {
            "timestamp": self.clock.iso(),
            "connectorStatus": view.connector_status,
            "evseId": binding.evse_id,
            "connectorId": binding.connector_id,
        }

    def queue_status(self, binding: EvseBinding) -> None:
        """Queue the connector's current status for the CSMS (sent in order, at once)."""
        view = binding.current_view()
        key = (binding.evse_id, binding.connector_id)
        self.reported[key] = view.connector_status
        if self.link is not None and self.boot_accepted:
            self._status_queue.put_nowait((key, self.status_payload(binding, view)))

    async def _status_loop(self, link: Link) -> None:
        while True:
            key, payload = await self._status_queue.get()
            try:
                await link.call("StatusNotification", payload)
            except LinkDown:
                return
            except (NoAnswer, CallRejected) as err:
                _LOGGER.warning("StatusNotification not accepted: %s", err)
                continue
            except Exception:  # never let one bad message stop the status updates
                _LOGGER.exception("StatusNotification %s could not be sent", payload)
                continue
            self.last_status[key] = payload["connectorStatus"]

    def _send_statuses(self, all_connectors: bool) -> None:
        for binding in self.evses.values():
            key = (binding.evse_id, binding.connector_id)
            current = binding.current_view().connector_status
            if all_connectors or self.last_status.get(key) != current:
                self.queue_status(binding)

    @callback
    def _evse_changed(
        self, binding: EvseBinding, view: ConnectorView, events: list[SessionEvent]
    ) -> None:
        key = (binding.evse_id, binding.connector_id)
        if self.reported.get(key) != view.connector_status:
            self.queue_status(binding)
        mono = time.monotonic()
        for event in events:
            # On standby (a fallback) no new transaction is journaled; one of ours that
            # is still open (from before a restart or a step-down) is followed to its end.
            if self.role.active or (
                event.kind != "started" and binding.evse_id in self.transactions
            ):
                self._tx_queue.put_nowait(("session", binding, event, mono))
        if not events and binding.session.active and binding.evse_id in self.transactions:
            tx = self.transactions[binding.evse_id]
            tx.charging_state = view.charging_state.value
        self.orders.state_changed(binding)
        self.sessions.evse_changed(binding, view)
