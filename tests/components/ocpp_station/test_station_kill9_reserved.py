"""A driver's badge on a reserved EVSE survives kill -9, under 2.0.1 and under 1.6: a real
`orge run` process (killed with SIGKILL), the controller simulator in a process of its
own (it outlives the station, as the ESP32 outlives the Raspberry Pi), the test CSMS over
a real WebSocket, the driver's badge through the station's HTTP API (as a card reader's
automation calls `ocpp201.authorize` / `ocpp16.authorize`).

What the driver has done is kept as the reservation is: after the restart the vehicle
plugged in starts the transaction on the badge given before the crash, without a second
badge (one Authorize), and the transaction uses the reservation. A badge whose connection
timeout ran out while the station was dead is not revived, nor is a reservation that
expired meanwhile.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from orge.testing.esp32_process import SimulatorProcess
from tests.components.modbus_meter.fake_meter import free_port
from tests.ocpp_csms import OcppCsms
from tests.station_process import kill9, start, stop

STATION = "CP-KILL9-RES"
PASSWORD = "kill9-reserved-pw"
API_TOKEN = "kill9-reserved-api-token-0123456789"
TOKEN = "BADGE-42"
RESERVATION_ID = 42

# esp32-serial-protocol.md §4: the controller's states.
EV_CONNECTED, READY = 3, 4

BASE = """orge:
  station_id: !env_var OCPP_STATION_NAME
http:
  server_host: 127.0.0.1
  server_port: {http_port}
  access_tokens:
    - name: reader
      token: {api_token}
esp32:
  port: {port}
  status_interval: 5
  session_status_interval: 0.2
  ack_timeout: 3
"""


def _expiry(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


@dataclass
class Protocol201:
    domain: str = "ocpp201"

    def config(self, url: str, timeout: int) -> str:
        return f"""ocpp201:
  url: {url}
  password: !env_var OCPP_STATION_PASSWORD
  response_timeout: 2
  retry_backoff_wait_minimum: 0.1
  retry_backoff_random_range: 0.1
  message_attempts: 50
  message_attempt_interval: 0.2
  aligned_interval: 0
  ev_connection_timeout: {timeout}
"""

    async def available(self, csms: OcppCsms, count: int) -> None:
        await csms.wait_for(
            "StatusNotification", count, timeout=30,
            where=lambda p: p["connectorStatus"] == "Available",
        )  # fmt: skip

    async def reserve(self, csms: OcppCsms, seconds: float) -> str:
        payload = {
            "id": RESERVATION_ID,
            "expiryDateTime": _expiry(seconds),
            "idToken": {"idToken": TOKEN, "type": "ISO14443"},
            "evseId": 1,
        }
        return str((await csms.call(STATION, "ReserveNow", payload))["status"])

    async def reserved(self, csms: OcppCsms) -> None:
        await csms.wait_for(
            "StatusNotification", timeout=10, where=lambda p: p["connectorStatus"] == "Reserved"
        )

    def badge(self) -> dict[str, Any]:
        return {"id_token": TOKEN, "type": "ISO14443"}

    def authorizes(self, csms: OcppCsms) -> int:
        return len(csms.received("Authorize"))

    async def started(self, csms: OcppCsms) -> dict[str, Any]:
        (message,) = await csms.wait_for(
            "TransactionEvent", timeout=30, where=lambda p: p["eventType"] == "Started"
        )
        return message.payload

    def check_started(self, started: dict[str, Any]) -> None:
        assert started["idToken"] == {"idToken": TOKEN, "type": "ISO14443"}
        assert started["reservationId"] == RESERVATION_ID  # H03.FR.06: the reservation used

    def starts(self, csms: OcppCsms) -> list[dict[str, Any]]:
        return [p for p in csms.payloads("TransactionEvent") if p["eventType"] == "Started"]

    async def reservation_expired(self, csms: OcppCsms) -> None:
        # H04.FR.01/02: ReservationStatusUpdate Expired, once the station is back
        (update,) = await csms.wait_for("ReservationStatusUpdate", timeout=30)
        assert update.payload == {
            "reservationId": RESERVATION_ID,
            "reservationUpdateStatus": "Expired",
        }


@dataclass
class Protocol16:
    domain: str = "ocpp16"

    def config(self, url: str, timeout: int) -> str:
        return f"""ocpp16:
  url: {url}
  password: !env_var OCPP_STATION_PASSWORD
  response_timeout: 2
  retry_backoff_wait_minimum: 0.1
  retry_backoff_random_range: 0.1
  boot_retry_interval: 0.2
  transaction_message_attempts: 50
  transaction_message_retry_interval: 0.2
  offline_threshold: 0
"""

    async def available(self, csms: OcppCsms, count: int) -> None:
        await csms.wait_for(
            "StatusNotification", count, timeout=30,
            where=lambda p: p["connectorId"] == 1 and p["status"] == "Available",
        )  # fmt: skip

    async def reserve(self, csms: OcppCsms, seconds: float) -> str:
        payload = {
            "connectorId": 1,
            "expiryDate": _expiry(seconds),
            "idTag": TOKEN,
            "reservationId": RESERVATION_ID,
        }
        return str((await csms.call(STATION, "ReserveNow", payload))["status"])

    async def reserved(self, csms: OcppCsms) -> None:
        await csms.wait_for(
            "StatusNotification", timeout=10,
            where=lambda p: p["connectorId"] == 1 and p["status"] == "Reserved",
        )  # fmt: skip

    def badge(self) -> dict[str, Any]:
        return {"id_tag": TOKEN}

    def authorizes(self, csms: OcppCsms) -> int:
        return len(csms.received("Authorize"))

    async def started(self, csms: OcppCsms) -> dict[str, Any]:
        (message,) = await csms.wait_for("StartTransaction", timeout=30)
        return message.payload

    def check_started(self, started: dict[str, Any]) -> None:
        assert started["idTag"] == TOKEN
        assert started["reservationId"] == RESERVATION_ID  # §5.13: the reservation used

    def starts(self, csms: OcppCsms) -> list[dict[str, Any]]:
        return csms.payloads("StartTransaction")

    async def reservation_expired(self, csms: OcppCsms) -> None:
        # §5.13: the reservation ended, the connector is Available again (it was
        # Reserved before the kill; one Available from the first boot)
        await self.available(csms, 2)


PROTOCOLS = {"2.0.1": Protocol201(), "1.6": Protocol16()}


class Station:
    """One station directory: the simulator, the `orge run` process, the API."""

    def __init__(self, path: Path, protocol: Any, csms: OcppCsms, timeout: int) -> None:
        self.path = path
        self.protocol = protocol
        self.csms = csms
        self.http_port = free_port()
        self.link = path / "ttyESP32"
        self.timeout = timeout
        self.proc: asyncio.subprocess.Process | None = None

    def write(self) -> None:
        text = BASE.format(http_port=self.http_port, api_token=API_TOKEN, port=self.link)
        text += self.protocol.config(self.csms.url(), self.timeout)
        (self.path / "configuration.yaml").write_text(text)

    async def start(self) -> None:
        self.proc = await start(self.path, STATION, PASSWORD)

    async def badge(self) -> None:
        """The driver presents the card: the reader's call of `<domain>.authorize`."""
        url = f"http://127.0.0.1:{self.http_port}/api/services/{self.protocol.domain}/authorize"
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        async with aiohttp.ClientSession() as session:
            for _ in range(200):  # the API listens a little after the OCPP link is up
                try:
                    async with session.post(url, json=self.protocol.badge(), headers=headers) as r:
                        assert r.status == 200, await r.text()
                        return
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
        raise AssertionError("the station's API never answered")


async def _ready_station(
    tmp_path: Path, protocol: str, csms: OcppCsms, timeout: int
) -> tuple[Station, SimulatorProcess]:
    proto = PROTOCOLS[protocol]
    station = Station(tmp_path, proto, csms, timeout)
    sim = await SimulatorProcess.start(station.link)
    station.write()
    await station.start()
    await proto.available(csms, 1)
    if protocol == "1.6":  # ConnectionTimeOut is a configuration key (§9.1.7)
        answer = await csms.change_configuration(STATION, "ConnectionTimeOut", str(timeout))
        assert answer == {"status": "Accepted"}
    return station, sim


@pytest.mark.parametrize("protocol", ["2.0.1", "1.6"])
async def test_badge_on_a_reserved_evse_survives_kill9(tmp_path: Path, protocol: str) -> None:
    """2.0.1 C01 / E01 (authorization first, then the cable within
    TxCtrlr.EVConnectionTimeOut) and H03.FR.06 (the transaction uses the reservation);
    1.6 §3.4 / §5.13 (ConnectionTimeOut, StartTransaction reservationId): the badge
    given before kill -9 still holds after the restart, so plugging in starts the
    transaction with that token and that reservation, with no second Authorize."""
    proto = PROTOCOLS[protocol]
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        station, sim = await _ready_station(tmp_path, protocol, csms, timeout=120)
        try:
            assert await proto.reserve(csms, 300) == "Accepted"
            await proto.reserved(csms)
            await station.badge()
            assert proto.authorizes(csms) == 1
            assert station.proc is not None
            await kill9(station.proc)
            await station.start()
            await csms.wait_for("BootNotification", 2, timeout=30)
            await sim.send("plug_in")
            await sim.send("vehicle_ready")
            await sim.wait_state(READY)  # authorized by the badge from before the crash
            await sim.send("vehicle_charging")
            proto.check_started(await proto.started(csms))
            assert proto.authorizes(csms) == 1  # no second badge
        finally:
            if station.proc is not None:
                await stop(station.proc)
            await sim.close()


@pytest.mark.parametrize("protocol", ["2.0.1", "1.6"])
async def test_lapsed_badge_and_reservation_not_revived_after_kill9(
    tmp_path: Path, protocol: str
) -> None:
    """The badge's connection timeout (2.0.1 TxCtrlr.EVConnectionTimeOut, E03; 1.6
    ConnectionTimeOut §9.1.7) and the reservation's expiry (2.0.1 H04: Expired; 1.6
    §5.13: the connector Available again) both pass while the station is dead: after
    the restart the reservation is reported ended and a vehicle plugged in is not
    authorized (no transaction starts)."""
    proto = PROTOCOLS[protocol]
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        station, sim = await _ready_station(tmp_path, protocol, csms, timeout=2)
        try:
            assert await proto.reserve(csms, 3) == "Accepted"
            await proto.reserved(csms)
            await station.badge()
            assert station.proc is not None
            await kill9(station.proc)
            await asyncio.sleep(4)  # both lapse while the station is dead
            await station.start()
            await csms.wait_for("BootNotification", 2, timeout=30)
            await proto.reservation_expired(csms)
            await sim.send("plug_in")
            await sim.send("vehicle_ready")
            await sim.wait_state(EV_CONNECTED)
            await asyncio.sleep(1.5)  # an authorization would move it to READY by now
            assert sim.state == EV_CONNECTED
            assert proto.starts(csms) == []
        finally:
            if station.proc is not None:
                await stop(station.proc)
            await sim.close()
