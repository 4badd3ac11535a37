"""demo_csms: a station set up from YAML, a bare `ocpp` charge point on a real WebSocket."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from orge.exceptions import ServiceValidationError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Client16(Cp16):
    remote_starts: list[dict[str, Any]]

    @on("RemoteStartTransaction")
    def on_remote_start(self, id_tag: str, connector_id: int | None = None) -> Any:
        self.remote_starts.append({"id_tag": id_tag, "connector_id": connector_id})
        return result16.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    def on_remote_stop(self, transaction_id: int) -> Any:
        self.remote_starts.append({"stop": transaction_id})
        return result16.RemoteStopTransaction(status="Accepted")


class Client201(Cp201):
    remote_starts: list[dict[str, Any]]

    @on("RequestStartTransaction")
    def on_request_start(self, id_token: dict[str, Any], remote_start_id: int, **kw: Any) -> Any:
        self.remote_starts.append({"id_token": id_token, **kw})
        return result201.RequestStartTransaction(status="Accepted")

    @on("RequestStopTransaction")
    def on_request_stop(self, transaction_id: str) -> Any:
        self.remote_starts.append({"stop": transaction_id})
        return result201.RequestStopTransaction(status="Accepted")


@contextlib.asynccontextmanager
async def _client(
    port: int, station_id: str, protocol: str, password: str | None = None
) -> AsyncIterator[Any]:
    headers = {}
    if password is not None:
        token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    async with connect(
        f"ws://127.0.0.1:{port}/ocpp/{station_id}",
        subprotocols=[protocol],  # type: ignore[list-item]
        additional_headers=headers,
    ) as ws:
        assert ws.subprotocol == protocol
        cp = (Client16 if protocol == "ocpp1.6" else Client201)(station_id, ws, response_timeout=2)
        cp.remote_starts = []
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()


@pytest.fixture
async def demo(config_dir, start_station):
    port = _free_port()
    path = config_dir(f"demo_csms:\n  port: {port}\n  heartbeat_interval: 30\n")
    hub, result = await start_station(path)
    assert not result.problems
    return hub, port


def _attrs(hub, entity_id: str) -> dict[str, Any]:
    state = hub.states.get(entity_id)
    assert state is not None, entity_id
    return dict(state.attributes)


async def test_ocpp16_session_is_shown_and_ordered(demo) -> None:
    hub, port = demo
    assert hub.states.get("sensor.demo_csms_transactions").state == "0"
    async with _client(port, "CP16", "ocpp1.6") as cp:
        boot = await cp.call(
            call16.BootNotification(charge_point_vendor="V", charge_point_model="M")
        )
        assert boot.status == "Accepted" and boot.interval == 30
        await cp.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Preparing")
        )
        assert hub.states.get("sensor.demo_csms_stations").state == "1"
        assert _attrs(hub, "sensor.demo_csms_stations")["stations"]["CP16"]["connectors"] == {
            "1": "Preparing"
        }

        response = await hub.services.async_call(
            "demo_csms", "request_start", {"id_tag": "CARD1"}, blocking=True, return_response=True
        )
        assert response == {"status": "Accepted"}
        assert cp.remote_starts == [{"id_tag": "CARD1", "connector_id": 1}]

        start = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="CARD1", meter_start=1000, timestamp="2026-01-01T00:00:00Z"
            )
        )
        tx_id = start.transaction_id
        await cp.call(
            call16.MeterValues(
                connector_id=1,
                transaction_id=tx_id,
                meter_value=[
                    {
                        "timestamp": "2026-01-01T00:01:00Z",
                        "sampled_value": [
                            {
                                "value": "1.5",
                                "unit": "kWh",
                                "measurand": "Energy.Active.Import.Register",
                            }
                        ],
                    }
                ],
            )
        )
        active = _attrs(hub, "sensor.demo_csms_transactions")["active"]
        assert hub.states.get("sensor.demo_csms_transactions").state == "1"
        assert active[0]["transaction_id"] == str(tx_id) and active[0]["energy_wh"] == 500

        await hub.services.async_call("demo_csms", "request_stop", {}, blocking=True)
        assert cp.remote_starts[-1] == {"stop": tx_id}
        await cp.call(
            call16.StopTransaction(
                meter_stop=2200,
                timestamp="2026-01-01T00:10:00Z",
                transaction_id=tx_id,
                reason="Remote",
            )
        )
        assert hub.states.get("sensor.demo_csms_transactions").state == "0"
        done = _attrs(hub, "sensor.demo_csms_transactions")["completed"][-1]
        assert done["energy_wh"] == 1200 and done["reason"] == "Remote"

        last = hub.states.get("sensor.demo_csms_last_message")
        assert last.state == "StopTransaction"
        assert (
            last.attributes["station_id"] == "CP16"
            and json.loads(last.attributes["payload"])["meterStop"] == 2200
        )

        # an order the client does not implement comes back as an error answer, not an exception
        answer = await hub.services.async_call(
            "demo_csms",
            "call",
            {"action": "Reset", "payload": {"type": "Soft"}},
            blocking=True,
            return_response=True,
        )
        assert answer["error"] == "NotImplemented"
    await asyncio.sleep(0.05)
    assert hub.states.get("sensor.demo_csms_stations").state == "0"
    with pytest.raises(ServiceValidationError, match="No station"):
        await hub.services.async_call("demo_csms", "request_start", {}, blocking=True)


async def test_ocpp201_transaction_events(demo) -> None:
    hub, port = demo
    async with _client(port, "CP201", "ocpp2.0.1") as cp:
        boot = await cp.call(
            call201.BootNotification(
                charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"
            )
        )
        assert boot.status == "Accepted"
        await hub.services.async_call(
            "demo_csms", "request_start", {"station_id": "CP201", "id_tag": "T9"}, blocking=True
        )
        assert cp.remote_starts[0]["id_token"] == {"id_token": "T9", "type": "Central"}
        common = {"timestamp": "2026-01-01T00:00:00Z", "evse": {"id": 1, "connector_id": 1}}

        def energy(wh):
            return [
                {
                    "timestamp": "2026-01-01T00:00:00Z",
                    "sampled_value": [
                        {
                            "value": wh,
                            "measurand": "Energy.Active.Import.Register",
                            "unit_of_measure": {"unit": "Wh"},
                        }
                    ],
                }
            ]

        answer = await cp.call(
            call201.TransactionEvent(
                event_type="Started",
                trigger_reason="RemoteStart",
                seq_no=0,
                transaction_info={"transaction_id": "abc", "charging_state": "Charging"},
                id_token={"id_token": "T9", "type": "Central"},
                meter_value=energy(100),
                **common,
            )
        )
        assert answer.id_token_info == {"status": "Accepted"}
        await cp.call(
            call201.TransactionEvent(
                event_type="Updated",
                trigger_reason="MeterValuePeriodic",
                seq_no=1,
                transaction_info={"transaction_id": "abc"},
                meter_value=energy(350),
                **common,
            )
        )
        tx = _attrs(hub, "sensor.demo_csms_transactions")["active"][0]
        assert (
            tx["id_tag"] == "T9" and tx["energy_wh"] == 250 and tx["charging_state"] == "Charging"
        )
        await hub.services.async_call("demo_csms", "request_stop", {}, blocking=True)
        assert cp.remote_starts[-1] == {"stop": "abc"}
        await cp.call(
            call201.TransactionEvent(
                event_type="Ended",
                trigger_reason="RemoteStop",
                seq_no=2,
                transaction_info={"transaction_id": "abc", "stopped_reason": "Remote"},
                meter_value=energy(400),
                **common,
            )
        )
        assert hub.states.get("sensor.demo_csms_transactions").state == "0"
        assert _attrs(hub, "sensor.demo_csms_transactions")["completed"][-1]["energy_wh"] == 300


async def test_password_is_checked_when_set(config_dir, start_station) -> None:
    port = _free_port()
    _hub, result = await start_station(
        config_dir(f"demo_csms:\n  port: {port}\n  password: s3cret\n")
    )
    assert not result.problems
    with pytest.raises(InvalidStatus) as info:
        async with _client(port, "CP1", "ocpp1.6", password="wrong"):
            pass
    assert info.value.response.status_code == 401
    async with _client(port, "CP1", "ocpp1.6", password="s3cret") as cp:
        await cp.call(call16.Heartbeat())


async def test_port_in_use_fails_setup_clearly(config_dir, start_station, caplog) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        hub, _ = await start_station(config_dir(f"demo_csms:\n  port: {port}\n"))
        assert "demo_csms" not in hub.config.components
        assert f"cannot listen on 127.0.0.1:{port}" in caplog.text


async def test_demo_station_end_to_end_with_ocpp16(config_dir, start_station) -> None:
    """The default-config shape: ocpp16 in the same station talks to demo_csms."""
    port = _free_port()
    path = config_dir(
        f"""
        orge:
          station_id: DEMO16
        demo_csms:
          port: {port}
        ocpp16:
          url: ws://127.0.0.1:{port}/ocpp
          password: anything
          retry_backoff_wait_minimum: 0.05
          retry_backoff_random_range: 0.05
          evse:
            - id: 1
              energy_entity: sensor.meter_energy
              authorize_action: {{action: fake.authorize}}
              stop_action: {{action: fake.stop_charging}}
        """
    )
    hub, result = await start_station(path)
    assert not result.problems

    async def controller(call) -> None:
        new = "charging" if call.service == "authorize" else "stopped"
        hub.states.async_set("sensor.charger_state", new)

    hub.services.async_register("fake", "authorize", controller)
    hub.services.async_register("fake", "stop_charging", controller)
    hub.states.async_set("sensor.meter_energy", "1.0", {"unit_of_measurement": "kWh"})
    hub.states.async_set("sensor.charger_state", "ev_connected")

    async def until(check, timeout: float = 5.0) -> None:
        for _ in range(int(timeout / 0.02)):
            if check():
                return
            await asyncio.sleep(0.02)
        raise AssertionError("condition not reached")

    await until(lambda: hub.states.get("sensor.demo_csms_stations").state == "1")
    stations = _attrs(hub, "sensor.demo_csms_stations")["stations"]
    assert stations["DEMO16"]["protocol"] == "ocpp1.6"
    await until(
        lambda: (
            _attrs(hub, "sensor.demo_csms_stations")["stations"]["DEMO16"]["connectors"].get("1")
            == "Preparing"
        )
    )
    answer = await hub.services.async_call(
        "demo_csms", "request_start", {"id_tag": "WEB"}, blocking=True, return_response=True
    )
    assert answer == {"status": "Accepted"}
    await until(lambda: hub.states.get("sensor.demo_csms_transactions").state == "1")
    tx = _attrs(hub, "sensor.demo_csms_transactions")["active"][0]
    assert tx["id_tag"] == "WEB" and tx["meter_start_wh"] == 1000
    hub.states.async_set("sensor.meter_energy", "1.5", {"unit_of_measurement": "kWh"})
    await hub.services.async_call("demo_csms", "request_stop", {}, blocking=True)
    await until(lambda: hub.states.get("sensor.demo_csms_transactions").state == "0")
    done = _attrs(hub, "sensor.demo_csms_transactions")["completed"][-1]
    assert done["energy_wh"] == 500 and done["reason"] == "Remote"
    assert hub.states.get("sensor.demo_csms_last_message").state in (
        "StopTransaction",
        "StatusNotification",
    )
