"""A test CSMS: the central-system side of the `ocpp` library on a real WebSocket server.

Used by the OCPP tests of both protocols. It

- serves `ws://127.0.0.1:<port>/<anything>/<station_id>` (or wss with `ssl_context`;
  `CsmsPki` makes the certificates, and a context that requires a client certificate
  for security profile 3; each attempt records the client certificate presented),
  negotiates `ocpp2.0.1` / `ocpp1.6` in the order the station offers them (restricted to
  `protocols`), and answers HTTP 401 when HTTP Basic auth does not match `passwords`;
- answers every message a station sends with ordinary `@on` handlers (Accepted by
  default) and can be told to answer otherwise, per action: a fixed payload, a CALLERROR,
  or silence, for all following messages or only the next `times` ones;
- records every frame in both directions, in order, with wall and monotonic timestamps,
  plus every connection attempt (accepted or refused) and every disconnect;
- sends orders (`call()` and helpers such as `request_start`, `remote_start`, `reset`);
- drops all connections (`drop()`), stops, and restarts on the same port (`restart()`).

Typical use in a test::

    async with OcppCsms(passwords={"CP1": "secret"}) as csms:
        csms.answer("StopTransaction", SILENCE, times=3)
        ... start a station with url csms.url("CP1") ...
        await csms.wait_for("BootNotification")
        result = await csms.remote_start("CP1", id_tag="TAG1")
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import json
import logging
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from ocpp.charge_point import camel_to_snake_case, remove_nones, snake_to_camel_case
from ocpp.messages import Call, CallError, MessageType
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.http11 import Request, Response

OCPP16 = "ocpp1.6"
OCPP201 = "ocpp2.0.1"


class _Silence:
    def __repr__(self) -> str:
        return "SILENCE"


SILENCE = _Silence()
"""An answer: receive the CALL, record it, never reply (the station's call times out)."""


@dataclass(frozen=True)
class CallErrorAnswer:
    """An answer: reply with a CALLERROR of this code."""

    code: str = "InternalError"
    description: str = "Test CSMS was told to fail this message"
    details: Mapping[str, Any] = field(default_factory=dict)


Answer = Any  # SILENCE | CallErrorAnswer | dict (camelCase payload) | callable(payload) -> dict


@dataclass
class Message:
    """One OCPP frame seen by the CSMS."""

    wall: float  # time.time() when received/sent
    mono: float  # time.monotonic()
    station_id: str
    protocol: str
    direction: str  # "in" (station -> CSMS) or "out"
    kind: str  # "call", "result", "error", "invalid"
    action: str | None  # for results and errors: the action of the CALL they answer
    unique_id: str | None
    payload: Any  # camelCase dict for call/result; {"code","description","details"} for error
    raw: str = ""


@dataclass
class Attempt:
    """One WebSocket handshake attempt."""

    wall: float
    mono: float
    station_id: str
    path: str
    outcome: str  # "accepted", "unauthorized", "refused", "bad-protocol"
    offered: tuple[str, ...] = ()
    protocol: str | None = None
    user: str | None = None
    client_certificate: bytes | None = None  # DER of the TLS client certificate (profile 3)
    basic_auth: bool = False  # the handshake carried an HTTP Basic Authorization header


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _as_payload(result: Any) -> dict[str, Any]:
    """A call_result dataclass -> its camelCase JSON payload."""
    if dataclasses.is_dataclass(result):
        result = dataclasses.asdict(result)
    return snake_to_camel_case(remove_nones(result))


_LOGGER = logging.getLogger(__name__)
_KINDS = {
    MessageType.Call: "call",
    MessageType.CallResult: "result",
    MessageType.CallError: "error",
}
_LENGTHS = {"call": 4, "result": 3, "error": 5}  # OCPP-J §4: elements of each frame


def parse_frame(raw: str) -> tuple[str, str | None, Any, Any]:
    """(kind, unique id, action, payload) of any text, never raising: kind is "call",
    "result", "error" (payload {"code", "description", "details"}) for a frame of the
    OCPP-J shape (OCPP-J §4: [2, id, action, payload], [3, id, payload], [4, id, code,
    description, details]; id and action strings), else "invalid" with the text as payload (and
    the id when the second element is a string, so an answer to it can be matched)."""
    try:
        frame = json.loads(raw)
    except ValueError:
        return "invalid", None, None, raw
    if not isinstance(frame, list) or len(frame) < 2:
        return "invalid", None, None, raw
    unique_id = frame[1] if isinstance(frame[1], str) else None
    kind = _KINDS.get(frame[0]) if isinstance(frame[0], int) else None
    if kind is None or unique_id is None or len(frame) < _LENGTHS[kind]:
        return "invalid", unique_id, None, raw
    if kind == "call" and not isinstance(frame[2], str):
        return "invalid", unique_id, None, raw
    if kind == "call":
        return kind, unique_id, frame[2], frame[3]
    if kind == "result":
        return kind, unique_id, None, frame[2]
    return kind, unique_id, None, {"code": frame[2], "description": frame[3], "details": frame[4]}


class _Recording:
    """Mixed into both protocol ChargePoints: records frames, applies answer overrides."""

    csms: OcppCsms
    protocol: str
    _ocpp_version: str
    id: str

    async def route_message(self, raw_msg: str) -> None:  # type: ignore[override]
        """Record any frame the station sends (a malformed one as "invalid"), apply an
        answer override to a CALL, hand the rest to the library; nothing a station
        sends ends this reader."""
        csms = self.csms
        kind, unique_id, action, payload = parse_frame(raw_msg)
        if kind in ("result", "error") and unique_id is not None:
            action = csms._action_of(unique_id)
        csms._record(self.id, self.protocol, "in", kind, action, unique_id, payload, raw_msg)
        if kind == "call" and isinstance(action, str):
            answer = csms._take_answer(action)
            if answer is not None:
                await self._answer_override(Call(unique_id, action, payload), answer)
                return
        try:
            await super().route_message(raw_msg)  # type: ignore[misc]
        except ConnectionClosed:  # the station is gone: the reader ends as it should
            raise
        except Exception:  # the library's own answer to an odd frame failed: say so, go on
            _LOGGER.warning("Test CSMS: could not handle frame %r", raw_msg[:200], exc_info=True)

    async def _answer_override(self, msg: Call, answer: Answer) -> None:
        if answer is SILENCE:
            return
        if isinstance(answer, CallErrorAnswer):
            error = CallError(msg.unique_id, answer.code, answer.description, dict(answer.details))
            await self._send(error.to_json())
            return
        payload = answer(msg.payload) if callable(answer) else answer
        await self._send(msg.create_call_result(dict(payload)).to_json())

    async def _send(self, message: str) -> None:  # type: ignore[override]
        kind, unique_id, action, payload = parse_frame(message)  # send_raw: any text
        if kind == "call" and unique_id is not None:
            self.csms._pending_actions[unique_id] = action
        elif kind in ("result", "error") and unique_id is not None:
            action = self.csms._action_of(unique_id)
        self.csms._record(self.id, self.protocol, "out", kind, action, unique_id, payload, message)
        await self._connection.send(message)  # type: ignore[attr-defined]


class CentralSystem16(_Recording, ChargePoint16):
    """The CSMS's view of one OCPP 1.6J station."""

    protocol = OCPP16

    def __init__(self, station_id: str, connection: ServerConnection, csms: OcppCsms) -> None:
        super().__init__(station_id, connection, response_timeout=csms.response_timeout)
        self.csms = csms

    @on("BootNotification")
    def on_boot(self, **_: Any) -> Any:
        return result16.BootNotification(
            current_time=self.csms.current_time(),
            interval=self.csms.boot_interval,
            status=self.csms.boot_status,
        )

    @on("Heartbeat")
    def on_heartbeat(self, **_: Any) -> Any:
        return result16.Heartbeat(current_time=self.csms.current_time())

    @on("StatusNotification")
    def on_status(self, **_: Any) -> Any:
        return result16.StatusNotification()

    @on("Authorize")
    def on_authorize(self, id_tag: str, **_: Any) -> Any:
        return result16.Authorize(id_tag_info=self.csms.id_tag_info16(id_tag))

    @on("StartTransaction")
    def on_start(self, id_tag: str, **_: Any) -> Any:
        self.csms.last_transaction_id += 1
        return result16.StartTransaction(
            transaction_id=self.csms.last_transaction_id,
            id_tag_info=self.csms.id_tag_info16(id_tag),
        )

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
    def on_diagnostics_status(self, **_: Any) -> Any:
        return result16.DiagnosticsStatusNotification()

    @on("FirmwareStatusNotification")
    def on_firmware_status(self, **_: Any) -> Any:
        return result16.FirmwareStatusNotification()

    @on("SignedFirmwareStatusNotification")
    def on_signed_firmware_status(self, **_: Any) -> Any:
        return result16.SignedFirmwareStatusNotification()

    @on("LogStatusNotification")
    def on_log_status(self, **_: Any) -> Any:
        return result16.LogStatusNotification()

    @on("SecurityEventNotification")
    def on_security_event(self, **_: Any) -> Any:
        return result16.SecurityEventNotification()

    @on("SignCertificate")
    def on_sign_certificate(self, **_: Any) -> Any:
        return result16.SignCertificate(status="Accepted")


class CentralSystem201(_Recording, ChargePoint201):
    """The CSMS's view of one OCPP 2.0.1 station."""

    protocol = OCPP201

    def __init__(self, station_id: str, connection: ServerConnection, csms: OcppCsms) -> None:
        super().__init__(station_id, connection, response_timeout=csms.response_timeout)
        self.csms = csms

    @on("BootNotification")
    def on_boot(self, **_: Any) -> Any:
        return result201.BootNotification(
            current_time=self.csms.current_time(),
            interval=self.csms.boot_interval,
            status=self.csms.boot_status,
        )

    @on("Heartbeat")
    def on_heartbeat(self, **_: Any) -> Any:
        return result201.Heartbeat(current_time=self.csms.current_time())

    @on("StatusNotification")
    def on_status(self, **_: Any) -> Any:
        return result201.StatusNotification()

    @on("Authorize")
    def on_authorize(self, id_token: dict[str, Any], **_: Any) -> Any:
        return result201.Authorize(
            id_token_info=self.csms.id_token_info201(id_token.get("id_token", ""))
        )

    @on("TransactionEvent")
    def on_transaction_event(self, id_token: dict[str, Any] | None = None, **_: Any) -> Any:
        if id_token:
            info = self.csms.id_token_info201(id_token.get("id_token", ""))
            return result201.TransactionEvent(id_token_info=info)
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

    @on("NotifyCustomerInformation")
    def on_notify_customer_information(self, **_: Any) -> Any:
        return result201.NotifyCustomerInformation()

    @on("SecurityEventNotification")
    def on_security_event(self, **_: Any) -> Any:
        return result201.SecurityEventNotification()

    @on("SignCertificate")
    def on_sign_certificate(self, **_: Any) -> Any:
        return result201.SignCertificate(status="Accepted")

    @on("DataTransfer")
    def on_data_transfer(self, **_: Any) -> Any:
        return result201.DataTransfer(status="Accepted")

    @on("FirmwareStatusNotification")
    def on_firmware_status(self, **_: Any) -> Any:
        return result201.FirmwareStatusNotification()

    @on("LogStatusNotification")
    def on_log_status(self, **_: Any) -> Any:
        return result201.LogStatusNotification()

    @on("NotifyChargingLimit")
    def on_charging_limit(self, **_: Any) -> Any:
        return result201.NotifyChargingLimit()

    @on("ReportChargingProfiles")
    def on_report_profiles(self, **_: Any) -> Any:
        return result201.ReportChargingProfiles()

    @on("ClearedChargingLimit")
    def on_cleared_limit(self, **_: Any) -> Any:
        return result201.ClearedChargingLimit()

    @on("ReservationStatusUpdate")
    def on_reservation_status_update(self, **_: Any) -> Any:
        return result201.ReservationStatusUpdate()


class OcppCsms:
    """A CSMS for tests. `async with OcppCsms() as csms:` starts it on a free port."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        protocols: Iterable[str] = (OCPP201, OCPP16),
        passwords: Mapping[str, str] | str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        boot_status: str = "Accepted",
        boot_interval: int = 60,
        response_timeout: float = 5.0,
        ping_interval: float | None = 20.0,
    ) -> None:
        self.host = host
        self.port = port
        self.protocols = tuple(protocols)
        self.passwords = passwords
        self.ssl_context = ssl_context
        self.boot_status = boot_status
        self.boot_interval = boot_interval
        self.response_timeout = response_timeout
        self.ping_interval = ping_interval
        self.refuse_status: int | None = None  # answer every handshake with this HTTP status
        self.id_tags: dict[str, str] = {}  # id tag -> status; unknown tags are Accepted
        self.groups: dict[str, str] = {}  # id tag -> its parentIdTag / groupIdToken
        self.last_transaction_id = 0
        self.messages: list[Message] = []
        self.attempts: list[Attempt] = []
        self.disconnects: list[tuple[float, str]] = []  # (monotonic, station id)
        # (station id, the close code the station sent; 1006: no close frame came)
        self.close_codes: list[tuple[str, int | None]] = []
        self.stations: dict[str, CentralSystem16 | CentralSystem201] = {}
        self._answers: dict[str, list[Any]] = {}  # action -> [answer, times left or None]
        self._pending_actions: dict[str, str] = {}
        self._server: Server | None = None
        self._connections: set[ServerConnection] = set()
        self._changed = asyncio.Event()

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> OcppCsms:
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            subprotocols=list(self.protocols),  # type: ignore[arg-type]
            select_subprotocol=self._select_subprotocol,
            process_request=self._process_request,
            ssl=self.ssl_context,
            ping_interval=self.ping_interval,
            close_timeout=1,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self, abrupt: bool = True) -> None:
        """Stop listening and drop every connection at once (a CSMS crash; with
        `abrupt=False` a clean shutdown that closes each WebSocket properly)."""
        if self._server is None:
            return
        self._server.close(close_connections=False)
        await self.drop(abrupt)
        await self._server.wait_closed()
        self._server = None

    async def restart(self, down_for: float = 0.0, abrupt: bool = True) -> None:
        """Stop, stay down `down_for` seconds, start again on the same port."""
        await self.stop(abrupt)
        if down_for:
            await asyncio.sleep(down_for)
        await self.start()

    async def drop(self, abrupt: bool = True) -> None:
        """Drop every station connection; the server keeps listening.

        `abrupt` aborts the TCP connection without a close frame (a network cut);
        otherwise a normal close handshake (code 1001) is done.
        """
        connections = list(self._connections)
        for connection in connections:
            if abrupt:
                connection.transport.abort()
            else:
                await connection.close(1001, "CSMS going away")
        for connection in connections:
            try:
                await asyncio.wait_for(connection.wait_closed(), 2)
            except TimeoutError:
                pass

    def freeze(self) -> None:
        """Stop reading from every connection without closing it: the link looks alive
        to TCP but pings go unanswered (a dead NAT mapping, a hung CSMS)."""
        for connection in self._connections:
            connection.transport.pause_reading()

    async def __aenter__(self) -> OcppCsms:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    def url(self, station_id: str | None = None, path: str = "/ocpp") -> str:
        scheme = "wss" if self.ssl_context else "ws"
        base = f"{scheme}://{self.host}:{self.port}{path}"
        return f"{base}/{station_id}" if station_id else base

    # --- behaviour ----------------------------------------------------------------------

    def answer(self, action: str, answer: Answer, times: int | None = None) -> None:
        """Answer the next `times` (None: all) CALLs of `action` with `answer`.

        `answer` is SILENCE, a CallErrorAnswer, a camelCase payload dict, or a callable
        taking the request payload and returning one.
        """
        self._answers[action] = [answer, times]

    def reset_answers(self) -> None:
        self._answers.clear()

    def id_tag_status(self, id_tag: str) -> str:
        return self.id_tags.get(id_tag, "Accepted")

    def id_tag_info16(self, id_tag: str) -> dict[str, Any]:
        """1.6 IdTagInfo (snake_case): the status and, if set, `groups`' parentIdTag."""
        info: dict[str, Any] = {"status": self.id_tag_status(id_tag)}
        if id_tag in self.groups:
            info["parent_id_tag"] = self.groups[id_tag]
        return info

    def id_token_info201(self, id_token: str) -> dict[str, Any]:
        """2.0.1 IdTokenInfo (snake_case): the status and, if set, the groupIdToken."""
        info: dict[str, Any] = {"status": self.id_tag_status(id_token)}
        if id_token in self.groups:
            info["group_id_token"] = {"id_token": self.groups[id_token], "type": "Central"}
        return info

    def current_time(self) -> str:
        return _now_iso()

    def _take_answer(self, action: str) -> Answer | None:
        entry = self._answers.get(action)
        if entry is None:
            return None
        answer, times = entry
        if times is not None:
            if times <= 1:
                del self._answers[action]
            else:
                entry[1] = times - 1
        return answer

    # --- what was seen ------------------------------------------------------------------

    def _record(
        self,
        station_id: str,
        protocol: str,
        direction: str,
        kind: str,
        action: str | None,
        unique_id: str | None,
        payload: Any,
        raw: str,
    ) -> None:
        self.messages.append(
            Message(
                time.time(),
                time.monotonic(),
                station_id,
                protocol,
                direction,
                kind,
                action,
                unique_id,
                payload,
                raw,
            )
        )
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _action_of(self, unique_id: str) -> str | None:
        for message in reversed(self.messages):
            if message.unique_id == unique_id and message.kind == "call":
                return message.action
        return self._pending_actions.get(unique_id)

    def received(self, action: str | None = None, station_id: str | None = None) -> list[Message]:
        """CALLs received from stations, in order (optionally one action / one station)."""
        return [
            m
            for m in self.messages
            if m.direction == "in"
            and m.kind == "call"
            and (action is None or m.action == action)
            and (station_id is None or m.station_id == station_id)
        ]

    def payloads(self, action: str, station_id: str | None = None) -> list[dict[str, Any]]:
        return [m.payload for m in self.received(action, station_id)]

    def errors_sent(self) -> list[Message]:
        """CALLERRORs this CSMS sent (schema violations by the station show up here)."""
        return [m for m in self.messages if m.direction == "out" and m.kind == "error"]

    async def wait_for(
        self,
        action: str,
        count: int = 1,
        timeout: float = 5.0,
        station_id: str | None = None,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[Message]:
        """Wait until `count` CALLs of `action` (matching `where`) arrived; return them."""

        def matching() -> list[Message]:
            found = self.received(action, station_id)
            return [m for m in found if where is None or where(m.payload)]

        return await self.wait_until(
            lambda: (found := matching()) and len(found) >= count and found,
            timeout,
            f"{count} x {action}",
        )

    async def wait_until(
        self, predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition"
    ) -> Any:
        """Wait until `predicate()` is truthy (re-checked on every frame and connection)."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                seen = [f"{m.direction}:{m.kind}:{m.action}" for m in self.messages[-20:]]
                raise TimeoutError(f"Test CSMS: no {what} within {timeout}s; last frames {seen}")
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 0.2))
            except TimeoutError:
                pass

    async def wait_connected(
        self, station_id: str, protocol: str | None = None, timeout: float = 5.0
    ) -> CentralSystem16 | CentralSystem201:
        def connected() -> Any:
            cp = self.stations.get(station_id)
            return cp if cp is not None and (protocol is None or cp.protocol == protocol) else None

        return await self.wait_until(connected, timeout, f"connection of {station_id}")

    # --- orders -------------------------------------------------------------------------

    async def call(
        self,
        station_id: str,
        action: str,
        payload: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send a CALL to a connected station; returns the camelCase response payload.

        Raises the OCPPError of a CALLERROR answer, TimeoutError without an answer, and
        KeyError when the station is not connected.
        """
        cp = self.stations[station_id]
        module = call16 if cp.protocol == OCPP16 else call201
        request = getattr(module, action)(**camel_to_snake_case(dict(payload or {})))
        previous = cp._response_timeout
        if timeout is not None:
            cp._response_timeout = timeout
        try:
            response = await cp.call(request, suppress=False)
        finally:
            cp._response_timeout = previous
        return _as_payload(response)

    async def send_raw(self, station_id: str, text: str, timeout: float = 5.0) -> Message | None:
        """Send any text (a malformed CALL) and return the station's answer to it, if any."""
        cp = self.stations[station_id]
        count = len(self.messages)
        unique_id = parse_frame(text)[1]  # None: the first answer is taken as its answer
        await cp._send(text)

        def answered() -> Message | None:
            for message in self.messages[count:]:
                if message.direction == "in" and message.kind in ("result", "error"):
                    if unique_id is None or message.unique_id == unique_id:
                        return message
            return None

        try:
            return await self.wait_until(answered, timeout, "answer to a raw frame")
        except TimeoutError:
            return None

    # 1.6 orders
    async def remote_start(
        self, station_id: str, id_tag: str = "CSMS", connector_id: int | None = 1, **extra: Any
    ) -> dict[str, Any]:
        payload = {"idTag": id_tag, **extra}
        if connector_id is not None:
            payload["connectorId"] = connector_id
        return await self.call(station_id, "RemoteStartTransaction", payload)

    async def remote_stop(self, station_id: str, transaction_id: int) -> dict[str, Any]:
        return await self.call(
            station_id, "RemoteStopTransaction", {"transactionId": transaction_id}
        )

    async def change_configuration(self, station_id: str, key: str, value: str) -> dict[str, Any]:
        return await self.call(station_id, "ChangeConfiguration", {"key": key, "value": value})

    async def get_configuration(
        self, station_id: str, keys: list[str] | None = None
    ) -> dict[str, Any]:
        return await self.call(station_id, "GetConfiguration", {"key": keys} if keys else {})

    # 2.0.1 orders
    async def request_start(
        self, station_id: str, id_token: str = "CSMS", evse_id: int | None = 1, remote_id: int = 1
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "idToken": {"idToken": id_token, "type": "Central"},
            "remoteStartId": remote_id,
        }
        if evse_id is not None:
            payload["evseId"] = evse_id
        return await self.call(station_id, "RequestStartTransaction", payload)

    async def request_stop(self, station_id: str, transaction_id: str) -> dict[str, Any]:
        return await self.call(
            station_id, "RequestStopTransaction", {"transactionId": transaction_id}
        )

    async def get_variables(self, station_id: str, *pairs: tuple[str, str]) -> dict[str, Any]:
        """get_variables("CP", ("OCPPCommCtrlr", "HeartbeatInterval"), ...)."""
        data = [
            {"component": {"name": component}, "variable": {"name": variable}}
            for component, variable in pairs
        ]
        return await self.call(station_id, "GetVariables", {"getVariableData": data})

    async def set_variables(
        self, station_id: str, *triples: tuple[str, str, str]
    ) -> dict[str, Any]:
        data = [
            {"component": {"name": c}, "variable": {"name": v}, "attributeValue": value}
            for c, v, value in triples
        ]
        return await self.call(station_id, "SetVariables", {"setVariableData": data})

    # both
    async def reset(self, station_id: str, kind: str | None = None) -> dict[str, Any]:
        """Reset: 1.6 type Hard/Soft (default Soft), 2.0.1 type Immediate/OnIdle (OnIdle)."""
        cp = self.stations[station_id]
        if cp.protocol == OCPP16:
            return await self.call(station_id, "Reset", {"type": kind or "Soft"})
        return await self.call(station_id, "Reset", {"type": kind or "OnIdle"})

    async def trigger_message(
        self, station_id: str, message: str, connector_id: int | None = None
    ) -> dict[str, Any]:
        cp = self.stations[station_id]
        if cp.protocol == OCPP16:
            payload: dict[str, Any] = {"requestedMessage": message}
            if connector_id is not None:
                payload["connectorId"] = connector_id
        else:
            payload = {"requestedMessage": message}
            if connector_id is not None:
                payload["evse"] = {"id": connector_id}
        return await self.call(station_id, "TriggerMessage", payload)

    # --- server internals ---------------------------------------------------------------

    def _select_subprotocol(self, connection: ServerConnection, offered: list[str]) -> str | None:
        # The station's order decides (it lists its preference first).
        for protocol in offered:
            if protocol in self.protocols:
                return protocol
        raise NegotiationError(f"no supported subprotocol in {offered}")

    def _check_auth(self, station_id: str, headers: Headers) -> tuple[bool, str | None]:
        if self.passwords is None:
            return True, None
        header = headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return False, None
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False, None
        if isinstance(self.passwords, str):
            expected = self.passwords
        else:
            expected = self.passwords.get(station_id)
        return user == station_id and expected is not None and password == expected, user

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        station_id = request.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        offered = tuple(
            p.strip()
            for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
            if p.strip()
        )
        now = (time.time(), time.monotonic())
        if self.refuse_status is not None:
            self.attempts.append(Attempt(*now, station_id, request.path, "refused", offered))
            self._notify()
            return connection.respond(HTTPStatus(self.refuse_status), "Refused by test CSMS\n")
        ok, user = self._check_auth(station_id, request.headers)
        if not ok:
            self.attempts.append(
                Attempt(*now, station_id, request.path, "unauthorized", offered, None, user)
            )
            self._notify()
            response = connection.respond(HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
            response.headers["WWW-Authenticate"] = 'Basic realm="ocpp"'
            return response
        if not any(p in self.protocols for p in offered):
            self.attempts.append(
                Attempt(*now, station_id, request.path, "bad-protocol", offered, None, user)
            )
            self._notify()
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request else "/"
        station_id = path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        protocol = connection.subprotocol or ""
        offered = tuple(
            p.strip()
            for p in connection.request.headers.get("Sec-WebSocket-Protocol", "").split(",")
            if p.strip()
        )
        self.attempts.append(
            Attempt(
                time.time(),
                time.monotonic(),
                station_id,
                path,
                "accepted",
                offered,
                protocol,
                station_id,
                _peer_certificate(connection),
                "authorization" in connection.request.headers,
            )
        )
        cls = CentralSystem16 if protocol == OCPP16 else CentralSystem201
        cp = cls(station_id, connection, self)
        self._connections.add(connection)
        self.stations[station_id] = cp
        self._notify()
        try:
            await cp.start()
        except ConnectionClosed:
            pass
        finally:
            self._connections.discard(connection)
            if self.stations.get(station_id) is cp:
                del self.stations[station_id]
            self.disconnects.append((time.monotonic(), station_id))
            self.close_codes.append((station_id, connection.close_code))
            self._notify()


def accepted_attempts(csms: OcppCsms, station_id: str | None = None) -> list[Attempt]:
    return [
        a
        for a in csms.attempts
        if a.outcome == "accepted" and (station_id is None or a.station_id == station_id)
    ]


def self_signed_tls(directory: str, host: str = "127.0.0.1") -> tuple[ssl.SSLContext, str]:
    """A server SSL context with a fresh self-signed certificate for `host`, and the path
    of that certificate (the CA file a station must be given to trust it)."""
    import datetime as dt
    import ipaddress
    import os

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CSMS")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(host))]
                if host.replace(".", "").isdigit()
                else [x509.DNSName(host)]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, "csms-cert.pem")
    key_path = os.path.join(directory, "csms-key.pem")
    with open(cert_path, "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path


def _peer_certificate(connection: ServerConnection) -> bytes | None:
    """The DER of the client certificate the station presented (None without TLS or one)."""
    ssl_object = connection.transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der: bytes | None = ssl_object.getpeercert(binary_form=True)
    return der


class CsmsPki:
    """A small PKI for security profile 3 tests (`cryptography`): a root CA, the CSMS's
    server certificate for `host` signed by it, client certificates for stations, and
    the signing of a station's CSR (what a CSMS does with SignCertificate).

    `root_file` is the root's PEM (a station's `ca_file` or CSMSRootCertificate);
    `server_context(require_client=True)` a server SSLContext that requires a client
    certificate issued by the root (`require_client=False`: security profile 2).
    """

    def __init__(self, directory: str, host: str = "127.0.0.1") -> None:
        import datetime as dt
        import ipaddress
        import os

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self._x509 = x509
        self._hashes = hashes
        self._serialization = serialization
        self._ec = ec
        self._name_oid = NameOID
        self._dt = dt
        self.directory = directory
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CSMS Root")])
        now = dt.datetime.now(dt.UTC)
        self.root = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.root_key.public_key()),
                critical=False,
            )
            .sign(self.root_key, hashes.SHA256())
        )
        self.root_file = os.path.join(directory, "csms-root.pem")
        with open(self.root_file, "wb") as handle:
            handle.write(self.root_pem.encode())
        server_key = ec.generate_private_key(ec.SECP256R1())
        alt = (
            [x509.IPAddress(ipaddress.ip_address(host))]
            if host.replace(".", "").isdigit()
            else [x509.DNSName(host)]
        )
        server = self._issue(server_key.public_key(), "Test CSMS", None, days=30, alt=alt)
        self.server_files = self._write("csms-server", server, server_key)

    @property
    def root_pem(self) -> str:
        return self.root.public_bytes(self._serialization.Encoding.PEM).decode()

    def _issue(
        self,
        public_key: Any,
        common_name: str,
        organization: str | None,
        days: float,
        alt: list[Any] | None = None,
        client: bool = False,
    ) -> Any:
        x509, oid = self._x509, self._name_oid
        attributes = [x509.NameAttribute(oid.COMMON_NAME, common_name)]
        if organization:
            attributes.insert(0, x509.NameAttribute(oid.ORGANIZATION_NAME, organization))
        now = self._dt.datetime.now(self._dt.UTC)
        usage = x509.oid.ExtendedKeyUsageOID
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attributes))
            .issuer_name(self.root.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - self._dt.timedelta(minutes=5))
            .not_valid_after(now + self._dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([usage.CLIENT_AUTH if client else usage.SERVER_AUTH]),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root_key.public_key()),
                critical=False,
            )
        )
        if alt:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        return builder.sign(self.root_key, self._hashes.SHA256())

    def _write(self, stem: str, cert: Any, key: Any) -> tuple[str, str]:
        import os

        serialization = self._serialization
        cert_path = os.path.join(self.directory, f"{stem}-cert.pem")
        key_path = os.path.join(self.directory, f"{stem}-key.pem")
        with open(cert_path, "wb") as handle:
            handle.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, "wb") as handle:
            handle.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        os.chmod(key_path, 0o600)
        return cert_path, key_path

    def client_files(self, station_id: str, organization: str = "ORGE") -> tuple[str, str]:
        """A station certificate (CN = station id) and its key, as files: (cert, key)."""
        key = self._ec.generate_private_key(self._ec.SECP256R1())
        cert = self._issue(key.public_key(), station_id, organization, days=30, client=True)
        return self._write(f"client-{station_id}", cert, key)

    def sign_csr(self, csr_pem: str, days: float = 30) -> str:
        """The CSMS's answer to a SignCertificate: the certificate for the CSR's key and
        subject, signed by the root (PEM; the chain leaf, then the root)."""
        csr = self._x509.load_pem_x509_csr(csr_pem.encode())
        subject = csr.subject
        common_name = str(subject.get_attributes_for_oid(self._name_oid.COMMON_NAME)[0].value)
        organizations = subject.get_attributes_for_oid(self._name_oid.ORGANIZATION_NAME)
        organization = str(organizations[0].value) if organizations else None
        cert = self._issue(csr.public_key(), common_name, organization, days=days, client=True)
        encoding = self._serialization.Encoding.PEM
        return cert.public_bytes(encoding).decode() + self.root_pem

    def server_context(self, require_client: bool = True) -> ssl.SSLContext:
        """The CSMS's TLS context: its certificate; with `require_client` a client
        certificate issued by the root is required (security profile 3)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self.server_files)
        if require_client:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=self.root_file)
        return context

    @staticmethod
    def common_name(der: bytes | None) -> str | None:
        """The CN of a DER certificate (an Attempt's client_certificate)."""
        if der is None:
            return None
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        cert = x509.load_der_x509_certificate(der)
        return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
