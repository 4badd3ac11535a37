"""The CSMS's orders to a 1.6 station, and smart charging (a mixin of `Ocpp16Station`).

Each method decides the answer of one order; outgoing OCPP calls an order causes run after
the answer (`trigger_run`, `reset_run` are started from `@after` handlers in `link`).
Service calls to the controller (authorize, stop, unlock) may run inside the handler:
they do not wait on the OCPP receive loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from ..ocpp_station.evse import EvseBinding, Status
from ..ocpp_station.profiles import Profile
from ..ocpp_station.recovery import reset_now
from ..ocpp_station.running import running_transactions
from ..ocpp_station.sender import CallRejected, LinkDown, NoAnswer
from . import DOMAIN
from .config_keys import SETTING_PREFIX
from .smart import SmartCharging

if TYPE_CHECKING:
    from .authorization import Authorization16

_LOGGER = logging.getLogger(__name__)
AVAILABILITY_KEY = "availability16"
ACTION_TIMEOUT = 10.0  # seconds a controller service call may take inside an order
TRIGGERABLE = (
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "MeterValues",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
)


class Orders(SmartCharging):
    """Order handling; `self` is the `Ocpp16Station`."""

    authorization: Authorization16

    # --- orders ---------------------------------------------------------------------------------

    def _connector_for(self, connector_id: int | None) -> int | None:
        if connector_id in (None, 0):
            return next(iter(self.bindings)) if connector_id is None else None
        return connector_id if connector_id in self.bindings else None

    async def remote_start(
        self, id_tag: str, connector_id: int | None, profile: dict[str, Any] | None
    ) -> str:
        if self.registration.refuses_transactions:  # boot Pending (1.6 §4.2)
            return "Rejected"
        connector = self._connector_for(connector_id)
        running = running_transactions(self.txs, self.bindings)  # not one being ended
        if connector is None or self._inoperative(connector) or connector in running:
            return "Rejected"
        binding = self.bindings[connector]
        if binding.current_view().status in (Status.FAULTED, Status.UNAVAILABLE, Status.FINISHING):
            return "Rejected"
        if not self.reservation.usable(binding, id_tag, None):  # reserved for another (§5.13)
            return "Rejected"
        if profile is not None:
            # §5.11: a TxProfile without transactionId, set before the session starts
            model = self.parse_profile(connector, profile, for_start=True)
            if (
                not isinstance(model, Profile)
                or profile.get("charging_profile_purpose") != "TxProfile"
                or model.transaction_id is not None
            ):
                _LOGGER.warning("RemoteStart with a profile that cannot apply: %s", model)
                return "Rejected"
            self.limits.install(model)
            await self.limits.apply()
        # held until the vehicle is plugged in, within ConnectionTimeOut (shared policy;
        # the controller is authorized after the answer, by remote_start_run)
        self.arming.arm(binding, id_tag)
        return "Accepted"

    async def remote_start_run(self, connector_id: int | None) -> None:
        """After an accepted RemoteStartTransaction: with AuthorizeRemoteTxRequests the id
        tag is authorized at the CSMS first (1.6 §5.11), then the held start is released."""
        connector = self._connector_for(connector_id)
        binding = self.bindings.get(connector) if connector is not None else None
        held = self.arming.held.get(connector) if connector is not None else None
        if binding is None or held is None or held.released:
            return
        if self.keys.flag("AuthorizeRemoteTxRequests"):
            status = await self.authorize_id_tag(held.id_token)
            if status != "Accepted":
                _LOGGER.warning("RemoteStartTransaction id tag %s: %s", held.id_token, status)
                self.arming.cancel(binding, only=held)
                return
        self.arming.release(binding, only=held)

    async def authorize_id_tag(self, id_tag: str) -> str:
        return (await self.authorize_id_tag_info(id_tag))[0]

    async def authorize_id_tag_info(self, id_tag: str) -> tuple[str, str | None]:
        """(IdTagInfo status, parentIdTag or None) of an id tag, decided by the local
        authorization rules (`authorization.py`: Authorize (§4.2) when connected, else the
        local list, the cache and AllowOfflineTxForUnknownId)."""
        status, parent, _ = await self.authorization.authorize(id_tag)
        return status, parent

    async def remote_stop(self, transaction_id: int) -> str:
        """The answer to RemoteStopTransaction: Accepted when the id is a running
        transaction's (1.6 §5.12); the stop itself is `remote_stop_run`, after the answer."""
        # The CSMS may order the stop right after answering StartTransaction, before the
        # sender has taken the id from that answer: let it finish first.
        deadline = time.monotonic() + self.response_timeout
        while (
            transaction_id not in self.csms_ids.values()
            and self.sender.in_flight is not None
            and self.sender.in_flight.action == "StartTransaction"
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.005)
        if self.registration.refuses_transactions:  # boot Pending (1.6 §4.2)
            return "Rejected"
        return "Accepted" if self._tx_of(transaction_id) is not None else "Rejected"

    def _tx_of(self, transaction_id: int) -> Any:
        """The running transaction the CSMS knows as `transaction_id`, or None."""
        for tx in self.txs.values():
            if self.csms_ids.get(tx.local_id) == transaction_id:
                return tx
        return None

    async def remote_stop_run(self, transaction_id: int) -> None:
        """The stop of an accepted RemoteStopTransaction (after the answer)."""
        tx = self._tx_of(transaction_id)
        if tx is None or self.registration.refuses_transactions:
            return  # it ended meanwhile, or it was answered Rejected (boot Pending)
        try:
            await self._run_stop(self.bindings[tx.connector], "Remote")
        except Exception as err:
            self._set_error(f"RemoteStopTransaction: stop action failed: {err}")

    async def run_stop(self, binding: EvseBinding, reason: str) -> None:
        """Ask the controller to stop the connector's session (`reason`: the 2.0.1
        ReasonEnumType the session ends with)."""
        await self._run_stop(binding, reason)

    async def _run_stop(self, binding: EvseBinding, reason: str) -> None:
        await asyncio.wait_for(
            binding.async_stop(
                reason if reason in ("Remote", "Local", "DeAuthorized") else "Local"
            ),
            ACTION_TIMEOUT,
        )

    async def reset_run(self, kind: str) -> None:
        reason = "HardReset" if kind == "Hard" else "SoftReset"
        for tx in self.txs.values():
            tx.stop_reason = reason
        # the shared reset: stop, end what did not stop, deliver (bounded), restart always
        await reset_now(
            [self.bindings[connector] for connector in self.txs],
            "ImmediateReset",
            journaled=lambda: not self.txs,
            delivered=lambda: self.link is None or not self.journal.count_cached,
            restart=lambda: self._reset_restart(kind),
        )

    async def _reset_restart(self, kind: str) -> None:
        # the whitepaper's critical ResetOrReboot, journaled: sent after the restart if
        # the link cannot take it now
        await self.security.shared.event("ResetOrReboot", f"Reset {kind}")
        self.orge.bus.async_fire(f"{DOMAIN}_reset", {"type": kind})
        action = self.config["reset_action"]
        domain, _, service = action["action"].partition(".")
        _LOGGER.warning("CSMS ordered a %s reset: calling %s", kind, action["action"])
        try:
            await self.orge.services.async_call(
                domain, service, dict(action.get("data") or {}), blocking=True
            )
        except Exception as err:
            self._set_error(f"Reset: {action['action']} failed: {err}")

    def change_availability(self, connector_id: int, kind: str) -> str:
        if connector_id != 0 and connector_id not in self.bindings:
            return "Rejected"
        connectors = list(self.bindings) if connector_id == 0 else [connector_id]
        if kind == "Inoperative":
            self.availability[str(connector_id)] = "Inoperative"
        else:
            self.availability.pop(str(connector_id), None)
            if connector_id == 0:
                self.availability.clear()
        self.spawn(self.journal.set_setting(AVAILABILITY_KEY, dict(self.availability)))
        status = "Accepted"
        for connector in connectors:
            inoperative = self._inoperative(connector)
            if connector in self.txs and inoperative:
                self.scheduled_availability[connector] = "Inoperative"
                status = "Scheduled"
                continue
            self.scheduled_availability.pop(connector, None)
            self.bindings[connector].set_inoperative(inoperative)
        if connector_id == 0:
            self.spawn(self._send_status(0))
        return status

    async def unlock(self, connector_id: int) -> str:
        binding = self.bindings.get(connector_id)
        if binding is None:
            return "NotSupported"
        tx = self.txs.get(connector_id)
        if tx is not None:
            tx.stop_reason = "UnlockCommand"
            try:
                await self._run_stop(binding, "Local")
            except Exception as err:
                self._set_error(f"UnlockConnector: stop action failed: {err}")
                return "UnlockFailed"
            return "Unlocked"  # the controller unlocks the connector when it stops
        if not binding.config.get("unlock_action"):
            return "NotSupported"
        try:
            await asyncio.wait_for(binding.async_run_action("unlock_action"), ACTION_TIMEOUT)
        except Exception as err:
            self._set_error(f"UnlockConnector: unlock action failed: {err}")
            return "UnlockFailed"
        return "Unlocked"

    def trigger_decision(self, message: str, connector_id: int | None) -> str:
        if message not in TRIGGERABLE:
            return "NotImplemented"
        if connector_id not in (None, 0) and connector_id not in self.bindings:
            return "Rejected"
        if message == "MeterValues":
            connectors = [connector_id] if connector_id else list(self.bindings)
            measurands = self.keys.list("MeterValuesSampledData")
            if not any(self._samples(self.bindings[c], measurands, "Trigger") for c in connectors):
                return "Rejected"  # no meter reading to report
        return "Accepted"

    async def trigger_run(self, message: str, connector_id: int | None) -> None:
        if self.trigger_decision(message, connector_id) != "Accepted" or self.link is None:
            return
        link = self.link
        if message == "BootNotification" and self.registration.trigger():
            return  # the boot loop sends it now; its Accepted starts the session (§5.17)
        try:
            if message == "BootNotification":
                answer = await link.send_call("BootNotification", self.boot_payload())
                self.clock.set_from_csms(answer["currentTime"])
            elif message == "Heartbeat":
                await self.send_heartbeat(link)
            elif message == "StatusNotification":
                connectors = [connector_id] if connector_id is not None else [0, *self.bindings]
                for connector in connectors:
                    await self._send_status(connector, force=True)
            elif message == "MeterValues":
                connectors = [connector_id] if connector_id else list(self.bindings)
                for connector in connectors:
                    binding = self.bindings[connector]
                    samples = self._samples(
                        binding, self.keys.list("MeterValuesSampledData"), "Trigger"
                    )
                    payload: dict[str, Any] = {
                        "connectorId": connector,
                        "meterValue": [{"timestamp": self.clock.iso(), "sampledValue": samples}],
                    }
                    tx = self.txs.get(connector)
                    if tx is not None and tx.local_id in self.csms_ids:
                        payload["transactionId"] = self.csms_ids[tx.local_id]
                    if samples:
                        await link.send_call("MeterValues", payload)
            elif message == "DiagnosticsStatusNotification":
                await link.send_call("DiagnosticsStatusNotification", {"status": "Idle"})
            elif message == "FirmwareStatusNotification":
                await link.send_call("FirmwareStatusNotification", {"status": "Idle"})
        except (NoAnswer, CallRejected, LinkDown) as err:
            self._set_error(f"TriggerMessage {message}: {err}")

    def change_configuration(self, key: str, value: str) -> str:
        decided = self.security.change_configuration(key, value)  # whitepaper keys
        if decided is not None:
            return decided
        status, normalised = self.keys.change(key, value)
        if normalised is not None:
            self.spawn(self.journal.set_setting(SETTING_PREFIX + key, normalised))
            self.settings.notify()  # timers driven by this key re-read it now
            if key == "WebSocketPingInterval":
                self.apply_ping_interval()  # on the open socket, at once
            if key.startswith("RetryBackOff"):
                self.backoff.configure(
                    self.keys.number("RetryBackOffWaitMinimum"),
                    self.keys.number("RetryBackOffRandomRange"),
                    int(self.keys.number("RetryBackOffRepeatTimes")),
                )
        return status

    async def _store_key(self, key: str, value: str) -> None:
        self.keys.values[key] = value
        self.settings.notify()
        await self.journal.set_setting(SETTING_PREFIX + key, value)

    def data_transfer(
        self, vendor_id: str, message_id: str | None, data: str | None
    ) -> tuple[str, str | None]:
        if vendor_id != self.config["vendor"]:
            return "UnknownVendorId", None
        self.orge.bus.async_fire(
            f"{DOMAIN}_data_transfer",
            {"vendor_id": vendor_id, "message_id": message_id, "data": data},
        )
        return "Accepted", None
