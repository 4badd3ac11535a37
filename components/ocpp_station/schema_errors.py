"""A CSMS CALL whose payload breaks its action's JSON schema: one WARNING line and a
small CALLERROR, in both protocols.

The `ocpp` library's `ChargePoint.route_message` answers such a CALL with the right
code (FormatViolation, TypeConstraintViolation, ProtocolError..., OCPP-J §4.3 / 1.6J
§4.2.3; `connection.Connection.send` gives 1.6 its own names, FormationViolation...),
but logs it at ERROR with two chained tracebacks (~30 lines a frame: a misbehaving CSMS
floods the log) and its errorDetails echo the whole request payload (a
BasicAuthPassword / AuthorizationKey in it) plus a dump of the schema. `SchemaChecked`
checks the payload first (the library's public `validate_payload`, the same schemas) and
answers a violation itself: one WARNING line naming the action, the CALLERROR code and
where the payload breaks which rule, and errorDetails `{"cause": that}`, never a value
of the payload. A valid CALL goes to the library as before, so an exception in one of
our handlers is still logged with its traceback (and answered InternalError).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from jsonschema import Draft4Validator, FormatChecker
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, MessageType, get_validator, unpack, validate_payload

_MAX_CAUSE = 200  # characters of the cause sent and logged


def schema_cause(error: OCPPError) -> str:
    """Where the payload breaks which rule ("type: enum ['Immediate', 'OnIdle']",
    "payload: required ['type']"), from the jsonschema error behind `error`; never the
    offending value (it may be a secret). At most `_MAX_CAUSE` characters."""
    # the library raises it while handling jsonschema's ValidationError (read by its
    # attributes: jsonschema is the library's dependency, not ours)
    schema_error: Any = error.__cause__ or error.__context__
    if schema_error is None or not hasattr(schema_error, "validator"):
        return str(error.description)[:_MAX_CAUSE]
    where = "/".join(str(part) for part in schema_error.absolute_path) or "payload"
    if schema_error.validator == "additionalProperties":
        rule = schema_error.message  # names the unexpected keys, not their values
    else:
        rule = f"{schema_error.validator} {schema_error.validator_value!r}"
    return f"{where}: {rule}"[:_MAX_CAUSE]


# The library's validators check no "format" (it gives them no format checker), so a
# dateTime the station cannot read reached a handler and crashed it (InternalError, a
# traceback, the payload in the log). Checked here with what the station reads them with.
_DATE_TIMES = FormatChecker(formats=())


@_DATE_TIMES.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    """An OCPP dateTime as the station reads it (`datetime.fromisoformat`, Z for UTC:
    ocpp_station/clock.py, diagnostics.py). Raises ValueError for one it cannot read."""
    if isinstance(value, str):
        datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return True


_FORMAT_VALIDATORS: dict[tuple[str, str], Any] = {}


def date_time_cause(action: str, version: str, payload: Any) -> str | None:
    """Where a CALL's payload has a dateTime (schema "format": "date-time") the station
    cannot read ("retrieveDateTime: format 'date-time'"), or None. An action without a
    schema has none."""
    key = (version, action)
    validator = _FORMAT_VALIDATORS.get(key)
    if validator is None:
        try:
            schema = get_validator(MessageType.Call, action, version).schema
        except (OSError, ValueError):
            return None
        validator = _FORMAT_VALIDATORS[key] = Draft4Validator(schema, format_checker=_DATE_TIMES)
    for error in validator.iter_errors(payload):
        if error.validator == "format":
            where = "/".join(str(part) for part in error.absolute_path) or "payload"
            return f"{where}: format 'date-time'"[:_MAX_CAUSE]
    return None


class SchemaChecked:
    """Mixed in before the library's ChargePoint (`class X(SchemaChecked, ChargePoint)`).

    The class sets `schema_version` ("2.0.1", "1.6": the library's schema folder) and
    the instance has `connection` (our `connection.Connection`: `await send(text)`) and
    `logger` (the library ChargePoint's, the component's wire logger)."""

    schema_version: str
    connection: Any
    logger: logging.Logger

    async def route_message(self, raw_msg: str) -> None:
        """A CALL breaking its schema is answered here; everything else goes on to the
        library's `route_message`."""
        try:
            msg = unpack(raw_msg)
        except OCPPError:
            msg = None  # not ours to answer (the connection answers malformed frames)
        if isinstance(msg, Call) and msg.message_type_id == MessageType.Call:
            refusal = await self._schema_refusal(msg)
            if refusal is not None:
                code, description, cause = refusal
                self.logger.warning(
                    "CSMS %s %s breaks its schema: answered CALLERROR %s (%s)",
                    msg.action,
                    msg.unique_id,
                    self.connection.error_name(code),  # in the protocol's words
                    cause,
                )
                answer = CallError(msg.unique_id, code, description, {"cause": cause})
                await self.connection.send(answer.to_json())
                return
        await super().route_message(raw_msg)  # type: ignore[misc]

    async def _schema_refusal(self, msg: Call) -> tuple[str, str, str] | None:
        """(CALLERROR code, description, cause) for a CALL that breaks its schema or
        carries a dateTime the station cannot read; None for one that holds (or has no
        schema: the library answers it)."""
        try:
            await validate_payload(msg, self.schema_version)
        except OcppNotImplemented:
            return None
        except OCPPError as error:
            return error.code, str(error.description), schema_cause(error)
        cause = date_time_cause(msg.action, self.schema_version, msg.payload)
        if cause is None:
            return None
        return "FormatViolation", "Payload is syntactically incorrect", cause
