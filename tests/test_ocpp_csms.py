"""The test CSMS itself, driven by a bare `ocpp` charge point over a real WebSocket."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator

import pytest
from ocpp.exceptions import InternalError, NotImplementedError
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call as call201
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.ocpp_csms import OCPP16, OCPP201, SILENCE, CallErrorAnswer, OcppCsms


class Station16(Cp16):
    @on("Reset")
    def on_reset(self, type: str) -> result16.Reset:
        return result16.Reset(status="Accepted")


def _auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@contextlib.asynccontextmanager
async def _station(
    csms: OcppCsms, station_id: str, protocols: list[str], password: str = "pw"
) -> AsyncIterator[Cp16 | Cp201]:
    async with connect(
        csms.url(station_id),
        subprotocols=protocols,  # type: ignore[arg-type]
        additional_headers=_auth(station_id, password),
    ) as ws:
        cls = Station16 if ws.subprotocol == OCPP16 else Cp201
        cp = cls(station_id, ws, response_timeout=1)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()


async def test_boot_order_answers_and_recording() -> None:
    async with OcppCsms(passwords={"CP1": "pw"}) as csms:
        async with _station(csms, "CP1", [OCPP16]) as cp:
            boot = await cp.call(
                call16.BootNotification(charge_point_vendor="ORGE", charge_point_model="AC")
            )
            assert boot.status == "Accepted" and boot.interval == 60
            result = await csms.reset("CP1", "Hard")
            assert result == {"status": "Accepted"}
            # no handler on the station side -> the CALLERROR surfaces as an exception
            with pytest.raises(NotImplementedError):
                await csms.remote_start("CP1", id_tag="T")

            csms.answer("Heartbeat", CallErrorAnswer("InternalError"), times=1)
            with pytest.raises(InternalError):
                await cp.call(call16.Heartbeat(), suppress=False)
            beat = await cp.call(call16.Heartbeat())
            assert beat.current_time.endswith("Z")

            csms.answer("StatusNotification", SILENCE, times=1)
            status = call16.StatusNotification(
                connector_id=1, error_code="NoError", status="Available"
            )
            with pytest.raises(asyncio.TimeoutError):
                await cp.call(status)
            await cp.call(status)

        kinds = [(m.direction, m.kind, m.action) for m in csms.messages]
        assert kinds == [
            ("in", "call", "BootNotification"),
            ("out", "result", "BootNotification"),
            ("out", "call", "Reset"),
            ("in", "result", "Reset"),
            ("out", "call", "RemoteStartTransaction"),
            ("in", "error", "RemoteStartTransaction"),
            ("in", "call", "Heartbeat"),
            ("out", "error", "Heartbeat"),
            ("in", "call", "Heartbeat"),
            ("out", "result", "Heartbeat"),
            ("in", "call", "StatusNotification"),
            ("in", "call", "StatusNotification"),
            ("out", "result", "StatusNotification"),
        ]
        assert [m.mono for m in csms.messages] == sorted(m.mono for m in csms.messages)
        assert csms.attempts[0].protocol == OCPP16 and csms.attempts[0].outcome == "accepted"


async def test_protocol_follows_station_preference_and_boot_pending() -> None:
    async with OcppCsms(passwords="pw", boot_status="Pending", boot_interval=3) as csms:
        async with _station(csms, "CP2", [OCPP201, OCPP16]) as cp:
            assert csms.stations["CP2"].protocol == OCPP201
            boot = await cp.call(
                call201.BootNotification(
                    charging_station={"model": "AC", "vendor_name": "ORGE"}, reason="PowerUp"
                )
            )
            assert boot.status == "Pending" and boot.interval == 3
        async with _station(csms, "CP2", [OCPP16, OCPP201]):
            assert csms.stations["CP2"].protocol == OCPP16
        assert not csms.errors_sent()


async def test_wrong_password_is_401_and_recorded() -> None:
    async with OcppCsms(passwords={"CP1": "pw"}) as csms:
        with pytest.raises(InvalidStatus) as info:
            async with _station(csms, "CP1", [OCPP16], password="nope"):
                pass
        assert info.value.response.status_code == 401
        assert [a.outcome for a in csms.attempts] == ["unauthorized"]


async def test_drop_and_restart_on_same_port() -> None:
    async with OcppCsms() as csms:
        port = csms.port
        async with _station(csms, "CP1", [OCPP16]):
            await csms.wait_connected("CP1")
            await csms.drop()
            await csms.wait_until(lambda: "CP1" not in csms.stations, 2)
        await csms.restart(down_for=0.05)
        assert csms.port == port
        async with _station(csms, "CP1", [OCPP16]) as cp:
            await cp.call(call16.Heartbeat())
        await csms.wait_for("Heartbeat")


ODD_FRAMES = [
    "[2]",  # a CALL with nothing after its type
    "[]",
    "{}",
    "5",
    "null",
    "not json",
    "[9]",  # no such message type (OCPP-J §4: 2, 3, 4)
    "[3]",
    '[4, "x"]',
    '[2, "m1", "Reset"]',  # no payload
    "[2, 1, 2, 3]",  # id and action not strings
    "[3, [1], {}]",  # an id that is no string (unhashable)
    '[2, "m2", ["Reset"], {}]',  # an action that is no string (unhashable)
]


async def test_send_raw_and_the_reader_take_any_frame() -> None:
    """A test kit for component authors: `send_raw` sends any text (a malformed frame
    included) and records it as sent; the CSMS's reader records whatever a station sends
    (a malformed frame as kind "invalid") and keeps serving the connection."""
    async with OcppCsms(passwords={"CP1": "pw"}) as csms:
        async with connect(
            csms.url("CP1"),
            subprotocols=[OCPP16],  # type: ignore[list-item]
            additional_headers=_auth("CP1", "pw"),
        ) as ws:
            await csms.wait_until(lambda: "CP1" in csms.stations, 5, "station connected")
            for frame in ODD_FRAMES:  # CSMS -> station
                assert await csms.send_raw("CP1", frame, timeout=0.05) is None  # no answer
                assert await asyncio.wait_for(ws.recv(), 2) == frame
            sent = [m for m in csms.messages if m.direction == "out"]
            assert [m.raw for m in sent] == ODD_FRAMES
            assert all(m.kind == "invalid" for m in sent)
            # an answer to a frame without a usable id is taken as its answer
            reply = asyncio.create_task(csms.send_raw("CP1", "[2]"))
            assert await asyncio.wait_for(ws.recv(), 2) == "[2]"
            await ws.send('[4, "-1", "FormatViolation", "no id", {}]')
            answer = await reply
            assert answer is not None and answer.kind == "error"
            assert answer.payload["code"] == "FormatViolation"

            count = len(csms.messages)
            for frame in ODD_FRAMES:  # station -> CSMS
                await ws.send(frame)
            await ws.send('[2, "hb-1", "Heartbeat", {}]')
            while True:  # the library answers some odd frames with a CALLERROR
                raw = await asyncio.wait_for(ws.recv(), 5)
                if raw.startswith('[3, "hb-1"') or raw.startswith('[3,"hb-1"'):
                    break
            received = [m for m in csms.messages[count:] if m.direction == "in"]
            assert [m.raw for m in received] == [*ODD_FRAMES, '[2, "hb-1", "Heartbeat", {}]']
            assert all(m.kind == "invalid" for m in received[:-1])
            assert (received[-1].kind, received[-1].action) == ("call", "Heartbeat")
