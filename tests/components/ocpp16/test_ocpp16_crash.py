"""Crash safety and Reset of a real `orge run` under OCPP 1.6 (issue 10 point 6).

The controller (a file, tests/station_process.py) outlives the station. Killed with
SIGKILL after the controller was authorized for an accepted RemoteStartTransaction, the
restarted station sends StartTransaction with that idTag; a Hard reset during a
transaction ends it (reason HardReset) and the process exits to be restarted, each time.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ocpp16_helpers import PASSWORD, STATION

from tests.ocpp_csms import OcppCsms
from tests.station_process import EVSE_YAML, Controller, kill9, start, stop, write_station


def _station(path: Path, url: str) -> Controller:
    block = f"""ocpp16:
  url: {url}
  password: !env_var OCPP_STATION_PASSWORD
  response_timeout: 1
  retry_backoff_wait_minimum: 0.1
  retry_backoff_random_range: 0.1
  transaction_message_attempts: 50
  transaction_message_retry_interval: 0.2
  meter_values_sample_interval: 0
{EVSE_YAML}"""
    return write_station(path, block)


async def _plugged_in(csms: OcppCsms, controller: Controller) -> None:
    await csms.wait_for("StatusNotification", timeout=20)
    controller.set("ev_connected", 1)
    await csms.wait_for("StatusNotification", where=lambda p: p["status"] == "Preparing")


async def test_kill9_after_authorize_before_start_transaction(tmp_path) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        controller = _station(tmp_path, csms.url())
        controller.set("idle", 0, kwh=1.0, hold=True)
        proc = await start(tmp_path, STATION, PASSWORD)
        try:
            await _plugged_in(csms, controller)
            answer = await csms.remote_start(STATION, id_tag="TAG9", connector_id=1)
            assert answer["status"] == "Accepted"
            await csms.wait_until(lambda: "authorize" in controller.calls(), 10, "authorize")
            await kill9(proc)
            assert not csms.received("StartTransaction")
            controller.set("charging", 2, kwh=1.5)  # the controller charges on
            proc = await start(tmp_path, STATION, PASSWORD)
            start_tx = (await csms.wait_for("StartTransaction", timeout=20))[0].payload
            assert start_tx["idTag"] == "TAG9"
            assert start_tx["connectorId"] == 1
            controller.set("idle", 0, kwh=2.0)  # unplugged
            stop_tx = (await csms.wait_for("StopTransaction", timeout=10))[0].payload
        finally:
            await stop(proc)
        assert stop_tx["reason"] == "EVDisconnected"
        assert stop_tx["meterStop"] == 2000
        assert len(csms.received("StartTransaction")) == 1


async def test_hard_reset_during_a_transaction_always_restarts(tmp_path) -> None:
    """Reset Hard twice with a controller that does not stop: each time the transaction
    ends with reason HardReset, the process exits by itself, and no StopTransaction is
    sent again after the reboot."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        controller = _station(tmp_path, csms.url())
        controller.set("idle", 0, kwh=1.0)
        for attempt in range(2):
            proc = await start(tmp_path, STATION, PASSWORD)
            try:
                await csms.wait_for("BootNotification", attempt + 1, timeout=20)
                if attempt == 0:
                    await _plugged_in(csms, controller)
                    controller.set("ev_connected", 1, hold=True)
                answer = await csms.remote_start(STATION, id_tag=f"TAG{attempt}", connector_id=1)
                assert answer["status"] == "Accepted"
                await csms.wait_until(lambda: "authorize" in controller.calls(), 10, "authorize")
                controller.set("charging", 2, kwh=1.0 + attempt)
                await csms.wait_for("StartTransaction", attempt + 1, timeout=10)
                assert (await csms.reset(STATION, "Hard"))["status"] == "Accepted"
                await csms.wait_for("StopTransaction", attempt + 1, timeout=15)
                assert await asyncio.wait_for(proc.wait(), 20) == 0  # exited to restart
            finally:
                await stop(proc)
            (tmp_path / "calls.log").unlink()
            controller.set("ev_connected", 1)
        proc = await start(tmp_path, STATION, PASSWORD)
        try:
            await csms.wait_for("BootNotification", 3, timeout=20)
            await asyncio.sleep(1.0)
        finally:
            await stop(proc)
        stops = csms.payloads("StopTransaction")
        assert [s["reason"] for s in stops] == ["HardReset", "HardReset"]
        assert len({s["transactionId"] for s in stops}) == 2


async def test_tc_016_cs_soft_reset_with_transaction_one_stop_transaction(tmp_path) -> None:
    """OCA TC_016_CS (1.6 §5.14 Reset): a Soft reset during a transaction stops it
    gracefully, with exactly one StopTransaction (reason SoftReset, the idTag of its
    StartTransaction) journaled and delivered before the process restarts, and none
    again after the restart (BootNotification, nothing left to end)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        controller = _station(tmp_path, csms.url())
        controller.set("idle", 0, kwh=1.0)
        proc = await start(tmp_path, STATION, PASSWORD)
        try:
            await _plugged_in(csms, controller)
            answer = await csms.remote_start(STATION, id_tag="TAG16", connector_id=1)
            assert answer["status"] == "Accepted"
            start_tx = (await csms.wait_for("StartTransaction", timeout=10))[0].payload
            await csms.wait_for("StatusNotification", where=lambda p: p["status"] == "Charging")
            assert (await csms.reset(STATION, "Soft"))["status"] == "Accepted"
            assert await asyncio.wait_for(proc.wait(), 20) == 0  # exited to restart
        finally:
            await stop(proc)
        # the stop went to the controller (graceful), and the StopTransaction out first
        assert "stop" in controller.calls()
        (stop_tx,) = csms.payloads("StopTransaction")
        assert stop_tx["reason"] == "SoftReset"
        assert stop_tx["idTag"] == start_tx["idTag"] == "TAG16"
        proc = await start(tmp_path, STATION, PASSWORD)
        try:
            await csms.wait_for("BootNotification", 2, timeout=20)
            await csms.wait_for("StatusNotification", where=lambda p: p["connectorId"] == 1)
            await asyncio.sleep(1.0)  # what the journal still held would go out now
        finally:
            await stop(proc)
        assert len(csms.received("StopTransaction")) == 1
        assert len(csms.received("StartTransaction")) == 1
