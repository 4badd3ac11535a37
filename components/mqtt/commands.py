"""Commands in: service calls from the broker, only those on the allow-list.

`<base>/command` takes `{"id", "domain", "service", "data"}` and the answer goes to
`<base>/response` as `{"id", "success": true, "result"}` or `{"id", "success": false,
"error": {"code", "message"}}` (codes as Home Assistant's WebSocket API: `invalid_format`,
`unauthorized`, `not_found`, `service_validation_error`, `home_assistant_error`,
`unknown_error`; and `busy` when MAX_IN_FLIGHT commands are already running). Home
Assistant's controls announced by discovery write to `<base>/<domain>/<object_id>/set`
(number value, `PRESS`, `ON`/`OFF`) and `<base>/action/<key>` (a configured button): they
are mapped to `number.set_value`, `button.press`, `switch.turn_on/off` or the button's
action, and checked against the same allow-list. A malformed or unauthorised command is
answered with an error, counted (`sensor.mqtt_rejected_commands`) and never executed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from orge.core import Context, Orge, SupportsResponse
from orge.exceptions import OrgeError, ServiceNotFound, ServiceValidationError

from .states import to_json

_LOGGER = logging.getLogger(__name__)

MAX_COMMAND_BYTES = 65536
# Commands running at once; more are refused (code `busy`) rather than piling up tasks.
MAX_IN_FLIGHT = 32


class Refused(Exception):
    """A command that is not executed; `code` as HA's WebSocket API error codes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Commands:
    def __init__(
        self,
        orge: Orge,
        base: str,
        allowed: frozenset[str],
        buttons: dict[str, dict[str, Any]],
        reply: Callable[[bytes], None],
        count_refused: Callable[[str], None],
    ) -> None:
        self._orge = orge
        self._base = base
        self._allowed = allowed
        self._buttons = buttons
        self._reply = reply
        self._count_refused = count_refused
        self._running = 0

    @property
    def subscriptions(self) -> list[str]:
        return [f"{self._base}/command", f"{self._base}/+/+/set", f"{self._base}/action/+"]

    async def handle(self, topic: str, payload: bytes) -> None:
        """One message on a subscribed topic; never raises."""
        rest = topic[len(self._base) + 1 :] if topic.startswith(self._base + "/") else ""
        if self._running >= MAX_IN_FLIGHT:
            self._count_refused("busy")
            if rest == "command":
                self._answer(None, error=("busy", f"{MAX_IN_FLIGHT} commands already running"))
            return
        self._running += 1
        try:
            await self._handle(rest, topic, payload)
        finally:
            self._running -= 1

    async def _handle(self, rest: str, topic: str, payload: bytes) -> None:
        if rest == "command":
            await self._command(payload)
            return
        try:
            domain, service, data = self._control(rest, payload)
            self._check_allowed(domain, service)
            await self._call(domain, service, data)
        except Refused as err:
            self._count_refused(err.code)
            _LOGGER.warning("MQTT %s refused: %s", topic, err)
        except Exception as err:  # a control has nobody to answer: the log says why
            _LOGGER.warning("MQTT %s failed: %s", topic, err)

    def _control(self, rest: str, payload: bytes) -> tuple[str, str, dict[str, Any]]:
        """(domain, service, data) for a Home Assistant control's message."""
        text = payload.decode("utf-8", "replace").strip()
        parts = rest.split("/")
        if len(parts) == 2 and parts[0] == "action" and parts[1] in self._buttons:
            button = self._buttons[parts[1]]
            domain, _, service = button["action"].partition(".")
            return domain, service, dict(button["data"])
        if len(parts) == 3 and parts[2] == "set":
            entity_id = f"{parts[0]}.{parts[1]}"
            if parts[0] == "number":
                try:
                    value = float(text)
                except ValueError:
                    raise Refused("invalid_format", f"not a number: {text[:40]!r}") from None
                return "number", "set_value", {"entity_id": entity_id, "value": value}
            if parts[0] == "button":
                return "button", "press", {"entity_id": entity_id}
            if parts[0] == "switch" and text.upper() in ("ON", "OFF"):
                return "switch", f"turn_{text.lower()}", {"entity_id": entity_id}
        raise Refused("invalid_format", f"no control at {rest!r}")

    def _check_allowed(self, domain: str, service: str) -> None:
        if f"{domain}.{service}" not in self._allowed:
            raise Refused("unauthorized", f"Service {domain}.{service} is not allowed over MQTT")

    async def _command(self, payload: bytes) -> None:
        command_id: Any = None
        try:
            if len(payload) > MAX_COMMAND_BYTES:
                raise Refused("invalid_format", f"command larger than {MAX_COMMAND_BYTES} bytes")
            try:
                message = json.loads(payload)
            except (ValueError, UnicodeDecodeError):
                raise Refused("invalid_format", "command is not JSON") from None
            if not isinstance(message, dict):
                raise Refused("invalid_format", "command must be a JSON object")
            command_id = message.get("id")
            if not isinstance(command_id, str | int) or isinstance(command_id, bool):
                command_id = None
                raise Refused("invalid_format", "command needs an 'id' (string or integer)")
            domain, service = message.get("domain"), message.get("service")
            if not isinstance(domain, str) or not isinstance(service, str):
                raise Refused("invalid_format", "command needs 'domain' and 'service' strings")
            data = message.get("data", {})
            if not isinstance(data, dict):
                raise Refused("invalid_format", "'data' must be a JSON object")
            self._check_allowed(domain, service)
        except Refused as err:
            self._count_refused(err.code)
            self._answer(command_id, error=(err.code, str(err)))
            return
        try:
            result = await self._call(domain, service, data)
        except ServiceNotFound as err:
            self._answer(command_id, error=("not_found", str(err)))
        except ServiceValidationError as err:
            self._answer(command_id, error=("service_validation_error", str(err)))
        except OrgeError as err:
            self._answer(command_id, error=("home_assistant_error", str(err)))
        except Exception:
            _LOGGER.exception("MQTT command %s.%s failed", domain, service)
            self._answer(command_id, error=("unknown_error", "Unknown error"))
        else:
            self._answer(command_id, result=result)

    async def _call(self, domain: str, service: str, data: dict[str, Any]) -> Any:
        """Call the service; its response if it gives one, else `{"context": ...}`."""
        services = self._orge.services.async_services()
        handler = services.get(domain, {}).get(service)
        wants_response = handler is not None and handler.supports_response is not (
            SupportsResponse.NONE
        )
        context = Context()
        response = await self._orge.services.async_call(
            domain, service, data, blocking=True, context=context, return_response=wants_response
        )
        return response if wants_response else {"context": context.as_dict()}

    def _answer(
        self, command_id: Any, result: Any = None, error: tuple[str, str] | None = None
    ) -> None:
        if error is None:
            answer = {"id": command_id, "success": True, "result": result}
        else:
            answer = {
                "id": command_id,
                "success": False,
                "error": {"code": error[0], "message": error[1]},
            }
        self._reply(to_json(answer))
