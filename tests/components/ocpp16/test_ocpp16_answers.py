"""Issue 10 point 2 under 1.6: every Core action answered, by the OCPP-J error table, and
answered before the messages its effects cause (real station, real WebSocket)."""

from __future__ import annotations

import asyncio
import time

from ocpp16_helpers import PASSWORD, STATION, FakeController, station_yaml
from test_ocpp16_transactions import _session_started

from orge.core import ServiceCall
from tests.ocpp_csms import OcppCsms


async def test_clear_cache_is_a_core_action(config_dir, start_station) -> None:
    """1.6 Core profile, ClearCache (OCPP 1.6 §5.4; OCA TC_061_CS step 6 - its cache
    prerequisite does not apply: ORGE keeps no authorization cache): answered with a
    ClearCache.conf, never a CALLERROR, while SupportedFeatureProfiles says Core."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        FakeController(hub).state("idle")
        await csms.wait_for("StatusNotification", 2)
        keys = await csms.call(STATION, "GetConfiguration", {"key": ["SupportedFeatureProfiles"]})
        assert "Core" in keys["configurationKey"][0]["value"].split(",")
        assert await csms.call(STATION, "ClearCache", {}) == {"status": "Accepted"}
        assert not csms.errors_sent()


async def test_error_table(config_dir, start_station) -> None:
    """OCPP-J 1.6 §4.2.3: an action that is not 1.6's -> NotImplemented; a 1.6 action the
    station does not support -> NotSupported; a payload that breaks the schema ->
    FormationViolation / TypeConstraintViolation; the connection stays up."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        FakeController(hub).state("idle")
        await csms.wait_for("StatusNotification", 2)
        cases = [
            ('[2,"e1","FlyToTheMoon",{}]', "NotImplemented"),
            # a station-to-CSMS action sent to the station (ExtendedTriggerMessage, the
            # example before, is the security whitepaper's and answered now)
            ('[2,"e2","Heartbeat",{}]', "NotSupported"),
            ('[2,"e4","Reset",{"type":"Sideways"}]', "FormationViolation"),
            ('[2,"e5","Reset",[]]', "FormationViolation"),
            ('[2,"e6","UnlockConnector",{"connectorId":"one"}]', "TypeConstraintViolation"),
        ]
        for text, code in cases:
            answer = await csms.send_raw(STATION, text)
            assert answer is not None and answer.kind == "error", text
            assert answer.unique_id == text.split('"')[1], text
            assert answer.payload["code"] == code, (text, answer.payload)
        assert await csms.call(STATION, "ClearCache", {}) == {"status": "Accepted"}
        assert len(csms.attempts) == 1 and not csms.disconnects


async def test_remote_stop_is_answered_before_the_controller_stops(
    config_dir, start_station
) -> None:
    """A CSMS that handles one call per station at a time (CitrineOS does) must get the
    RemoteStopTransaction.conf at once, not after the controller stopped: the answer comes
    first, then the StopTransaction the stop causes."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        controller = FakeController(hub)
        controller.state("idle")
        await csms.wait_for("StatusNotification", 2)
        tx_id = await _session_started(csms, controller)

        async def slow_stop(call: ServiceCall) -> None:
            controller.calls.append((call.service, dict(call.data)))
            await asyncio.sleep(1.5)  # a controller that takes its time
            controller.state("stopped")

        hub.services.async_register("fake", "stop_charging", slow_stop)
        began = time.monotonic()
        assert await csms.remote_stop(STATION, tx_id) == {"status": "Accepted"}
        assert time.monotonic() - began < 0.7
        stop = (await csms.wait_for("StopTransaction"))[0]
        assert stop.payload["reason"] == "Remote" and stop.payload["transactionId"] == tx_id
        assert stop.mono - began >= 1.4  # sent once the controller had stopped
        frames = [
            (m.kind, m.action)
            for m in csms.messages
            if m.direction == "in" and m.action in ("RemoteStopTransaction", "StopTransaction")
        ]
        assert frames == [("result", "RemoteStopTransaction"), ("call", "StopTransaction")]
        assert ("stop_charging", {}) in [(c[0], {}) for c in controller.calls]
