"""OCPP 2.0.1 block H (reservations) against the test CSMS over a real WebSocket, named by
the OCA test cases (Part 6, TC_H_xx_CS): ReserveNow answers, the Reserved status, who may
use a reserved EVSE (the token, its group), reservationId in TransactionEvent Started,
ReservationStatusUpdate Expired / Removed, CancelReservation, a restart with a
reservation held (and one that expired meanwhile)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocpp201_helpers import PASSWORD, STATION, FakeController, station_yaml

from orge.exceptions import ServiceValidationError
from tests.ocpp_csms import OcppCsms


def _expiry(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def _token(value: str) -> dict[str, str]:
    return {"idToken": value, "type": "ISO14443"}


def _statuses(csms: OcppCsms) -> list[str]:
    return [m.payload["connectorStatus"] for m in csms.received("StatusNotification")]


def _started(csms: OcppCsms) -> list[dict[str, Any]]:
    return [p for p in csms.payloads("TransactionEvent") if p["eventType"] == "Started"]


async def _reserve(csms: OcppCsms, reservation_id: int, token: str, **extra: Any) -> str:
    payload = {
        "id": reservation_id,
        "expiryDateTime": _expiry(extra.pop("seconds", 60)),
        "idToken": _token(token),
        **extra,
    }
    return str((await csms.call(STATION, "ReserveNow", payload))["status"])


async def _linked(csms: OcppCsms, config_dir: Any, start_station: Any) -> tuple[Any, Any, Any]:
    path = config_dir(station_yaml(csms.url()))
    hub, _ = await start_station(path)
    controller = FakeController(hub)
    controller.state("idle", cp=0)
    await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Available"])
    return hub, controller, path


async def _present(hub: Any, id_token: str) -> dict[str, Any]:
    return await hub.services.async_call(  # type: ignore[no-any-return]
        "ocpp201", "authorize", {"id_token": id_token}, blocking=True, return_response=True
    )


async def test_TC_H_01_reserve_a_specific_evse_used_by_its_id_token(
    config_dir: Any, start_station: Any
) -> None:
    """TC_H_01_CS: ReserveNow with evseId -> Accepted, StatusNotification Reserved; another
    token is refused there (RequestStartTransaction Rejected, a driver's token not held);
    the reserved token starts: TransactionEvent Started carries the reservationId
    (H03.FR.09) and the reservation is spent (no ReservationStatusUpdate)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, controller, _ = await _linked(csms, config_dir, start_station)
        assert await _reserve(csms, 11, "RES-TOKEN", evseId=1) == "Accepted"
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Reserved"])
        # another token: refused on the reserved EVSE (H03.FR.02)
        answer = await csms.call(
            STATION, "RequestStartTransaction", {"idToken": _token("OTHER"), "remoteStartId": 1}
        )
        assert answer["status"] == "Rejected"
        assert answer["statusInfo"]["reasonCode"] == "Reserved"
        with pytest.raises(ServiceValidationError, match="reserved for another id token"):
            await _present(hub, "OTHER")
        assert controller.calls == []
        # the reserved token (any case, as a card reader gives it)
        assert (await _present(hub, "res-token"))["status"] == "Accepted"
        controller.state("ev_connected", cp=1)
        await csms.wait_until(lambda: _started(csms))
        started = _started(csms)[0]
        assert started["reservationId"] == 11
        assert started["idToken"] == _token("res-token")
        # spent: cancelling it now is Rejected, and no status update was sent
        cancel = await csms.call(STATION, "CancelReservation", {"reservationId": 11})
        assert cancel["status"] == "Rejected"
        assert csms.received("ReservationStatusUpdate") == []
        assert not csms.errors_sent()


async def test_TC_H_07_reservation_expires_unused(config_dir: Any, start_station: Any) -> None:
    """TC_H_07_CS (H04): the reservation is not used before expiryDateTime: the EVSE is
    Available again and ReservationStatusUpdate Expired is sent."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await _linked(csms, config_dir, start_station)
        assert await _reserve(csms, 7, "LATE", evseId=1, seconds=1.5) == "Accepted"
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Reserved"])
        update = (await csms.wait_for("ReservationStatusUpdate", timeout=5))[0].payload
        assert update == {"reservationId": 7, "reservationUpdateStatus": "Expired"}
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Available"])


async def test_TC_H_08_unspecified_evse_TC_H_14_TC_H_15_connector_type(
    config_dir: Any, start_station: Any
) -> None:
    """TC_H_08_CS: ReserveNow without evseId -> Accepted; with one EVSE the reservation
    needs it, so it shows Reserved (H01.FR.20, TC_H_14_CS); a second one finds none left
    (Occupied). TC_H_15_CS: a connectorType the station has -> Accepted, one it does not
    have -> Rejected. The reserved token's remote start (no evseId) uses it."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await _linked(csms, config_dir, start_station)
        assert await _reserve(csms, 21, "ANY-EVSE", connectorType="cCCS1") == "Rejected"
        assert await _reserve(csms, 21, "ANY-EVSE", connectorType="cType2") == "Accepted"
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Reserved"])
        assert await _reserve(csms, 22, "SECOND") == "Occupied"
        refused = await csms.call(
            STATION, "RequestStartTransaction", {"idToken": _token("SECOND"), "remoteStartId": 5}
        )
        assert refused["status"] == "Rejected"
        answer = await csms.call(
            STATION,
            "RequestStartTransaction",
            {"idToken": _token("ANY-EVSE"), "remoteStartId": 6},
        )
        assert answer["status"] == "Accepted"


async def test_TC_H_08_remote_start_uses_an_unspecified_reservation(
    config_dir: Any, start_station: Any
) -> None:
    """TC_H_08_CS step 3: the reserved token's RequestStartTransaction starts on the EVSE
    and TransactionEvent Started carries the reservationId."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        _, controller, _ = await _linked(csms, config_dir, start_station)
        assert await _reserve(csms, 31, "ANY") == "Accepted"
        answer = await csms.call(
            STATION, "RequestStartTransaction", {"idToken": _token("ANY"), "remoteStartId": 9}
        )
        assert answer["status"] == "Accepted"
        controller.state("ev_connected", cp=1)
        await csms.wait_until(lambda: _started(csms))
        assert _started(csms)[0]["reservationId"] == 31
        assert _started(csms)[0]["transactionInfo"]["remoteStartId"] == 9


async def test_TC_H_17_cancel_reservation(config_dir: Any, start_station: Any) -> None:
    """TC_H_17_CS (H02): CancelReservation of a held reservation -> Accepted and the EVSE
    is Available again (no ReservationStatusUpdate); an unknown id -> Rejected
    (H02.FR.01)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await _linked(csms, config_dir, start_station)
        assert await _reserve(csms, 41, "CANCELLED", evseId=1) == "Accepted"
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Reserved"])
        answer = await csms.call(STATION, "CancelReservation", {"reservationId": 41})
        assert answer["status"] == "Accepted"
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Available"])
        answer = await csms.call(STATION, "CancelReservation", {"reservationId": 41})
        assert answer["status"] == "Rejected"
        assert csms.received("ReservationStatusUpdate") == []


async def test_TC_H_19_a_token_of_the_reserved_group(config_dir: Any, start_station: Any) -> None:
    """TC_H_19_CS: a reservation with groupIdToken: a different token the CSMS puts in that
    group (Authorize groupIdToken) may use it (H03.FR.05); a token of another group may
    not."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        csms.groups = {"MEMBER": "FLEET", "STRANGER": "ELSEWHERE"}
        hub, controller, _ = await _linked(csms, config_dir, start_station)
        status = await _reserve(
            csms, 51, "FLEET-CARD", evseId=1, groupIdToken={"idToken": "FLEET", "type": "Central"}
        )
        assert status == "Accepted"
        with pytest.raises(ServiceValidationError, match="reserved"):
            await _present(hub, "STRANGER")
        assert (await _present(hub, "MEMBER"))["status"] == "Accepted"
        controller.state("ev_connected", cp=1)
        await csms.wait_until(lambda: _started(csms))
        assert _started(csms)[0]["reservationId"] == 51
        assert _started(csms)[0]["idToken"] == _token("MEMBER")


async def test_TC_H_20_faulted_evse_removes_the_reservation(
    config_dir: Any, start_station: Any
) -> None:
    """TC_H_20_CS (H01.FR.16/17): the reserved EVSE becomes Faulted: the reservation ends
    with ReservationStatusUpdate Removed; a new ReserveNow there is answered Faulted."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        _, controller, _ = await _linked(csms, config_dir, start_station)
        assert await _reserve(csms, 61, "FAULT", evseId=1) == "Accepted"
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Reserved"])
        controller.state("fault_hard", pb=2)
        update = (await csms.wait_for("ReservationStatusUpdate"))[0].payload
        assert update == {"reservationId": 61, "reservationUpdateStatus": "Removed"}
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Faulted"])
        assert await _reserve(csms, 62, "FAULT", evseId=1) == "Faulted"


async def test_TC_H_22_configured_to_reject_and_busy_evse(
    config_dir: Any, start_station: Any
) -> None:
    """TC_H_22_CS: ReservationCtrlr.Enabled false -> ReserveNow Rejected. H01: an EVSE
    with a session -> Occupied; an Inoperative one -> Unavailable; an unknown EVSE ->
    Rejected; NonEvseSpecific false and no evseId -> Rejected."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        _, controller, _ = await _linked(csms, config_dir, start_station)
        assert await _reserve(csms, 71, "X", evseId=9) == "Rejected"

        async def set_variable(name: str, value: str) -> None:
            answer = await csms.call(
                STATION,
                "SetVariables",
                {
                    "setVariableData": [
                        {
                            "component": {"name": "ReservationCtrlr"},
                            "variable": {"name": name},
                            "attributeValue": value,
                        }
                    ]
                },
            )
            assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"

        await set_variable("NonEvseSpecific", "false")
        assert await _reserve(csms, 72, "X") == "Rejected"
        await set_variable("Enabled", "false")
        assert await _reserve(csms, 73, "X", evseId=1) == "Rejected"
        await set_variable("Enabled", "true")
        controller.state("ev_connected", cp=1)
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Occupied"])
        assert await _reserve(csms, 74, "X", evseId=1) == "Occupied"
        controller.state("idle", cp=0)
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Available"])
        answer = await csms.call(
            STATION, "ChangeAvailability", {"operationalStatus": "Inoperative"}
        )
        assert answer["status"] == "Accepted"
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Unavailable"])
        assert await _reserve(csms, 75, "X", evseId=1) == "Unavailable"


async def test_reservation_held_across_a_restart(config_dir: Any, start_station: Any) -> None:
    """A reservation is stored in the journal's SQLite file: after a restart the EVSE is
    Reserved again and the reservation can be cancelled; one that expired while the
    station was down ends with ReservationStatusUpdate Expired once connected."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _, path = await _linked(csms, config_dir, start_station)
        assert await _reserve(csms, 81, "KEPT", evseId=1) == "Accepted"
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Reserved"])
        await hub.async_stop()
        count = len(_statuses(csms))
        hub, _ = await start_station(path)
        FakeController(hub).state("idle", cp=0)
        await csms.wait_until(lambda: _statuses(csms)[count:][-1:] == ["Reserved"])
        assert "Available" not in _statuses(csms)[count:]
        answer = await csms.call(STATION, "CancelReservation", {"reservationId": 81})
        assert answer["status"] == "Accepted"
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Available"])
        # one that expires while the station is down
        assert await _reserve(csms, 82, "GONE", evseId=1, seconds=1) == "Accepted"
        await hub.async_stop()
        await asyncio.sleep(1.5)
        hub, _ = await start_station(path)
        FakeController(hub).state("idle", cp=0)
        update = (await csms.wait_for("ReservationStatusUpdate"))[0].payload
        assert update == {"reservationId": 82, "reservationUpdateStatus": "Expired"}
        assert not csms.errors_sent()


async def test_TC_H_14_unspecified_reservations_equal_to_the_evses(
    config_dir: Any, start_station: Any
) -> None:
    """TC_H_14_CS (H01.FR.07/09/20): two EVSEs. One reservation without evseId leaves both
    Available; a second one needs both: both show Reserved; a third, or one for a specific
    EVSE, is Occupied; cancelling one makes both Available again; then one for EVSE 2 is
    Accepted and EVSE 1 is kept (Reserved) for the one without an EVSE."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        yaml = station_yaml(csms.url(), evse=False) + "\n".join(
            [
                "  evse:",
                *(
                    line
                    for n in (1, 2)
                    for line in (
                        f"    - id: {n}",
                        "      connector_id: 1",
                        f"      state_entity: sensor.charger{n}_state",
                        "      authorize_action: {action: fake.authorize}",
                        "      stop_action: {action: fake.stop_charging}",
                        f"      current_limit_entity: number.fake_limit{n}",
                    )
                ),
            ]
        )
        hub, _ = await start_station(config_dir(yaml + "\n"))
        for n in (1, 2):
            hub.states.async_set(f"number.fake_limit{n}", "32", {})
            hub.states.async_set(f"sensor.charger{n}_state", "idle", {"cp": 0, "pb": 0})

        def status(evse: int) -> list[str]:
            return [
                m.payload["connectorStatus"]
                for m in csms.received("StatusNotification")
                if m.payload["evseId"] == evse
            ]

        await csms.wait_until(lambda: status(1)[-1:] == status(2)[-1:] == ["Available"])
        assert await _reserve(csms, 1, "FIRST") == "Accepted"
        await asyncio.sleep(0.3)
        assert status(1)[-1] == status(2)[-1] == "Available"
        assert await _reserve(csms, 2, "SECOND") == "Accepted"
        await csms.wait_until(lambda: status(1)[-1:] == status(2)[-1:] == ["Reserved"])
        assert await _reserve(csms, 3, "THIRD") == "Occupied"
        assert await _reserve(csms, 4, "FOURTH", evseId=2) == "Occupied"
        answer = await csms.call(STATION, "CancelReservation", {"reservationId": 1})
        assert answer["status"] == "Accepted"
        await csms.wait_until(lambda: status(1)[-1:] == status(2)[-1:] == ["Available"])
        # EVSE 2 for one driver, EVSE 1 kept for the reservation without an EVSE
        assert await _reserve(csms, 4, "FOURTH", evseId=2) == "Accepted"
        await csms.wait_until(lambda: status(1)[-1:] == status(2)[-1:] == ["Reserved"])
        assert await _reserve(csms, 5, "FIFTH", evseId=1) == "Occupied"
        assert not csms.errors_sent()
