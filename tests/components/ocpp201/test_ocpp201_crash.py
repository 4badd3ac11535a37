"""Crash safety and Reset Immediate of a real `orge run` (issue 10 point 6, OCA TC_B_22).

The station is killed with SIGKILL between two steps of a session (authorize, start,
meter, stop) while its controller (a file, see tests/station_process.py) runs on; started
again, it must bill every charge: a transaction with the accepted start's id token and
remoteStartId, each seqNo of it delivered, a confirmed message never sent again.
Unplugging while the station is dead is test_ocpp201_sigkill.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ocpp201_helpers import PASSWORD, STATION

from tests.ocpp_csms import SILENCE, OcppCsms
from tests.station_process import EVSE_YAML, Controller, kill9, start, stop, write_station


def _station(path: Path, url: str) -> Controller:
    block = f"""ocpp201:
  url: {url}
  station_id: !env_var OCPP_STATION_NAME
  password: !env_var OCPP_STATION_PASSWORD
  response_timeout: 1
  retry_backoff_wait_minimum: 0.1
  retry_backoff_random_range: 0.1
  message_attempts: 50
  message_attempt_interval: 0.2
  sampled_interval: 0
  aligned_interval: 0
{EVSE_YAML}"""
    return write_station(path, block)


def _events(csms: OcppCsms) -> list[dict]:
    return csms.payloads("TransactionEvent")


def _answered(csms: OcppCsms, count: int = 1) -> bool:
    results = [
        m
        for m in csms.messages
        if m.direction == "out" and m.kind == "result" and m.action == "TransactionEvent"
    ]
    return len(results) >= count


def _ended(p: dict) -> bool:
    return p["eventType"] == "Ended"


async def _plugged_in(csms: OcppCsms, controller: Controller) -> None:
    await csms.wait_for("StatusNotification", timeout=20)
    controller.set("ev_connected", 1)
    await csms.wait_for("StatusNotification", where=lambda p: p["connectorStatus"] == "Occupied")


async def test_kill9_after_authorize_before_started(tmp_path) -> None:
    """Killed after the controller was authorized, before any transaction was journaled:
    the restarted station opens it with the accepted start's token and remoteStartId."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        controller = _station(tmp_path, csms.url())
        controller.set("idle", 0, kwh=1.0, hold=True)
        proc = await start(tmp_path, STATION, PASSWORD)
        try:
            await _plugged_in(csms, controller)
            answer = await csms.request_start(STATION, "TOKEN9", evse_id=1, remote_id=4242)
            assert answer["status"] == "Accepted"
            await csms.wait_until(lambda: "authorize" in controller.calls(), 10, "authorize")
            await kill9(proc)
            assert not _events(csms)  # the station died before the session started
            controller.set("charging", 2, kwh=1.5)  # the controller charges on
            proc = await start(tmp_path, STATION, PASSWORD)
            started = (await csms.wait_for("TransactionEvent", timeout=20))[0].payload
            assert started["eventType"] == "Started"
            assert started["idToken"] == {"idToken": "TOKEN9", "type": "Central"}
            assert started["transactionInfo"]["remoteStartId"] == 4242
            assert started["triggerReason"] == "RemoteStart"
            controller.set("idle", 0, kwh=2.0)  # unplugged
            await csms.wait_for("TransactionEvent", where=_ended, timeout=10)
        finally:
            await stop(proc)
        events = _events(csms)
        assert [e["seqNo"] for e in events] == list(range(len(events)))
        assert events[-1]["transactionInfo"]["stoppedReason"] == "EVDisconnected"
        assert events[-1]["meterValue"][0]["sampledValue"][0]["value"] == 2000


async def test_kill9_while_charging_resumes_without_resending(tmp_path) -> None:
    """Killed mid-charge after Started was confirmed: the transaction goes on after the
    restart (same id, next seqNo), the confirmed Started is never sent again."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        controller = _station(tmp_path, csms.url())
        controller.set("idle", 0, kwh=1.0)
        proc = await start(tmp_path, STATION, PASSWORD)
        try:
            await _plugged_in(csms, controller)
            assert (await csms.request_start(STATION, "TOKEN1", remote_id=7))["status"] == (
                "Accepted"
            )
            await csms.wait_for("TransactionEvent", timeout=10)
            await csms.wait_until(lambda: _answered(csms), 10, "Started answered")
            tx_id = _events(csms)[0]["transactionInfo"]["transactionId"]
            await asyncio.sleep(0.3)  # the confirmation is stored
            await kill9(proc)
            controller.set("charging", 2, kwh=3.0)
            proc = await start(tmp_path, STATION, PASSWORD)
            await csms.wait_for("BootNotification", 2, timeout=20)
            assert (await csms.request_stop(STATION, tx_id))["status"] == "Accepted"
            await csms.wait_for("TransactionEvent", where=_ended, timeout=10)
        finally:
            await stop(proc)
        events = _events(csms)
        assert {e["transactionInfo"]["transactionId"] for e in events} == {tx_id}
        assert [e["eventType"] for e in events].count("Started") == 1
        assert [e["seqNo"] for e in events] == list(range(len(events)))
        assert events[-1]["transactionInfo"]["stoppedReason"] == "Remote"
        assert "stop" in controller.calls()


async def test_kill9_after_stop_before_ended_delivered(tmp_path) -> None:
    """Killed after a remote stop, with Ended journaled but not answered: it is
    delivered after the restart, the confirmed messages before it are not resent."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        controller = _station(tmp_path, csms.url())
        controller.set("idle", 0, kwh=1.0)
        proc = await start(tmp_path, STATION, PASSWORD)
        try:
            await _plugged_in(csms, controller)
            await csms.request_start(STATION, "TOKEN2", remote_id=8)
            await csms.wait_until(lambda: _answered(csms), 10, "Started answered")
            tx_id = _events(csms)[0]["transactionInfo"]["transactionId"]
            csms.answer("TransactionEvent", SILENCE)
            assert (await csms.request_stop(STATION, tx_id))["status"] == "Accepted"
            await csms.wait_for("TransactionEvent", where=_ended, timeout=10)
            await kill9(proc)
            csms.reset_answers()
            controller.set("idle", 0)
            proc = await start(tmp_path, STATION, PASSWORD)
            await csms.wait_for("TransactionEvent", 2, where=_ended, timeout=20)
            await asyncio.sleep(0.5)
        finally:
            await stop(proc)
        events = _events(csms)
        ended = [e for e in events if _ended(e)]
        assert all(e == ended[0] for e in ended)  # the same Ended, resent until answered
        assert ended[0]["transactionInfo"]["stoppedReason"] == "Remote"
        answered_first = [e for e in events if not _ended(e)]
        assert [e["seqNo"] for e in answered_first] == list(range(len(answered_first)))
        assert ended[0]["seqNo"] == len(answered_first)


async def test_tc_b_22_reset_immediate_always_restarts(tmp_path) -> None:
    """Reset Immediate during a transaction, three times, with a controller that does
    not stop: each time the transaction ends (ImmediateReset, ResetCommand), the process
    exits by itself for its supervisor to start it again, and boots RemoteReset."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        controller = _station(tmp_path, csms.url())
        controller.set("idle", 0, kwh=1.0)
        for attempt in range(3):
            proc = await start(tmp_path, STATION, PASSWORD)
            try:
                await csms.wait_for("BootNotification", attempt + 1, timeout=20)
                if attempt == 0:
                    await _plugged_in(csms, controller)
                    controller.set("ev_connected", 1, hold=True)
                await csms.request_start(STATION, f"TOK{attempt}", remote_id=attempt + 1)
                await csms.wait_until(lambda: "authorize" in controller.calls(), 10, "authorize")
                controller.set("charging", 2, kwh=1.0 + attempt)
                await csms.wait_for(
                    "TransactionEvent",
                    where=lambda p, n=attempt: (
                        p["eventType"] == "Started"
                        and p["transactionInfo"]["remoteStartId"] == n + 1
                    ),
                    timeout=10,
                )
                assert (await csms.reset(STATION, "Immediate"))["status"] == "Accepted"
                await csms.wait_for("TransactionEvent", attempt + 1, where=_ended, timeout=15)
                assert await asyncio.wait_for(proc.wait(), 20) == 0  # exited to restart
            finally:
                await stop(proc)
            (tmp_path / "calls.log").unlink()
            controller.set("ev_connected", 1)  # it stopped charging when the station left
        proc = await start(tmp_path, STATION, PASSWORD)
        try:
            await csms.wait_for("BootNotification", 4, timeout=20)
            await asyncio.sleep(1.0)
        finally:
            await stop(proc)
        ended = [e for e in _events(csms) if _ended(e)]
        assert len(ended) == 3  # each once, never again after the reboot
        assert len({e["transactionInfo"]["transactionId"] for e in ended}) == 3
        for event in ended:
            assert event["transactionInfo"]["stoppedReason"] == "ImmediateReset"
            assert event["triggerReason"] == "ResetCommand"
        reasons = [b["reason"] for b in csms.payloads("BootNotification")]
        assert reasons == ["PowerUp", "RemoteReset", "RemoteReset", "RemoteReset"]
