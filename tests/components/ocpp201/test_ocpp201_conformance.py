"""OCA OCPP 2.0.1 test cases (Part 6) of the Core profile against the test CSMS over a
real WebSocket (issue 10 points 7 and 8): authorization flows a driver uses
(identification first, local stop by the same token or its group, the next session
after one), the (re)connection INFO line."""

from __future__ import annotations

import asyncio
import logging

import pytest
from ocpp201_helpers import PASSWORD, STATION, FakeController, station_yaml, wait_state

from orge.exceptions import ServiceValidationError
from tests.ocpp_csms import OCPP201, OcppCsms


def _statuses(csms: OcppCsms) -> list[str]:
    return [m.payload["connectorStatus"] for m in csms.received("StatusNotification")]


def _events(csms: OcppCsms, event_type: str) -> list[dict]:
    return [
        m.payload for m in csms.received("TransactionEvent") if m.payload["eventType"] == event_type
    ]


async def _linked(csms: OcppCsms, config_dir, start_station, **options):
    hub, _ = await start_station(config_dir(station_yaml(csms.url(), **options)))
    controller = FakeController(hub)
    controller.state("idle", cp=0)
    await csms.wait_for("StatusNotification")
    return hub, controller


async def _present(hub, id_token: str, **data) -> dict:
    return await hub.services.async_call(
        "ocpp201", "authorize", {"id_token": id_token, **data}, blocking=True, return_response=True
    )


def _token(value: str) -> dict:
    return {"idToken": value, "type": "ISO14443"}


async def test_tc_e_04_identification_first_then_tc_e_06_tc_e_07_local_stop(
    config_dir, start_station
) -> None:
    """TC_E_04_CS (authorization first: the token is held until the EV is plugged in)
    and TC_E_06_CS / TC_E_07_CS (local stop with the same token, TxStopPoint
    PowerPathClosed: no Authorize, Ended with triggerReason StopAuthorized and
    stoppedReason Local); then the next session after the ended one starts normally."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, controller = await _linked(csms, config_dir, start_station)
        assert await _present(hub, "CARD-1") == {"status": "Accepted", "evse_id": 1}
        await asyncio.sleep(0.2)
        assert controller.calls == [] and _events(csms, "Started") == []
        controller.state("ev_connected", cp=1)
        started = (await csms.wait_for("TransactionEvent"))[0].payload
        assert started["eventType"] == "Started"
        assert started["triggerReason"] == "Authorized"
        assert started["idToken"] == _token("CARD-1")
        authorizes = len(csms.received("Authorize"))
        assert await _present(hub, "card-1") == {
            "status": "Accepted",
            "evse_id": 1,
            "stopped": True,
        }
        ended = (
            await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
        )[0].payload
        assert ended["triggerReason"] == "StopAuthorized"
        assert ended["transactionInfo"]["stoppedReason"] == "Local"
        assert (
            ended["transactionInfo"]["transactionId"] == started["transactionInfo"]["transactionId"]
        )
        assert len(csms.received("Authorize")) == authorizes  # the same token: not asked
        # unplug; the next driver's session starts normally
        controller.state("idle", cp=0)
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Available"])
        assert (await _present(hub, "CARD-2"))["status"] == "Accepted"
        controller.state("ev_connected", cp=1)
        await csms.wait_until(lambda: len(_events(csms, "Started")) == 2)
        second = _events(csms, "Started")[1]
        assert second["idToken"] == _token("CARD-2")
        assert (
            second["transactionInfo"]["transactionId"]
            != (started["transactionInfo"]["transactionId"])
        )
        assert not csms.errors_sent()


async def test_tc_c_04_a_different_token_does_not_stop(config_dir, start_station) -> None:
    """TC_C_04_CS: a different idToken (the starting one has no group) neither stops the
    transaction nor sends a TransactionEvent; the service says it may not stop it."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, controller = await _linked(csms, config_dir, start_station)
        assert (await _present(hub, "CARD-A"))["status"] == "Accepted"
        controller.state("ev_connected", cp=1)
        await csms.wait_until(
            lambda: [
                e for e in _events(csms, "Updated") if e["triggerReason"] == "ChargingStateChanged"
            ]
        )
        events = len(csms.received("TransactionEvent"))
        with pytest.raises(ServiceValidationError, match="may not stop"):
            await _present(hub, "CARD-B")
        await asyncio.sleep(0.3)
        assert len(csms.received("TransactionEvent")) == events
        assert ("stop_charging", {}) not in controller.calls


async def test_tc_c_39_local_stop_by_a_token_of_the_same_group(config_dir, start_station) -> None:
    """Local stop with a different idToken of the same groupIdToken (C01/C09 GroupId):
    Authorize, then Ended (StopAuthorized, Local) carrying the presented token; a token
    of another group does not stop it."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        csms.groups = {"FLEET-1": "FLEET", "FLEET-2": "FLEET", "OTHER": "ELSEWHERE"}
        hub, controller = await _linked(csms, config_dir, start_station)
        assert (await _present(hub, "FLEET-1"))["status"] == "Accepted"
        controller.state("ev_connected", cp=1)
        await csms.wait_until(lambda: _events(csms, "Started"))
        with pytest.raises(ServiceValidationError, match="may not stop"):
            await _present(hub, "OTHER")
        assert csms.payloads("Authorize")[-1] == {"idToken": _token("OTHER")}
        assert _events(csms, "Ended") == []
        assert (await _present(hub, "FLEET-2"))["stopped"] is True
        assert csms.payloads("Authorize")[-1] == {"idToken": _token("FLEET-2")}
        ended = (
            await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
        )[0].payload
        assert ended["triggerReason"] == "StopAuthorized"
        assert ended["transactionInfo"]["stoppedReason"] == "Local"
        assert ended["idToken"] == _token("FLEET-2")


async def test_identification_first_times_out(config_dir, start_station) -> None:
    """E03 with TxCtrlr.EVConnectionTimeOut: no cable in time, the authorization is
    dropped and a vehicle plugged in later does not start on it."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, controller = await _linked(csms, config_dir, start_station)
        answer = await csms.call(
            STATION,
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "component": {"name": "TxCtrlr"},
                        "variable": {"name": "EVConnectionTimeOut"},
                        "attributeValue": "1",
                    }
                ]
            },
        )
        assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
        assert (await _present(hub, "CARD-T"))["status"] == "Accepted"
        await asyncio.sleep(1.5)
        controller.state("ev_connected", cp=1)
        await asyncio.sleep(0.5)
        assert controller.calls == [] and _events(csms, "Started") == []


async def test_reconnection_logged_at_info(config_dir, start_station, caplog) -> None:
    caplog.set_level(logging.INFO)
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await _linked(csms, config_dir, start_station)
        boots = len(csms.received("BootNotification"))
        await csms.drop()
        await csms.wait_connected(STATION, OCPP201)
        await csms.wait_until(
            lambda: len([r for r in caplog.records if "connected to" in r.getMessage()]) >= 2
        )
        assert len(csms.received("BootNotification")) == boots  # unchanged: no new boot
    expected = f"OCPP 2.0.1: connected to {csms.url()}/{STATION} (ocpp2.0.1)"
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "components.ocpp_station.lifecycle" and r.levelno == logging.INFO
    ]
    assert [line for line in lines if "connected to" in line][:2] == [expected, expected]
    assert not any(PASSWORD in r.getMessage() for r in caplog.records)


# --- meter values in the Ended event ---------------------------------------------------


def _set(component: str, variable: str, value: str) -> dict:
    return {
        "component": {"name": component},
        "variable": {"name": variable},
        "attributeValue": value,
    }


async def test_tc_j_03_tc_j_10_ended_event_carries_tx_ended_samples(
    config_dir, start_station
) -> None:
    """TC_J_03_CS (clock-aligned, AlignedDataCtrlr.TxEndedInterval / TxEndedMeasurands)
    and TC_J_10_CS (sampled, SampledDataCtrlr.TxEndedInterval / TxEndedMeasurands): the
    Ended event carries the samples taken during the transaction, in time order, then
    the Transaction.End value; the Started and Updated events do not carry them."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, controller = await _linked(csms, config_dir, start_station)
        energy = "Energy.Active.Import.Register"
        power = "Power.Active.Import"
        answer = await csms.call(
            STATION,
            "SetVariables",
            {
                "setVariableData": [
                    _set("SampledDataCtrlr", "TxEndedInterval", "1"),
                    _set("SampledDataCtrlr", "TxEndedMeasurands", f"{energy},{power}"),
                    _set("AlignedDataCtrlr", "TxEndedInterval", "1"),
                    _set("AlignedDataCtrlr", "TxEndedMeasurands", energy),
                ]
            },
        )
        assert {r["attributeStatus"] for r in answer["setVariableResult"]} == {"Accepted"}
        assert (await _present(hub, "CARD-J"))["status"] == "Accepted"
        controller.energy(1.0, 7.0)  # kWh, kW
        controller.state("ev_connected", cp=1)
        await csms.wait_until(lambda: _events(csms, "Started"))
        for step in range(1, 6):  # 2.5 s of charging, the meter climbing
            await asyncio.sleep(0.5)
            controller.energy(1.0 + step * 0.01, 7.0)
        assert (await _present(hub, "CARD-J"))["stopped"] is True
        ended = (
            await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
        )[0].payload
        values = ended["meterValue"]
        contexts = [v["sampledValue"][0]["context"] for v in values]
        assert contexts[-1] == "Transaction.End"
        periodic = [v for v in values if v["sampledValue"][0]["context"] == "Sample.Periodic"]
        clock = [v for v in values if v["sampledValue"][0]["context"] == "Sample.Clock"]
        assert len(periodic) >= 2 and len(clock) >= 2
        assert len(periodic) + len(clock) + 1 == len(values)
        for value in periodic:
            assert [s["measurand"] for s in value["sampledValue"]] == [energy, power]
        for value in clock:
            assert [s["measurand"] for s in value["sampledValue"]] == [energy]
            # stamped with a boundary of the 1 s interval (the station clock's whole
            # seconds; within the millisecond of a monotonic -> wall round trip)
            fraction = float(value["timestamp"][17:23]) % 1
            assert min(fraction, 1 - fraction) < 0.002, value["timestamp"]
        stamps = [v["timestamp"] for v in values]
        assert stamps == sorted(stamps)
        energies = [v["sampledValue"][0]["value"] for v in values]
        assert energies == sorted(energies) and energies[-1] == 1050.0  # Wh
        for event in _events(csms, "Started") + _events(csms, "Updated"):
            for value in event.get("meterValue", []):
                assert value["sampledValue"][0]["context"] not in ("Sample.Clock",)


async def test_group_and_tx_ended_values_survive_a_restart(config_dir, start_station) -> None:
    """RequestStartTransaction's groupIdToken (F01) decides who may stop the transaction
    locally (C09.FR.03), after a restart too; the SampledDataCtrlr.TxEndedInterval
    values kept before the restart are in the Ended event (J02) with those after it."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        csms.groups = {"FLEET-2": "FLEET"}
        path = config_dir(station_yaml(csms.url()))
        hub, _ = await start_station(path)
        controller = FakeController(hub)
        controller.state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        answer = await csms.set_variables(
            STATION,
            ("SampledDataCtrlr", "TxEndedInterval", "1"),
            ("SampledDataCtrlr", "TxEndedMeasurands", "Energy.Active.Import.Register"),
        )
        assert {r["attributeStatus"] for r in answer["setVariableResult"]} == {"Accepted"}
        start = await csms.call(
            STATION,
            "RequestStartTransaction",
            {
                "idToken": {"idToken": "APP-USER", "type": "Central"},
                "groupIdToken": {"idToken": "FLEET", "type": "Central"},
                "remoteStartId": 5,
                "evseId": 1,
            },
        )
        assert start["status"] == "Accepted"
        controller.energy(1.0)
        controller.state("ev_connected", cp=1)
        await csms.wait_until(lambda: _events(csms, "Started"))
        controller.state("charging", cp=1)
        await asyncio.sleep(2.3)  # two TxEndedInterval values kept
        await hub.async_stop()

        hub, _ = await start_station(path)  # the restart: the transaction is resumed
        controller = FakeController(hub)
        controller.energy(1.5)
        controller.state("charging", cp=1)
        await wait_state(hub, "sensor.ocpp201_connection", "connected")
        assert (await _present(hub, "FLEET-2"))["stopped"] is True
        ended = (
            await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
        )[0].payload
        assert ended["triggerReason"] == "StopAuthorized"
        assert ended["transactionInfo"]["stoppedReason"] == "Local"
        periodic = [
            m for m in ended["meterValue"] if m["sampledValue"][0]["context"] == "Sample.Periodic"
        ]
        assert len(periodic) >= 2  # those kept before the restart
        assert {m["sampledValue"][0]["value"] for m in periodic[:2]} == {1000.0}  # Wh
