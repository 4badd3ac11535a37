"""Home Assistant's WebSocket API at `/api/websocket`.

Each connection has a bounded send queue drained by its own writer task. The hub only
ever appends to that queue (a deque append, never an await), so a client that reads
slowly cannot slow the hub: when its queue passes `websocket_max_pending` messages the
connection is dropped. An event's JSON is built once however many clients subscribe.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import voluptuous as vol
from aiohttp import WSMsgType, web

from orge import __version__
from orge.core import Context, Event, Orge, OwnedTasks, callback
from orge.exceptions import OrgeError, ServiceNotFound, ServiceValidationError

from .auth import TokenEntry
from .data import APP_DATA, KEY_CLIENT, HttpData
from .jsonutil import dumps, loads

_LOGGER = logging.getLogger(__name__)
AUTH_TIMEOUT = 10.0
COALESCE_MAX = 256  # messages in one array frame
COALESCE_MAX_BYTES = 256 * 1024
MAX_AUTHENTICATING = 32  # connections at once that have not sent their token yet
MAX_AUTHENTICATING_PER_CLIENT = 4  # of those, from one client address
RENDER_DELAY = 0.1  # seconds: many state changes at once re-render a template once

ERR_INVALID_FORMAT = "invalid_format"
ERR_ID_REUSE = "id_reuse"
ERR_NOT_FOUND = "not_found"
ERR_UNKNOWN_COMMAND = "unknown_command"
ERR_SERVICE_VALIDATION = "service_validation_error"
ERR_ORGE = "home_assistant_error"  # Home Assistant's code; clients match on it
ERR_TEMPLATE = "template_error"
ERR_UNKNOWN = "unknown_error"
ERR_NOT_SUPPORTED = "not_supported"


# A command's handler: (connection, message id, message) -> None, or a coroutine of it.
CommandHandler = Callable[["Connection", int, dict[str, Any]], Any]
# The command table, by message type: put into the app by server.build_app (the commands
# import this module, so this module is handed them instead of importing them).
APP_COMMANDS: web.AppKey[dict[str, CommandHandler]] = web.AppKey("orge_ws_commands", dict)

DIRECT_WRITE_LIMIT = 64 * 1024  # bytes buffered in the socket before messages queue up


def text_frame(message: str) -> bytes:
    """An unmasked, uncompressed WebSocket text frame (RFC 6455 section 5.2), as a server
    sends it; compression is off for these connections (see handle)."""
    payload = message.encode()
    length = len(payload)
    if length < 126:
        return bytes((0x81, length)) + payload
    if length < 65536:
        return bytes((0x81, 126)) + length.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + length.to_bytes(8, "big") + payload


# One event is sent to every subscriber in a row: cache its JSON for the next caller.
_last_event: Event | None = None
_last_json = ""


def event_json(event: Event) -> str:
    global _last_event, _last_json
    if event is not _last_event:
        _last_json = dumps(event.as_dict())
        _last_event = event
    return _last_json


class CommandError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Connection:
    """One authenticated client."""

    def __init__(
        self, data: HttpData, ws: web.WebSocketResponse, request: web.Request, token: TokenEntry
    ) -> None:
        self.data = data
        self.orge: Orge = data.orge
        self.ws = ws
        self.request = request
        self.token = token
        self.max_pending = int(data.config.get("websocket_max_pending", 2048))
        self.commands: dict[str, CommandHandler] = request.app[APP_COMMANDS]
        self.queue: deque[str] = deque()
        self.wakeup = asyncio.Event()
        self.closing = False
        self.sending = False  # the writer task is inside send_str
        self.coalesce = False  # supported_features: {coalesce_messages: 1}
        self.last_id = 0
        self.subscriptions: dict[int, Callable[[], None]] = {}
        self.tasks = OwnedTasks(self.orge)  # the running commands, cancelled at cleanup

    # sending ---------------------------------------------------------------------------

    @callback
    def send(self, message: str) -> None:
        if self.closing:
            return
        if not self.queue and not self.sending:
            # Fast path: nothing queued and the socket keeps up, so write the frame now
            # instead of waking the writer task (one loop turn less per client and event).
            transport = self.request.transport
            if (
                transport is not None
                and not transport.is_closing()
                and transport.get_write_buffer_size() < DIRECT_WRITE_LIMIT
            ):
                transport.write(text_frame(message))
                return
        self.queue.append(message)
        if len(self.queue) > self.max_pending:
            _LOGGER.warning(
                "WebSocket client %s cannot keep up (%d messages pending); disconnecting",
                self.request.get(KEY_CLIENT),
                len(self.queue),
            )
            self.abort()
            return
        self.wakeup.set()

    def send_result(self, msg_id: int, result: Any = None) -> None:
        self.send(dumps({"id": msg_id, "type": "result", "success": True, "result": result}))

    def send_error(self, msg_id: int | None, code: str, message: str) -> None:
        self.send(
            dumps(
                {
                    "id": msg_id,
                    "type": "result",
                    "success": False,
                    "error": {"code": code, "message": message},
                }
            )
        )

    async def writer(self) -> None:
        ws, queue = self.ws, self.queue
        try:
            while not self.closing:
                await self.wakeup.wait()
                self.wakeup.clear()
                while queue and not self.closing:
                    if self.coalesce and len(queue) > 1:
                        # A client that asked for it gets a backlog as one JSON array, kept
                        # under COALESCE_MAX_BYTES: clients limit a frame's size (aiohttp's
                        # default is 4 MiB) and would drop the connection on a bigger one.
                        parts = [queue.popleft()]
                        size = len(parts[0])
                        while (
                            queue
                            and len(parts) < COALESCE_MAX
                            and size + len(queue[0]) < COALESCE_MAX_BYTES
                        ):
                            size += len(queue[0]) + 1
                            parts.append(queue.popleft())
                        text = "[" + ",".join(parts) + "]"
                    else:
                        text = queue.popleft()
                    self.sending = True
                    try:
                        await ws.send_str(text)
                    finally:
                        self.sending = False
        except (ConnectionError, RuntimeError) as err:
            _LOGGER.debug("WebSocket writer stopped: %s", err)
            self.abort()

    def abort(self) -> None:
        """Drop the connection at once, discarding what is queued."""
        if self.closing:
            return
        self.closing = True
        self.queue.clear()
        self.wakeup.set()
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    def close_soon(self, reason: str) -> None:
        if self.closing:
            return
        self.closing = True
        self.wakeup.set()
        # The hub's, not self.tasks: cleanup() must not cancel the close handshake.
        self.orge.async_create_background_task(
            self.ws.close(code=1001, message=reason.encode()), "websocket close"
        )

    def cleanup(self) -> None:
        for remove in self.subscriptions.values():
            remove()
        self.subscriptions.clear()
        self.tasks.async_cancel_all()

    # receiving -------------------------------------------------------------------------

    def handle_text(self, text: str) -> None:
        try:
            message = loads(text)
        except ValueError:
            self.send_error(None, ERR_INVALID_FORMAT, "Message incorrectly formatted: bad JSON")
            return
        messages = message if isinstance(message, list) else [message]
        for item in messages:
            self.handle_message(item)

    def handle_message(self, message: Any) -> None:
        if (
            not isinstance(message, dict)
            or not isinstance(message.get("id"), int)
            or isinstance(message.get("id"), bool)
            or not isinstance(message.get("type"), str)
        ):
            msg_id = message.get("id") if isinstance(message, dict) else None
            self.send_error(
                msg_id if isinstance(msg_id, int) else None,
                ERR_INVALID_FORMAT,
                "Message incorrectly formatted: expected an integer id and a type",
            )
            return
        msg_id = message["id"]
        if msg_id <= self.last_id:
            self.send_error(msg_id, ERR_ID_REUSE, "Identifier values have to increase.")
            return
        self.last_id = msg_id
        handler = self.commands.get(message["type"])
        if handler is None:
            self.send_error(msg_id, ERR_UNKNOWN_COMMAND, f"Unknown command {message['type']}.")
            return
        if asyncio.iscoroutinefunction(handler):
            self.tasks.async_create_background_task(
                self._run(handler, msg_id, message), f"websocket command {message['type']}"
            )
        else:
            self._run_sync(handler, msg_id, message)

    def _run_sync(self, handler: CommandHandler, msg_id: int, message: dict[str, Any]) -> None:
        try:
            handler(self, msg_id, message)
        except Exception as err:
            self._report(msg_id, err)

    async def _run(self, handler: CommandHandler, msg_id: int, message: dict[str, Any]) -> None:
        try:
            await handler(self, msg_id, message)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            self._report(msg_id, err)

    def _report(self, msg_id: int, err: Exception) -> None:
        if isinstance(err, CommandError):
            self.send_error(msg_id, err.code, err.message)
        elif isinstance(err, ServiceNotFound):
            self.send_error(msg_id, ERR_NOT_FOUND, str(err))
        elif isinstance(err, ServiceValidationError):
            self.send_error(msg_id, ERR_SERVICE_VALIDATION, str(err))
        elif isinstance(err, vol.Invalid):
            self.send_error(msg_id, ERR_INVALID_FORMAT, f"Message incorrectly formatted: {err}")
        elif isinstance(err, OrgeError):
            self.send_error(msg_id, ERR_ORGE, str(err))
        elif isinstance(err, web.HTTPException):
            self.send_error(msg_id, ERR_NOT_FOUND if err.status == 404 else ERR_ORGE, err.text)
        else:
            _LOGGER.exception("Error handling WebSocket message %s", msg_id, exc_info=err)
            self.send_error(msg_id, ERR_UNKNOWN, "Unknown error")

    def context(self) -> Context:
        return Context(user_id=self.token.id)


# --- the connection's life --------------------------------------------------------------


async def _authenticate(data: HttpData, ws: web.WebSocketResponse, request: web.Request):
    """The auth phase: auth_required, then one `auth` message; None if it failed."""
    await ws.send_str(dumps({"type": "auth_required", "ha_version": __version__}))
    try:
        msg = await ws.receive(timeout=AUTH_TIMEOUT)
    except TimeoutError:
        await ws.close(code=4001, message=b"auth timeout")
        return None
    token = None
    if msg.type == WSMsgType.TEXT:
        try:
            payload = loads(msg.data)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and payload.get("type") == "auth":
            token = payload.get("access_token")
    elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
        return None
    entry = data.tokens.validate(token if isinstance(token, str) else None)
    address = request.get(KEY_CLIENT)
    if entry is None:
        await data.async_auth_failed(address, "invalid WebSocket authentication")
        await ws.send_str(dumps({"type": "auth_invalid", "message": "Invalid access token"}))
        await ws.close(code=4001, message=b"auth invalid")
        return None
    data.bans.record_success(address)
    await ws.send_str(dumps({"type": "auth_ok", "ha_version": __version__}))
    return entry


async def handle(request: web.Request) -> web.StreamResponse:
    data: HttpData = request.app[APP_DATA]
    if data.websockets_authenticating >= MAX_AUTHENTICATING:
        # Each waits up to AUTH_TIMEOUT for its token: cap them so a flood of idle
        # sockets from the internet cannot pile up.
        raise web.HTTPServiceUnavailable(text="Too many connections waiting to authenticate")
    address = request.get(KEY_CLIENT)
    pending = data.authenticating_by_client
    if pending.get(address, 0) >= MAX_AUTHENTICATING_PER_CLIENT:
        # One client could otherwise hold every slot, renewing them each AUTH_TIMEOUT.
        raise web.HTTPServiceUnavailable(text="Too many connections waiting to authenticate")
    # No permessage-deflate: an event's JSON is built once for every client, compressing
    # it again per client would cost more than the bytes saved; and text_frame relies on it.
    ws = web.WebSocketResponse(heartbeat=55, max_msg_size=data.max_body, compress=False)
    data.websockets_authenticating += 1
    pending[address] = pending.get(address, 0) + 1
    try:
        await ws.prepare(request)
        entry = await _authenticate(data, ws, request)
    except Exception:
        if not ws.prepared:
            raise  # not a WebSocket request: the guard answers it over HTTP
        # The connection is a WebSocket now: an HTTP error written into it would be garbage.
        _LOGGER.exception("Error authenticating a WebSocket from %s", address)
        entry = None
        if not ws.closed:
            await ws.close(code=1011, message=b"internal error")
    finally:
        data.websockets_authenticating -= 1
        if pending[address] <= 1:
            del pending[address]
        else:
            pending[address] -= 1
    if entry is None:
        return ws
    conn = Connection(data, ws, request, entry)
    data.websockets.add(conn)
    writer = conn.tasks.async_create_background_task(conn.writer(), "websocket writer")
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                conn.handle_text(msg.data)
            elif msg.type == WSMsgType.BINARY:
                conn.send_error(None, ERR_INVALID_FORMAT, "Binary messages are not supported")
            if conn.closing:
                break
    finally:
        conn.closing = True
        conn.cleanup()
        writer.cancel()
        data.websockets.discard(conn)
        if not ws.closed:
            await ws.close()
    return ws
