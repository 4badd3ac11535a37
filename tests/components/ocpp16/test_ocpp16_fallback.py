"""ocpp201 and ocpp16 in one station: fallback over the bus, OCPP_PRIMARY=16."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from ocpp16_helpers import PASSWORD, STATION, FakeController, wait_state

from orge.core import Orge, callback
from orge.setup import async_from_config_dir
from tests.ocpp_csms import OCPP16, OCPP201, OcppCsms


def _yaml(url201: str, url16: str, fallback: bool = True, password16: str = PASSWORD) -> str:
    common = (
        f"  station_id: {STATION}\n"
        "  response_timeout: 1\n"
        "  retry_backoff_wait_minimum: 0.1\n"
        "  retry_backoff_random_range: 0.05\n"
        "  retry_backoff_repeat_times: 1\n"
        "  boot_retry_interval: 0.2\n"
        "  offline_threshold: 0\n"
        "  evse:\n"
        "    - id: 1\n"
        "      energy_entity: sensor.meter_energy\n"
        "      authorize_action: {action: fake.authorize}\n"
        "      stop_action: {action: fake.stop_charging}\n"
        "      current_limit_entity: number.fake_limit\n"
    )
    return (
        f"orge:\n  station_id: {STATION}\n"
        f"ocpp201:\n  url: {url201}\n  password: {PASSWORD}\n  fallback_after: 2\n"
        + common
        + f"ocpp16:\n  url: {url16}\n  password: {password16}\n  fallback_after: 2\n"
        + f"  fallback: {'true' if fallback else 'false'}\n"
        + common
    )


async def test_fallback_to_16_and_back_to_201(config_dir, start_station, monkeypatch) -> None:
    monkeypatch.delenv("OCPP_PRIMARY", raising=False)
    async with (
        OcppCsms(protocols=(OCPP201,), passwords=PASSWORD) as csms201,
        OcppCsms(protocols=(OCPP16,), passwords=PASSWORD) as csms16,
    ):
        csms201.refuse_status = 503  # the 2.0.1 endpoint is down
        hub, result = await start_station(config_dir(_yaml(csms201.url(), csms16.url())))
        assert not result.problems
        FakeController(hub).state("idle")
        await csms16.wait_connected(STATION, OCPP16, timeout=8)
        assert len(csms201.attempts) >= 2  # it tried 2.0.1 first, fallback_after times
        assert csms201.attempts[0].mono < csms16.attempts[0].mono
        await csms16.wait_for("StatusNotification", 2)
        await wait_state(hub, "sensor.ocpp_active_protocol", "ocpp1.6")
        await wait_state(hub, "sensor.ocpp16_connection", "connected")

        csms201.refuse_status = None  # 2.0.1 is back: the primary retries and wins
        await csms201.wait_connected(STATION, OCPP201, timeout=8)
        await csms201.wait_for("BootNotification")
        await wait_state(hub, "sensor.ocpp_active_protocol", "ocpp2.0.1", timeout=8)
        await csms16.wait_until(lambda: STATION not in csms16.stations, timeout=5)
        await wait_state(hub, "sensor.ocpp16_connection", "standby")
        attempts16 = len(csms16.attempts)
        await asyncio.sleep(0.5)
        assert len(csms16.attempts) == attempts16  # stays down while 2.0.1 works


async def test_fallback_disabled_stays_down(config_dir, start_station, monkeypatch) -> None:
    monkeypatch.delenv("OCPP_PRIMARY", raising=False)
    async with (
        OcppCsms(protocols=(OCPP201,), passwords="wrong") as csms201,
        OcppCsms(protocols=(OCPP16,), passwords=PASSWORD) as csms16,
    ):
        hub, _ = await start_station(config_dir(_yaml(csms201.url(), csms16.url(), fallback=False)))
        await csms201.wait_until(lambda: len(csms201.attempts) >= 2, timeout=5)
        await asyncio.sleep(0.4)
        assert csms16.attempts == []
        assert hub.states.get("sensor.ocpp16_connection").state == "standby"


async def test_primary_16_hands_over_to_201_when_refused(config_dir, monkeypatch) -> None:
    monkeypatch.setenv("OCPP_PRIMARY", "16")
    async with (
        OcppCsms(protocols=(OCPP201,), passwords=PASSWORD) as csms201,
        OcppCsms(protocols=(OCPP16,), passwords=PASSWORD) as csms16,
    ):
        path = config_dir(_yaml(csms201.url(), csms16.url(), password16="not-it"))
        # The 401 can come while the station is still starting: listen before set-up
        # (on the loop, a @callback), or the hand-over event may fire unseen.
        hub = Orge(str(path))
        failed: list[dict] = []
        hub.bus.async_listen("ocpp_primary_failed", callback(lambda e: failed.append(e.data)))
        try:
            await async_from_config_dir(hub, str(path))
            await hub.async_start()
            await csms201.wait_connected(STATION, OCPP201, timeout=8)
            assert csms16.attempts[0].outcome == "unauthorized"  # 1.6 was tried first
            assert csms16.attempts[0].mono < csms201.attempts[0].mono
            assert len(failed) == 1 and failed[0]["domain"] == "ocpp16"  # refused: at once
            assert "HTTP 401" in failed[0]["reason"]
            assert "HTTP 401" in hub.states.get("sensor.ocpp16_last_error").state
            await wait_state(hub, "sensor.ocpp_active_protocol", "ocpp2.0.1", timeout=5)
        finally:
            await hub.async_stop()


@pytest.mark.parametrize("primary", ["16", "201"])
async def test_16_alone_is_active_whatever_the_primary(
    config_dir, start_station, monkeypatch, primary: str
) -> None:
    monkeypatch.setenv("OCPP_PRIMARY", primary)
    async with OcppCsms(protocols=(OCPP16,), passwords=PASSWORD) as csms16:
        yaml = _yaml("ws://unused", csms16.url())
        yaml = yaml[: yaml.index("ocpp201:")] + yaml[yaml.index("ocpp16:") :]
        hub, _ = await start_station(config_dir(yaml))
        FakeController(hub).state("idle")
        await csms16.wait_connected(STATION, OCPP16, timeout=5)
        await wait_state(hub, "sensor.ocpp_active_protocol", "ocpp1.6")


async def test_shared_url_csms_picks_16(config_dir, start_station, monkeypatch) -> None:
    """Both components on one URL; the CSMS speaks only 1.6: ocpp201 offers both, is
    answered with ocpp1.6, hands over, and ocpp16 takes the link."""
    monkeypatch.delenv("OCPP_PRIMARY", raising=False)
    async with OcppCsms(protocols=(OCPP16,), passwords=PASSWORD) as csms:
        hub, _ = await start_station(config_dir(_yaml(csms.url(), csms.url())))
        FakeController(hub).state("idle")
        await csms.wait_until(lambda: any(a.offered == (OCPP201, OCPP16) for a in csms.attempts))
        await wait_state(hub, "sensor.ocpp_active_protocol", "ocpp1.6", timeout=8)
        assert csms.stations[STATION].protocol == OCPP16
        await csms.wait_for("BootNotification", where=lambda p: "chargePointVendor" in p)


async def test_shared_url_handover_reuses_the_socket(
    config_dir, start_station, monkeypatch
) -> None:
    """Issue 10 point 1: on a shared URL the CSMS agrees on ocpp1.6 with ocpp201's
    handshake; ocpp16 boots on that very socket. The CSMS sees one handshake and no
    disconnect (a CSMS under load must not see two sockets for one station)."""
    monkeypatch.delenv("OCPP_PRIMARY", raising=False)
    async with OcppCsms(protocols=(OCPP16,), passwords=PASSWORD) as csms:
        hub, _ = await start_station(config_dir(_yaml(csms.url(), csms.url())))
        FakeController(hub).state("idle")
        await csms.wait_for("BootNotification", where=lambda p: "chargePointVendor" in p)
        await csms.wait_for("StatusNotification")
        await wait_state(hub, "sensor.ocpp16_connection", "connected")
        assert [(a.outcome, a.offered, a.protocol) for a in csms.attempts] == [
            ("accepted", (OCPP201, OCPP16), OCPP16)
        ]
        assert csms.disconnects == []
        assert hub.states.get("sensor.ocpp_active_protocol").state == "ocpp1.6"


def _journal_rows(config: Path) -> dict[str, int]:
    """What ocpp16's journal file holds, read from the SQLite file itself."""
    db = sqlite3.connect(config / ".storage" / "ocpp16.db")
    try:
        return {
            "messages": db.execute("SELECT COUNT(*) FROM messages").fetchone()[0],
            "aside": db.execute("SELECT COUNT(*) FROM aside").fetchone()[0],
            "transactions": db.execute("SELECT COUNT(*) FROM transactions").fetchone()[0],
            "txid16": db.execute(
                "SELECT COUNT(*) FROM settings WHERE key LIKE 'txid16:%'"
            ).fetchone()[0],
        }
    finally:
        db.close()


async def _settled(station) -> None:
    """On standby ocpp16 has no link, so every task it spawned (status, start/end of a
    transaction, a meter loop) is short-lived: wait until none is left."""
    deadline = asyncio.get_running_loop().time() + 5
    while station._tasks:
        assert asyncio.get_running_loop().time() < deadline, station._tasks
        await asyncio.sleep(0.02)
    await station.journal.count()  # and the journal thread has done what it was given


async def test_standby_rule_nothing_journaled_adopt_on_take_over_end_on_step_down(
    config_dir, start_station, monkeypatch
) -> None:
    monkeypatch.delenv("OCPP_PRIMARY", raising=False)
    async with (
        OcppCsms(protocols=(OCPP201,), passwords=PASSWORD) as csms201,
        OcppCsms(protocols=(OCPP16,), passwords=PASSWORD) as csms16,
    ):
        config = config_dir(_yaml(csms201.url(), csms16.url()))
        hub, _ = await start_station(config)
        station = hub.data["ocpp16"]
        controller = FakeController(hub)
        controller.state("idle")
        await csms201.wait_connected(STATION, OCPP201, timeout=8)
        await wait_state(hub, "sensor.ocpp_active_protocol", "ocpp2.0.1", timeout=8)
        await wait_state(hub, "sensor.ocpp16_connection", "standby")

        # 1. A whole session while 2.0.1 holds the link: ocpp16 (standby) records nothing.
        controller.state("ev_connected")
        controller.energy(1000)
        controller.state("charging")
        await csms201.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started")
        controller.energy(4000)
        controller.state("stopped")
        controller.state("idle")
        await csms201.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
        await _settled(station)
        assert not station.txs
        assert _journal_rows(config) == {"messages": 0, "aside": 0, "transactions": 0, "txid16": 0}
        assert csms16.attempts == [] and csms16.messages == []

        # 2. 2.0.1 goes away during a running session: ocpp16 takes over and starts a 1.6
        # transaction for it, with the meter as it is then.
        controller.state("ev_connected")
        controller.state("charging")
        await csms201.wait_for(
            "TransactionEvent", count=2, where=lambda p: p["eventType"] == "Started"
        )
        controller.energy(5500)
        await csms201.stop()
        start_call = (await csms16.wait_for("StartTransaction", timeout=10))[0]
        start = start_call.payload
        assert start["connectorId"] == 1 and start["meterStart"] == 5500
        assert start["idTag"] == "ORGE-LOCAL"
        answer = await csms16.wait_until(
            lambda: next(
                (
                    m
                    for m in csms16.messages
                    if m.direction == "out" and m.unique_id == start_call.unique_id
                ),
                None,
            )
        )
        tx_id = answer.payload["transactionId"]
        await wait_state(hub, "sensor.ocpp_active_protocol", "ocpp1.6")

        # 3. 2.0.1 is back: ocpp16 ends its transaction (reason Other), delivers the
        # StopTransaction over the still-open link, then steps down.
        controller.energy(6000)
        await csms201.start()
        stop = (await csms16.wait_for("StopTransaction", timeout=10))[0].payload
        assert stop["transactionId"] == tx_id and stop["reason"] == "Other"
        assert stop["meterStop"] == 6000
        await wait_state(hub, "sensor.ocpp16_connection", "standby", timeout=8)
        await wait_state(hub, "sensor.ocpp_active_protocol", "ocpp2.0.1", timeout=8)
        # The session itself ends later, under 2.0.1: nothing more for 1.6.
        controller.state("stopped")
        controller.state("idle")
        await _settled(station)
        assert _journal_rows(config) == {"messages": 0, "aside": 0, "transactions": 0, "txid16": 0}
        assert len(csms16.payloads("StartTransaction")) == 1
        assert len(csms16.payloads("StopTransaction")) == 1
        assert not csms16.errors_sent()
