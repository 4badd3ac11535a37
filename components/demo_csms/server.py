"""The demo CSMS: an aiohttp WebSocket server speaking the central-system side of `ocpp`.

One `ocpp` ChargePoint object per connected station (1.6J or 2.0.1, as negotiated). Every
message updates `DemoCsms`, which writes the three entities. Orders go out through
`DemoCsms.call`, from the services, never from inside a message handler.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import json
import logging
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

import voluptuous as vol
from aiohttp import WSMsgType, web
from ocpp.charge_point import camel_to_snake_case, remove_nones, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.messages import MessageType, unpack
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

import orge.validation as cv
from orge.core import EVENT_ORGE_STOP, Event, Orge, ServiceCall, SupportsResponse
from orge.entity import SensorEntity, async_add_entities
from orge.exceptions import ServiceValidationError

from .const import DOMAIN

_LOGGER = logging.getLogger(__name__)
# The `ocpp` library logs every frame at INFO: keep that on its own, quiet logger
# (`logger: logs: components.demo_csms.wire: info` shows the frames).
_WIRE = logging.getLogger("components.demo_csms.wire")
OCPP16 = "ocpp1.6"
OCPP201 = "ocpp2.0.1"
PROTOCOLS = (OCPP201, OCPP16)
MAX_COMPLETED = 10
MAX_PAYLOAD_CHARS = 2000  # an attribute is for a human; a huge report is cut


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _energy_wh(meter_values: list[dict[str, Any]] | None) -> float | None:
    """The last Energy.Active.Import.Register reading in Wh (either protocol's shape)."""
    found = None
    for meter_value in meter_values or []:
        for sample in meter_value.get("sampledValue") or meter_value.get("sampled_value") or []:
            measurand = sample.get("measurand", "Energy.Active.Import.Register")
            if measurand != "Energy.Active.Import.Register":
                continue
            try:
                value = float(sample["value"])
            except (KeyError, TypeError, ValueError):
                continue
            unit = sample.get("unit") or (sample.get("unitOfMeasure") or {}).get("unit") or "Wh"
            multiplier = 10 ** int((sample.get("unitOfMeasure") or {}).get("multiplier", 0))
            found = value * multiplier * (1000 if unit == "kWh" else 1)
    return found


class _Connection:
    """What `ocpp` needs from a connection (recv/send), over an aiohttp WebSocket."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def recv(self) -> str:
        while True:
            msg = await self.ws.receive()
            if msg.type == WSMsgType.TEXT:
                return msg.data
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                raise ConnectionError("station disconnected")

    async def send(self, text: str) -> None:
        await self.ws.send_str(text)


class _Seen:
    """Shared by both protocol classes: hand every frame to the DemoCsms first."""

    csms: DemoCsms
    protocol: str
    id: str

    async def route_message(self, raw_msg: str) -> None:  # type: ignore[override]
        try:
            msg = unpack(raw_msg)
        except OCPPError:
            msg = None
        if msg is not None and msg.message_type_id == MessageType.Call:
            self.csms.saw(self.id, self.protocol, msg.action, msg.payload)
        await super().route_message(raw_msg)  # type: ignore[misc]


class Station16(_Seen, ChargePoint16):
    protocol = OCPP16

    def __init__(self, station_id: str, connection: _Connection, csms: DemoCsms) -> None:
        super().__init__(station_id, connection, response_timeout=30, logger=_WIRE)
        self.csms = csms

    @on("BootNotification")
    def on_boot(self, **_: Any) -> Any:
        return result16.BootNotification(
            current_time=_now_iso(),
            interval=self.csms.heartbeat_interval,
            status=self.csms.boot_status,
        )

    @on("Heartbeat")
    def on_heartbeat(self) -> Any:
        return result16.Heartbeat(current_time=_now_iso())

    @on("StatusNotification")
    def on_status(self, **_: Any) -> Any:
        return result16.StatusNotification()

    @on("Authorize")
    def on_authorize(self, **_: Any) -> Any:
        return result16.Authorize(id_tag_info={"status": "Accepted"})

    @on("StartTransaction")
    def on_start(self, connector_id: int, id_tag: str, meter_start: int, **_: Any) -> Any:
        tx_id = self.csms.start_16(self.id, connector_id, id_tag, meter_start)
        return result16.StartTransaction(transaction_id=tx_id, id_tag_info={"status": "Accepted"})

    @on("MeterValues")
    def on_meter_values(self, **_: Any) -> Any:
        return result16.MeterValues()

    @on("StopTransaction")
    def on_stop(self, **_: Any) -> Any:
        return result16.StopTransaction()

    @on("DataTransfer")
    def on_data_transfer(self, **_: Any) -> Any:
        return result16.DataTransfer(status="Accepted")

    @on("DiagnosticsStatusNotification")
    def on_diagnostics(self, **_: Any) -> Any:
        return result16.DiagnosticsStatusNotification()

    @on("FirmwareStatusNotification")
    def on_firmware(self, **_: Any) -> Any:
        return result16.FirmwareStatusNotification()


class Station201(_Seen, ChargePoint201):
    protocol = OCPP201

    def __init__(self, station_id: str, connection: _Connection, csms: DemoCsms) -> None:
        super().__init__(station_id, connection, response_timeout=30, logger=_WIRE)
        self.csms = csms

    @on("BootNotification")
    def on_boot(self, **_: Any) -> Any:
        return result201.BootNotification(
            current_time=_now_iso(),
            interval=self.csms.heartbeat_interval,
            status=self.csms.boot_status,
        )

    @on("Heartbeat")
    def on_heartbeat(self) -> Any:
        return result201.Heartbeat(current_time=_now_iso())

    @on("StatusNotification")
    def on_status(self, **_: Any) -> Any:
        return result201.StatusNotification()

    @on("Authorize")
    def on_authorize(self, **_: Any) -> Any:
        return result201.Authorize(id_token_info={"status": "Accepted"})

    @on("TransactionEvent")
    def on_transaction_event(self, id_token: dict[str, Any] | None = None, **_: Any) -> Any:
        if id_token:
            return result201.TransactionEvent(id_token_info={"status": "Accepted"})
        return result201.TransactionEvent()

    @on("MeterValues")
    def on_meter_values(self, **_: Any) -> Any:
        return result201.MeterValues()

    @on("NotifyReport")
    def on_notify_report(self, **_: Any) -> Any:
        return result201.NotifyReport()

    @on("NotifyEvent")
    def on_notify_event(self, **_: Any) -> Any:
        return result201.NotifyEvent()

    @on("SecurityEventNotification")
    def on_security_event(self, **_: Any) -> Any:
        return result201.SecurityEventNotification()

    @on("DataTransfer")
    def on_data_transfer(self, **_: Any) -> Any:
        return result201.DataTransfer(status="Accepted")

    @on("FirmwareStatusNotification")
    def on_firmware(self, **_: Any) -> Any:
        return result201.FirmwareStatusNotification()

    @on("LogStatusNotification")
    def on_log(self, **_: Any) -> Any:
        return result201.LogStatusNotification()


class DemoSensor(SensorEntity):
    """A sensor whose value and attributes the DemoCsms sets."""

    def __init__(self, name: str, object_id: str, icon: str) -> None:
        self._attr_name = name
        self._attr_object_id = object_id
        self._attr_icon = icon
        self._attr_extra_state_attributes = {}

    def update(self, value: Any, attributes: dict[str, Any]) -> None:
        self._attr_state = value
        self._attr_extra_state_attributes = attributes
        if self.orge is not None:
            self.async_write_state()


class DemoCsms:
    """What the demo CSMS knows: stations, transactions, the last message."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.heartbeat_interval: int = config["heartbeat_interval"]
        self.boot_status: str = config["boot_status"]
        self.password: str | None = config.get("password")
        self.stations: dict[str, Station16 | Station201] = {}
        self.connectors: dict[str, dict[str, str]] = {}  # station -> connector -> status
        self.active: dict[str, dict[str, Any]] = {}  # transaction id -> info
        self.completed: deque[dict[str, Any]] = deque(maxlen=MAX_COMPLETED)
        self.message_count = 0
        self._next_tx_16 = int(time.time()) % 100000  # distinct ids across demo restarts
        self.last_message = DemoSensor(
            "Demo CSMS last message", "demo_csms_last_message", "mdi:message-text"
        )
        self.transactions = DemoSensor(
            "Demo CSMS transactions", "demo_csms_transactions", "mdi:ev-station"
        )
        self.station_sensor = DemoSensor(
            "Demo CSMS stations", "demo_csms_stations", "mdi:lan-connect"
        )

    # --- what stations send -------------------------------------------------------------

    def saw(self, station_id: str, protocol: str, action: str, payload: dict[str, Any]) -> None:
        self.message_count += 1
        text = json.dumps(payload)
        self.last_message.update(
            action,
            {
                "station_id": station_id,
                "protocol": protocol,
                "time": _now_iso(),
                "count": self.message_count,
                "payload": text
                if len(text) <= MAX_PAYLOAD_CHARS
                else text[:MAX_PAYLOAD_CHARS] + "…",
            },
        )
        if action == "StatusNotification":
            connector = str(payload.get("connectorId", ""))
            if protocol == OCPP201:
                connector = f"{payload.get('evseId')}/{payload.get('connectorId')}"
            status = payload.get("status") or payload.get("connectorStatus") or "?"
            self.connectors.setdefault(station_id, {})[connector] = status
            self._write_stations()
        elif action == "MeterValues" and protocol == OCPP16:
            tx = self.active.get(str(payload.get("transactionId")))
            energy = _energy_wh(payload.get("meterValue"))
            if tx is not None and energy is not None:
                tx["energy_wh"] = round(energy - tx["meter_start_wh"], 1)
                self._write_transactions()
        elif action == "StopTransaction":
            self._end(
                str(payload.get("transactionId")),
                payload.get("reason", "Local"),
                payload.get("meterStop"),
            )
        elif action == "TransactionEvent":
            self._transaction_event(station_id, payload)

    def start_16(self, station_id: str, connector_id: int, id_tag: str, meter_start: int) -> int:
        self._next_tx_16 += 1
        tx_id = self._next_tx_16
        self.active[str(tx_id)] = {
            "station_id": station_id,
            "protocol": OCPP16,
            "transaction_id": str(tx_id),
            "connector": connector_id,
            "id_tag": id_tag,
            "started": _now_iso(),
            "meter_start_wh": meter_start,
            "energy_wh": 0,
        }
        self._write_transactions()
        return tx_id

    def _transaction_event(self, station_id: str, payload: dict[str, Any]) -> None:
        info = payload.get("transactionInfo") or {}
        tx_id = str(info.get("transactionId"))
        energy = _energy_wh(payload.get("meterValue"))
        tx = self.active.get(tx_id)
        if tx is None and payload.get("eventType") != "Ended":
            tx = self.active[tx_id] = {
                "station_id": station_id,
                "protocol": OCPP201,
                "transaction_id": tx_id,
                "connector": (payload.get("evse") or {}).get("id", 1),
                "id_tag": (payload.get("idToken") or {}).get("idToken"),
                "started": payload.get("timestamp"),
                "meter_start_wh": energy or 0,
                "energy_wh": 0,
            }
        if tx is not None:
            if info.get("chargingState"):
                tx["charging_state"] = info["chargingState"]
            if payload.get("idToken") and not tx.get("id_tag"):
                tx["id_tag"] = payload["idToken"].get("idToken")
            if energy is not None:
                tx["energy_wh"] = round(energy - tx["meter_start_wh"], 1)
        if payload.get("eventType") == "Ended":
            self._end(tx_id, info.get("stoppedReason", "Local"), None)
        else:
            self._write_transactions()

    def _end(self, tx_id: str, reason: str, meter_stop_wh: float | None) -> None:
        tx = self.active.pop(tx_id, None)
        if tx is None:
            return
        if meter_stop_wh is not None:
            tx["energy_wh"] = round(float(meter_stop_wh) - tx["meter_start_wh"], 1)
        tx["stopped"] = _now_iso()
        tx["reason"] = reason
        self.completed.append(tx)
        self._write_transactions()

    def _write_transactions(self) -> None:
        self.transactions.update(
            len(self.active),
            {"active": list(self.active.values()), "completed": list(self.completed)},
        )

    def _write_stations(self) -> None:
        self.station_sensor.update(
            len(self.stations),
            {
                "stations": {
                    sid: {"protocol": cp.protocol, "connectors": self.connectors.get(sid, {})}
                    for sid, cp in self.stations.items()
                }
            },
        )

    # --- orders -------------------------------------------------------------------------

    def station(self, station_id: str | None) -> Station16 | Station201:
        if station_id:
            try:
                return self.stations[station_id]
            except KeyError:
                raise ServiceValidationError(
                    f"Station {station_id} is not connected to the demo CSMS"
                ) from None
        if not self.stations:
            raise ServiceValidationError("No station is connected to the demo CSMS")
        return next(iter(self.stations.values()))

    async def call(
        self, station_id: str | None, action: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """Send one request; returns the answer, or {"error": ...} for a CALLERROR."""
        cp = self.station(station_id)
        module = call16 if cp.protocol == OCPP16 else call201
        cls = getattr(module, action, None)
        if cls is None:
            raise ServiceValidationError(f"{action} is not an OCPP {cp.protocol[4:]} request")
        try:
            request = cls(**camel_to_snake_case(payload))
        except TypeError as err:
            raise ServiceValidationError(f"Invalid payload for {action}: {err}") from None
        try:
            response = await cp.call(request, suppress=False)
        except OCPPError as err:
            return {"error": err.code, "description": err.description}
        except TimeoutError:
            return {"error": "Timeout", "description": f"{cp.id} did not answer {action}"}
        return snake_to_camel_case(remove_nones(dataclasses.asdict(response)))

    async def request_start(self, call: ServiceCall) -> dict[str, Any]:
        cp = self.station(call.data.get("station_id"))
        id_tag = call.data["id_tag"]
        evse = call.data["evse_id"]
        if cp.protocol == OCPP16:
            payload: dict[str, Any] = {"idTag": id_tag, "connectorId": evse}
            return await self.call(cp.id, "RemoteStartTransaction", payload)
        self._next_tx_16 += 1
        payload = {
            "idToken": {"idToken": id_tag, "type": "Central"},
            "evseId": evse,
            "remoteStartId": self._next_tx_16,
        }
        return await self.call(cp.id, "RequestStartTransaction", payload)

    async def request_stop(self, call: ServiceCall) -> dict[str, Any]:
        cp = self.station(call.data.get("station_id"))
        tx_id = call.data.get("transaction_id")
        if tx_id is None:
            mine = [t for t in self.active.values() if t["station_id"] == cp.id]
            if not mine:
                raise ServiceValidationError(f"{cp.id} has no active transaction")
            tx_id = mine[-1]["transaction_id"]
        if cp.protocol == OCPP16:
            try:
                number = int(tx_id)
            except ValueError:
                raise ServiceValidationError("A 1.6 transaction id is a number") from None
            return await self.call(cp.id, "RemoteStopTransaction", {"transactionId": number})
        return await self.call(cp.id, "RequestStopTransaction", {"transactionId": str(tx_id)})

    async def call_service(self, call: ServiceCall) -> dict[str, Any]:
        return await self.call(
            call.data.get("station_id"), call.data["action"], call.data["payload"]
        )

    # --- connections --------------------------------------------------------------------

    def _authorized(self, request: web.Request, station_id: str) -> bool:
        if self.password is None:
            return True
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == station_id and password == self.password

    async def handle(self, request: web.Request) -> web.StreamResponse:
        station_id = request.match_info["station_id"]
        if not self._authorized(request, station_id):
            return web.Response(
                status=401,
                text="Unauthorized\n",
                headers={"WWW-Authenticate": 'Basic realm="ocpp"'},
            )
        ws = web.WebSocketResponse(protocols=PROTOCOLS, heartbeat=30)
        await ws.prepare(request)
        if ws.ws_protocol not in PROTOCOLS:
            await ws.close(code=1002, message=b"no supported OCPP subprotocol")
            return ws
        cls = Station16 if ws.ws_protocol == OCPP16 else Station201
        cp = cls(station_id, _Connection(ws), self)
        self.stations[station_id] = cp
        self._write_stations()
        _LOGGER.info("Station %s connected (%s)", station_id, ws.ws_protocol)
        try:
            await cp.start()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if self.stations.get(station_id) is cp:
                del self.stations[station_id]
            self._write_stations()
            _LOGGER.info("Station %s disconnected", station_id)
        return ws


_ORDER_SCHEMA_BASE = {vol.Optional("station_id"): cv.string}


async def async_setup_demo_csms(orge: Orge, config: dict[str, Any]) -> bool:
    if _WIRE.level == logging.NOTSET:
        _WIRE.setLevel(logging.WARNING)
    csms = DemoCsms(config)
    orge.data[DOMAIN] = csms
    app = web.Application()
    app.router.add_get("/{prefix:.*}/{station_id}", csms.handle)
    app.router.add_get("/{station_id}", csms.handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config["host"], config["port"], shutdown_timeout=1)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        _LOGGER.error(
            "Demo CSMS cannot listen on %s:%s: %s (set demo_csms: port:)",
            config["host"],
            config["port"],
            err.strerror or err,
        )
        return False
    _LOGGER.info(
        "Demo CSMS listening on ws://%s:%s/ocpp/<station id>", config["host"], config["port"]
    )

    async def stop(_event: Event) -> None:
        for cp in list(csms.stations.values()):
            await cp._connection.ws.close(code=1001, message=b"ORGE stopping")
        await runner.cleanup()

    orge.bus.async_listen_once(EVENT_ORGE_STOP, stop)
    await async_add_entities(
        orge, DOMAIN, [csms.last_message, csms.transactions, csms.station_sensor]
    )
    csms.transactions.update(0, {"active": [], "completed": []})
    csms._write_stations()
    orge.services.async_register(
        DOMAIN,
        "request_start",
        csms.request_start,
        vol.Schema(
            {
                **_ORDER_SCHEMA_BASE,
                vol.Optional("id_tag", default="DEMO"): cv.string,
                vol.Optional("evse_id", default=1): vol.All(vol.Coerce(int), vol.Range(min=1)),
            }
        ),
        SupportsResponse.OPTIONAL,
        {"description": "Ask a station to start a transaction"},
    )
    orge.services.async_register(
        DOMAIN,
        "request_stop",
        csms.request_stop,
        vol.Schema({**_ORDER_SCHEMA_BASE, vol.Optional("transaction_id"): cv.string}),
        SupportsResponse.OPTIONAL,
        {"description": "Ask a station to stop a transaction"},
    )
    orge.services.async_register(
        DOMAIN,
        "call",
        csms.call_service,
        vol.Schema(
            {
                **_ORDER_SCHEMA_BASE,
                vol.Required("action"): cv.string,
                vol.Optional("payload", default=dict): dict,
            }
        ),
        SupportsResponse.OPTIONAL,
        {"description": "Send any OCPP request to a station"},
    )
    return True
