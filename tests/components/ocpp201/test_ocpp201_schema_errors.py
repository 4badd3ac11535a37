"""A CALL from the CSMS whose payload breaks its schema (OCPP-J §4.3: FormatViolation,
TypeConstraintViolation...): the right CALLERROR, one WARNING line without traceback,
errorDetails that never echo the payload; an exception in our own handler is still
logged with its traceback (InternalError)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from ocpp201_helpers import PASSWORD, STATION, FakeController, station_yaml

from tests.ocpp_csms import OcppCsms

SECRET = "a-new-password-0123456789"  # passwordString: 16-40 characters


def _station_lines(caplog: Any) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("components.")]


async def test_schema_violations_one_warning_line_and_small_error_details(
    config_dir: Any, start_station: Any, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        FakeController(hub).state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        password_frame = [2, "m4", "SetVariables", {"setVariableData": [{
            "attributeType": "Bogus",  # not an AttributeEnumType
            "attributeValue": SECRET,
            "component": {"name": "SecurityCtrlr"},
            "variable": {"name": "BasicAuthPassword"},
        }]}]  # fmt: skip
        cases = [
            ('[2,"m3","Reset",{"type":"Bogus"}]', "FormatViolation", "type: enum"),
            (json.dumps(password_frame), "FormatViolation", "setVariableData/0/attributeType"),
            ('[2,"m5","Reset",{"type":5}]', "TypeConstraintViolation", "type: type 'string'"),
            # a dateTime the station cannot read (schema "format": "date-time", which the
            # library does not check): refused here, no handler crashes on it; the
            # location's query (a download token) is in no line
            (
                '[2,"m6","UpdateFirmware",{"requestId":1,"firmware":{"location":'
                '"https://x/f.whl?token=Bogus-token","retrieveDateTime":"Bogus-date"}}]',
                "FormatViolation",
                "firmware/retrieveDateTime: format 'date-time'",
            ),
            (
                '[2,"m7","GetLog",{"logType":"SecurityLog","requestId":2,"log":'
                '{"remoteLocation":"https://x/up","oldestTimestamp":"Bogus"}}]',
                "FormatViolation",
                "log/oldestTimestamp: format 'date-time'",
            ),
        ]
        for text, code, cause in cases:
            caplog.clear()
            answer = await csms.send_raw(STATION, text)
            assert answer is not None and answer.kind == "error", text
            assert answer.payload["code"] == code, answer.payload
            details = answer.payload["details"]
            assert list(details) == ["cause"] and details["cause"].startswith(cause), details
            assert SECRET not in answer.raw and "Bogus" not in answer.raw
            assert len(answer.raw) < 400  # no payload echo, no schema dump
            lines = [r for r in _station_lines(caplog) if r.levelno >= logging.WARNING]
            wire = [r for r in lines if r.name == "components.ocpp201.wire"]
            assert len(wire) == 1, [r.getMessage() for r in lines]
            assert wire[0].levelno == logging.WARNING and wire[0].exc_info is None
            assert code in wire[0].getMessage() and cause in wire[0].getMessage()
            assert not [r for r in lines if r.levelno >= logging.ERROR]
            assert all(SECRET not in r.getMessage() for r in caplog.records)
        # the connection is kept; a valid order works
        assert await csms.call(STATION, "ClearCache", {}) == {"status": "Accepted"}


async def test_a_crash_in_our_handler_is_logged_with_its_traceback(
    config_dir: Any, start_station: Any, caplog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), evse=False)))
        await csms.wait_for("BootNotification")
        station = hub.data["ocpp201"]

        async def broken() -> Any:
            raise RuntimeError("cache on fire")

        monkeypatch.setattr(station.authorization, "clear_cache", broken)
        answer = await csms.send_raw(STATION, '[2,"c1","ClearCache",{}]')
        assert answer is not None and answer.payload["code"] == "InternalError"
        crashes = [r for r in _station_lines(caplog) if r.exc_info and r.levelno >= logging.ERROR]
        assert crashes and "cache on fire" in str(crashes[0].exc_info[1])
