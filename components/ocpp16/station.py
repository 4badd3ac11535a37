"""The 1.6J runtime: connection loop, boot, heartbeat, status, transactions, orders.

Transactions: every StartTransaction, MeterValues (of a transaction) and StopTransaction
is written to the journal before it is sent and leaves it only when the CSMS answered.
The journal's transaction id is ORGE's own (a UUID); the CSMS's integer `transactionId`
is learnt from the StartTransaction answer, persisted, and put into later messages when
they are sent (`_prepare`). If the StartTransaction never got an answer (moved aside
after `TransactionMessageAttempts`), the later messages carry `transactionId = -1`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

import voluptuous as vol

from orge.core import EVENT_ORGE_STOP, Event, Orge, OwnedTasks, ServiceCall, SupportsResponse

from ..ocpp_station import journal as journal_mod
from ..ocpp_station.arming import StartArming
from ..ocpp_station.backoff import ReconnectBackoff
from ..ocpp_station.boot import Registration
from ..ocpp_station.clock import StationClock
from ..ocpp_station.config import StationIdentity, firmware_version, resolve_station
from ..ocpp_station.connection import OCPP16 as SUBPROTOCOL
from ..ocpp_station.connection import ConnectFailed, Connection
from ..ocpp_station.ended_values import in_time_order, keep_for_end
from ..ocpp_station.entities import LinkSensors
from ..ocpp_station.evse import (
    ConnectorView,
    ControllerState,
    EvseBinding,
    SessionEvent,
    Status,
    stop_reason_16,
)
from ..ocpp_station.journal import KIND_END, KIND_METER, KIND_START, AsyncJournal, Entry
from ..ocpp_station.lifecycle import StationLifecycle
from ..ocpp_station.measurands import read_samples
from ..ocpp_station.metrics import ocpp_metrics
from ..ocpp_station.recovery import SessionRecovery
from ..ocpp_station.role import LinkRole
from ..ocpp_station.security import configured_profile
from ..ocpp_station.sender import CallRejected, JournalSender, LinkDown, NoAnswer, RetryPolicy
from ..ocpp_station.session import StationSessions
from ..ocpp_station.session_steps import (
    Call,
    boot_until_accepted,
    heartbeat,
    heartbeat_loop,
    resend_every_status,
)
from ..ocpp_station.timers import aligned, every
from . import DOMAIN
from .authorization import Authorization16
from .config_keys import SETTING_PREFIX, ConfigKeys, defaults
from .driver import present_id_tag
from .maintenance import Maintenance16
from .orders import AVAILABILITY_KEY, Orders
from .reservation import Reservation16
from .security import Security16
from .state import Tx

if TYPE_CHECKING:
    from .link import Link

_LOGGER = logging.getLogger(__name__)
TX_ID_PREFIX = "txid16:"
STEP_DOWN_GRACE = 5.0  # seconds the old link may carry our last StopTransactions (as ocpp201)


class Ocpp16Station(StationLifecycle, Orders):
    """Everything the 1.6 component does for one station."""

    protocol_label = "OCPP 1.6"
    refused_link_state = "disconnected"

    def __init__(self, orge: Orge, config: dict[str, Any], identity: StationIdentity) -> None:
        self.orge = orge
        self.config = {**config, "station_id": identity.station_id}
        config = self.config
        self.station_id = identity.station_id
        self.url = identity.url
        self.password = identity.password
        self.response_timeout = float(config["response_timeout"])
        self.clock = StationClock()
        self.journal = AsyncJournal(orge.config.path(".storage", "ocpp16.db"), config["queue_size"])
        self.sensors = LinkSensors(orge, DOMAIN, "OCPP 1.6", url=lambda: self.url)
        self.role = LinkRole(
            orge,
            DOMAIN,
            fallback_enabled=config["fallback"],
            failures_before_fallback=int(config["fallback_after"]),
        )
        self.bindings: dict[int, EvseBinding] = {}
        for evse in config["evse"]:
            binding = EvseBinding(
                orge, evse, self._evse_changed, ready_grace=float(config["ready_grace"])
            )
            binding.on_stop_request = self._journal_stop_request
            self.bindings[binding.evse_id] = binding
        self.keys = ConfigKeys(defaults(config, len(self.bindings)), {})
        self.limits = self.make_limits()  # charging profiles (smart.py)
        self.availability: dict[str, str] = {}  # "0", "1"... -> "Inoperative" (persisted)
        self.scheduled_availability: dict[int, str] = {}
        self.txs: dict[int, Tx] = {}  # connector -> running transaction
        self.csms_ids: dict[str, int] = {}  # local transaction id -> CSMS transactionId
        # accepted starts held until the vehicle is plugged in (shared with ocpp201)
        self.arming = StartArming(
            orge, lambda: self.keys.number("ConnectionTimeOut"), lambda m: self._set_error(m)
        )
        self.recovery = SessionRecovery(self.journal, self.arming)  # crash safety (shared)
        self.reservation = Reservation16(self)  # Reservation profile (reservation.py)
        self.link: Link | None = None
        self.accepted = False  # BootNotification accepted on the current connection
        self.registration = Registration()  # the boot status on it (shared policy)
        self.last_sent_status: dict[int, str] = {}
        self.offline_since: float | None = time.monotonic()
        self.backoff = ReconnectBackoff(
            config["retry_backoff_wait_minimum"],
            config["retry_backoff_random_range"],
            config["retry_backoff_repeat_times"],
        )
        self.sender = JournalSender(
            self.journal,
            self._policy,
            prepare=self._prepare,
            on_confirmed=self._confirmed,
            on_aside=self._aside,
        )
        self.sessions = StationSessions(orge, DOMAIN, "OCPP 1.6", self.journal)
        ocpp_metrics(orge).watch(SUBPROTOCOL, self.journal, self.sender)  # /api/metrics
        # ChangeConfiguration of a timer's key applies at once (issue 10 point 3)
        self.settings = self.sender.settings
        self.maintenance = Maintenance16(self)
        self.authorization = Authorization16(self)  # cache and local list (§3.5)
        self.security = Security16(self)  # profiles, AuthorizationKey, certificates
        self._tx_lock = asyncio.Lock()
        self._status_lock = asyncio.Lock()
        self._tasks = OwnedTasks(orge, on_error=self._task_failed)
        self._boot_id = journal_mod.boot_id()
        self.wire_logger = logging.getLogger(f"components.{DOMAIN}.wire")
        self.wire_logger.setLevel(logging.INFO if config["log_messages"] else logging.WARNING)

    # --- setup --------------------------------------------------------------------------

    async def async_start(self) -> None:
        await self.journal.open()
        self.journal.on_count = self.sensors.set_queue
        stored = await self.journal.settings(SETTING_PREFIX)
        self.keys = ConfigKeys(
            defaults(self.config, len(self.bindings)),
            {name[len(SETTING_PREFIX) :]: value for name, value in stored.items()},
        )
        await self.limits.async_start()
        await self.authorization.load()
        self.availability = dict(await self.journal.get_setting(AVAILABILITY_KEY, {}) or {})
        ids = await self.journal.settings(TX_ID_PREFIX)
        self.csms_ids = {key[len(TX_ID_PREFIX) :]: int(value) for key, value in ids.items()}
        self.backoff.configure(
            self.keys.number("RetryBackOffWaitMinimum"),
            self.keys.number("RetryBackOffRandomRange"),
            int(self.keys.number("RetryBackOffRepeatTimes")),
        )
        await self.sensors.async_add()
        self.sensors.set_queue(self.journal.count_cached)
        self.maintenance.start()
        await self.security.start()
        # Transactions open before a restart continue (or end, if the EV left meanwhile).
        for record in await self.journal.transactions():
            connector = int(record.data.get("connector", record.evse_id))
            binding = self.bindings.get(connector)
            if binding is None:
                continue
            self.txs[connector] = Tx(
                record.tx_id,
                connector,
                record.data.get("id_tag", ""),
                record.data.get("meter_start", 0),
            )
            # who may stop it locally, the values kept for StopTransaction (persisted)
            for name in ("parent", "ended", "stop_requested"):
                if record.data.get(name):
                    self.txs[connector].extra[name] = record.data[name]
            binding.session.resume(
                record.data.get("charging_state"), record.data.get("stop_requested")
            )
            _LOGGER.info("Resuming transaction %s on connector %s", record.tx_id, connector)
        # taken now: a resumed transaction the controller has ended meanwhile is closed
        # below, and its held start must still count as used (not be armed again)
        resumed = set(self.txs)
        await self.reservation.load()
        await self.sessions.async_start(self.bindings.values())
        for connector, binding in self.bindings.items():
            binding.inoperative = self._inoperative(connector)
            binding.start()
            if connector in self.txs:
                self.txs[connector].meter_task = self.spawn(self._meter_loop(self.txs[connector]))
                binding.refresh()  # ends a resumed session if the controller says so
        self.role.on_deactivate = self._deactivate
        self.role.start()
        # held starts and sessions found after a restart (on standby, adopt_sessions
        # opens the transaction when this component takes over)
        await self.recovery.restore(self.bindings, resumed)
        self.orge.async_create_background_task(self.run_lifecycle(), "ocpp16 link")
        self.orge.async_create_background_task(self._aligned_loop(), "ocpp16 aligned meter")
        self.orge.bus.async_listen_once(EVENT_ORGE_STOP, self._stop)

    async def _stop(self, _event: Event) -> None:
        self.role.stop()
        self.arming.stop()
        self.reservation.book.stop()
        self.sessions.stop()
        self.security.stop()
        for binding in self.bindings.values():
            binding.stop()
        if self.link is not None:
            await self.sender.settle(self.response_timeout)
        self._tasks.async_cancel_all()
        if self.link is not None:
            await self.link.connection.close()
        await self.journal.close()

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run a coroutine or a journal future as this station's task (cancelled at stop)."""
        name = getattr(coro, "__qualname__", "journal write")
        return self._tasks.async_create_background_task(coro, f"ocpp16 {name}")

    def _task_failed(self, err: BaseException) -> None:
        if isinstance(err, LinkDown):
            return  # the connection loop deals with a lost link
        _LOGGER.error("OCPP 1.6 task failed: %r", err, exc_info=err)
        self._set_error(f"internal error: {type(err).__name__}: {err}")

    def _inoperative(self, connector: int) -> bool:
        return (
            self.availability.get("0") == "Inoperative"
            or self.availability.get(str(connector)) == "Inoperative"
        )

    # --- entities -------------------------------------------------------------------------

    def _set_connection(self, state: str, **attributes: Any) -> None:
        self.sensors.set_connection(state, **attributes)

    def _set_error(self, message: str) -> None:
        self.sensors.set_error(message, time=self.clock.iso())

    # --- the connection loop --------------------------------------------------------------

    # --- lifecycle hooks (the loop is ocpp_station.lifecycle's) ---------------------------

    def subprotocols(self) -> list[str]:
        return [SUBPROTOCOL]

    def ping_interval(self) -> float:
        return self.keys.number("WebSocketPingInterval")

    def open_timeout(self) -> float:
        return self.response_timeout

    def set_link_state(self, state: str, **attributes: Any) -> None:
        if state == "standby":
            attributes["role"] = "fallback"
        self._set_connection(state, **attributes)

    def report_error(self, message: str) -> None:
        self._set_error(message)

    def connect_options(self) -> dict[str, Any]:
        return self.security.connect_options()  # security profile 1/2/3 (security.py)

    def invalid_frame(self, description: str) -> None:
        self.security.shared.invalid_message(description)

    async def connect_failed(self, failure: ConnectFailed) -> bool:
        return await self.security.connect_failed(failure)

    async def run_session(self, connection: Connection) -> ConnectFailed | None:
        await self.security.connected()  # a new key / profile holds now
        self.backoff.reset()
        await self._session(connection)
        return None  # a 1.6 boot Rejected is retried on the same socket (see _boot)

    def session_ended(self) -> None:
        self.link = None
        self.accepted = False
        self.offline_since = time.monotonic()
        self.sensors.set_protocol("none")

    async def pause_before_retry(self, delay: float, failure: ConnectFailed | None) -> None:
        await asyncio.sleep(delay)

    def _deactivate(self) -> None:
        """The primary is back (standby rule): end our open transactions (reason Other),
        deliver them over the still-open link for a few seconds, then close it; the loop
        then waits in standby. The sessions themselves run on; the primary reports them."""
        ends = []
        for connector, tx in list(self.txs.items()):
            tx.stop_reason = "Other"
            ends.append(self.spawn(self._end_tx(self.bindings[connector], None)))
        self.spawn(self._close_after_flush(ends))

    async def _close_after_flush(self, ends: list[asyncio.Task[Any]]) -> None:
        grace = STEP_DOWN_GRACE
        link = self.link
        deadline = time.monotonic() + grace
        if ends:
            await asyncio.wait(ends, timeout=grace)
        while (
            link is not None
            and self.link is link
            and self.accepted  # the sender only runs on a booted link
            and link.connection.is_open
            and self.journal.count_cached
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.05)
        if link is not None and self.link is link:
            await link.connection.close()

    def adopt_sessions(self) -> None:
        """Sessions running with no transaction of ours (they began while this component
        was on standby, or outlived a step-down) get a StartTransaction now, with the meter
        as it is now: what happened before was the other protocol's to report."""
        for connector, binding in self.bindings.items():
            if binding.session.active and connector not in self.txs:
                _LOGGER.info("Taking over a running session on connector %s", connector)
                self.spawn(self._start_tx(binding))

    async def _session(self, connection: Connection) -> None:
        # The 1.6 stack (ocpp.v16's messages and schemas, ~1.3 MiB) loads only when a 1.6
        # socket is open: on most stations 1.6 is the fallback and never connects.
        from .link import Link

        link = self.link = Link(self, connection)
        connection.call_gate = self.registration.gate(SUBPROTOCOL)  # §4.2 while Rejected
        receiver = self.spawn(link.run())
        self._set_connection("booting")
        self.sensors.set_protocol(SUBPROTOCOL)
        workers: list[asyncio.Task[Any]] = []
        try:
            if not await self._boot(link):
                return
            self.accepted = True
            self.security.booted()  # a station certificate due for renewal
            resend_all = resend_every_status(
                self.last_sent_status == {},
                self.offline_since,
                time.monotonic(),
                float(self.config["offline_threshold"]),
            )
            self.offline_since = None
            self._set_connection("connected")
            self.role.report_connected(SUBPROTOCOL)
            workers.append(self.spawn(self.sender.run(self._send_entry)))
            workers.append(self.spawn(self._heartbeat_loop(link)))
            if resend_all:
                # Every connector is (re)sent once: forget what was sent, so a status change
                # racing with this loop is not sent twice.
                self.last_sent_status.clear()
            self.spawn(self._send_statuses(all_connectors=False))
            await asyncio.wait([receiver, *workers], return_when=asyncio.FIRST_COMPLETED)
        except LinkDown:
            pass
        finally:
            for task in workers:
                task.cancel()
            if not receiver.done():
                await connection.close()
                with contextlib.suppress(asyncio.CancelledError):
                    await receiver

    # --- boot and heartbeat -----------------------------------------------------------------

    def boot_payload(self) -> dict[str, Any]:
        payload = {
            "chargePointVendor": self.config["vendor"],
            "chargePointModel": self.config["model"],
        }
        if self.config.get("serial_number"):
            payload["chargePointSerialNumber"] = self.config["serial_number"]
        payload["firmwareVersion"] = firmware_version(self.config)
        return payload

    async def _boot(self, link: Link) -> bool:
        """Boot until Accepted (the shared step, retrying Pending/Rejected at the CSMS's
        interval); False when the connection closed first."""
        return await boot_until_accepted(
            link.send_call, link.closed, self, self.config["boot_retry_interval"]
        )

    def boot_content(self, payload: dict[str, Any]) -> Any:
        return payload

    async def on_boot_skipped(self, call: Call) -> None:
        _LOGGER.debug("Reconnected; BootNotification unchanged, not re-sent")

    async def on_boot_accepted(self, interval: int) -> None:
        if interval > 0:
            await self._store_key("HeartbeatInterval", str(interval))

    def on_boot_refused(self, status: str, wait: float) -> None:
        self._set_connection(status.lower(), retry_in=wait)
        if status == "Rejected":
            self._set_error("BootNotification Rejected by the CSMS")
            self.role.report_failure("BootNotification Rejected", refused=True)

    def _heartbeat_interval(self) -> float:
        return self.keys.number("HeartbeatInterval") or float(self.config["heartbeat_interval"])

    async def _heartbeat_loop(self, link: Link) -> None:
        await heartbeat_loop(
            link.send_call, self.clock, self.settings, self._heartbeat_interval, self._set_error
        )

    async def send_heartbeat(self, link: Link) -> None:
        try:
            await heartbeat(link.send_call, self.clock, self._set_error)
        except (NoAnswer, CallRejected) as err:
            self._set_error(f"Heartbeat: {err}")

    # --- status -------------------------------------------------------------------------------

    def _status_payload(self, connector: int) -> dict[str, Any]:
        if connector == 0:
            status = "Unavailable" if self.availability.get("0") == "Inoperative" else "Available"
            return {
                "connectorId": 0,
                "errorCode": "NoError",
                "status": status,
                "timestamp": self.clock.iso(),
            }
        view = self.bindings[connector].current_view()
        payload: dict[str, Any] = {
            "connectorId": connector,
            "errorCode": view.error_code,
            "status": str(view.status),
            "timestamp": self.clock.iso(),
        }
        if view.info:
            payload["info"] = view.info[:50]
        if view.vendor_error_code:
            payload["vendorErrorCode"] = view.vendor_error_code[:50]
        if view.error_code == "UnderVoltage" and view.vendor_error_code:
            payload["vendorId"] = self.config["vendor"]
        return payload

    async def _send_status(self, connector: int, force: bool = False) -> None:
        """Send the connector's current status if it differs from the last one sent."""
        async with self._status_lock:
            link = self.link
            if link is None or not self.accepted:
                return
            payload = self._status_payload(connector)
            key = f"{payload['status']}/{payload['errorCode']}"
            if not force and self.last_sent_status.get(connector) == key:
                return
            try:
                await link.send_call("StatusNotification", payload)
                self.last_sent_status[connector] = key
            except (NoAnswer, CallRejected) as err:
                self._set_error(f"StatusNotification: {err}")
            except LinkDown:
                pass

    async def _send_statuses(self, all_connectors: bool) -> None:
        for connector in [0, *self.bindings]:
            await self._send_status(connector, force=all_connectors)

    def _evse_changed(
        self, binding: EvseBinding, view: ConnectorView, events: list[SessionEvent]
    ) -> None:
        connector = binding.evse_id
        for event in events:
            if event.kind == "started":
                # Standby rule: a fallback on standby journals no new transaction (it would
                # never be delivered, pile up, and be replayed as stale sessions the day it
                # takes over); it adopts a running session when it takes over instead.
                if self.role.active:
                    self.spawn(self._start_tx(binding))
            elif event.kind == "ended":
                # A transaction of ours still open (from before a restart) is followed to
                # its end even on standby; without one this only does the after-session work.
                self.spawn(self._end_tx(binding, event))
        self.spawn(self._send_status(connector))
        self.arming.state_changed(binding)
        self.reservation.book.state_changed(binding)
        self.sessions.evse_changed(binding, view)
        if (
            view.status in (Status.AVAILABLE, Status.RESERVED)
            and connector not in self.txs
            and self.limits.affects(connector)
            and binding.current_limit() != self.limits.wanted(binding)
        ):
            # A controller reboot resets its current (the firmware starts at 32 A): put
            # the CSMS's limit back while the connector is free.
            self.limits.dirty.add(connector)
            self.spawn(self.limits.apply())

    # --- transactions ---------------------------------------------------------------------------

    def _policy(self, entry: Entry) -> RetryPolicy:
        return RetryPolicy(
            attempts=max(1, int(self.keys.number("TransactionMessageAttempts"))),
            interval=self.keys.number("TransactionMessageRetryInterval"),
        )

    def _meter_now(self, binding: EvseBinding) -> int:
        energy = binding.energy_wh()
        return round(energy) if energy is not None else 0

    async def _journal(
        self,
        action: str,
        payload: dict[str, Any],
        kind: str,
        tx_id: str | None,
        close_tx: bool = False,
    ) -> None:
        await self.journal.append(
            action,
            payload,
            kind,
            tx_id=tx_id,
            offline=self.link is None or not self.accepted,
            time_synced=self.clock.synced,
            close_tx=close_tx,
        )
        self.sender.wake()

    async def _start_tx(self, binding: EvseBinding) -> None:
        connector = binding.evse_id
        async with self._tx_lock:
            if connector in self.txs:
                return
            held = self.arming.take(connector)
            id_tag = str(held.id_token) if held is not None else self.config["local_id_tag"]
            tx = Tx(uuid.uuid4().hex, connector, id_tag, self._meter_now(binding))
            if held is not None and held.group:
                tx.extra["parent"] = held.group  # who may stop it locally (driver.py)
            reservation_id = await self.reservation.book.consume(
                connector, id_tag, held.group if held is not None else None
            )
            self.txs[connector] = tx
            self.limits.transaction_started(connector)  # Relative profiles start now
            await self.journal.open_transaction(tx.local_id, binding.evse_id, self._tx_record(tx))
            payload = {
                "connectorId": connector,
                "idTag": id_tag,
                "meterStart": tx.meter_start,
                "timestamp": self.clock.iso(),
            }
            if reservation_id is not None:
                payload["reservationId"] = reservation_id  # §5.13: the reservation it used
            await self._journal("StartTransaction", payload, KIND_START, tx.local_id)
            await self.sessions.transaction_started(binding, tx.local_id, None, id_tag)
            tx.meter_task = self.spawn(self._meter_loop(tx))

    @staticmethod
    def _tx_record(tx: Tx) -> dict[str, Any]:
        """The journal record's data of an open transaction: what a restart needs to
        carry it on (its parentIdTag decides who may stop it locally; the values kept for
        StopTransaction's transactionData)."""
        return {
            "connector": tx.connector,
            "id_tag": tx.id_tag,
            "meter_start": tx.meter_start,
            "parent": tx.extra.get("parent"),
            "ended": tx.extra.get("ended", []),
            "stop_requested": tx.extra.get("stop_requested"),
        }

    async def _journal_stop_request(self, binding: EvseBinding, reason: str) -> None:
        """The stop's reason in the open transaction's journal record, before the
        controller is told (StopTransaction carries it after a crash in between)."""
        tx = self.txs.get(binding.evse_id)
        if tx is not None:
            tx.extra["stop_requested"] = reason
            await self._persist_tx(tx)

    async def _persist_tx(self, tx: Tx) -> None:
        if self.txs.get(tx.connector) is tx:
            await self.journal.update_transaction(tx.local_id, self._tx_record(tx))

    async def _end_tx(self, binding: EvseBinding, event: SessionEvent | None) -> None:
        """End the connector's transaction. `event` is the session's end; None when the
        transaction ends while the session runs on (step-down: `tx.stop_reason` is set)."""
        connector = binding.evse_id
        async with self._tx_lock:
            tx = self.txs.get(connector)
            if tx is not None:
                # out of the table only once its StopTransaction is journaled (as 2.0.1):
                # a Reset waits for an empty table (`running.py`)
                await self._journal_stop(binding, tx, event)
        if tx is not None:
            self.limits.drop_transaction_profiles(connector)
        if event is None:
            return  # the session still runs: availability and limits wait for its end
        scheduled = self.scheduled_availability.pop(connector, None)
        if scheduled is not None:
            binding.set_inoperative(scheduled == "Inoperative")
        await self.limits.apply()

    async def _journal_stop(self, binding: EvseBinding, tx: Tx, event: SessionEvent | None) -> None:
        if tx.meter_task is not None:
            tx.meter_task.cancel()
        meter_stop = self._meter_now(binding) or tx.meter_start
        timestamp = self.clock.iso()
        reason = tx.stop_reason or (self._stop_reason(binding, event) if event else "Other")
        payload: dict[str, Any] = {
            "transactionId": -1,  # the CSMS's id is filled in when sent (_prepare)
            "meterStop": meter_stop,
            "timestamp": timestamp,
            "reason": reason,
            "idTag": tx.extra.get("stop_id_tag", tx.id_tag),  # who stopped it, if a driver
        }
        samples = self._samples(binding, self.keys.list("StopTxnSampledData"), "Transaction.End")
        # the values kept while it ran (ended_values.py), then Transaction.End
        data = in_time_order(tx.extra.get("ended", []))
        keep_for_end(data, {"timestamp": timestamp, "sampledValue": samples})
        if data:
            payload["transactionData"] = data
        # the session row first: a crash before the StopTransaction is journaled resumes
        # the transaction, which then ends (and completes its row) again
        await self.sessions.transaction_ended(binding, tx.local_id, reason)
        # StopTransaction and the closing of the transaction record in one commit: a
        # crash right after it never resumes the transaction to stop it a second time
        await self._journal("StopTransaction", payload, KIND_END, tx.local_id, close_tx=True)
        del self.txs[tx.connector]  # over for the connector: its end is journaled

    @staticmethod
    def _stop_reason(binding: EvseBinding, event: SessionEvent) -> str:
        reason = stop_reason_16(event.reason)
        if reason == "Other" and binding.reading.state in (
            ControllerState.IDLE,
            ControllerState.CABLE_DETECT,
        ):
            return "EVDisconnected"  # no EV any more (e.g. it left while ORGE was down)
        return reason

    def _samples(
        self, binding: EvseBinding, measurands: list[str], context: str
    ) -> list[dict[str, Any]]:
        samples = []
        for sample in read_samples(binding, measurands):
            value: dict[str, Any] = {
                # Wh as an integer (as meterStart/meterStop); W, A, V to 0.1 / 0.01
                "value": str(
                    round(sample.value)
                    if sample.unit == "Wh"
                    else round(sample.value, 1 if sample.unit == "W" else 2)
                ),
                "context": context,
                "measurand": sample.measurand,
            }
            if sample.phase:
                value["phase"] = sample.phase
            value.update({"location": "Outlet", "unit": sample.unit})
            samples.append(value)
        return samples

    async def _meter_loop(self, tx: Tx) -> None:
        """Sampled meter values of one transaction, on the monotonic clock; a new
        MeterValueSampleInterval applies at once (0 = off)."""
        binding = self.bindings[tx.connector]
        last = time.monotonic()
        while True:
            await self.settings.sleep_until(
                every(last, lambda: self.keys.number("MeterValueSampleInterval"))
            )
            last = time.monotonic()
            stamp = self.clock.iso()
            kept = self._samples(binding, self.keys.list("StopTxnSampledData"), "Sample.Periodic")
            keep_for_end(
                tx.extra.setdefault("ended", []), {"timestamp": stamp, "sampledValue": kept}
            )
            if kept:
                await self._persist_tx(tx)
            samples = self._samples(
                binding, self.keys.list("MeterValuesSampledData"), "Sample.Periodic"
            )
            if not samples:
                continue
            payload = {
                "connectorId": tx.connector,
                "transactionId": -1,
                "meterValue": [{"timestamp": self.clock.iso(), "sampledValue": samples}],
            }
            async with self._tx_lock:
                if self.txs.get(tx.connector) is tx:
                    await self._journal("MeterValues", payload, KIND_METER, tx.local_id)

    async def _aligned_loop(self) -> None:
        """Clock-aligned meter values (ClockAlignedDataInterval), on the clock boundary;
        a new interval applies at once (0 = off)."""
        while True:
            await self.settings.sleep_until(
                aligned(
                    lambda: self.keys.number("ClockAlignedDataInterval"),
                    self.clock.seconds_to_boundary,
                )
            )
            for connector, binding in self.bindings.items():
                if connector in self.txs:  # StopTxnAlignedData, for StopTransaction
                    kept = self._samples(
                        binding, self.keys.list("StopTxnAlignedData"), "Sample.Clock"
                    )
                    meter = {"timestamp": self.clock.iso(), "sampledValue": kept}
                    keep_for_end(self.txs[connector].extra.setdefault("ended", []), meter)
                    if kept:
                        await self._persist_tx(self.txs[connector])
                samples = self._samples(
                    binding, self.keys.list("MeterValuesAlignedData"), "Sample.Clock"
                )
                if not samples:
                    continue
                value = [{"timestamp": self.clock.iso(), "sampledValue": samples}]
                async with self._tx_lock:  # never after the StopTransaction (_end_tx)
                    tx = self.txs.get(connector)
                    if tx is not None:
                        payload = {
                            "connectorId": connector,
                            "transactionId": -1,
                            "meterValue": value,
                        }
                        await self._journal("MeterValues", payload, KIND_METER, tx.local_id)
                if tx is None and self.link is not None and self.accepted:
                    with contextlib.suppress(NoAnswer, CallRejected, LinkDown):
                        await self.link.send_call(
                            "MeterValues", {"connectorId": connector, "meterValue": value}
                        )
            await asyncio.sleep(0.01)  # never twice on one boundary

    # --- journal delivery hooks -------------------------------------------------------------------

    def _prepare(self, entry: Entry) -> dict[str, Any]:
        payload = dict(entry.payload)
        if entry.tx_id and entry.action in ("MeterValues", "StopTransaction"):
            # -1 if the StartTransaction was never confirmed (moved aside)
            payload["transactionId"] = self.csms_ids.get(entry.tx_id, -1)
        if not entry.time_synced and self.clock.synced:
            payload = self.clock.correct_payload(
                payload, entry.created_wall, entry.created_mono, entry.boot_id == self._boot_id
            )
        return payload

    async def _send_entry(self, entry: Entry, payload: dict[str, Any]) -> Any:
        link = self.link
        if link is None or not self.accepted:
            raise LinkDown("not connected")
        return await link.send_call(entry.action, payload)

    async def _confirmed(self, entry: Entry, response: Any) -> None:
        if entry.action == "StartTransaction" and entry.tx_id:
            csms_id = int(response["transactionId"])
            self.csms_ids[entry.tx_id] = csms_id
            # the sender runs this hook shielded: the id is stored even if the link drops now
            await self.journal.set_setting(TX_ID_PREFIX + entry.tx_id, csms_id)
            await self.sessions.transaction_id_known(entry.tx_id, str(csms_id))
            status = (response.get("idTagInfo") or {}).get("status")
            parent = (response.get("idTagInfo") or {}).get("parentIdTag")
            for tx in list(self.txs.values()):
                if parent and tx.local_id == entry.tx_id:
                    tx.extra["parent"] = parent  # who may stop it locally (driver.py)
                    await self._persist_tx(tx)
            if status != "Accepted" and self.keys.flag("StopTransactionOnInvalidId"):
                self.spawn(self._stop_invalid(entry.tx_id, status))
            await self.authorization.answered(entry.payload.get("idTag"), response.get("idTagInfo"))
        elif entry.action == "StopTransaction" and entry.tx_id:
            self.csms_ids.pop(entry.tx_id, None)
            await self._forget_tx_id(entry.tx_id)
            await self.sessions.transaction_confirmed(entry.tx_id)
            await self.authorization.answered(entry.payload.get("idTag"), response.get("idTagInfo"))

    async def _forget_tx_id(self, local_id: str) -> None:
        """The transaction is closed at the CSMS: its id mapping is no longer needed."""
        await self.journal.delete_setting(TX_ID_PREFIX + local_id)

    def _aside(self, entry: Entry, reason: str) -> None:
        self._set_error(f"{entry.action} moved aside after failed attempts: {reason}")
        self.orge.bus.async_fire(
            f"{DOMAIN}_message_aside",
            {"action": entry.action, "transaction": entry.tx_id, "reason": reason},
        )
        if entry.action == "StopTransaction" and entry.tx_id:
            self.csms_ids.pop(entry.tx_id, None)
            self.spawn(self._forget_tx_id(entry.tx_id))

    async def _stop_invalid(self, local_id: str, status: str | None) -> None:
        for tx in self.txs.values():
            if tx.local_id == local_id:
                _LOGGER.warning(
                    "CSMS answered idTag %s for a running transaction; stopping", status
                )
                tx.stop_reason = "DeAuthorized"
                await self._run_stop(self.bindings[tx.connector], "DeAuthorized")

    # --- services ----------------------------------------------------------------------------

    async def service_authorize(self, call: ServiceCall) -> dict[str, Any]:
        # a local stop, else identification first (driver.py)
        return await present_id_tag(self, call.data.get("connector_id"), call.data["id_tag"])


async def async_setup_station(orge: Orge, config: dict[str, Any]) -> bool:
    from orge.exceptions import OrgeError

    try:
        identity = resolve_station(config, orge.config.station_id)
        configured_profile(config)  # profiles 2 and 3 need a wss:// URL
    except ValueError as err:
        raise OrgeError(f"ocpp16: {err}") from None
    station = Ocpp16Station(orge, config, identity)
    orge.data[DOMAIN] = station
    await station.async_start()
    orge.services.async_register(
        DOMAIN,
        "authorize",
        station.service_authorize,
        vol.Schema(
            {
                vol.Required("id_tag"): vol.All(str, vol.Length(min=1, max=20)),
                vol.Optional("connector_id"): vol.All(vol.Coerce(int), vol.Range(min=1)),
            }
        ),
        SupportsResponse.OPTIONAL,
        {
            "description": "A driver's id tag: stops the transaction it started (or one of "
            "its parentIdTag), else is authorized with the CSMS (1.6) and held until the "
            "vehicle is plugged in"
        },
    )
    return True
