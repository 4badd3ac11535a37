"""CSMS orders (OCPP 2.0.1): what the station answers, and what it does after answering.

Handlers return the answer only; actions that send OCPP messages or drive the controller
run in `after_*` (a task the ocpp library starts once the reply is out), so the receive
loop is never stalled by our own calls.

Charging profiles are in `smart_charging` (mixed in): this controller cannot change its
current during a session, and the answers say so.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.v201 import call_result

from components.ocpp_station.arming import local_stop_allowed
from components.ocpp_station.evse import EvseBinding
from components.ocpp_station.profiles import DEFAULT_VOLTAGE, Profile
from components.ocpp_station.recovery import reset_now
from components.ocpp_station.running import running_transactions
from components.ocpp_station.sender import CallRejected, LinkDown, NoAnswer
from orge.redact import register_secret

from .authorization import allowed_evses
from .smart_charging import IDLE_STATES, SmartCharging, _info

if TYPE_CHECKING:
    from .state import OrdersState

_LOGGER = logging.getLogger(__name__)
EVENT_RESET = "ocpp_reset"


class Orders(SmartCharging):
    """Answers to the CSMS, given the station as `OrdersState` (state.py)."""

    def __init__(self, station: OrdersState) -> None:
        self.station = station
        self.availability: dict[int, str] = {}  # evse id -> Operative / Inoperative
        self.scheduled_availability: dict[int, str] = {}
        self.reset_pending: str | None = None
        self._accepted_start: set[int] = set()
        # the BasicAuthPassword the SetVariables being answered set (Accepted), for its
        # after-hook: only that request rotates the password (A01)
        self._password_set: str | None = None

    async def load(self) -> None:
        journal = self.station.journal
        stored = await journal.settings("availability/")
        self.availability = {int(k.split("/", 1)[1]): v for k, v in stored.items()}
        self.limits = self.make_limits()
        await self.limits.async_start()
        # SmartChargingCtrlr.Entries[ChargingProfiles]: the profiles installed now
        entries = self.station.model.variables["SmartChargingCtrlr/Entries[ChargingProfiles]"]
        entries.dynamic = lambda: len(self.limits.profiles)

    def is_inoperative(self, evse_id: int) -> bool:
        return self.availability.get(evse_id, self.availability.get(0)) == "Inoperative"

    def _binding(self, evse_id: int | None) -> EvseBinding | None:
        evses = self.station.evses
        if evse_id is None or evse_id == 0:
            return next(iter(evses.values()), None) if len(evses) == 1 else None
        return evses.get(evse_id)

    # --- transactions -------------------------------------------------------------

    def request_start(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        evse_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        group_id_token: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        station = self.station
        # a reserved EVSE takes only its token or group (H03; reservation.py)
        token, group = str(id_token.get("id_token", "")), (group_id_token or {}).get("id_token")
        reservations = station.reservation.book
        if station.registration.refuses_transactions:  # boot Pending (OCA TC_B_02)
            return call_result.RequestStartTransaction(
                status="Rejected", status_info=_info("NotRegistered", "boot not accepted")
            )
        running = running_transactions(station.transactions, station.evses)
        if evse_id is None:
            candidates = [b for b in station.evses.values() if b.evse_id not in running]
            # its own reserved EVSE first, then one it may use (a reservation may hold others)
            candidates.sort(
                key=lambda b: (
                    not reservations.held_for(b.evse_id, token, group),
                    not reservations.allows(b.evse_id, token, group),
                )
            )
            binding = candidates[0] if candidates else None
        else:
            binding = station.evses.get(evse_id)
        if binding is None:
            return call_result.RequestStartTransaction(
                status="Rejected", status_info=_info("UnknownEvse")
            )
        if binding.evse_id in running:
            tx = running[binding.evse_id]
            return call_result.RequestStartTransaction(
                status="Rejected", transaction_id=tx.tx_id, status_info=_info("TxInProgress")
            )
        view = binding.current_view()
        if view.connector_status in ("Faulted", "Unavailable"):
            return call_result.RequestStartTransaction(
                status="Rejected", status_info=_info(view.connector_status)
            )
        if not reservations.allows(binding.evse_id, token, group):
            return call_result.RequestStartTransaction(
                status="Rejected", status_info=_info("Reserved", "reserved for another idToken")
            )
        if charging_profile is not None:
            model = self.parse_profile(binding.evse_id, charging_profile, for_start=True)
            if charging_profile.get("charging_profile_purpose") != "TxProfile":
                model = _info("InvalidProfile", "a remote start takes a TxProfile")
            if not isinstance(model, Profile):
                return call_result.RequestStartTransaction(status="Rejected", status_info=model)
            self.limits.install(model)
        # held until the vehicle is plugged in, within EVConnectionTimeOut (shared policy)
        station.arming.arm(binding, snake_to_camel_case(id_token), remote_start_id, group=group)
        self._accepted_start.add(binding.evse_id)
        return call_result.RequestStartTransaction(status="Accepted")

    async def after_request_start(self, evse_id: int | None = None, **_: Any) -> None:
        for evse in list(self._accepted_start):
            self._accepted_start.discard(evse)
            if self.limits.dirty:
                await self.apply_limits()
            self.station.arming.release(self.station.evses[evse])

    async def local_authorize(
        self, id_token: str, token_type: str, evse_id: int | None
    ) -> dict[str, Any]:
        """`ocpp201.authorize`: a token presented by a driver. It stops a transaction it
        may stop (the same token, or one the CSMS gives the starting token's group:
        `arming.local_stop_allowed`; Ended with triggerReason StopAuthorized, stoppedReason
        Local; OCA TC_C_39_CS, TC_E_06/07-style local stop); else authorized through
        the local rules (`authorization.py`: the CSMS, else the local list, the cache,
        the offline rules), then started like a remote start, held until the vehicle is
        plugged in (C01, E01), on an EVSE its IdTokenInfo.evseId lists when it has one
        (`authorization.allowed_evses`). ServiceValidationError: no free EVSE, a
        transaction there it may not stop (TC_C_04_CS), an EVSE its evseId excludes."""
        from orge.exceptions import ServiceValidationError

        station = self.station
        token = {"idToken": id_token, "type": token_type}

        async def ask(value: str) -> tuple[str, str | None]:
            info = await self._authorize({"idToken": value, "type": token_type})
            group = (info.get("groupIdToken") or {}).get("idToken")
            return str(info.get("status", "Invalid")), group

        running = running_transactions(station.transactions, station.evses)
        for tx in list(running.values()):
            started = (tx.id_token or {}).get("idToken")
            if evse_id not in (None, tx.evse_id) or not started:
                continue
            if await local_stop_allowed(started, tx.group, id_token, ask):
                tx.stop_token = token
                await station.evses[tx.evse_id].async_stop("Local")
                return {"status": "Accepted", "evse_id": tx.evse_id, "stopped": True}
        free = [b for b in station.evses.values() if b.evse_id not in running]
        binding = station.evses.get(evse_id) if evse_id else (free[0] if free else None)
        if binding is None and evse_id is None and running:
            binding = next(iter(station.evses.values()))  # every EVSE runs a transaction
        if binding is not None and binding.evse_id in running:
            raise ServiceValidationError(
                f"id token {id_token} may not stop the transaction on EVSE {binding.evse_id}"
            )
        if binding is None:
            raise ServiceValidationError(f"no EVSE {evse_id} to authorize")
        info = await self._authorize(token)
        status = str(info.get("status", "Invalid"))
        if status == "Accepted":
            group = (info.get("groupIdToken") or {}).get("idToken")
            # IdTokenInfo.evseId: valid on those EVSEs only (from the CSMS, list or cache)
            allowed = allowed_evses(info)
            if allowed is not None and evse_id is None and binding.evse_id not in allowed:
                binding = next((b for b in free if b.evse_id in allowed), binding)
            # a reserved EVSE takes only its token or group (H03; reservation.py)
            binding = station.reservation.usable(binding, evse_id, id_token, group)
            if allowed is not None and binding.evse_id not in allowed:
                raise ServiceValidationError(
                    f"id token {id_token} is valid on EVSE {sorted(allowed)} only "
                    f"(IdTokenInfo.evseId), not on EVSE {binding.evse_id}"
                )
            if self.limits.dirty:
                await self.apply_limits()
            station.arming.arm(binding, token, None, remote=False, group=group)
            await station.arming.async_release(binding)
        return {"status": status, "evse_id": binding.evse_id}

    async def _authorize(self, token: dict[str, Any]) -> dict[str, Any]:
        """The IdTokenInfo of a token, decided by the local authorization rules
        (`authorization.py`: Authorize at the CSMS when connected, else the local list,
        the cache and the offline rules; C01, C12-C15)."""
        decision = await self.station.authorization.authorize(token)
        return {**decision.info, "status": decision.status}

    def state_changed(self, binding: EvseBinding) -> None:
        """Called inline on every EVSE change: pending remote start, pending limits."""
        self.station.arming.state_changed(binding)
        self.station.reservation.book.state_changed(binding)
        if (
            self.limits.dirty
            and binding.reading.state in IDLE_STATES
            and binding.evse_id not in self.station.transactions
        ):
            self.station.orge.async_create_task(self.apply_limits())

    def request_stop(self, transaction_id: str) -> Any:
        if self.station.registration.refuses_transactions:  # boot Pending (OCA TC_B_02)
            return call_result.RequestStopTransaction(
                status="Rejected", status_info=_info("NotRegistered", "boot not accepted")
            )
        for tx in self.station.transactions.values():
            if tx.tx_id == transaction_id:
                return call_result.RequestStopTransaction(status="Accepted")
        return call_result.RequestStopTransaction(
            status="Rejected", status_info=_info("UnknownTransaction")
        )

    async def after_request_stop(self, transaction_id: str) -> None:
        if self.station.registration.refuses_transactions:
            return  # answered Rejected
        for tx in list(self.station.transactions.values()):
            if tx.tx_id == transaction_id:
                binding = self.station.evses[tx.evse_id]
                try:
                    await binding.async_stop("Remote")
                except Exception as err:
                    _LOGGER.error("Stop action for EVSE %d failed: %s", tx.evse_id, err)

    async def get_transaction_status(self, transaction_id: str | None) -> Any:
        journal = self.station.journal
        if transaction_id is None:
            queued = await journal.count()
            return call_result.GetTransactionStatus(messages_in_queue=queued > 0)
        queued = await journal.count(transaction_id)
        ongoing = any(tx.tx_id == transaction_id for tx in self.station.transactions.values())
        return call_result.GetTransactionStatus(
            messages_in_queue=queued > 0, ongoing_indicator=ongoing
        )

    async def transaction_ended(self, binding: EvseBinding) -> None:
        self.limits.drop_transaction_profiles(binding.evse_id)  # they lived for that session
        scheduled = self.scheduled_availability.pop(binding.evse_id, None)
        if scheduled is not None:
            binding.set_inoperative(scheduled == "Inoperative")
        if self.limits.dirty:
            await self.apply_limits()
        if self.reset_pending and not self.station.transactions:
            await self._restart(self.reset_pending)

    # --- reset and availability -------------------------------------------------------

    def reset(self, type: str, evse_id: int | None) -> Any:
        if evse_id is not None:
            return call_result.Reset(
                status="Rejected", status_info=_info("UnsupportedRequest", "no per-EVSE reset")
            )
        if type == "OnIdle" and self.station.transactions:
            return call_result.Reset(status="Scheduled")
        return call_result.Reset(status="Accepted")

    async def after_reset(self, type: str, evse_id: int | None) -> None:
        if evse_id is not None:
            return
        station = self.station
        # a reset that waits for the transactions to end is a scheduled one (TC_B_21)
        reason = "ScheduledReset" if type == "OnIdle" and station.transactions else "RemoteReset"
        await station.journal.set_setting("boot_reason", reason)
        station.boot_reason = reason
        if type == "Immediate":
            # always restarts, within a bound; the transactions end as ImmediateReset
            link = station.link
            await reset_now(
                list(station.evses.values()),
                "ImmediateReset",
                journaled=lambda: not station.transactions,  # removed once Ended is journaled
                delivered=lambda: (
                    link is None or not link.is_open or not station.journal.count_cached
                ),
                restart=lambda: self._restart(type),
            )
            return
        if station.transactions:
            self.reset_pending = type
            return
        await self._restart(type)

    async def _restart(self, type: str) -> None:
        """Restart ORGE: systemd starts it again; a BootNotification (RemoteReset) follows."""
        orge = self.station.orge
        self.reset_pending = None
        orge.bus.async_fire(EVENT_RESET, {"type": type, "domain": "ocpp201"})
        for domain, service in (("orge", "restart"), ("orge", "stop")):
            if orge.services.has_service(domain, service):
                _LOGGER.warning("Reset (%s) requested by the CSMS: %s.%s", type, domain, service)
                await orge.services.async_call(domain, service, {}, blocking=False)
                return
        _LOGGER.warning(
            "Reset (%s) requested by the CSMS, but no orge.restart/orge.stop service", type
        )

    async def change_availability(
        self, operational_status: str, evse: dict[str, Any] | None
    ) -> Any:
        station = self.station
        if evse is None or not evse.get("id"):
            targets = list(station.evses.values())
            key = 0
        else:
            binding = station.evses.get(int(evse["id"]))
            if (
                binding is None
                or evse.get("connector_id", binding.connector_id) != binding.connector_id
            ):
                return call_result.ChangeAvailability(
                    status="Rejected", status_info=_info("UnknownEvse")
                )
            targets = [binding]
            key = binding.evse_id
        self.availability[key] = operational_status
        if key == 0:
            for binding in targets:
                self.availability.pop(binding.evse_id, None)
                await station.journal.set_setting(
                    f"availability/{binding.evse_id}", operational_status
                )
        await station.journal.set_setting(f"availability/{key}", operational_status)
        scheduled = False
        for binding in targets:
            if binding.evse_id in station.transactions and operational_status == "Inoperative":
                self.scheduled_availability[binding.evse_id] = operational_status
                scheduled = True
            else:
                # Applied after the reply: the StatusNotification must follow the answer.
                station.orge.loop.call_soon(
                    binding.set_inoperative, operational_status == "Inoperative"
                )
        return call_result.ChangeAvailability(status="Scheduled" if scheduled else "Accepted")

    async def unlock_connector(self, evse_id: int, connector_id: int) -> Any:
        binding = self.station.evses.get(evse_id)
        if binding is None or binding.connector_id != connector_id:
            return call_result.UnlockConnector(status="UnknownConnector")
        if evse_id in self.station.transactions:
            return call_result.UnlockConnector(status="OngoingAuthorizedTransaction")
        if not binding.config.get("unlock_action"):
            return call_result.UnlockConnector(
                status="UnlockFailed",
                status_info=_info("NoUnlockAction", "no unlock_action configured for this EVSE"),
            )
        try:
            await asyncio.wait_for(binding.async_run_action("unlock_action"), 10)
        except Exception as err:
            return call_result.UnlockConnector(
                status="UnlockFailed", status_info=_info("ActionFailed", str(err))
            )
        return call_result.UnlockConnector(status="Unlocked")

    # --- trigger ----------------------------------------------------------------------

    def trigger_message(self, requested_message: str, evse: dict[str, Any] | None) -> Any:
        station = self.station
        evse_id = evse.get("id") if evse else None
        if evse_id and evse_id not in station.evses:
            return call_result.TriggerMessage(status="Rejected", status_info=_info("UnknownEvse"))
        if requested_message == "BootNotification":
            status = "Rejected" if station.boot_accepted else "Accepted"
        elif requested_message in ("Heartbeat", "StatusNotification", "MeterValues"):
            status = "Accepted"
        elif requested_message == "TransactionEvent":
            active = [e for e in station.transactions if evse_id in (None, e)]
            status = "Accepted" if active else "Rejected"
        elif requested_message == "SignChargingStationCertificate":
            status = station.security.trigger_sign()
        else:
            status = "NotImplemented"
        return call_result.TriggerMessage(status=status)

    async def after_trigger_message(
        self, requested_message: str, evse: dict[str, Any] | None
    ) -> None:
        station = self.station
        link = station.link
        evse_id = evse.get("id") if evse else None
        targets = [b for b in station.evses.values() if evse_id in (None, b.evse_id)]
        if link is None:
            return
        try:
            if requested_message == "BootNotification" and not station.boot_accepted:
                station.boot_reason = "Triggered"
                station.registration.trigger()  # sent now, not after the interval (F06)
            elif requested_message == "Heartbeat":
                await station.heartbeat(link)
            elif requested_message == "SignChargingStationCertificate":
                station.security.sign_soon()
            elif requested_message == "StatusNotification":
                for binding in targets:
                    station.queue_status(binding)
            elif requested_message == "MeterValues":
                for binding in targets:
                    await station.send_meter_values(binding, "Trigger")
            elif requested_message == "TransactionEvent":
                for binding in targets:
                    if binding.evse_id in station.transactions:
                        station.queue_meter(binding, "Trigger")
        except (NoAnswer, CallRejected, LinkDown) as err:
            _LOGGER.warning("Triggered %s not delivered: %s", requested_message, err)

    # --- device model -------------------------------------------------------------------

    def check_items(self, action: str, count: int) -> None:
        """More items than DeviceDataCtrlr.ItemsPerMessage: a CALLERROR, as 2.0.1 says."""
        limit = int(self.station.model.value("DeviceDataCtrlr", "ItemsPerMessage", action))
        if count > limit:
            from ocpp.exceptions import OccurrenceConstraintViolationError

            raise OccurrenceConstraintViolationError(
                description=f"{count} items; ItemsPerMessage[{action}] is {limit}"
            )

    def model_connector(self, binding: EvseBinding) -> None:
        """Add the binding's EVSE and Connector components to the device model."""
        config = binding.config
        phases = int(config.get("phases", 3))
        self.station.model.add_connector(
            binding.evse_id,
            binding.connector_id,
            phases=phases,
            connector_type=str(config.get("connector_type", "cType2")),
            max_power=float(config["max_current"])
            * phases
            * float(self.station.config.get("nominal_voltage", DEFAULT_VOLTAGE)),
            availability=lambda: binding.current_view().connector_status,
            power=binding.power_w,
        )

    def stored_password(self, configured: str | None) -> str | None:
        """The Basic auth password: one the CSMS set (SecurityCtrlr.BasicAuthPassword,
        persisted) wins over the configured one. Registered as a secret (never logged)."""
        stored = self.station.model.value("SecurityCtrlr", "BasicAuthPassword")
        if stored:
            register_secret(str(stored))
            return str(stored)
        return configured

    async def after_set_variables(self, items: list[dict[str, Any]]) -> None:
        """A new BasicAuthPassword (A01), when this SetVariables set it and it was
        Accepted (any other SetVariables leaves the password alone): the answer is out;
        drop the connection so the lifecycle dials again with it, the old one kept until
        the CSMS accepts the new one (`ocpp_station.security`)."""
        station = self.station
        new, self._password_set = self._password_set, None
        if not new or not await station.security.shared.rotate_password(new):
            return
        station.password = new
        # the new connection boots again (OCA TC_A_09_CS: BootNotification after it)
        station.registration.forget()
        _LOGGER.info("BasicAuthPassword changed by the CSMS: reconnecting with it")
        link = station.link
        if link is not None:
            await link.close_for_reconnect()

    def availability_state(self) -> str:
        """ChargingStation.AvailabilityState: Unavailable when the station is Inoperative."""
        return "Unavailable" if self.availability.get(0) == "Inoperative" else "Available"

    def get_variables(self, items: list[dict[str, Any]]) -> Any:
        return call_result.GetVariables(
            get_variable_result=[self.station.model.get(item) for item in items]
        )

    async def set_variables(self, items: list[dict[str, Any]]) -> Any:
        station = self.station
        results = []
        changed = []
        for item in items:
            result, var = station.model.set(item)
            results.append(result)
            if var is not None:
                changed.append(var)
        for var in changed:
            if var.mutability == "WriteOnly":
                register_secret(str(var.value))  # before anything could log it
            if var.component == "SecurityCtrlr" and var.name == "BasicAuthPassword":
                self._password_set = str(var.value)
            await station.journal.set_setting(f"dm/{var.key}", var.value)
            if var.component == "OCPPCommCtrlr" and var.name.startswith("RetryBackOff"):
                station.apply_backoff_settings()
            if var.component == "OCPPCommCtrlr" and var.name == "WebSocketPingInterval":
                station.apply_ping_interval()  # on the open socket, at once
        if changed:
            station.settings.notify()  # timers driven by these variables re-read them now
        return call_result.SetVariables(set_variable_result=results)

    def get_base_report(self, request_id: int, report_base: str) -> Any:
        if report_base in ("FullInventory", "ConfigurationInventory"):
            return call_result.GetBaseReport(status="Accepted")
        return call_result.GetBaseReport(status="NotSupported")

    async def after_get_base_report(self, request_id: int, report_base: str) -> None:
        if report_base not in ("FullInventory", "ConfigurationInventory"):
            return
        variables = list(self.station.model.variables.values())
        if report_base == "ConfigurationInventory":  # the writable ones (B07.FR.07)
            variables = [v for v in variables if v.mutability in ("ReadWrite", "WriteOnly")]
        await self._notify_report(request_id, variables)

    def get_report(
        self,
        request_id: int,
        component_variable: list[dict[str, Any]] | None,
        component_criteria: list[str] | None,
    ) -> Any:
        """GetReport (2.0.1 B08): Accepted when some variable matches both filters (an
        absent filter matches all), else EmptyResultSet (B08.FR.04 / B08.FR.05)."""
        if self._report_selection(component_variable, component_criteria):
            return call_result.GetReport(status="Accepted")
        return call_result.GetReport(status="EmptyResultSet")

    async def after_get_report(
        self,
        request_id: int,
        component_variable: list[dict[str, Any]] | None,
        component_criteria: list[str] | None,
    ) -> None:
        selected = self._report_selection(component_variable, component_criteria)
        if selected:
            await self._notify_report(request_id, selected)

    def _report_selection(
        self,
        component_variable: list[dict[str, Any]] | None,
        component_criteria: list[str] | None,
    ) -> list[Any]:
        """The variables a GetReport asks for. componentVariable: a component (and
        instance) and, when given, one variable (and instance) of it. componentCriteria:
        components whose variable of that name (Active, Available, Enabled, Problem) is
        true; a component without such a variable does not match (B08.FR.07)."""
        model = self.station.model
        variables = list(model.variables.values())
        if component_variable:

            def wanted(var: Any) -> bool:
                for item in component_variable:
                    component = item.get("component") or {}
                    if component.get("name") != var.component:
                        continue
                    if component.get("instance") is not None:
                        continue  # ORGE's components have no instances
                    evse = component.get("evse")
                    if evse is not None and (
                        evse.get("id") != var.evse_id
                        or evse.get("connector_id", var.connector_id) != var.connector_id
                    ):
                        continue
                    variable = item.get("variable")
                    if variable is None:
                        return True
                    if variable.get("name") == var.name and variable.get("instance") in (
                        None,
                        var.instance,
                    ):
                        return True
                return False

            variables = [v for v in variables if wanted(v)]
        if component_criteria:
            flagged = {
                var.component
                for var in model.variables.values()
                if var.name in component_criteria and var.current() is True
            }
            variables = [v for v in variables if v.component in flagged]
        return variables

    async def _notify_report(self, request_id: int, variables: list[Any]) -> None:
        """NotifyReport messages of ItemsPerMessage variables each (seqNo 0.., tbc)."""
        station = self.station
        link = station.link
        if link is None:
            return
        per_message = int(station.model.value("DeviceDataCtrlr", "ItemsPerMessage", "GetReport"))
        chunks = [variables[i : i + per_message] for i in range(0, len(variables), per_message)]
        for seq, chunk in enumerate(chunks):
            payload = {
                "requestId": request_id,
                "generatedAt": station.clock.iso(),
                "seqNo": seq,
                "tbc": seq < len(chunks) - 1,
                "reportData": [snake_to_camel_case(v.report()) for v in chunk],
            }
            try:
                await link.call("NotifyReport", payload)
            except (NoAnswer, CallRejected, LinkDown) as err:
                _LOGGER.warning(
                    "NotifyReport %d of request %d not delivered: %s", seq, request_id, err
                )
                return

    def data_transfer(self, vendor_id: str, message_id: str | None, data: Any) -> Any:
        return call_result.DataTransfer(status="UnknownVendorId")
