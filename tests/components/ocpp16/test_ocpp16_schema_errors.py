"""OCPP 1.6: a CALL from the Central System whose payload breaks its schema (1.6J
§4.2.3: FormationViolation, TypeConstraintViolation...): the right CALLERROR, one
WARNING line without traceback, errorDetails that never echo the payload (an
AuthorizationKey in it); an exception in our own handler keeps its traceback."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from ocpp16_helpers import PASSWORD, STATION, FakeController, station_yaml

from tests.ocpp_csms import OcppCsms

SECRET = "0123456789abcdef0123456789abcdef"  # an AuthorizationKey


def _station_lines(caplog: Any) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("components.")]


async def test_schema_violations_one_warning_line_and_small_error_details(
    config_dir: Any, start_station: Any, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        FakeController(hub).state("idle")
        await csms.wait_for("StatusNotification", 2)
        key_frame = [2, "e2", "ChangeConfiguration",
                     {"key": "AuthorizationKey", "value": SECRET, "bogus": 1}]  # fmt: skip
        cases = [
            ('[2,"e1","Reset",{"type":"Bogus"}]', "FormationViolation", "type: enum"),
            (json.dumps(key_frame), "FormationViolation", "payload: Additional properties"),
            ('[2,"e3","UnlockConnector",{"connectorId":"one"}]', "TypeConstraintViolation",
             "connectorId: type 'integer'"),
            # a dateTime the station cannot read: refused, not crashed on in a handler
            ('[2,"e4","UpdateFirmware",{"location":"ftp://x/f?token=Bogus-t",'
             '"retrieveDate":"Bogus-date"}]', "FormationViolation",
             "retrieveDate: format 'date-time'"),
            ('[2,"e5","GetDiagnostics",{"location":"ftp://x/up","startTime":"Bogus"}]',
             "FormationViolation", "startTime: format 'date-time'"),
        ]  # fmt: skip
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
            wire = [r for r in lines if r.name == "components.ocpp16.wire"]
            assert len(wire) == 1, [r.getMessage() for r in lines]
            assert wire[0].levelno == logging.WARNING and wire[0].exc_info is None
            assert cause in wire[0].getMessage()
            assert code in wire[0].getMessage()  # 1.6's name, as on the wire
            assert not [r for r in lines if r.levelno >= logging.ERROR]
            assert all(SECRET not in r.getMessage() for r in caplog.records)
        assert await csms.call(STATION, "ClearCache", {}) == {"status": "Accepted"}


async def test_a_crash_in_our_handler_is_logged_with_its_traceback(
    config_dir: Any, start_station: Any, caplog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        FakeController(hub).state("idle")
        await csms.wait_for("StatusNotification", 2)
        station = hub.data["ocpp16"]

        async def broken() -> Any:
            raise RuntimeError("cache on fire")

        monkeypatch.setattr(station.authorization, "clear_cache", broken)
        answer = await csms.send_raw(STATION, '[2,"c1","ClearCache",{}]')
        assert answer is not None and answer.payload["code"] == "InternalError"
        crashes = [r for r in _station_lines(caplog) if r.exc_info and r.levelno >= logging.ERROR]
        assert crashes and "cache on fire" in str(crashes[0].exc_info[1])
