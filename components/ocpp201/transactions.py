"""The transaction side of the OCPP 2.0.1 station: session events and meter values turned
into TransactionEvent messages in the journal, strictly in order, before they are sent.

Mixed into `Station201`. One writer task takes captured events from a queue (the moment
of the change is captured on the loop, the fsync happens on the journal thread), so
seqNo, timestamps and order are those of the changes themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from components.ocpp_station.arming import StartArming
from components.ocpp_station.ended_values import in_time_order
from components.ocpp_station.evse import EvseBinding, SessionEvent
from components.ocpp_station.journal import (
    KIND_END,
    KIND_METER,
    KIND_START,
    KIND_UPDATE,
    Entry,
)
from components.ocpp_station.measurands import read_samples
from components.ocpp_station.sender import CallRejected, LinkDown, NoAnswer
from components.ocpp_station.timers import SettingsWake, aligned, every
from orge.core import Orge

from .state import OrdersForTransactions, Transaction

if TYPE_CHECKING:
    from components.ocpp_station.clock import StationClock
    from components.ocpp_station.connection import Connection as Link
    from components.ocpp_station.journal import AsyncJournal
    from components.ocpp_station.sender import JournalSender
    from components.ocpp_station.session import StationSessions

    from .authorization import Authorization201
    from .device_model import DeviceModel
    from .reservation import Reservation201

__all__ = ["Transaction", "TransactionLog"]

_LOGGER = logging.getLogger("components.ocpp201.station")
ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"


class TransactionLog:
    """TransactionEvent journaling, sampled and clock-aligned meter values."""

    orge: Orge
    clock: StationClock
    journal: AsyncJournal
    sender: JournalSender
    model: DeviceModel
    orders: OrdersForTransactions
    authorization: Authorization201
    link: Link | None
    boot_accepted: bool
    evses: dict[int, EvseBinding]
    transactions: dict[int, Transaction]
    arming: StartArming
    reservation: Reservation201
    sessions: StationSessions
    _tx_queue: asyncio.Queue[tuple[Any, ...]]
    settings: SettingsWake

    async def _tx_writer(self) -> None:
        """Turns captured events into journal entries, strictly in order."""
        while True:
            item = await self._tx_queue.get()
            try:
                if item[0] == "session":
                    await self._session_event(item[1], item[2], item[3])
                elif item[0] == "meter":
                    await self._meter_event(item[1], item[2], item[3])
            except Exception:
                _LOGGER.exception("Could not journal %s", item[0])
            finally:
                self._tx_queue.task_done()

    def meter_value(
        self, binding: EvseBinding, context: str, mono: float, measurands: list[str] | None = None
    ) -> dict[str, Any] | None:
        sampled: list[dict[str, Any]] = []
        for sample in read_samples(binding, measurands or [ENERGY, POWER]):
            value: dict[str, Any] = {
                "value": round(sample.value, 3),
                "context": context,
                "measurand": sample.measurand,
            }
            if sample.phase:
                value["phase"] = sample.phase
            value["unitOfMeasure"] = {"unit": sample.unit}
            sampled.append(value)
        if not sampled:
            return None
        return {"timestamp": self.clock.iso(mono), "sampledValue": sampled}

    def _measurands(self, component: str, variable: str) -> list[str]:
        return list(self.model.value(component, variable))

    async def _append_tx(
        self,
        tx: Transaction,
        event_type: str,
        trigger: str,
        kind: str,
        mono: float,
        *,
        meter: dict[str, Any] | None = None,
        earlier_meters: list[dict[str, Any]] | None = None,
        stopped_reason: str | None = None,
        with_evse: bool = False,
        with_token: bool = False,
    ) -> Entry:
        info: dict[str, Any] = {"transactionId": tx.tx_id, "chargingState": tx.charging_state}
        if stopped_reason:
            info["stoppedReason"] = stopped_reason
        if tx.remote_start_id is not None and (with_evse or trigger == "RemoteStart"):
            info["remoteStartId"] = tx.remote_start_id
        payload: dict[str, Any] = {
            "eventType": event_type,
            "timestamp": self.clock.iso(mono),
            "triggerReason": trigger,
            "seqNo": -1,  # the journal assigns it atomically with the write
            "transactionInfo": info,
        }
        offline = self.link is None or not self.boot_accepted
        if offline:
            payload["offline"] = True
        if with_evse:
            payload["evse"] = {"id": tx.evse_id, "connectorId": tx.connector_id}
        if event_type == "Started" and tx.reservation_id is not None:
            payload["reservationId"] = tx.reservation_id  # H03.FR.09
        if event_type == "Ended" and tx.stop_token:
            payload["idToken"] = tx.stop_token  # stopped by a driver's token (E07)
        elif with_token and tx.id_token:
            payload["idToken"] = tx.id_token
        meters = [*(earlier_meters or []), *([meter] if meter else [])]
        if meters:
            payload["meterValue"] = meters
        entry = await self.journal.append(
            "TransactionEvent",
            payload,
            kind,
            tx_id=tx.tx_id,
            offline=offline,
            time_synced=self.clock.synced,
            created_wall=self.clock.timestamp(mono) if self.clock.synced else None,
            created_mono=mono,
            seq_key="seqNo",
            open_tx=(tx.evse_id, tx.data()) if event_type == "Started" else None,
            close_tx=event_type == "Ended",
        )
        self.sender.wake()
        return entry

    async def _session_event(self, binding: EvseBinding, event: SessionEvent, mono: float) -> None:
        evse_id = binding.evse_id
        if event.kind == "started":
            remote = self.arming.take(evse_id)
            tx = Transaction(
                str(uuid.uuid4()),
                evse_id,
                binding.connector_id,
                charging_state=event.charging_state.value,
            )
            trigger = event.trigger
            if remote is not None:
                tx.id_token = remote.id_token
                tx.remote_start_id = remote.remote_start_id
                tx.group = remote.group
                trigger = "RemoteStart" if remote.remote_start_id is not None else "Authorized"
            tx.reservation_id = await self.reservation.book.consume(
                evse_id, (tx.id_token or {}).get("idToken"), tx.group
            )
            self.transactions[evse_id] = tx  # its record is written with the Started event
            self.orders.limits.transaction_started(evse_id)  # Relative profiles start now
            meter = self.meter_value(
                binding,
                "Transaction.Begin",
                mono,
                self._measurands("SampledDataCtrlr", "TxStartedMeasurands"),
            )
            await self._append_tx(
                tx,
                "Started",
                trigger,
                KIND_START,
                mono,
                meter=meter,
                with_evse=True,
                with_token=True,
            )
            self._start_sampling(tx)
            token = (tx.id_token or {}).get("idToken")
            await self.sessions.transaction_started(binding, tx.tx_id, tx.tx_id, token)
            _LOGGER.info("Transaction %s started on EVSE %d (%s)", tx.tx_id, evse_id, trigger)
            return
        tx = self.transactions.get(evse_id)
        if tx is None:
            _LOGGER.warning("Session %s on EVSE %d without a transaction", event.kind, evse_id)
            return
        tx.charging_state = event.charging_state.value
        if event.kind == "updated":
            await self.journal.update_transaction(tx.tx_id, tx.data())
            await self._append_tx(tx, "Updated", event.trigger, KIND_UPDATE, mono)
            return
        # ended
        self._stop_sampling(tx)
        meter = self.meter_value(
            binding,
            "Transaction.End",
            mono,
            self._measurands("SampledDataCtrlr", "TxEndedMeasurands"),
        )
        # the TxEndedInterval samples (sampled and clock-aligned) in time order, then the
        # Transaction.End value (J01.FR.?? / J02: TxEndedMeasurands in the Ended event)
        meters = in_time_order(tx.ended_values)
        # the session row is completed first: a crash before the Ended event is journaled
        # resumes the transaction, which then ends (and completes its row) again
        await self.sessions.transaction_ended(binding, tx.tx_id, event.reason or "Other")
        # the Ended event and the closing of the transaction record in one commit: a crash
        # right after it never resumes the transaction to end it a second time
        await self._append_tx(
            tx,
            "Ended",
            event.trigger,
            KIND_END,
            mono,
            meter=meter,
            stopped_reason=event.reason,
            earlier_meters=meters,
        )
        # over for the EVSE now (a reset waits for this: the Ended event is journaled)
        del self.transactions[evse_id]
        _LOGGER.info("Transaction %s ended on EVSE %d (%s)", tx.tx_id, evse_id, event.reason)
        await self.orders.transaction_ended(binding)

    async def _confirmed(self, entry: Entry, response: Any) -> None:
        """The CSMS answered a journaled message: an Ended event confirms the session;
        an idTokenInfo goes to the authorization cache (and may de-authorize, E05)."""
        if (
            entry.action == "TransactionEvent"
            and entry.tx_id
            and entry.payload.get("eventType") == "Ended"
        ):
            await self.sessions.transaction_confirmed(entry.tx_id)
        await self.authorization.answered(entry, response)

    async def _meter_event(self, binding: EvseBinding, trigger: str, mono: float) -> None:
        tx = self.transactions.get(binding.evse_id)
        if tx is None:
            return
        if trigger == "MeterValueClock":
            context = "Sample.Clock"
            measurands = self._measurands("AlignedDataCtrlr", "Measurands")
        elif trigger == "Trigger":
            context = "Trigger"
            measurands = self._measurands("SampledDataCtrlr", "TxUpdatedMeasurands")
        else:
            context = "Sample.Periodic"
            measurands = self._measurands("SampledDataCtrlr", "TxUpdatedMeasurands")
        meter = self.meter_value(binding, context, mono, measurands)
        if meter is None and trigger != "Trigger":
            return
        kind = KIND_UPDATE if trigger == "Trigger" else KIND_METER
        await self._append_tx(tx, "Updated", trigger, kind, mono, meter=meter)

    def queue_meter(self, binding: EvseBinding, trigger: str) -> None:
        self._tx_queue.put_nowait(("meter", binding, trigger, time.monotonic()))

    def _start_sampling(self, tx: Transaction) -> None:
        """Periodic meter values of a transaction (SampledDataCtrlr.TxUpdatedInterval);
        a new interval, or Enabled, applies at once (0 = off)."""
        binding = self.evses[tx.evse_id]

        async def sample() -> None:
            last = time.monotonic()
            while self.transactions.get(tx.evse_id) is tx:
                await self.settings.sleep_until(
                    every(
                        last,
                        lambda: int(self.model.value("SampledDataCtrlr", "TxUpdatedInterval")),
                        lambda: bool(self.model.value("SampledDataCtrlr", "Enabled")),
                    )
                )
                if self.transactions.get(tx.evse_id) is not tx:
                    return
                last = time.monotonic()
                self.queue_meter(binding, "MeterValuePeriodic")

        async def sample_for_end() -> None:
            # SampledDataCtrlr.TxEndedInterval: kept for the Ended event (J02, TC_J_10)
            last = time.monotonic()
            while self.transactions.get(tx.evse_id) is tx:
                await self.settings.sleep_until(
                    every(
                        last,
                        lambda: int(self.model.value("SampledDataCtrlr", "TxEndedInterval")),
                        lambda: bool(self.model.value("SampledDataCtrlr", "Enabled")),
                    )
                )
                if self.transactions.get(tx.evse_id) is not tx:
                    return
                last = time.monotonic()
                await self._keep_for_end(
                    tx,
                    self.meter_value(
                        binding,
                        "Sample.Periodic",
                        last,
                        self._measurands("SampledDataCtrlr", "TxEndedMeasurands"),
                    ),
                )

        tx.timer = self.orge.async_create_background_task(sample(), f"ocpp201 sampling {tx.tx_id}")
        tx.ended_timer = self.orge.async_create_background_task(
            sample_for_end(), f"ocpp201 Ended samples {tx.tx_id}"
        )

    async def _keep_for_end(self, tx: Transaction, meter: dict[str, Any] | None) -> None:
        """Keep a TxEnded value for the Ended event, in the journal too (a restart keeps it)."""
        if meter is None:
            return
        tx.keep_for_end(meter)
        if self.transactions.get(tx.evse_id) is tx:
            await self.journal.update_transaction(tx.tx_id, tx.data())

    def _stop_sampling(self, tx: Transaction) -> None:
        for task in (tx.timer, tx.ended_timer):
            if task is not None:
                task.cancel()
        tx.timer = tx.ended_timer = None

    async def _aligned_loop(self) -> None:
        """Clock-aligned meter values on the boundaries of the station clock (the best
        time known: corrected once the CSMS's time arrives, and messages made before that
        are re-stamped when sent), as under 1.6; a new AlignedDataCtrlr.Interval applies
        at once (0 = off). Beside it, the clock-aligned samples kept for Ended events."""
        await asyncio.gather(self._aligned_interval_loop(), self._aligned_ended_loop())

    async def _aligned_ended_loop(self) -> None:
        """AlignedDataCtrlr.TxEndedInterval: on its clock boundaries, each transaction
        keeps a Sample.Clock value of AlignedDataCtrlr.TxEndedMeasurands for its Ended
        event (J01, TC_J_03); a new interval applies at once (0 = off)."""
        while True:
            boundary = aligned(
                lambda: int(self.model.value("AlignedDataCtrlr", "TxEndedInterval")),
                self.clock.seconds_to_boundary,
            )
            await self.settings.sleep_until(boundary)
            if self.model.value("AlignedDataCtrlr", "Enabled"):
                mono = boundary() or time.monotonic()  # stamped with the boundary itself
                for tx in list(self.transactions.values()):
                    await self._keep_for_end(
                        tx,
                        self.meter_value(
                            self.evses[tx.evse_id],
                            "Sample.Clock",
                            mono,
                            self._measurands("AlignedDataCtrlr", "TxEndedMeasurands"),
                        ),
                    )
            await asyncio.sleep(0.01)  # past the boundary before computing the next

    async def _aligned_interval_loop(self) -> None:
        while True:
            await self.settings.sleep_until(
                aligned(
                    lambda: int(self.model.value("AlignedDataCtrlr", "Interval")),
                    self.clock.seconds_to_boundary,
                )
            )
            if self.model.value("AlignedDataCtrlr", "Enabled"):
                for binding in self.evses.values():
                    if binding.evse_id in self.transactions:
                        self.queue_meter(binding, "MeterValueClock")
                    else:
                        self.orge.async_create_task(self.send_meter_values(binding))
            await asyncio.sleep(0.01)  # past the boundary before computing the next

    async def send_meter_values(self, binding: EvseBinding, context: str = "Sample.Clock") -> None:
        """A MeterValues message outside a transaction (not journaled: not a tx message)."""
        link = self.link
        meter = self.meter_value(
            binding, context, time.monotonic(), self._measurands("AlignedDataCtrlr", "Measurands")
        )
        if link is None or meter is None or not self.boot_accepted:
            return
        with contextlib.suppress(NoAnswer, CallRejected, LinkDown):
            await link.call("MeterValues", {"evseId": binding.evse_id, "meterValue": [meter]})
