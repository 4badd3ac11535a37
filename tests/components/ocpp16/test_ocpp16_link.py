"""ocpp16 against the test CSMS over a real WebSocket: connection, boot, status, heartbeat."""

from __future__ import annotations

import asyncio
import itertools

from ocpp16_helpers import PASSWORD, STATION, FakeController, station_yaml, wait_state

from orge import __version__
from tests.ocpp_csms import OCPP16, OcppCsms, self_signed_tls


async def test_boot_status_heartbeat(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}, boot_interval=1) as csms:
        hub, result = await start_station(config_dir(station_yaml(csms.url())))
        assert not result.problems
        FakeController(hub).state("idle")
        await csms.wait_connected(STATION, OCPP16)
        boot = (await csms.wait_for("BootNotification"))[0].payload
        # issue 10 point 7: the firmware version (the ORGE version) is reported, as 2.0.1 does
        assert boot == {
            "chargePointVendor": "ORGE",
            "chargePointModel": "AC-22",
            "firmwareVersion": f"ORGE {__version__}",
        }
        statuses = await csms.wait_for("StatusNotification", 2)
        assert [(s.payload["connectorId"], s.payload["status"]) for s in statuses[:2]] == [
            (0, "Available"),
            (1, "Available"),
        ]
        await wait_state(hub, "sensor.ocpp16_connection", "connected")
        assert hub.states.get("sensor.ocpp16_protocol").state == "ocpp1.6"
        assert hub.states.get("sensor.ocpp_active_protocol").state == "ocpp1.6"
        # the CSMS's interval (1 s) replaced the configured 30 s
        beats = await csms.wait_for("Heartbeat", 1, timeout=3)
        assert beats[0].mono - csms.received("BootNotification")[0].mono >= 0.9
        assert not csms.errors_sent()


async def test_status_follows_controller_with_error_codes(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        controller = FakeController(hub)
        controller.state("idle")
        await csms.wait_for("StatusNotification", 2)
        controller.state("cable_detect")
        await csms.wait_for("StatusNotification", where=lambda p: p["status"] == "Preparing")
        controller.state("fault_hard", pb=2)
        fault = (
            await csms.wait_for("StatusNotification", where=lambda p: p["status"] == "Faulted")
        )[0].payload
        assert fault["errorCode"] == "GroundFailure"
        controller.state("fault_hard", pb=1)
        fault = (
            await csms.wait_for(
                "StatusNotification", where=lambda p: p["errorCode"] == "UnderVoltage"
            )
        )[0].payload
        assert fault["vendorErrorCode"] == "PB=1"
        controller.state("hardfault_end", cp=0)
        await csms.wait_for("StatusNotification", where=lambda p: p["status"] == "Unavailable")
        assert not csms.errors_sent()


async def test_wrong_password_backs_off_with_clear_error(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: "other"}) as csms:
        hub, _ = await start_station(
            config_dir(station_yaml(csms.url(), retry_backoff_wait_minimum=0.1))
        )
        await csms.wait_until(lambda: len(csms.attempts) >= 3, timeout=5)
        await asyncio.sleep(0.3)
        attempts = csms.attempts
        assert {a.outcome for a in attempts} == {"unauthorized"}
        assert {a.user for a in attempts} == {STATION}
        gaps = [b.mono - a.mono for a, b in itertools.pairwise(attempts)]
        assert all(gap >= 0.1 for gap in gaps), gaps  # never a tight loop
        assert gaps[1] >= 0.2  # doubled
        error = hub.states.get("sensor.ocpp16_last_error").state
        assert "HTTP 401" in error and "password" in error
        assert "other" not in error and PASSWORD not in error
        assert hub.states.get("sensor.ocpp16_connection").state in ("disconnected", "connecting")


async def test_boot_pending_then_accepted(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}, boot_status="Pending") as csms:
        csms.boot_interval = 1
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        FakeController(hub).state("idle")
        await csms.wait_for("BootNotification")
        await wait_state(hub, "sensor.ocpp16_connection", "pending")
        # while Pending, the CSMS may configure the station; nothing else is sent
        answer = await csms.get_configuration(STATION, ["HeartbeatInterval"])
        assert answer["configurationKey"][0]["value"] == "30"
        csms.boot_status = "Accepted"
        boots = await csms.wait_for("BootNotification", 2, timeout=3)
        assert 0.9 <= boots[1].mono - boots[0].mono <= 1.5
        await csms.wait_for("StatusNotification")
        sent = [m.action for m in csms.received()]
        assert sent[:2] == ["BootNotification", "BootNotification"]


async def test_reconnect_does_not_reboot_and_resends_status(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        controller = FakeController(hub)
        controller.state("idle")
        await csms.wait_for("StatusNotification", 2)
        await csms.drop()
        controller.state("cable_detect")  # changes while offline
        await csms.wait_connected(STATION)
        await csms.wait_for("StatusNotification", where=lambda p: p["status"] == "Preparing")
        assert len(csms.received("BootNotification")) == 1  # same content: not re-sent
        assert len(csms.attempts) == 2


async def test_wss_with_ca_file(config_dir, start_station, tmp_path) -> None:
    context, ca_file = self_signed_tls(str(tmp_path))
    async with OcppCsms(passwords={STATION: PASSWORD}, ssl_context=context) as csms:
        assert csms.url().startswith("wss://")
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), ca_file=ca_file)))
        FakeController(hub).state("idle")
        await csms.wait_connected(STATION, OCPP16)
        await csms.wait_for("BootNotification")


async def test_wss_untrusted_certificate_is_refused(config_dir, start_station, tmp_path) -> None:
    context, _ = self_signed_tls(str(tmp_path))
    async with OcppCsms(passwords={STATION: PASSWORD}, ssl_context=context) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))  # no CA file
        await csms.wait_until(
            lambda: "certificate" in hub.states.get("sensor.ocpp16_last_error").state.lower()
        )
        assert csms.received() == []


async def test_authorize_service(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        csms.id_tags["BAD"] = "Blocked"
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        controller = FakeController(hub)
        controller.state("idle")
        await csms.wait_for("StatusNotification", 2)
        answer = await hub.services.async_call(
            "ocpp16", "authorize", {"id_tag": "BAD"}, blocking=True, return_response=True
        )
        assert answer == {"status": "Blocked"} and controller.calls == []
        controller.state("ev_connected")
        answer = await hub.services.async_call(
            "ocpp16", "authorize", {"id_tag": "CARD7"}, blocking=True, return_response=True
        )
        assert answer == {"status": "Accepted"} and controller.calls == [("authorize", {})]
        start = (await csms.wait_for("StartTransaction"))[0].payload
        assert start["idTag"] == "CARD7"


async def test_offline_longer_than_threshold_resends_every_status(
    config_dir, start_station
) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), offline_threshold=0.6)))
        FakeController(hub).state("idle")
        await csms.wait_for(
            "StatusNotification",
            where=lambda p: p["connectorId"] == 1 and p["status"] == "Available",
        )
        await asyncio.sleep(0.1)
        sent = len(csms.received("StatusNotification"))
        await csms.drop()  # short outage: nothing changed, nothing re-sent
        await csms.wait_until(lambda: len(csms.attempts) == 2)
        await asyncio.sleep(0.3)
        assert len(csms.received("StatusNotification")) == sent
        await csms.stop()
        await asyncio.sleep(0.8)  # longer than OfflineThreshold
        await csms.start()
        statuses = await csms.wait_for("StatusNotification", sent + 2, timeout=5)
        assert [s.payload["connectorId"] for s in statuses[sent:]] == [0, 1]
        assert statuses[-1].payload["status"] == "Available"


async def test_timestamps_made_before_the_clock_was_known_are_corrected(
    config_dir, start_station
) -> None:
    """No RTC: a session started before any CSMS contact is stamped by the system clock,
    then corrected with the CSMS's time (here one hour ahead) when it is sent."""
    from datetime import UTC, datetime, timedelta

    from components.ocpp_station.clock import parse_time

    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        ahead = timedelta(hours=1)
        csms.current_time = lambda: (
            (datetime.now(UTC) + ahead)
            .isoformat()
            .replace(  # type: ignore[method-assign]
                "+00:00", "Z"
            )
        )
        await csms.stop()  # unreachable at first
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        station = hub.data["ocpp16"]
        station.clock.system_synced = False  # this test machine's clock counts as unknown
        controller = FakeController(hub)
        controller.state("charging")  # a session starts while no time is known
        started = datetime.now(UTC)
        await asyncio.sleep(0.2)
        await csms.start()
        start = (await csms.wait_for("StartTransaction", timeout=5))[0].payload
        stamped = parse_time(start["timestamp"])
        assert abs((stamped - started) - ahead) < timedelta(seconds=1), stamped
        assert start["idTag"] == "ORGE-LOCAL"  # started without an id tag


async def test_dead_link_detected_by_ping(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), ping_interval=0.3)))
        FakeController(hub).state("idle")
        await csms.wait_for("StatusNotification", 2)
        frozen_at = asyncio.get_running_loop().time()
        csms.freeze()  # no FIN, no RST: only the missing pongs tell
        await csms.wait_until(lambda: len(csms.attempts) >= 2, timeout=5)
        assert asyncio.get_running_loop().time() - frozen_at < 2.0


async def test_verify_tls_false_accepts_an_untrusted_certificate(
    config_dir, start_station, tmp_path
) -> None:
    """Issue 10 point 1 (one config schema): `verify_tls: false` means for 1.6 what it
    means for 2.0.1 — a wss:// CSMS with a certificate no CA vouches for is accepted."""
    context, _ = self_signed_tls(str(tmp_path))
    async with OcppCsms(passwords={STATION: PASSWORD}, ssl_context=context) as csms:
        hub, result = await start_station(config_dir(station_yaml(csms.url(), verify_tls=False)))
        assert not result.problems
        FakeController(hub).state("idle")
        await csms.wait_connected(STATION, OCPP16)
        await csms.wait_for("BootNotification")


async def test_station_name_from_the_environment(config_dir, start_station, monkeypatch) -> None:
    """The fleet env file's OCPP_STATION_NAME names the 1.6 station at run time when neither
    the block nor `orge:` has a station_id (as for 2.0.1); a password given in the URL is
    used for Basic auth and never shown."""
    monkeypatch.setenv("OCPP_STATION_NAME", "FLEET-16-007")
    async with OcppCsms(passwords={"FLEET-16-007": PASSWORD}) as csms:
        url = csms.url().replace("ws://", f"ws://FLEET-16-007:{PASSWORD}@")
        yaml = station_yaml(url, password=None).replace(f"orge:\n  station_id: {STATION}\n", "")
        hub, result = await start_station(config_dir(yaml))
        assert not result.problems
        FakeController(hub).state("idle")
        await csms.wait_connected("FLEET-16-007", OCPP16)
        attempt = next(a for a in csms.attempts if a.outcome == "accepted")
        assert attempt.user == "FLEET-16-007"
        assert attempt.path.endswith("/FLEET-16-007")
        assert PASSWORD not in hub.data["ocpp16"].url
        await wait_state(hub, "sensor.ocpp16_connection", "connected")
        assert PASSWORD not in str(hub.states.get("sensor.ocpp16_connection").attributes)


async def test_websocket_ping_interval_applies_to_the_open_socket(
    config_dir, start_station
) -> None:
    """ChangeConfiguration WebSocketPingInterval is Accepted and pings on the open socket
    at once (§5.3: Accepted = changed and in force): from 0 (off) to 1 s, a frozen CSMS is
    found out within the new interval plus its pong timeout."""
    async with OcppCsms(passwords={STATION: PASSWORD}, ping_interval=None) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), ping_interval=0)))
        FakeController(hub).state("idle")
        await csms.wait_for("StatusNotification", 2)
        answer = await csms.change_configuration(STATION, "WebSocketPingInterval", "1")
        assert answer == {"status": "Accepted"}
        csms.freeze()
        await wait_state(hub, "sensor.ocpp16_connection", "disconnected", timeout=3)


async def test_websocket_ping_interval_0_turns_pings_off_on_the_open_socket(
    config_dir, start_station
) -> None:
    """WebSocketPingInterval 0 (§9.1: "0 disables client side websocket Ping/Pong"), set
    on an open socket that pinged every 0.3 s: a frozen CSMS goes unnoticed."""
    async with OcppCsms(passwords={STATION: PASSWORD}, ping_interval=None) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), ping_interval=0.3)))
        FakeController(hub).state("idle")
        await csms.wait_for("StatusNotification", 2)
        answer = await csms.change_configuration(STATION, "WebSocketPingInterval", "0")
        assert answer == {"status": "Accepted"}
        csms.freeze()
        await asyncio.sleep(1.5)  # five old intervals
        assert hub.states.get("sensor.ocpp16_connection").state == "connected"
        assert len([a for a in csms.attempts if a.outcome == "accepted"]) == 1


async def test_the_station_closes_with_a_close_frame(config_dir, start_station) -> None:
    """RFC 6455 §7.1.2: at stop the station sends its close frame (1000) and the Central
    System sees a clean close, not 1006."""
    async with OcppCsms(passwords={STATION: PASSWORD}, protocols=(OCPP16,)) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        FakeController(hub).state("idle")
        await csms.wait_for("StatusNotification")
        await hub.async_stop()
        await csms.wait_until(lambda: csms.close_codes, 5, "the stop's close")
        assert csms.close_codes == [(STATION, 1000)]
