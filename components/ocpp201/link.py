"""The WebSocket link to the CSMS: opening it (security profiles 1 and 2), and calls that
fail fast when the socket goes away.

Imported from `async_setup` only (it imports websockets and ocpp).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import uuid
from typing import Any

from ocpp.charge_point import ChargePoint
from ocpp.messages import Call, MessageType, _validate_payload, validate_payload
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)

from components.ocpp_station.sender import CallRejected, LinkDown, NoAnswer

_LOGGER = logging.getLogger(__name__)
OCPP201 = "ocpp2.0.1"
OCPP16 = "ocpp1.6"


class ConnectFailed(Exception):
    """The CSMS could not be reached, or refused us. `refused` = do not insist."""

    def __init__(self, message: str, refused: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.refused = refused
        self.shared_url = False  # refused because the CSMS picked ocpp1.6 on a shared URL


def ssl_context(url: str, ca_file: str | None, verify: bool) -> ssl.SSLContext | None:
    if not url.startswith("wss://"):
        return None
    context = (
        ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    )
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


async def open_connection(
    url: str,
    station_id: str,
    password: str | None,
    subprotocols: list[str],
    *,
    ca_file: str | None = None,
    verify_tls: bool = True,
    ping_interval: float | None = 30,
    open_timeout: float = 15,
) -> ClientConnection:
    """Open the WebSocket (HTTP Basic auth with user = station id when a password is set).

    Raises `ConnectFailed` with a message an operator can act on; never logs the password.
    """
    headers = {}
    if password:
        token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        context = ssl_context(url, ca_file, verify_tls)
    except (OSError, ssl.SSLError) as err:
        raise ConnectFailed(f"cannot load CA file {ca_file}: {err}", refused=True) from None
    try:
        return await connect(
            url,
            subprotocols=subprotocols,  # type: ignore[arg-type]
            additional_headers=headers,
            ssl=context,
            open_timeout=open_timeout,
            ping_interval=ping_interval or None,
            ping_timeout=ping_interval or None,
            close_timeout=2,
            proxy=None,
            max_size=2**20,
        )
    except InvalidStatus as err:
        code = err.response.status_code
        if code in (401, 403):
            raise ConnectFailed(
                f"HTTP {code}: the CSMS did not accept station id {station_id!r} "
                "with the configured password",
                refused=True,
            ) from None
        if code == 404:
            raise ConnectFailed(f"HTTP 404: the CSMS does not know {url}", refused=True) from None
        if code == 400:
            # websockets servers answer 400 when no offered subprotocol is acceptable.
            raise ConnectFailed(
                f"HTTP 400: the CSMS refused the handshake (no agreed subprotocol among "
                f"{', '.join(subprotocols)}?)",
                refused=True,
            ) from None
        raise ConnectFailed(f"HTTP {code} from the CSMS during the handshake") from None
    except InvalidURI as err:
        raise ConnectFailed(f"invalid URL: {err}", refused=True) from None
    except ssl.SSLCertVerificationError as err:
        raise ConnectFailed(f"TLS certificate not trusted: {err.verify_message}") from None
    except InvalidHandshake as err:
        raise ConnectFailed(f"WebSocket handshake failed: {err}") from None
    except TimeoutError:
        raise ConnectFailed(f"no answer from the CSMS within {open_timeout:g} s") from None
    except OSError as err:
        reason = err.strerror or str(err) or type(err).__name__
        raise ConnectFailed(f"cannot connect: {reason}") from None


class Link:
    """One open connection: the ChargePoint's receive loop plus calls that end with
    `LinkDown` the moment the socket closes (instead of waiting for a timeout)."""

    def __init__(self, cp: ChargePoint, connection: ClientConnection) -> None:
        self.cp = cp
        self.connection = connection
        self.receiver = asyncio.ensure_future(cp.start())
        self.closed = asyncio.get_running_loop().create_future()
        self.receiver.add_done_callback(self._receiver_done)

    def _receiver_done(self, task: asyncio.Future[Any]) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if not task.cancelled() and task.exception() is not None:
            if not isinstance(task.exception(), ConnectionClosed):
                _LOGGER.error("OCPP receive loop ended", exc_info=task.exception())

    @property
    def is_open(self) -> bool:
        return not self.closed.done()

    async def call(self, action: str, payload: dict[str, Any], timeout: float | None = None) -> Any:
        """Send one CALL (camelCase payload); the CALLRESULT payload or an exception."""
        if not self.is_open:
            raise LinkDown()
        task = asyncio.ensure_future(self._call(action, payload, timeout))
        task.add_done_callback(_retrieve)
        done, _ = await asyncio.wait({task, self.closed}, return_when=asyncio.FIRST_COMPLETED)
        if task not in done:
            task.cancel()
            raise LinkDown()
        return task.result()

    async def _call(self, action: str, payload: dict[str, Any], timeout: float | None) -> Any:
        cp = self.cp
        call = Call(str(uuid.uuid4()), action, payload)
        text = call.to_json()
        await _validate(call, cp._ocpp_version, len(text))
        async with cp._call_lock:
            try:
                await cp._send(text)
            except ConnectionClosed:
                raise LinkDown() from None
            try:
                response = await cp._get_specific_response(
                    call.unique_id, timeout or cp._response_timeout
                )
            except TimeoutError:
                raise NoAnswer(
                    f"no answer to {action} within {timeout or cp._response_timeout:g} s"
                ) from None
        if response.message_type_id == MessageType.CallError:
            raise CallRejected(response.error_code, response.error_description)
        response.action = action
        try:
            await _validate(response, cp._ocpp_version, len(str(response.payload)))
        except Exception as err:
            raise CallRejected("FormatViolation", f"invalid {action} answer: {err}") from None
        return response.payload

    async def close(self, code: int = 1000) -> None:
        try:
            await asyncio.wait_for(self.connection.close(code), 3)
        except Exception:  # already gone
            pass
        self.receiver.cancel()
        if not self.closed.done():
            self.closed.set_result(None)


_INLINE_VALIDATION_BYTES = 600


async def _validate(message: Any, version: str, size: int) -> None:
    """Schema-check a message. Small ones (a StatusNotification: ~0.1 ms) are checked
    inline: a hop to a worker thread costs more than that and adds latency under load.
    Bigger ones (TransactionEvent with meter values, reports) go to the executor."""
    if size <= _INLINE_VALIDATION_BYTES:
        _validate_payload(message, version)
    else:
        await validate_payload(message, version)


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a call's outcome as seen (it may finish after the link was given up)."""
    if not task.cancelled():
        task.exception()
