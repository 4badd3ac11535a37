"""The EVSE model: the status table, meter units, session boundaries, bus binding."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
import voluptuous as vol

from components.ocpp_station.evse import (
    ChargingState,
    ConnectorView,
    EvseBinding,
    Reading,
    SessionEvent,
    SessionTracker,
    Status,
    energy_wh,
    evse_list,
    map_reading,
    parse_reading,
    power_w,
    stop_reason_16,
)
from orge.core import Orge, ServiceCall


def st(state: str, **attributes: Any) -> SimpleNamespace:
    return SimpleNamespace(state=state, attributes=attributes, entity_id="sensor.x")


@pytest.mark.parametrize(
    ("reading", "kwargs", "status", "connector", "charging", "error"),
    [
        (Reading(1), {}, Status.AVAILABLE, "Available", ChargingState.IDLE, "NoError"),
        (Reading(2), {}, Status.PREPARING, "Occupied", ChargingState.IDLE, "NoError"),
        (Reading(3), {}, Status.PREPARING, "Occupied", ChargingState.EV_CONNECTED, "NoError"),
        (Reading(4, cp=1), {}, Status.PREPARING, "Occupied", ChargingState.EV_CONNECTED, "NoError"),
        (
            Reading(4, cp=1),
            {"ready_long": True},
            Status.SUSPENDED_EV,
            "Occupied",
            ChargingState.SUSPENDED_EV,
            "NoError",
        ),
        (
            Reading(4, cp=2),
            {"ready_long": True},
            Status.PREPARING,
            "Occupied",
            ChargingState.EV_CONNECTED,
            "NoError",
        ),
        (Reading(5), {}, Status.CHARGING, "Occupied", ChargingState.CHARGING, "NoError"),
        (Reading(6), {}, Status.SUSPENDED_EV, "Occupied", ChargingState.SUSPENDED_EV, "NoError"),
        (Reading(7), {}, Status.FINISHING, "Occupied", ChargingState.EV_CONNECTED, "NoError"),
        (
            Reading(8, pb=2),
            {},
            Status.FAULTED,
            "Faulted",
            ChargingState.SUSPENDED_EVSE,
            "GroundFailure",
        ),
        (
            Reading(8, pb=1),
            {},
            Status.FAULTED,
            "Faulted",
            ChargingState.SUSPENDED_EVSE,
            "UnderVoltage",
        ),
        (Reading(8, pb=0), {}, Status.UNAVAILABLE, "Unavailable", ChargingState.IDLE, "NoError"),
        (
            Reading(0, cp=1),
            {"holding_transaction": True},
            Status.SUSPENDED_EVSE,
            "Occupied",
            ChargingState.SUSPENDED_EVSE,
            "NoError",
        ),
        (Reading(0, cp=1), {}, Status.UNAVAILABLE, "Unavailable", ChargingState.IDLE, "NoError"),
        (Reading(9), {}, Status.FAULTED, "Faulted", ChargingState.IDLE, "InternalError"),
        (Reading(None), {}, Status.UNAVAILABLE, "Unavailable", ChargingState.IDLE, "NoError"),
        (
            Reading(1),
            {"inoperative": True},
            Status.UNAVAILABLE,
            "Unavailable",
            ChargingState.IDLE,
            "NoError",
        ),
        (
            Reading(5),
            {"inoperative": True, "in_transaction": True},
            Status.CHARGING,
            "Occupied",
            ChargingState.CHARGING,
            "NoError",
        ),
    ],
)
def test_status_table(reading, kwargs, status, connector, charging, error) -> None:
    view = map_reading(reading, **kwargs)
    assert (view.status, view.connector_status, view.charging_state, view.error_code) == (
        status,
        connector,
        charging,
        error,
    )


def test_parse_reading_names_codes_attributes() -> None:
    assert parse_reading(st("charging", cp=2, pb=0)) == Reading(5, 2, 0)
    assert parse_reading(st("5")) == Reading(5)
    assert parse_reading(st("Fault_Hard", pb="2")) == Reading(8, None, 2)
    assert parse_reading(st("unavailable")) == Reading(None)
    assert parse_reading(st("unknown", state_code=3)) == Reading(None)
    assert parse_reading(st("weird", state_code=3)) == Reading(3)
    assert parse_reading(None) == Reading(None)


def test_units() -> None:
    assert energy_wh(st("1.5", unit_of_measurement="kWh")) == 1500
    assert energy_wh(st("1500", unit_of_measurement="Wh")) == 1500
    assert energy_wh(st("0.002", unit_of_measurement="MWh")) == 2000
    assert energy_wh(st("12")) == 12
    assert energy_wh(st("unavailable", unit_of_measurement="kWh")) is None
    assert power_w(st("3.7", unit_of_measurement="kW")) == pytest.approx(3700)
    assert power_w(None) is None


def feed(tracker: SessionTracker, *readings: Reading, **kw: Any) -> list[SessionEvent]:
    events: list[SessionEvent] = []
    for reading in readings:
        events += tracker.feed(reading, map_reading(reading, **kw))
    return events


def test_session_local_start_charge_pause_unplug() -> None:
    tracker = SessionTracker()
    events = feed(
        tracker,
        Reading(1),
        Reading(2),
        Reading(3),
        Reading(4),
        Reading(5),
        Reading(6),
        Reading(5),
        Reading(7, cp=0),
    )
    assert [(e.kind, e.trigger, e.charging_state) for e in events] == [
        ("started", "Authorized", ChargingState.EV_CONNECTED),
        ("updated", "ChargingStateChanged", ChargingState.CHARGING),
        ("updated", "ChargingStateChanged", ChargingState.SUSPENDED_EV),
        ("updated", "ChargingStateChanged", ChargingState.CHARGING),
        ("ended", "EVCommunicationLost", ChargingState.EV_CONNECTED),
    ]
    assert events[-1].reason == "EVDisconnected"
    assert not tracker.active


def test_session_remote_start_and_stop() -> None:
    tracker = SessionTracker(remote_start_pending=True)
    (started,) = feed(tracker, Reading(3), Reading(5))[:1]
    assert started.trigger == "RemoteStart" and not tracker.remote_start_pending
    tracker.stop_requested = "Remote"
    (ended,) = feed(tracker, Reading(7, cp=1))
    assert (ended.reason, ended.trigger) == ("Remote", "RemoteStop")
    assert tracker.stop_requested is None


@pytest.mark.parametrize(
    ("reading", "reason"),
    [
        (Reading(8, pb=2), "GroundFault"),
        (Reading(8, pb=1), "PowerQuality"),
        (Reading(8, pb=0, cp=0), "EVDisconnected"),
        (Reading(7, cp=1), "Local"),
        (Reading(1), "Other"),
    ],
)
def test_session_end_reasons(reading: Reading, reason: str) -> None:
    tracker = SessionTracker()
    feed(tracker, Reading(5))
    (ended,) = feed(tracker, reading)
    assert ended.reason == reason
    assert stop_reason_16(ended.reason) in (
        "Local",
        "Remote",
        "EVDisconnected",
        "EmergencyStop",
        "Other",
    )


def test_session_ignores_silent_controller_and_resumes() -> None:
    tracker = SessionTracker()
    feed(tracker, Reading(5))
    assert feed(tracker, Reading(None)) == [] and tracker.active
    resumed = SessionTracker()
    resumed.resume("Charging")
    assert feed(resumed, Reading(5)) == []
    (ended,) = feed(resumed, Reading(1))
    assert ended.kind == "ended"


def test_evse_list_defaults_and_errors() -> None:
    (default,) = evse_list(None)
    assert default["state_entity"] == "sensor.charger_state"
    assert default["authorize_action"]["action"] == "esp32.authorize"
    assert default["stop_action"]["action"] == "esp32.stop_charging"
    assert default["current_limit_entity"] == "number.charger_max_current"
    custom = evse_list([{"id": 1, "authorize_action": {"service": "script.go"}}])
    assert custom[0]["authorize_action"] == {"action": "script.go", "data": {}, "target": {}}
    with pytest.raises(vol.Invalid):
        evse_list([{"id": 1}, {"id": 1}])
    with pytest.raises(vol.Invalid):
        evse_list([{"id": 1, "authorize_action": {"action": "not a service"}}])


async def test_binding_follows_the_bus_and_calls_services(orge: Orge) -> None:
    calls: list[ServiceCall] = []

    async def record(call: ServiceCall) -> None:
        calls.append(call)

    for service in ("authorize", "stop_charging"):
        orge.services.async_register("esp32", service, record)
    orge.services.async_register("number", "set_value", record)
    orge.states.async_set("sensor.charger_state", "idle", {"cp": 0, "pb": 0})
    orge.states.async_set("sensor.meter_energy", "2.5", {"unit_of_measurement": "kWh"})
    changes: list[tuple[ConnectorView, list[SessionEvent]]] = []
    config = evse_list([{"id": 1, "energy_entity": "sensor.meter_energy"}])[0]
    binding = EvseBinding(orge, config, lambda b, v, e: changes.append((v, e)), ready_grace=0.05)
    binding.start()
    assert binding.current_view().status is Status.AVAILABLE and changes == []
    orge.states.async_set("sensor.charger_state", "ev_connected", {"cp": 1, "pb": 0})
    orge.states.async_set("sensor.charger_state", "ready", {"cp": 1, "pb": 0})
    assert changes[-1][1][0].kind == "started"
    await asyncio.sleep(0.1)  # READY beyond the grace period: SuspendedEV
    assert changes[-1][0].status is Status.SUSPENDED_EV
    await binding.async_authorize()
    await binding.async_stop()
    await binding.async_set_current_limit(16)
    assert [(c.domain, c.service) for c in calls] == [
        ("esp32", "authorize"),
        ("esp32", "stop_charging"),
        ("number", "set_value"),
    ]
    assert calls[-1].data == {"entity_id": "number.charger_max_current", "value": 16}
    orge.states.async_set("sensor.charger_state", "stopped", {"cp": 1, "pb": 0})
    assert changes[-1][1][0].reason == "Remote"
    assert binding.energy_wh() == 2500 and binding.power_w() is None
    binding.set_inoperative(True)
    orge.states.async_set("sensor.charger_state", "idle", {"cp": 0, "pb": 0})
    assert changes[-1][0].status is Status.UNAVAILABLE
    binding.stop()
    count = len(changes)
    orge.states.async_set("sensor.charger_state", "charging", {"cp": 2, "pb": 0})
    assert len(changes) == count


def test_cp_and_pb_from_their_own_entities() -> None:
    cp = st("A", code=0)
    pb = st("no_earth", code=2)
    assert parse_reading(st("fault", code=8), cp, pb) == Reading(8, 0, 2)
    assert parse_reading(st("charging"), st("C"), st("ok")) == Reading(5, 2, 0)
    assert parse_reading(st("state_9"), st("unavailable"), None) == Reading(9, None, None)
    # attributes on the state entity win over the helper entities
    assert parse_reading(st("paused", cp=1), st("C"), None) == Reading(6, 1, None)


async def test_binding_reads_cp_pb_entities(orge: Orge) -> None:
    changes: list[ConnectorView] = []
    config = evse_list(None)[0]
    binding = EvseBinding(orge, config, lambda b, v, e: changes.append(v))
    orge.states.async_set("sensor.charger_state", "charging", {"code": 5})
    orge.states.async_set("sensor.charger_power_board", "ok", {"code": 0})
    binding.start()
    orge.states.async_set("sensor.charger_power_board", "no_phase", {"code": 1})
    orge.states.async_set("sensor.charger_state", "fault", {"code": 8})
    assert changes[-1].status is Status.FAULTED and changes[-1].error_code == "UnderVoltage"
    binding.stop()
