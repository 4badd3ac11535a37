"""The EVSE model: controller state -> OCPP connector status, meter readings, sessions.

Protocol-neutral. The mapping follows the ESP32 protocol document, section 10: the
status is derived from the latest controller STATE (plus CP and PB), never from observed
transitions, because periodic status lines can skip states.

The charger state entity (`sensor.charger_state` by default) may carry the controller
state as a name (`idle`, `cable_detect`, `ev_connected`, `ready`, `charging`, `paused`,
`stopped`, `fault_hard`, `hardfault_end`) or as its number (`0`..`8`); the attributes
`cp` and `pb` (integers, as in the STAT line) refine the mapping when present.
`unavailable`/`unknown` mean the controller is not answering.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Orge, callback

from .measurands import CURRENT_ENTITIES, VOLTAGE_ENTITIES, scaled_value

_LOGGER = logging.getLogger(__name__)


class ControllerState(enum.IntEnum):
    """STATE codes of the ESP32 controller (protocol document, section 5.5)."""

    HARDFAULT_END = 0
    IDLE = 1
    CABLE_DETECT = 2
    EV_CONNECTED = 3
    READY = 4
    CHARGING = 5
    PAUSED = 6
    STOPPED = 7
    FAULT_HARD = 8


_BY_NAME: dict[str, int] = {s.name.lower(): int(s) for s in ControllerState}
_BY_NAME.update({"finishing": 7, "fault": 8, "faulted": 8, "available": 1})
SESSION_STATES = frozenset(
    {ControllerState.READY, ControllerState.CHARGING, ControllerState.PAUSED}
)


@dataclass(frozen=True)
class Reading:
    """What the bus says about the controller. `code` None = not answering."""

    code: int | None
    cp: int | None = None
    pb: int | None = None

    @property
    def state(self) -> ControllerState | None:
        if self.code is None:
            return None
        try:
            return ControllerState(self.code)
        except ValueError:
            return None


def _int_attr(attributes: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        value = attributes.get(name)
        if value is None:
            continue
        try:
            return int(value)
        except (TypeError, ValueError):
            continue
    return None


_CP_NAMES = {"a": 0, "b": 1, "c": 2, "d": 3, "e": 3, "f": 3, "error": 3}
_PB_NAMES = {"ok": 0, "no_phase": 1, "phase_missing": 1, "no_earth": 2, "earth_missing": 2}
_SILENT = ("unavailable", "unknown", "")


def _code_of(state: Any, names: Mapping[str, int]) -> int | None:
    """A helper entity's value: its `code` attribute, its name, or its number."""
    if state is None:
        return None
    text = str(state.state).strip().lower()
    if text in _SILENT:
        return None
    code = _int_attr(state.attributes or {}, "code")
    if code is not None:
        return code
    if text in names:
        return names[text]
    try:
        return int(text)
    except ValueError:
        return None


def parse_reading(state: Any, cp_state: Any = None, pb_state: Any = None) -> Reading:
    """The charger state entity's `State` (or None) -> `Reading`.

    CP and PB come from the state's `cp`/`pb` attributes, else from the optional CP and
    power-board entities (`code` attribute, or names A/B/C, ok/no_phase/no_earth).
    """
    if state is None:
        return Reading(None)
    text = str(state.state).strip().lower()
    attributes = state.attributes or {}
    code: int | None
    if text in _SILENT:
        code = None
    elif text in _BY_NAME:
        code = _BY_NAME[text]
    elif text.startswith("state_") and text[6:].isdigit():
        code = int(text[6:])
    else:
        try:
            code = int(text)
        except ValueError:
            code = _int_attr(attributes, "state_code", "code")
    cp = _int_attr(attributes, "cp")
    if cp is None:
        cp = _code_of(cp_state, _CP_NAMES)
    pb = _int_attr(attributes, "pb")
    if pb is None:
        pb = _code_of(pb_state, _PB_NAMES)
    return Reading(code, cp, pb)


class Status(enum.StrEnum):
    """The detailed status (OCPP 1.6 ChargePointStatus names)."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    FAULTED = "Faulted"
    UNAVAILABLE = "Unavailable"
    RESERVED = "Reserved"  # held by a reservation (`reservations`), otherwise Available


class ChargingState(enum.StrEnum):
    """OCPP 2.0.1 ChargingStateEnumType."""

    IDLE = "Idle"
    EV_CONNECTED = "EVConnected"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"


# 2.0.1 has no Preparing/Finishing connector status: everything in use is Occupied.
_CONNECTOR_STATUS = {
    Status.AVAILABLE: "Available",
    Status.PREPARING: "Occupied",
    Status.CHARGING: "Occupied",
    Status.SUSPENDED_EV: "Occupied",
    Status.SUSPENDED_EVSE: "Occupied",
    Status.FINISHING: "Occupied",
    Status.FAULTED: "Faulted",
    Status.UNAVAILABLE: "Unavailable",
    Status.RESERVED: "Reserved",
}


@dataclass(frozen=True)
class ConnectorView:
    """Everything the OCPP components report about one connector at one moment."""

    status: Status
    charging_state: ChargingState
    error_code: str = "NoError"  # 1.6 ChargePointErrorCode
    vendor_error_code: str | None = None
    info: str | None = None

    @property
    def connector_status(self) -> str:
        """OCPP 2.0.1 ConnectorStatusEnumType."""
        return _CONNECTOR_STATUS[self.status]


def map_reading(
    reading: Reading,
    *,
    ready_long: bool = False,
    holding_transaction: bool = False,
    inoperative: bool = False,
    in_transaction: bool = False,
    start_held: bool = False,
    reserved: bool = False,
) -> ConnectorView:
    """The status table of the protocol document, section 10.

    `ready_long`: READY has lasted beyond the grace period (the EV stays in B).
    `holding_transaction`: the host keeps a transaction open across a fault.
    `inoperative`: the CSMS set the connector Inoperative (shown once no session runs).
    `start_held`: an accepted start waits for the vehicle (`arming`): the 1.6 status is
    Preparing, "no longer available for a new user" (1.6 §7.7; OCA TC_011_1_CS step 7);
    the 2.0.1 connector status stays what the connector is (Available).
    `reserved`: a reservation holds the connector (`reservations`): an Available one is
    Reserved (1.6 ChargePointStatus, 2.0.1 ConnectorStatusEnumType); a vehicle plugged in
    makes it Preparing / Occupied as usual.
    """
    view = _map(reading, ready_long, holding_transaction)
    if start_held and view.status is Status.AVAILABLE:
        view = replace(view, status=Status.PREPARING)
    if reserved and view.status is Status.AVAILABLE:
        view = replace(view, status=Status.RESERVED)
    unused = (Status.AVAILABLE, Status.PREPARING, Status.RESERVED)
    if inoperative and not in_transaction and view.status in unused:
        view = replace(view, status=Status.UNAVAILABLE, charging_state=ChargingState.IDLE)
    return view


def _map(reading: Reading, ready_long: bool, holding: bool) -> ConnectorView:
    code, cp, pb = reading.code, reading.cp, reading.pb
    if code is None:
        return ConnectorView(Status.UNAVAILABLE, ChargingState.IDLE, info="controller silent")
    state = reading.state
    if state is None:  # > 8: only after a bad command 4
        return ConnectorView(Status.FAULTED, ChargingState.IDLE, "InternalError", f"STATE={code}")
    if state is ControllerState.IDLE:
        return ConnectorView(Status.AVAILABLE, ChargingState.IDLE)
    if state is ControllerState.CABLE_DETECT:
        return ConnectorView(Status.PREPARING, ChargingState.IDLE)
    if state is ControllerState.EV_CONNECTED:
        return ConnectorView(Status.PREPARING, ChargingState.EV_CONNECTED)
    if state is ControllerState.READY:
        if ready_long and cp in (1, None):
            return ConnectorView(Status.SUSPENDED_EV, ChargingState.SUSPENDED_EV)
        return ConnectorView(Status.PREPARING, ChargingState.EV_CONNECTED)
    if state is ControllerState.CHARGING:
        return ConnectorView(Status.CHARGING, ChargingState.CHARGING)
    if state is ControllerState.PAUSED:
        return ConnectorView(Status.SUSPENDED_EV, ChargingState.SUSPENDED_EV)
    if state is ControllerState.STOPPED:
        return ConnectorView(Status.FINISHING, ChargingState.EV_CONNECTED)
    if state is ControllerState.FAULT_HARD and pb in (1, 2):
        if pb == 2:
            return ConnectorView(
                Status.FAULTED,
                ChargingState.SUSPENDED_EVSE,
                "GroundFailure",
                "PB=2",
                "earth missing",
            )
        return ConnectorView(
            Status.FAULTED,
            ChargingState.SUSPENDED_EVSE,
            "UnderVoltage",
            "PB=1",
            "phase missing",
        )
    # FAULT_HARD with PB=0 (EV vanished in READY, one pass) is shown as HARDFAULT_END.
    if holding and cp in (1, 2):
        return ConnectorView(Status.SUSPENDED_EVSE, ChargingState.SUSPENDED_EVSE)
    return ConnectorView(Status.UNAVAILABLE, ChargingState.IDLE, info="fault hold-off")


# --- meter readings ----------------------------------------------------------------

_ENERGY_FACTOR = {"wh": 1.0, "kwh": 1000.0, "mwh": 1_000_000.0}
_POWER_FACTOR = {"w": 1.0, "kw": 1000.0, "mw": 1_000_000.0}


def energy_wh(state: Any) -> float | None:
    """An energy entity's state in Wh (unit Wh, kWh or MWh; no unit = Wh)."""
    return scaled_value(state, _ENERGY_FACTOR)


def power_w(state: Any) -> float | None:
    """A power entity's state in W (unit W, kW or MW; no unit = W)."""
    return scaled_value(state, _POWER_FACTOR)


# --- session boundaries --------------------------------------------------------------


@dataclass(frozen=True)
class SessionEvent:
    """A transaction boundary or change. Names are OCPP 2.0.1 enum values; 1.6 maps them.

    kind: `started`, `updated` or `ended`; trigger: TriggerReasonEnumType; reason
    (ended only): ReasonEnumType (`stop_reason_16` gives the 1.6 Reason).
    """

    kind: str
    trigger: str
    charging_state: ChargingState
    reason: str | None = None


STOP_REASON_16 = {
    "Local": "Local",
    "Remote": "Remote",
    "EVDisconnected": "EVDisconnected",
    "GroundFault": "EmergencyStop",
    "PowerQuality": "Other",
    "PowerLoss": "PowerLoss",
    "Reboot": "Reboot",
    "ImmediateReset": "HardReset",
    "DeAuthorized": "DeAuthorized",
    "Other": "Other",
}


def stop_reason_16(reason: str | None) -> str:
    return STOP_REASON_16.get(reason or "Other", "Other")


# Who asked for the stop -> TriggerReasonEnumType of the Ended event.
_STOP_TRIGGERS = {
    "Remote": "RemoteStop",
    "Local": "StopAuthorized",
    "DeAuthorized": "StopAuthorized",
    "ImmediateReset": "ResetCommand",
}


@dataclass
class SessionTracker:
    """Decides when a transaction starts and ends from the controller readings.

    Starts when the controller reaches READY/CHARGING/PAUSED (authorised, power path
    closed); ends on STOPPED, a fault, or any state outside a session. A silent
    controller (`code` None) changes nothing: a transaction is not ended on a hiccup.
    """

    active: bool = False
    charging_state: ChargingState = ChargingState.IDLE
    # Set when the host asks for the stop: a ReasonEnumType ("Remote", "Local",
    # "DeAuthorized", "ImmediateReset", ...); it becomes the end reason.
    stop_requested: str | None = None
    remote_start_pending: bool = False
    recovered: bool = False  # resumed from the journal after a restart

    def resume(
        self, charging_state: ChargingState | str | None = None, stop_requested: str | None = None
    ) -> None:
        """A transaction was open before a restart (the journal says so), and a stop may
        have been asked for (its reason, journaled before the controller was told)."""
        self.active = True
        self.recovered = True
        if charging_state:
            self.charging_state = ChargingState(charging_state)
        self.stop_requested = stop_requested

    def feed(self, reading: Reading, view: ConnectorView) -> list[SessionEvent]:
        state = reading.state
        if reading.code is None:
            return []
        if not self.active:
            if state in SESSION_STATES:
                self.active = True
                self.recovered = False
                self.charging_state = view.charging_state
                trigger = "RemoteStart" if self.remote_start_pending else "Authorized"
                self.remote_start_pending = False
                return [SessionEvent("started", trigger, view.charging_state)]
            return []
        if state in SESSION_STATES:
            if view.charging_state != self.charging_state:
                self.charging_state = view.charging_state
                return [SessionEvent("updated", "ChargingStateChanged", view.charging_state)]
            return []
        reason, trigger = self._end_reason(reading)
        self.active = False
        self.recovered = False
        self.stop_requested = None
        self.charging_state = view.charging_state
        return [SessionEvent("ended", trigger, view.charging_state, reason)]

    def end_now(self, reason: str) -> SessionEvent | None:
        """End the session without the controller's word (it did not stop in time, e.g.
        before an Immediate reset): the `ended` event, None when no session is open."""
        if not self.active:
            return None
        self.active = False
        self.recovered = False
        self.stop_requested = None
        return SessionEvent(
            "ended", _STOP_TRIGGERS.get(reason, "AbnormalCondition"), self.charging_state, reason
        )

    def _end_reason(self, reading: Reading) -> tuple[str, str]:
        state, cp, pb = reading.state, reading.cp, reading.pb
        if state is ControllerState.FAULT_HARD and pb == 2:
            return "GroundFault", "AbnormalCondition"
        if state is ControllerState.FAULT_HARD and pb == 1:
            return "PowerQuality", "AbnormalCondition"
        if self.stop_requested:
            return self.stop_requested, _STOP_TRIGGERS.get(self.stop_requested, "AbnormalCondition")
        if cp == 0 or state is ControllerState.FAULT_HARD:
            return "EVDisconnected", "EVCommunicationLost"
        if state is ControllerState.STOPPED:
            return "Local", "StopAuthorized"
        return "Other", "AbnormalCondition"


# --- configuration and the bus binding ---------------------------------------------

DEFAULT_STATE_ENTITY = "sensor.charger_state"
DEFAULT_AUTHORIZE = {"action": "esp32.authorize"}
DEFAULT_STOP = {"action": "esp32.stop_charging"}
DEFAULT_CURRENT_LIMIT = "number.charger_max_current"
DEFAULT_CP_ENTITY = "sensor.charger_cp_state"
DEFAULT_PB_ENTITY = "sensor.charger_power_board"


def _action(value: Any) -> dict[str, Any]:
    """`{action: domain.service, data: {...}}` (`service:` accepted as in Home Assistant)."""
    if isinstance(value, str):
        value = {"action": value}
    if not isinstance(value, dict):
        raise vol.Invalid("expected {action: domain.service, data: {...}}")
    value = dict(value)
    if "service" in value and "action" not in value:
        value["action"] = value.pop("service")
    action: dict[str, Any] = vol.Schema(
        {
            vol.Required("action"): cv.service,
            vol.Optional("data", default={}): dict,
            vol.Optional("target", default={}): dict,
        }
    )(value)
    return action


ACTION_SCHEMA = _action

EVSE_SCHEMA = vol.Schema(
    {
        vol.Required("id"): vol.All(vol.Coerce(int), vol.Range(min=1)),
        vol.Optional("connector_id", default=1): vol.All(vol.Coerce(int), vol.Range(min=1)),
        vol.Optional("state_entity", default=DEFAULT_STATE_ENTITY): cv.entity_id,
        # CP and power-board state refine the status (faults, EV gone) when the state
        # entity does not carry `cp`/`pb` attributes itself.
        vol.Optional("cp_entity", default=DEFAULT_CP_ENTITY): cv.entity_id,
        vol.Optional("pb_entity", default=DEFAULT_PB_ENTITY): cv.entity_id,
        vol.Optional("energy_entity"): cv.entity_id,
        vol.Optional("power_entity"): cv.entity_id,
        # per-phase Current.Import and Voltage (measurands.py): {L1: sensor.x, ...}
        vol.Optional("current_entities"): CURRENT_ENTITIES,
        vol.Optional("voltage_entities"): VOLTAGE_ENTITIES,
        vol.Optional("authorize_action", default=DEFAULT_AUTHORIZE): ACTION_SCHEMA,
        vol.Optional("stop_action", default=DEFAULT_STOP): ACTION_SCHEMA,
        vol.Optional("current_limit_entity", default=DEFAULT_CURRENT_LIMIT): cv.entity_id,
        vol.Optional("unlock_action"): ACTION_SCHEMA,
        vol.Optional("max_current", default=32): vol.All(vol.Coerce(float), vol.Range(min=6)),
        vol.Optional("min_current", default=6): vol.All(vol.Coerce(float), vol.Range(min=0)),
        # what the device model reports (2.0.1 SupplyPhases, ConnectorEnumType)
        vol.Optional("phases", default=3): vol.In([1, 3]),
        vol.Optional("connector_type", default="cType2"): vol.All(cv.string, vol.Length(max=20)),
    }
)


def evse_list(value: Any) -> list[dict[str, Any]]:
    """The `evse:` option; absent -> one EVSE bound to the esp32 component's defaults."""
    if value is None:
        return [EVSE_SCHEMA({"id": 1})]
    items = [EVSE_SCHEMA(item) for item in cv.ensure_list(value)]
    ids = [(item["id"], item["connector_id"]) for item in items]
    if len(set(ids)) != len(ids):
        raise vol.Invalid("two evse entries have the same id and connector_id")
    if not items:
        raise vol.Invalid("evse: needs at least one entry")
    return items


@dataclass
class EvseBinding:
    """One EVSE bound to the bus: follows its state entity, runs its configured actions.

    `on_change(binding, view, events)` is called inline (on the loop) whenever the
    connector view changes or a session event happens. Meter values are read on demand
    (`energy_wh()`, `power_w()`) so no extra listener is needed for them.
    """

    orge: Orge
    config: dict[str, Any]
    on_change: Callable[[EvseBinding, ConnectorView, list[SessionEvent]], None]
    ready_grace: float = 10.0
    inoperative: bool = False
    holding_transaction: bool = False
    start_held: bool = False  # an accepted start waits for the vehicle (arming)
    reserved: bool = False  # a reservation holds it (reservations)
    session: SessionTracker = field(default_factory=SessionTracker)
    view: ConnectorView | None = None
    reading: Reading = field(default_factory=lambda: Reading(None))
    _ready_since: float | None = None
    _ready_timer: asyncio.TimerHandle | None = None
    _unsub: Callable[[], None] | None = None
    # Journals a stop request (its reason) before the controller is told, so a station
    # killed between the two still ends the transaction with that reason after a restart.
    on_stop_request: Callable[[EvseBinding, str], Awaitable[None]] | None = None

    @property
    def evse_id(self) -> int:
        return int(self.config["id"])

    @property
    def connector_id(self) -> int:
        return int(self.config["connector_id"])

    def start(self) -> None:
        """Subscribe to the state entity and compute the first view (no events yet)."""
        from orge.helpers.event import async_track_state_change_event

        entities = [self.config["state_entity"]]
        entities += [self.config[k] for k in ("cp_entity", "pb_entity") if self.config.get(k)]
        self._unsub = async_track_state_change_event(self.orge, entities, self._state_changed)
        self.reading = self._read()
        self._track_ready()
        self.view = self._compute()

    def stop(self) -> None:
        if self._unsub is not None:
            self._unsub()
            self._unsub = None
        if self._ready_timer is not None:
            self._ready_timer.cancel()
            self._ready_timer = None

    def _compute(self) -> ConnectorView:
        ready_long = (
            self._ready_since is not None
            and self.orge.loop.time() - self._ready_since >= self.ready_grace
        )
        return map_reading(
            self.reading,
            ready_long=ready_long,
            holding_transaction=self.holding_transaction,
            inoperative=self.inoperative,
            in_transaction=self.session.active,
            start_held=self.start_held,
            reserved=self.reserved,
        )

    def _track_ready(self) -> None:
        if self.reading.state is ControllerState.READY:
            if self._ready_since is None:
                self._ready_since = self.orge.loop.time()
                self._ready_timer = self.orge.loop.call_later(self.ready_grace, self.refresh)
        else:
            self._ready_since = None
            if self._ready_timer is not None:
                self._ready_timer.cancel()
                self._ready_timer = None

    def _read(self) -> Reading:
        states = self.orge.states
        cp_entity, pb_entity = self.config.get("cp_entity"), self.config.get("pb_entity")
        return parse_reading(
            states.get(self.config["state_entity"]),
            states.get(cp_entity) if cp_entity else None,
            states.get(pb_entity) if pb_entity else None,
        )

    @callback
    def _state_changed(self, event: Any) -> None:
        reading = self._read()
        if reading == self.reading:
            return
        self.reading = reading
        self._track_ready()
        self.refresh()

    def refresh(self) -> None:
        """Recompute the view (after a reading, a timer, or an availability change)."""
        view = self._compute()
        events = self.session.feed(self.reading, view)
        if events:
            view = self._compute()  # in_transaction may have changed
        if view != self.view or events:
            self.view = view
            try:
                self.on_change(self, view, events)
            except Exception:
                _LOGGER.exception("EVSE %s change handler failed", self.evse_id)

    def end_session(self, reason: str) -> None:
        """End the open session now with `reason` (ReasonEnumType), whatever the
        controller says; the protocol hears it as an `ended` event (on_change)."""
        event = self.session.end_now(reason)
        if event is None:
            return
        self.view = self._compute()
        try:
            self.on_change(self, self.view, [event])
        except Exception:
            _LOGGER.exception("EVSE %s change handler failed", self.evse_id)

    def current_view(self) -> ConnectorView:
        if self.view is None:
            self.view = self._compute()
        return self.view

    def energy_wh(self) -> float | None:
        entity = self.config.get("energy_entity")
        return energy_wh(self.orge.states.get(entity)) if entity else None

    def power_w(self) -> float | None:
        entity = self.config.get("power_entity")
        return power_w(self.orge.states.get(entity)) if entity else None

    def current_limit(self) -> float | None:
        state = self.orge.states.get(self.config["current_limit_entity"])
        try:
            return float(state.state) if state else None
        except ValueError:
            return None

    async def async_run_action(self, key: str, extra: Mapping[str, Any] | None = None) -> None:
        """Run a configured action (`authorize_action`, `stop_action`, `unlock_action`)."""
        action = self.config.get(key)
        if not action:
            raise LookupError(f"no {key} configured for EVSE {self.evse_id}")
        domain, _, service = action["action"].partition(".")
        data = dict(action.get("data") or {})
        if extra:
            data.update(extra)
        await self.orge.services.async_call(
            domain, service, data, blocking=True, target=action.get("target") or None
        )

    async def async_authorize(self) -> None:
        await self.async_run_action("authorize_action")

    async def async_stop(self, reason: str = "Remote") -> None:
        """Ask the controller to stop; the session ends when its state says so."""
        self.session.stop_requested = reason
        if self.on_stop_request is not None:
            await self.on_stop_request(self, reason)
        await self.async_run_action("stop_action")

    async def async_set_current_limit(self, amps: float) -> None:
        """Set the controller's current limit through `number.set_value`."""
        entity = self.config["current_limit_entity"]
        await self.orge.services.async_call(
            entity.partition(".")[0],
            "set_value",
            {"entity_id": entity, "value": amps},
            blocking=True,
        )

    def set_inoperative(self, inoperative: bool) -> None:
        self.inoperative = inoperative
        self.refresh()

    def set_start_held(self, held: bool) -> None:
        if held != self.start_held:
            self.start_held = held
            self.refresh()

    def set_reserved(self, reserved: bool) -> None:
        if reserved != self.reserved:
            self.reserved = reserved
            self.refresh()
