"""The one OCPP-J WebSocket client of both protocols (aiohttp's WebSocket client).

`open_connection()` dials the CSMS: HTTP Basic auth (security profiles 1/2: user = station
id), TLS for wss:// with an optional CA file and `verify_tls`, the subprotocols offered in
order. It raises one `ConnectFailed` whose message an operator can act on (never the
password). The station's own pings (`Connection.set_ping_interval`, RFC 6455 §5.5.2) find
a dead link: a pong later than half the interval closes the socket.

aiohttp, not a second WebSocket library: the http component already loads it, and the
`websockets` package with what it imports (importlib.metadata, email, urllib.request) cost
each station ~2 MiB of resident memory for the same protocol (docs/operations.md, "Fleet
figures"). No compression extension is offered: OCPP frames are small, and a deflate
context costs memory on both ends for the whole life of the socket.

`Connection` is one open socket. `attach(charge_point)` starts its reader: CALLRESULT /
CALLERROR frames resolve the matching `call()` at once, CALL frames go to the `ocpp`
library's `ChargePoint.route_message` one at a time (OCPP-J: a CSMS sends one CALL at a
time and waits), after the frame checks and the error table of OCPP-J (1.6J §4.2.3, 2.0.1
OCPP-J §4.3): an action the station does not know -> `NotImplemented`, one of the
protocol's actions without a handler -> `NotSupported`, a malformed frame ->
`RpcFrameworkError` / `MessageTypeNotSupported` (2.0.1) or `FormationViolation` /
`ProtocolError` (1.6), a malformed payload -> `FormatViolation` (2.0.1) /
`FormationViolation` (1.6). The ChargePoint sends its answers through `send()`, which
also maps the library's 2.0.1 error names to 1.6's on an ocpp1.6 socket.

`call(action, payload)` is the one CALL path: our own payload is held to the schema
strictly (a message that breaks it is never sent: `CallRejected("LocalValidation")`);
the answer is taken leniently (fields the schema does not define, e.g. vendor extensions,
are accepted). It ends in the answer payload, `CallRejected` (CALLERROR or an answer that
breaks its schema otherwise), `NoAnswer` (timeout) or `LinkDown` (the socket went away,
at once, not after the timeout).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import ssl
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import WSMsgType

from orge.redact import register_secret

from .sender import CallRejected, LinkDown, NoAnswer

if TYPE_CHECKING:
    from .metrics import OcppMetrics

_LOGGER = logging.getLogger(__name__)
OCPP201 = "ocpp2.0.1"
OCPP16 = "ocpp1.6"
_VERSIONS = {OCPP201: "2.0.1", OCPP16: "1.6"}
_CALL, _RESULT, _ERROR = 2, 3, 4
NO_ANSWER = "no answer"  # a `Connection.call_gate` verdict: the CALL is dropped unanswered
_MAX_MESSAGE = 4 * 1024 * 1024
# Schema checks of small messages (a StatusNotification: ~0.1 ms) run inline: a hop to a
# worker thread costs more than that and adds latency; bigger ones go to the executor.
_INLINE_VALIDATION_BYTES = 600


class ConnectFailed(Exception):
    """The CSMS could not be reached, or refused the station.

    `refused` is True when it answered but said no (HTTP 401/403/404, no agreed
    subprotocol, a bad URL or CA file): retrying soon will not help, a fallback may.
    `status` is the HTTP status when there was one; `shared_url` is True when the CSMS
    agreed on the other protocol of a URL both components share (handed over).
    """

    def __init__(self, message: str, refused: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.refused = refused
        self.status = status
        self.shared_url = False  # the CSMS agreed on the other protocol on a shared URL
        self.untrusted_csms = False  # the CSMS's TLS certificate failed verification


def ssl_context(
    url: str,
    ca_file: str | None,
    verify: bool = True,
    *,
    trusted: Sequence[str] = (),
    client_cert: tuple[str, str] | None = None,
) -> ssl.SSLContext | None:
    """The TLS context for wss:// (None for ws://). With `verify` the certificate and the
    host name are checked (security profiles 2 and 3); `ca_file` and the files in
    `trusted` (the installed CSMSRootCertificates) add trusted CAs. `client_cert` is
    (certificate chain file, key file): the station certificate security profile 3
    presents (2.0.1 A00, 1.6 security whitepaper profile 3).
    Raises OSError / ssl.SSLError for an unreadable CA, certificate or key file."""
    if not url.startswith("wss://"):
        return None
    context = (
        ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    )
    for path in trusted:
        context.load_verify_locations(cafile=path)
    if client_cert is not None:
        context.load_cert_chain(client_cert[0], client_cert[1])
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def basic_auth(station_id: str, password: str | None) -> dict[str, str]:
    """The Authorization header of security profiles 1/2 (user = station id), or none."""
    if not password:
        return {}
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


async def open_connection(
    url: str,
    station_id: str,
    password: str | None,
    subprotocols: list[str],
    *,
    ca_file: str | None = None,
    verify_tls: bool = True,
    trusted: Sequence[str] = (),
    client_cert: tuple[str, str] | None = None,
    ping_interval: float | None = 30,
    open_timeout: float = 15,
    wire_logger: logging.Logger | None = None,
) -> Connection:
    """Open the WebSocket offering `subprotocols` in order; a `Connection` whose
    `subprotocol` is one of them. Raises `ConnectFailed` (also when the CSMS agreed on
    none of them: `refused`). `trusted` and `client_cert`: see `ssl_context`."""
    try:
        context = ssl_context(url, ca_file, verify_tls, trusted=trusted, client_cert=client_cert)
    except (OSError, ssl.SSLError) as err:
        what = f"CA file {ca_file}" if ca_file else "TLS certificate files"
        if client_cert is not None:
            what += f" / client certificate {client_cert[0]}"
        raise ConnectFailed(f"cannot load {what}: {err}", refused=True) from None
    # No proxy from the environment (trust_env=False): the CSMS is dialled as configured.
    session = aiohttp.ClientSession(trust_env=False)
    try:
        async with asyncio.timeout(open_timeout):
            ws = await session.ws_connect(
                url,
                protocols=subprotocols,
                headers=basic_auth(station_id, password),
                ssl=context if context is not None else True,
                # pings are the station's own (`Connection`): their interval can change on
                # the open socket; the CSMS's pings are answered by the reader
                autoping=False,
                # a dead link's closing handshake is not waited for long
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=1.0),
                max_msg_size=_MAX_MESSAGE,
            )
    except Exception as err:
        await session.close()
        raise _connect_failed(err, url, station_id, subprotocols, open_timeout) from None
    if ws.protocol not in subprotocols:
        with contextlib.suppress(Exception):
            await ws.close(code=1002)
        await session.close()
        raise ConnectFailed(
            f"the CSMS agreed on no OCPP subprotocol (offered {', '.join(subprotocols)})",
            refused=True,
        )
    connection = Connection(ws, session, wire_logger or _LOGGER)
    connection.set_ping_interval(ping_interval or 0)
    return connection


def _connect_failed(
    err: Exception, url: str, station_id: str, subprotocols: list[str], timeout: float
) -> ConnectFailed:
    if isinstance(err, aiohttp.WSServerHandshakeError) and err.status != 101:
        code = err.status
        if code in (401, 403):
            return ConnectFailed(
                f"HTTP {code}: the CSMS did not accept station id {station_id!r} with the "
                "configured password (check station_id and password)",
                refused=True,
                status=code,
            )
        if code == 404:
            return ConnectFailed(
                f"HTTP 404: the CSMS does not know {url} (check the URL and station id)",
                refused=True,
                status=code,
            )
        if code == 400:
            # a server answers 400 when none of the offered subprotocols is acceptable
            return ConnectFailed(
                "HTTP 400: the CSMS refused the handshake (no agreed subprotocol among "
                f"{', '.join(subprotocols)}?)",
                refused=True,
                status=code,
            )
        return ConnectFailed(f"HTTP {code} from the CSMS during the handshake", status=code)
    if isinstance(err, aiohttp.InvalidURL):
        return ConnectFailed(f"invalid URL: {err}", refused=True)
    if _closed_after_tls(err, url):
        return ConnectFailed(
            "TLS: the CSMS closed the connection before answering: it may require a client "
            "certificate (security profile 3) or not accept the station's",
            refused=True,
        )
    if isinstance(err, aiohttp.ClientConnectorCertificateError):
        cert_error = err.certificate_error
        reason = getattr(cert_error, "verify_message", None) or str(cert_error)
        untrusted = ConnectFailed(f"TLS certificate not trusted: {reason}")
        untrusted.untrusted_csms = True
        return untrusted
    if isinstance(err, aiohttp.ClientSSLError):
        return ConnectFailed(f"TLS error: {err.os_error}")
    if isinstance(err, aiohttp.WSServerHandshakeError):
        return ConnectFailed(f"WebSocket handshake failed: {err.message}")
    if isinstance(err, TimeoutError):
        return ConnectFailed(f"no answer from the CSMS within {timeout:g} s")
    if isinstance(err, OSError):
        reason = err.strerror or str(err) or type(err).__name__
        return ConnectFailed(f"cannot connect: {reason}")
    return ConnectFailed(f"cannot connect: {type(err).__name__}: {err}")


def _closed_after_tls(err: BaseException, url: str) -> bool:
    """The CSMS closed a wss:// connection after the TLS handshake, before answering the
    HTTP upgrade: under TLS 1.3 that is how a refused (or missing) client certificate
    shows (the server checks it after the client's handshake has completed)."""
    return (
        url.startswith("wss://")
        and isinstance(err, (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError))
        and not isinstance(err, aiohttp.ClientConnectorError)  # that is during the connect
    )


# OCPP-J error names differ between the versions; the library speaks 2.0.1's.
_ERROR_NAMES_16 = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
    "RpcFrameworkError": "ProtocolError",
    "MessageTypeNotSupported": "ProtocolError",
}
_ERROR_NAMES_201 = {"OccurenceConstraintViolation": "OccurrenceConstraintViolation"}
# CALLERROR codes that say the CSMS's frame was not a valid message (OCPP-J 1.6 §4.2.3,
# 2.0.1 §4.3), as opposed to a valid one this station does not do (NotImplemented,
# NotSupported) or could not carry out (InternalError, SecurityError, GenericError).
_INVALID_FRAME_CODES = frozenset(
    {
        "RpcFrameworkError",
        "MessageTypeNotSupported",
        "FormatViolation",
        "TypeConstraintViolation",
        "PropertyConstraintViolation",
        "OccurrenceConstraintViolation",
        "OccurenceConstraintViolation",
        "ProtocolError",
        "FormationViolation",
    }
)


class Connection:
    """One open OCPP-J socket: the reader, the CALL path, the answers of a ChargePoint.

    `subprotocol` is the agreed one; `closed` a future done when the socket is gone;
    `is_open`. Handed from one component to the other as is (fallback on a shared URL).
    """

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        session: aiohttp.ClientSession,
        wire_logger: logging.Logger,
    ) -> None:
        self._ws = ws
        self._session = session  # the socket's own: closed with it
        self.subprotocol: str = ws.protocol or ""
        self.version = _VERSIONS.get(self.subprotocol, "2.0.1")
        self.wire_logger = wire_logger
        self.station_id = ""
        self.response_timeout = 30.0
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._call_lock = asyncio.Lock()
        self._calls: asyncio.Queue[tuple[str, str, Any]] = asyncio.Queue()
        self._charge_point: Any = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._error_names = _ERROR_NAMES_16 if self.subprotocol == OCPP16 else _ERROR_NAMES_201
        # asked before a CSMS CALL is served: None = serve it, NO_ANSWER = drop it, else
        # the CALLERROR code to answer with (the boot policy, `boot.Registration`)
        self.call_gate: Callable[[str], str | None] | None = None
        self.metrics: OcppMetrics | None = None  # the hub's counts, set by its station
        # told of every CSMS frame answered with one of _INVALID_FRAME_CODES ("<code>:
        # <description>"): the security event InvalidMessages (set by its station)
        self.on_invalid_frame: Callable[[str], None] | None = None
        self._ping_interval = 0.0
        self._keepalive: asyncio.Task[None] | None = None
        self._pong: asyncio.Future[None] | None = None

    @property
    def is_open(self) -> bool:
        return not self.closed.done()

    def set_ping_interval(self, seconds: float) -> None:
        """Apply a new WebSocket ping interval (s; 0 = no pings) to this open socket at
        once (1.6 key / 2.0.1 OCPPCommCtrlr.WebSocketPingInterval); the pong must come
        within half of it, else the link is taken as dead and the socket closed."""
        self._ping_interval = seconds if seconds > 0 else 0.0
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        if self._ping_interval and self.is_open:
            self._keepalive = asyncio.ensure_future(self._ping_loop(self._ping_interval))

    async def _ping_loop(self, interval: float) -> None:
        # a pong later than half the interval means a dead link (the CSMS answers a ping
        # at once, RFC 6455 §5.5.3)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            self._pong = loop.create_future()
            try:
                await self._ws.ping()
                await asyncio.wait_for(self._pong, interval / 2)
            except TimeoutError:
                _LOGGER.info("OCPP connection lost: no pong within %g s", interval / 2)
                await self._abort()
                return
            except (ConnectionError, RuntimeError, aiohttp.ClientError) as err:
                _LOGGER.info("OCPP connection lost: %s", err)
                await self._abort()
                return
            finally:
                self._pong = None

    async def _abort(self) -> None:
        """Drop a dead link without waiting for a closing handshake that cannot come."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._ws.close(code=1011), 1)
        self._gone()
        await self._release()

    def attach(self, charge_point: Any, station_id: str, response_timeout: float) -> None:
        """Start reading; CSMS CALLs go to `charge_point` (an `ocpp` ChargePoint built
        with this connection). Call once per connection (again after a hand-over is fine
        only when the previous owner has detached: `detach()`)."""
        self._charge_point = charge_point
        self.station_id = station_id
        self.response_timeout = response_timeout
        self.wire_logger = getattr(charge_point, "logger", self.wire_logger)
        if not self._tasks:
            self._tasks = [
                asyncio.ensure_future(self._read()),
                asyncio.ensure_future(self._serve_calls()),
            ]

    # --- receiving ---------------------------------------------------------------------

    async def _read(self) -> None:
        ws = self._ws
        closing = False  # our own close() is under way: it finishes the handshake
        try:
            while True:
                frame = await ws.receive()
                if frame.type is WSMsgType.TEXT:
                    message: str = frame.data
                elif frame.type is WSMsgType.PING:
                    await ws.pong(frame.data)
                    continue
                elif frame.type is WSMsgType.PONG:
                    if self._pong is not None and not self._pong.done():
                        self._pong.set_result(None)
                    continue
                elif frame.type is WSMsgType.BINARY:
                    continue  # OCPP-J frames are text
                elif frame.type is WSMsgType.ERROR:
                    _LOGGER.info("OCPP connection lost: %s", frame.data)
                    break
                elif frame.type is WSMsgType.CLOSING:
                    # close() asked the reader to stop; it then sends our close frame
                    # and waits for the CSMS's (RFC 6455 §7.1.2), and releases the socket
                    closing = True
                    break
                else:  # CLOSE (aiohttp has answered it with ours), CLOSED
                    _LOGGER.info("OCPP connection closed by the CSMS (code %s)", ws.close_code)
                    break
                if _PASSWORD_VARIABLE in message or _AUTHORIZATION_KEY in message:
                    _register_sent_password(message)  # before the line below logs it
                self.wire_logger.info("%s: receive message %s", self.station_id, message)
                await self._dispatch(message)
        except (ConnectionError, LinkDown, aiohttp.ClientError) as err:
            _LOGGER.info("OCPP connection lost: %s", err)
        finally:
            self._gone()
        if not closing:
            await self._release()

    def _gone(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(LinkDown("connection closed while waiting for the answer"))
                # its caller may be gone already (cancelled at stop): the lost link is
                # the lifecycle's news, not an unretrieved-exception traceback
                future.exception()
        self._pending.clear()
        for task in (*self._tasks, self._keepalive):
            if task is not None and task is not asyncio.current_task():
                task.cancel()

    async def _release(self) -> None:
        """Close the socket's HTTP session (idempotent)."""
        with contextlib.suppress(Exception):
            await self._session.close()

    async def _dispatch(self, raw: str) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            await self._error("-1", "RpcFrameworkError", "Message is not valid JSON")
            return
        if not isinstance(frame, list) or len(frame) < 3 or not isinstance(frame[1], str):
            unique_id = frame[1] if isinstance(frame, list) and len(frame) > 1 else "-1"
            await self._error(str(unique_id)[:36], "RpcFrameworkError", "Not an OCPP-J message")
            return
        kind, unique_id = frame[0], frame[1]
        if kind in (_RESULT, _ERROR):
            future = self._pending.pop(unique_id, None)
            if future is None or future.done():
                _LOGGER.debug("Ignoring an answer to no pending call: %s", raw[:200])
            elif kind == _RESULT:
                future.set_result(frame[2] if isinstance(frame[2], dict) else {})
            else:
                code = frame[2] if isinstance(frame[2], str) else "GenericError"
                text = frame[3] if len(frame) > 3 and isinstance(frame[3], str) else ""
                future.set_exception(CallRejected(code, text))
            return
        if kind != _CALL:
            await self._error(
                unique_id, "MessageTypeNotSupported", f"MessageTypeId {kind!r} is not supported"
            )
            return
        if len(frame) != 4 or not isinstance(frame[2], str):
            await self._error(unique_id, "RpcFrameworkError", "A CALL has 4 elements")
            return
        if not isinstance(frame[3], dict):
            await self._error(unique_id, "FormatViolation", "The payload of a CALL is an object")
            return
        action = frame[2]
        if self.metrics is not None:
            self.metrics.count_received(self.subprotocol, action)
        handlers = getattr(self._charge_point, "route_map", {}).get(action)
        if not handlers or "_on_action" not in handlers:
            if _known_action(action, self.version):
                await self._error(
                    unique_id, "NotSupported", f"{action} is not supported by this station"
                )
            else:
                await self._error(
                    unique_id, "NotImplemented", f"{action} is not an OCPP {self.version} action"
                )
            return
        self._calls.put_nowait((unique_id, action, raw))

    async def _serve_calls(self) -> None:
        """CSMS CALLs, one at a time and in order (answers are read meanwhile)."""
        while True:
            unique_id, action, raw = await self._calls.get()
            # asked here, not on reading: an answer read just before (the boot's) has
            # been taken in by the task that waited for it by now
            refusal = self.call_gate(action) if self.call_gate is not None else None
            if refusal == NO_ANSWER:
                _LOGGER.warning("Not answering %s from the CSMS: the boot was Rejected", action)
                continue
            try:
                if refusal is not None:
                    await self._error(unique_id, refusal, f"{action} refused: boot Rejected")
                    continue
                await self._charge_point.route_message(raw)
            except LinkDown:
                return
            except Exception:  # never let one order end the connection
                _LOGGER.exception("Handling %s from the CSMS failed", action)
                with contextlib.suppress(LinkDown):
                    await self._error(unique_id, "InternalError", f"{action} failed")

    async def _error(self, unique_id: str, code: str, description: str) -> None:
        frame = [_ERROR, unique_id, code, description, {}]
        _LOGGER.warning(
            "Answering a CSMS frame with CALLERROR %s: %s", self.error_name(code), description
        )
        await self.send(json.dumps(frame, separators=(",", ":")))

    def error_name(self, code: str) -> str:
        """A CALLERROR code in this socket's protocol's words (the `ocpp` library and
        this module speak 2.0.1's: 1.6 says FormationViolation, ProtocolError...)."""
        return self._error_names.get(code, code)

    # --- sending -----------------------------------------------------------------------

    async def send(self, text: str) -> None:
        """Send one frame (the ChargePoint's answers come through here). A CALLERROR
        carries this protocol's name of the error. Raises LinkDown."""
        if text.startswith("[4,"):
            frame = json.loads(text)
            name = self.error_name(frame[2])
            if name != frame[2]:
                frame[2] = name
                text = json.dumps(frame, separators=(",", ":"))
            if frame[2] in _INVALID_FRAME_CODES and self.on_invalid_frame is not None:
                # in this protocol's words (1.6: ProtocolError, FormationViolation)
                self.on_invalid_frame(f"{frame[2]}: {frame[3] if len(frame) > 3 else ''}")
        if self.closed.done():
            raise LinkDown("connection closed")
        try:
            await self._ws.send_str(text)
        except (ConnectionError, RuntimeError, aiohttp.ClientError) as err:
            raise LinkDown(str(err)) from None

    async def recv(self) -> str:
        """Not used: the reader routes every frame (kept for the ChargePoint's interface)."""
        raise LinkDown("the connection's reader receives the frames")

    async def call(
        self, action: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        """Send one CALL (camelCase payload) and return the CALLRESULT payload.

        Raises CallRejected (CALLERROR, or our payload / the answer breaks the schema),
        NoAnswer (no answer within `timeout`, default the response timeout), LinkDown.
        """
        if not self.is_open:
            raise LinkDown("connection closed")
        unique_id = str(uuid.uuid4())
        text = json.dumps([_CALL, unique_id, action, payload], separators=(",", ":"))
        errors = await _schema_errors(_CALL, action, self.version, payload, len(text))
        if errors:
            # Our own message breaks the schema: it will never be accepted, so it is
            # treated like a refusal (counted, then moved aside), never left to wedge
            # the queue or end the session.
            _LOGGER.error("Not sending an invalid %s: %s", action, errors[0])
            raise CallRejected("LocalValidation", errors[0][:200])
        wait = timeout or self.response_timeout
        async with self._call_lock:  # OCPP-J: one CALL of ours outstanding at a time
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._pending[unique_id] = future
            try:
                self.wire_logger.info("%s: send %s", self.station_id, text)
                await self.send(text)
                if self.metrics is not None:
                    self.metrics.count_sent(self.subprotocol, action)
                done, _ = await asyncio.wait({future}, timeout=wait)
            finally:
                self._pending.pop(unique_id, None)
            if not done:
                future.cancel()
                raise NoAnswer(f"no answer to {action} within {wait:g} s")
            answer: dict[str, Any] = future.result()
        errors = await _schema_errors(_RESULT, action, self.version, answer, len(str(answer)))
        # lenient: what the station receives may carry fields its schema does not define
        errors = [error for error in errors if not error.startswith("additionalProperties")]
        if errors:
            raise CallRejected("FormatViolation", f"invalid {action} answer: {errors[0]}")
        return answer

    async def close_for_reconnect(self, grace: float = 1.0) -> None:
        """Close because the station will dial again with new credentials (a password,
        a certificate, a security profile). A CSMS that is still busy with an earlier
        frame may drop an answer that is followed at once by the close, so first our own
        call in flight gets its answer and the CSMS has some time to read what was sent
        (at most `grace` s in all)."""
        deadline = asyncio.get_running_loop().time() + grace
        try:
            await asyncio.wait_for(self._call_lock.acquire(), grace)
            acquired = True
        except TimeoutError:
            acquired = False
        try:  # no new call of ours starts meanwhile: it would be cut off by the close
            await asyncio.sleep(max(0.0, deadline - asyncio.get_running_loop().time()))
            await self.close()
        finally:
            if acquired:
                self._call_lock.release()

    async def close(self, code: int = 1000) -> None:
        """Close the socket (idempotent); pending calls end with LinkDown."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._ws.close(code=code), 3)
        self._gone()
        await self._release()


_PASSWORD_VARIABLE = "BasicAuthPassword"
_AUTHORIZATION_KEY = "AuthorizationKey"


def _register_sent_password(message: str) -> None:
    """A 2.0.1 SetVariables may carry a new SecurityCtrlr.BasicAuthPassword, a 1.6
    ChangeConfiguration a new AuthorizationKey (security whitepaper): register it as a
    secret so no log line (the wire log first of all) ever shows it."""
    with contextlib.suppress(ValueError, TypeError, IndexError, AttributeError):
        frame = json.loads(message)
        if frame[3].get("key") == _AUTHORIZATION_KEY:
            register_secret(str(frame[3].get("value") or ""))
        for item in frame[3].get("setVariableData") or []:
            if (item.get("variable") or {}).get("name") == _PASSWORD_VARIABLE:
                register_secret(str(item.get("attributeValue") or ""))


def _known_action(action: str, version: str) -> bool:
    if version == "1.6":
        from ocpp.v16.enums import Action
    else:
        from ocpp.v201.enums import Action
    try:
        Action(action)
    except ValueError:
        return False
    return True


async def _schema_errors(
    kind: int, action: str, version: str, payload: dict[str, Any], size: int
) -> list[str]:
    """The schema violations of a payload ("<validator>: <message>"), none if it holds;
    an action without a schema has none."""
    from ocpp.messages import get_validator

    def check() -> list[str]:
        try:
            validator = get_validator(kind, action, version)
        except (OSError, ValueError):
            return []
        return [f"{error.validator}: {error.message}" for error in validator.iter_errors(payload)]

    if size <= _INLINE_VALIDATION_BYTES:
        return check()
    return await asyncio.get_running_loop().run_in_executor(None, check)
