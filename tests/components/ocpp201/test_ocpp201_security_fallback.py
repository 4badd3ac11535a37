"""TLS with a CA file (security profile 2), and the fallback to ocpp16 over the bus."""

from __future__ import annotations

import asyncio
import socket

from ocpp201_helpers import (
    PASSWORD,
    STATION,
    FakeController,
    ocpp16_yaml,
    station_yaml,
    wait_state,
    wait_until,
)

from tests.ocpp_csms import OCPP16, OCPP201, OcppCsms, self_signed_tls


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_wss_with_ca_file(config_dir, start_station, tmp_path) -> None:
    context, ca_file = self_signed_tls(str(tmp_path))
    async with OcppCsms(passwords={STATION: PASSWORD}, ssl_context=context) as csms:
        assert csms.url().startswith("wss://")
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), ca_file=ca_file)))
        hub.states.async_set("sensor.charger_state", "idle", {"cp": 0})
        await csms.wait_for("StatusNotification")
        got = await csms.get_variables(STATION, ("SecurityCtrlr", "SecurityProfile"))
        assert got["getVariableResult"][0]["attributeValue"] == "2"


async def test_wss_untrusted_certificate_is_a_clear_error(config_dir, start_station, tmp_path):
    context, _ = self_signed_tls(str(tmp_path))
    async with OcppCsms(passwords={STATION: PASSWORD}, ssl_context=context) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        await wait_until(
            lambda: "certificate" in hub.states.get("sensor.ocpp201_last_error").state,
            what="TLS error shown",
        )
        assert not csms.received()


async def test_fallback_to_ocpp16_and_back(config_dir, start_station, monkeypatch) -> None:
    monkeypatch.delenv("OCPP_PRIMARY", raising=False)
    port = free_port()
    url201 = f"ws://127.0.0.1:{port}/ocpp"
    async with OcppCsms(passwords={STATION: PASSWORD}, protocols=(OCPP16,)) as csms16:
        yaml = station_yaml(url201, fallback_after=2, primary_retry_interval=0.5)
        yaml += ocpp16_yaml(csms16.url())
        hub, result = await start_station(config_dir(yaml))
        assert not result.problems
        hub.states.async_set("sensor.charger_state", "idle", {"cp": 0})
        # 2 failed attempts of the primary -> ocpp16 takes over on its own URL
        await csms16.wait_connected(STATION, OCPP16, timeout=5)
        await wait_state(hub, "sensor.ocpp_active_protocol", "ocpp1.6")
        assert "cannot connect" in hub.states.get("sensor.ocpp201_last_error").state
        # The primary keeps trying; once its CSMS is back, ocpp16 steps down.
        async with OcppCsms(passwords={STATION: PASSWORD}, port=port) as csms201:
            await csms201.wait_for("StatusNotification", timeout=5)
            await wait_state(hub, "sensor.ocpp_active_protocol", "ocpp2.0.1")
            await csms16.wait_until(lambda: csms16.disconnects, 5, "ocpp16 disconnect")
            await wait_state(hub, "sensor.ocpp201_connection", "connected")


async def test_shared_url_negotiates_per_connection(config_dir, start_station, monkeypatch):
    monkeypatch.delenv("OCPP_PRIMARY", raising=False)
    async with OcppCsms(passwords={STATION: PASSWORD}, protocols=(OCPP16,)) as csms:
        yaml = station_yaml(csms.url(), primary_retry_interval=60) + ocpp16_yaml(csms.url())
        hub, _ = await start_station(config_dir(yaml))
        hub.states.async_set("sensor.charger_state", "idle", {"cp": 0})
        await csms.wait_connected(STATION, OCPP16, timeout=5)
        offered = [a.offered for a in csms.attempts]
        assert offered[0] == (OCPP201, OCPP16)  # ocpp201 offers both, 2.0.1 first
        await wait_until(
            lambda: "ocpp1.6" in hub.states.get("sensor.ocpp201_last_error").state,
            what="ocpp201 hands over",
        )
        await wait_state(hub, "sensor.ocpp_active_protocol", "ocpp1.6")
        await wait_state(hub, "sensor.ocpp16_connection", "connected")
        # The primary now retries slowly instead of competing for the station id.
        attempts = len(csms.attempts)
        await asyncio.sleep(1.0)
        assert len(csms.attempts) == attempts


async def test_ocpp_primary_16_swaps_roles(config_dir, start_station, monkeypatch) -> None:
    monkeypatch.setenv("OCPP_PRIMARY", "16")
    async with (
        OcppCsms(passwords={STATION: PASSWORD}, protocols=(OCPP16,)) as csms16,
        OcppCsms(passwords={STATION: PASSWORD}, protocols=(OCPP201,)) as csms201,
    ):
        yaml = station_yaml(csms201.url()) + ocpp16_yaml(csms16.url())
        hub, _ = await start_station(config_dir(yaml))
        hub.states.async_set("sensor.charger_state", "idle", {"cp": 0})
        await csms16.wait_connected(STATION, OCPP16, timeout=5)
        await wait_state(hub, "sensor.ocpp201_connection", "standby")
        assert not csms201.attempts


async def test_fallback_journals_only_while_it_holds_the_link(
    config_dir, start_station, monkeypatch
) -> None:
    monkeypatch.setenv("OCPP_PRIMARY", "16")
    async with (
        OcppCsms(passwords={STATION: PASSWORD}, protocols=(OCPP16,)) as csms16,
        OcppCsms(passwords={STATION: PASSWORD}, protocols=(OCPP201,)) as csms201,
    ):
        yaml = station_yaml(csms201.url()) + ocpp16_yaml(csms16.url(), fallback_after=1)
        hub, _ = await start_station(config_dir(yaml))
        controller = FakeController(hub)
        controller.state("idle", cp=0)
        await wait_state(hub, "sensor.ocpp16_connection", "connected")
        station = hub.data["ocpp201"]
        # A whole session while ocpp201 is on standby: nothing piles up in its journal.
        controller.state("charging", cp=2)
        controller.state("stopped", cp=0)
        controller.state("idle", cp=0)
        await asyncio.sleep(0.2)
        assert station.journal.count_cached == 0 and not station.transactions
        # A session runs when the 1.6 CSMS goes away: ocpp201 takes over and adopts it.
        controller.state("charging", cp=2)
        await csms16.stop()
        started = (await csms201.wait_for("TransactionEvent", timeout=8))[0].payload
        assert started["eventType"] == "Started" and started["triggerReason"] == "Authorized"
        assert started["transactionInfo"]["chargingState"] == "Charging"
        # 1.6 is back: ocpp201 ends its transaction, delivers it, then steps down.
        await csms16.start()
        ended = (
            await csms201.wait_for(
                "TransactionEvent", where=lambda p: p["eventType"] == "Ended", timeout=8
            )
        )[0].payload
        assert ended["transactionInfo"]["stoppedReason"] == "Other"
        await wait_state(hub, "sensor.ocpp201_connection", "standby", timeout=8)
        assert station.journal.count_cached == 0
