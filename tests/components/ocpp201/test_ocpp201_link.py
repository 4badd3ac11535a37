"""ocpp201 against the test CSMS over a real WebSocket: connection, boot, status, heartbeat."""

from __future__ import annotations

import asyncio
import itertools

from ocpp201_helpers import PASSWORD, STATION, FakeController, station_yaml, wait_state

from tests.ocpp_csms import OCPP201, OcppCsms


async def test_boot_status_heartbeat(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}, boot_interval=1) as csms:
        path = config_dir(station_yaml(csms.url()))
        hub, result = await start_station(path)
        assert not result.problems
        FakeController(hub).state("idle", cp=0)
        await csms.wait_connected(STATION, OCPP201)
        attempt = next(a for a in csms.attempts if a.outcome == "accepted")
        assert attempt.user == STATION and attempt.offered == ("ocpp2.0.1",)
        assert attempt.path == f"/ocpp/{STATION}"
        boot = (await csms.wait_for("BootNotification"))[0].payload
        assert boot["reason"] == "PowerUp"
        assert boot["chargingStation"]["vendorName"] == "ORGE"
        assert boot["chargingStation"]["model"] == "AC-22"
        status = (await csms.wait_for("StatusNotification"))[0].payload
        assert (status["evseId"], status["connectorId"], status["connectorStatus"]) == (
            1,
            1,
            "Available",
        )
        await wait_state(hub, "sensor.ocpp201_connection", "connected")
        assert hub.states.get("sensor.ocpp201_protocol").state == "ocpp2.0.1"
        assert hub.states.get("sensor.ocpp_active_protocol").state == "ocpp2.0.1"
        # empty once the CSMS answered the boot's StartupOfTheDevice security event
        await wait_state(hub, "sensor.ocpp201_queue", "0")
        beats = await csms.wait_for("Heartbeat", 2, timeout=4)
        boot_at = csms.received("BootNotification")[0].mono
        assert 0.9 <= beats[0].mono - boot_at < 2.0
        assert 0.9 <= beats[1].mono - beats[0].mono < 2.0
        assert not csms.errors_sent()
        # the station's clock now runs on the CSMS's time
        assert hub.data["ocpp201"].clock.synced


async def test_status_follows_the_controller(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        controller = FakeController(hub)
        controller.state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        controller.state("cable_detect", cp=0)
        await csms.wait_for(
            "StatusNotification", where=lambda p: p["connectorStatus"] == "Occupied"
        )
        controller.state("fault", pb=2)
        await csms.wait_for("StatusNotification", where=lambda p: p["connectorStatus"] == "Faulted")
        controller.state("hardfault_end", cp=0)
        await csms.wait_for(
            "StatusNotification", where=lambda p: p["connectorStatus"] == "Unavailable"
        )
        controller.state("idle", cp=0)
        await csms.wait_for(
            "StatusNotification", 2, where=lambda p: p["connectorStatus"] == "Available"
        )
        statuses = [p["connectorStatus"] for p in csms.payloads("StatusNotification")]
        assert statuses == ["Available", "Occupied", "Faulted", "Unavailable", "Available"]


async def test_boot_pending_rejected_then_accepted_not_resent(config_dir, start_station) -> None:
    async with OcppCsms(
        passwords={STATION: PASSWORD}, boot_status="Pending", boot_interval=1
    ) as csms:
        csms.boot_interval = 0  # "retry at your own interval": boot_retry_interval (0.2 s)
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        FakeController(hub).state("idle", cp=0)
        await csms.wait_for("BootNotification", 2)
        await wait_state(hub, "sensor.ocpp201_connection", "pending")
        assert not csms.received("StatusNotification")
        csms.boot_status = "Rejected"
        await csms.wait_for("BootNotification", 4)
        await wait_state(hub, "sensor.ocpp201_connection", "rejected")
        assert not csms.received("StatusNotification")
        boots = csms.received("BootNotification")
        assert all(0.15 < b.mono - a.mono < 1.0 for a, b in itertools.pairwise(boots))
        csms.boot_status = "Accepted"
        csms.boot_interval = 60
        await csms.wait_for("StatusNotification")
        await wait_state(hub, "sensor.ocpp201_connection", "connected")
        count = len(csms.received("BootNotification"))
        # A reconnect with the same content sends no BootNotification (a heartbeat instead).
        await csms.drop()
        await csms.wait_for("Heartbeat")
        assert len(csms.received("BootNotification")) == count
        # Changed content (a firmware update, say) is announced again.
        hub.data["ocpp201"].config["firmware_version"] = "ORGE 9.9"
        await csms.drop()
        await csms.wait_for("BootNotification", count + 1)
        assert csms.payloads("BootNotification")[-1]["chargingStation"]["firmwareVersion"] == (
            "ORGE 9.9"
        )


async def test_wrong_password_backs_off_with_clear_error(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: "another"}) as csms:
        yaml = station_yaml(
            csms.url(), retry_backoff_wait_minimum=0.2, retry_backoff_random_range=0.05
        )
        hub, _ = await start_station(config_dir(yaml))
        await asyncio.sleep(2.0)
        attempts = [a for a in csms.attempts if a.outcome == "unauthorized"]
        # 0 s, then ~0.2, 0.4, 0.8 (doubling, capped at 2 doublings): at most 5 in 2 s
        assert 2 <= len(attempts) <= 5
        gaps = [b.mono - a.mono for a, b in itertools.pairwise(attempts)]
        assert all(gap >= 0.19 for gap in gaps)
        assert gaps == sorted(gaps) or len(gaps) < 3
        error = hub.states.get("sensor.ocpp201_last_error").state
        assert "HTTP 401" in error and PASSWORD not in error
        assert hub.states.get("sensor.ocpp201_connection").state == "rejected"
        assert not csms.received()


async def test_unsupported_subprotocol_hands_over(config_dir, start_station) -> None:
    async with OcppCsms(protocols=("ocpp1.6",)) as csms:
        failed: list[dict] = []
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        hub.bus.async_listen("ocpp_primary_failed", _collect(failed))
        await wait_state(hub, "sensor.ocpp201_connection", "rejected")
        await asyncio.sleep(0.3)
        assert failed and failed[0]["domain"] == "ocpp201"
        assert "subprotocol" in hub.states.get("sensor.ocpp201_last_error").state


def _collect(into: list) -> object:
    from orge.core import callback

    return callback(lambda event: into.append(dict(event.data)))


async def test_ping_detects_a_dead_link(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}, ping_interval=None) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), ping_interval=0.3)))
        FakeController(hub).state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        # The CSMS host freezes: TCP stays open, nothing is read or answered any more.
        for connection in list(csms._connections):
            connection.transport.pause_reading()
        await wait_state(hub, "sensor.ocpp201_connection", "disconnected", timeout=3)
        accepted = await csms.wait_until(
            lambda: len([a for a in csms.attempts if a.outcome == "accepted"]) >= 2,
            5,
            "a new connection",
        )
        assert accepted


async def test_password_in_url_is_used_and_hidden(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        url = csms.url().replace("ws://", f"ws://{STATION}:{PASSWORD}@")
        hub, _ = await start_station(config_dir(station_yaml(url, password=None)))
        FakeController(hub).state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        assert next(a for a in csms.attempts if a.outcome == "accepted").user == STATION
        assert PASSWORD not in hub.data["ocpp201"].url


async def test_websocket_ping_interval_applies_to_the_open_socket(
    config_dir, start_station
) -> None:
    """OCPPCommCtrlr.WebSocketPingInterval set by SetVariables pings on the open socket at
    once (not at the next connection): from 0 (off) to 1 s, a frozen CSMS is found out
    within the new interval plus its pong timeout."""
    async with OcppCsms(passwords={STATION: PASSWORD}, ping_interval=None) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), ping_interval=0)))
        FakeController(hub).state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        answer = await csms.set_variables(STATION, ("OCPPCommCtrlr", "WebSocketPingInterval", "1"))
        assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
        csms.freeze()
        await wait_state(hub, "sensor.ocpp201_connection", "disconnected", timeout=3)


async def test_websocket_ping_interval_0_turns_pings_off_on_the_open_socket(
    config_dir, start_station
) -> None:
    """WebSocketPingInterval 0 (OCPP 2.0.1 Part 2 Appendix: 0 disables client-side
    pings), set on an open socket that pinged every 0.3 s: a frozen CSMS goes unnoticed."""
    async with OcppCsms(passwords={STATION: PASSWORD}, ping_interval=None) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), ping_interval=0.3)))
        FakeController(hub).state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        answer = await csms.set_variables(STATION, ("OCPPCommCtrlr", "WebSocketPingInterval", "0"))
        assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
        csms.freeze()
        await asyncio.sleep(1.5)  # five old intervals
        assert hub.states.get("sensor.ocpp201_connection").state == "connected"
        assert len([a for a in csms.attempts if a.outcome == "accepted"]) == 1


async def test_the_station_closes_with_a_close_frame(config_dir, start_station) -> None:
    """RFC 6455 §5.5.1/§7.1.2: an orderly close sends a close frame (1000) and waits for
    the CSMS's; the CSMS sees a clean close, not 1006 (no close frame). At stop, and when
    the station redials with a new password (SetVariables BasicAuthPassword)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        FakeController(hub).state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        new_password = "Another-Password-0123"
        csms.passwords = {STATION: new_password}
        answer = await csms.set_variables(
            STATION, ("SecurityCtrlr", "BasicAuthPassword", new_password)
        )
        assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
        await csms.wait_until(lambda: len(csms.close_codes) >= 1, 5, "the redial's close")
        await csms.wait_connected(STATION, OCPP201)
        await hub.async_stop()
        await csms.wait_until(lambda: len(csms.close_codes) >= 2, 5, "the stop's close")
        assert csms.close_codes == [(STATION, 1000), (STATION, 1000)]
