"""The 1.6J WebSocket link: connecting (Basic auth, TLS) and the CSMS's orders.

`connect()` opens the WebSocket with aiohttp (subprotocol `ocpp1.6`, HTTP Basic auth with
the station id as user, certificate verification for wss:// with an optional CA file,
WebSocket ping to detect a dead link). `Link` is the `ocpp` library's ChargePoint with
one `@on` handler per supported order; the handlers only decide and answer, and every
outgoing call an order causes is started after the answer (`@after` or a task), because
the library handles one incoming message at a time.

Outgoing messages use `Link.send_call(action, payload)` with camelCase payloads (as they
sit in the journal) instead of the library's dataclasses, and end in one of three ways:
the answer payload, `CallRejected` (CALLERROR), `NoAnswer` (timeout) or `LinkDown`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
import uuid
from typing import TYPE_CHECKING, Any

import aiohttp
from ocpp.exceptions import OCPPError, ValidationError
from ocpp.messages import Call, MessageType, validate_payload
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint
from ocpp.v16 import call_result as result

from ..ocpp_station.sender import CallRejected, LinkDown, NoAnswer

if TYPE_CHECKING:
    from .station import Ocpp16Station

_LOGGER = logging.getLogger(__name__)
SUBPROTOCOL = "ocpp1.6"
# Every frame is logged here at INFO; quiet unless `log_messages: true`.
_WIRE = logging.getLogger("components.ocpp16.wire")


class ConnectError(Exception):
    """The CSMS could not be reached or refused the connection.

    `refused` is True when it answered but said no (HTTP 401/403/404, no common
    subprotocol): retrying the same URL soon will not help, a fallback may.
    """

    def __init__(self, message: str, refused: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.refused = refused
        self.status = status


def ssl_context(url: str, ca_file: str | None) -> ssl.SSLContext | bool:
    if not url.startswith("wss://"):
        return False
    context = (
        ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    )
    return context  # certificate and host name are verified (security profile 2)


async def connect(
    session: aiohttp.ClientSession,
    url: str,
    station_id: str,
    password: str | None,
    ca_file: str | None,
    timeout: float,
    ping_interval: float,
) -> aiohttp.ClientWebSocketResponse:
    """Open the WebSocket or raise ConnectError with a message fit for an operator."""
    headers = {}
    if password is not None:
        # security profile 1/2: HTTP Basic, user = station id
        token = base64.b64encode(f"{station_id}:{password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    try:
        ws = await session.ws_connect(
            url,
            protocols=(SUBPROTOCOL,),
            headers=headers,
            ssl=ssl_context(url, ca_file),
            heartbeat=ping_interval or None,
            timeout=aiohttp.ClientWSTimeout(ws_close=timeout),
            max_msg_size=4 * 1024 * 1024,
        )
    except aiohttp.WSServerHandshakeError as err:
        if err.status == 401:
            raise ConnectError(
                "CSMS refused the credentials (HTTP 401): check station_id and password",
                refused=True,
                status=401,
            ) from None
        if err.status in (403, 404):
            raise ConnectError(
                f"CSMS refused the station (HTTP {err.status}): check the URL and station id",
                refused=True,
                status=err.status,
            ) from None
        raise ConnectError(
            f"WebSocket handshake failed (HTTP {err.status}): {err.message}",
            refused=err.status == 400,
            status=err.status,
        ) from None
    except aiohttp.ClientConnectorCertificateError as err:
        raise ConnectError(f"TLS certificate not trusted: {err.certificate_error}") from None
    except aiohttp.ClientSSLError as err:
        raise ConnectError(f"TLS error: {err}") from None
    except (aiohttp.ClientError, OSError) as err:
        raise ConnectError(f"cannot connect: {type(err).__name__}: {err}") from None
    except TimeoutError:
        raise ConnectError(f"no answer from the CSMS within {timeout:.0f} s") from None
    if ws.protocol != SUBPROTOCOL:
        await ws.close()
        raise ConnectError("CSMS did not agree to subprotocol ocpp1.6", refused=True)
    return ws


class _Socket:
    """recv()/send() over an aiohttp WebSocket, as the `ocpp` library expects."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def recv(self) -> str:
        while True:
            msg = await self.ws.receive()
            if msg.type == aiohttp.WSMsgType.TEXT:
                return msg.data
            if msg.type == aiohttp.WSMsgType.BINARY:
                continue
            raise LinkDown(f"connection closed ({msg.type.name}, code {self.ws.close_code})")

    async def send(self, text: str) -> None:
        if self.ws.closed:
            raise LinkDown("connection closed")
        try:
            await self.ws.send_str(text)
        except (ConnectionError, aiohttp.ClientError, RuntimeError) as err:
            raise LinkDown(str(err)) from None


class Link(ChargePoint):
    """One connection's view of the CSMS, with the 1.6 order handlers."""

    def __init__(self, station: Ocpp16Station, ws: aiohttp.ClientWebSocketResponse) -> None:
        super().__init__(
            station.station_id,
            _Socket(ws),
            response_timeout=station.response_timeout,
            logger=getattr(station, "wire_logger", _WIRE),
        )
        self.station = station
        self.ws = ws
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def run(self) -> None:
        """Receive until the connection ends (returns; never raises for a closed link)."""
        try:
            await self.start()
        except LinkDown as err:
            _LOGGER.info("OCPP 1.6 link down: %s", err)
        finally:
            if not self.closed.done():
                self.closed.set_result(None)

    async def _send(self, message: str) -> None:  # type: ignore[override]
        # The library names a malformed payload with 2.0.1's "FormatViolation";
        # OCPP 1.6J calls that error "FormationViolation".
        if message.startswith("[4,") and '"FormatViolation"' in message:
            frame = json.loads(message)
            if frame[2] == "FormatViolation":
                frame[2] = "FormationViolation"
                message = json.dumps(frame, separators=(",", ":"))
        await super()._send(message)

    async def send_call(
        self, action: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        """One CALL with a camelCase payload; returns the answer's payload."""
        call = Call(unique_id=str(uuid.uuid4()), action=action, payload=payload)
        try:
            await validate_payload(call, self._ocpp_version)
        except (OCPPError, ValidationError) as err:
            # Our own message breaks the 1.6 schema: it will never be accepted, so it is
            # treated like a refusal (counted, then moved aside), never left to wedge the
            # queue or kill the session.
            _LOGGER.error("Not sending an invalid %s: %s", action, err)
            raise CallRejected("LocalValidation", str(err)[:200]) from None
        loop = asyncio.get_running_loop()
        async with self._call_lock:
            if self.closed.done():
                raise LinkDown("connection closed")
            await self._send(call.to_json())
            deadline = loop.time() + (timeout or self._response_timeout)
            while True:
                getter = asyncio.ensure_future(self._response_queue.get())
                done, _ = await asyncio.wait(
                    {getter, self.closed},
                    timeout=max(0.0, deadline - loop.time()),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if getter not in done:
                    getter.cancel()
                    if self.closed.done():
                        # The answer may have arrived just before the close: use it, or
                        # the CSMS would get this message a second time.
                        response = self._queued_answer(call.unique_id)
                        if response is not None:
                            return self._answer(response)
                        raise LinkDown("connection closed while waiting for the answer")
                    raise NoAnswer(
                        f"no answer to {action} within {timeout or self._response_timeout:g} s"
                    )
                response = getter.result()
                if response.unique_id != call.unique_id:
                    continue  # a late answer to an earlier call that timed out
                return self._answer(response)

    @staticmethod
    def _answer(response: Any) -> dict[str, Any]:
        if response.message_type_id == MessageType.CallError:
            raise CallRejected(response.error_code, response.error_description)
        return response.payload

    def _queued_answer(self, unique_id: str) -> Any:
        while not self._response_queue.empty():
            response = self._response_queue.get_nowait()
            if response.unique_id == unique_id:
                return response
        return None

    # --- orders from the CSMS: decide and answer here; act after the answer -------------

    @on("RemoteStartTransaction")
    async def on_remote_start(
        self, id_tag: str, connector_id: int | None = None, charging_profile: dict | None = None
    ) -> Any:
        # a service call to the controller, not an OCPP call: fine inside the handler
        status = await self.station.remote_start(id_tag, connector_id, charging_profile)
        return result.RemoteStartTransaction(status=status)

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, transaction_id: int) -> Any:
        return result.RemoteStopTransaction(status=await self.station.remote_stop(transaction_id))

    @on("Reset")
    def on_reset(self, type: str) -> Any:
        return result.Reset(status="Accepted")

    @after("Reset")
    def after_reset(self, type: str) -> Any:
        return self.station.spawn(self.station.reset_run(type))

    @on("ChangeAvailability")
    def on_change_availability(self, connector_id: int, type: str) -> Any:
        return result.ChangeAvailability(
            status=self.station.change_availability(connector_id, type)
        )

    @on("UnlockConnector")
    async def on_unlock(self, connector_id: int) -> Any:
        return result.UnlockConnector(status=await self.station.unlock(connector_id))

    @on("TriggerMessage")
    def on_trigger(self, requested_message: str, connector_id: int | None = None) -> Any:
        return result.TriggerMessage(
            status=self.station.trigger_decision(requested_message, connector_id)
        )

    @after("TriggerMessage")
    def after_trigger(self, requested_message: str, connector_id: int | None = None) -> Any:
        return self.station.spawn(self.station.trigger_run(requested_message, connector_id))

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None) -> Any:
        known, unknown = self.station.keys.report(key)
        return result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str) -> Any:
        return result.ChangeConfiguration(status=self.station.change_configuration(key, value))

    @on("SetChargingProfile")
    def on_set_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any]) -> Any:
        return result.SetChargingProfile(
            status=self.station.set_charging_profile(connector_id, cs_charging_profiles)
        )

    @on("ClearChargingProfile")
    def on_clear_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
    ) -> Any:
        return result.ClearChargingProfile(
            status=self.station.clear_charging_profile(
                id, connector_id, charging_profile_purpose, stack_level
            )
        )

    @on("GetCompositeSchedule")
    def on_composite(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None
    ) -> Any:
        return result.GetCompositeSchedule(
            **self.station.composite_schedule(connector_id, duration, charging_rate_unit)
        )

    @on("DataTransfer")
    def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> Any:
        status, answer = self.station.data_transfer(vendor_id, message_id, data)
        return result.DataTransfer(status=status, data=answer)
