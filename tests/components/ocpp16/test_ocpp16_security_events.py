"""The security whitepaper's events a start, a Reset and the clock raise under OCPP 1.6:
StartupOfTheDevice once per start (not per reconnect), ResetOrReboot when a Reset is
carried out, SettingSystemTime when the Central System's currentTime changes the
station's time. Critical events are journaled: they reach the Central System after a
restart or an offline period too."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp16_helpers import PASSWORD, STATION, FakeController, station_yaml

from components.ocpp_station.clock import parse_time
from orge.testing.ocpp_csms import CsmsPki, OcppCsms


def _types(csms: OcppCsms) -> list[str]:
    return [p["type"] for p in csms.payloads("SecurityEventNotification")]


async def test_startup_of_the_device_once_per_start_and_reset_or_reboot(
    config_dir: Any, start_station: Any
) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        config = config_dir(station_yaml(csms.url(), reset_action="{action: fake.reboot}"))
        hub, _ = await start_station(config)
        FakeController(hub).state("idle")
        await csms.wait_for("BootNotification")
        (event,) = [m.payload for m in await csms.wait_for("SecurityEventNotification")]
        assert event["type"] == "StartupOfTheDevice"

        journal = hub.data["ocpp16"].journal  # confirmed before the link drops (no resend)
        await csms.wait_until(lambda: journal.count_cached == 0, 5, "event confirmed")
        statuses = len(csms.received("StatusNotification"))
        await csms.drop()  # a reconnect of the same start sends no second one
        await csms.wait_until(lambda: len(csms.attempts) >= 2, 8, "reconnect")
        await csms.wait_for("StatusNotification", statuses + 1)  # the reconnect's
        await asyncio.sleep(0.3)
        assert _types(csms) == ["StartupOfTheDevice"]

        reboots: list[str] = []
        hub.services.async_register("fake", "reboot", lambda call: reboots.append(call.service))
        assert await csms.reset(STATION, "Hard") == {"status": "Accepted"}
        await csms.wait_until(lambda: reboots == ["reboot"], 10, "reboot")
        await csms.wait_for("SecurityEventNotification", 2)
        assert _types(csms) == ["StartupOfTheDevice", "ResetOrReboot"]
        assert csms.payloads("SecurityEventNotification")[1]["techInfo"] == "Reset Hard"

        await hub.async_stop()  # the reboot: the next start reports itself again
        hub, _ = await start_station(config)
        FakeController(hub).state("idle")
        await csms.wait_for("SecurityEventNotification", 3)
        await asyncio.sleep(0.3)
        assert _types(csms) == ["StartupOfTheDevice", "ResetOrReboot", "StartupOfTheDevice"]


async def test_setting_system_time_when_the_central_system_time_moves_the_clock(
    config_dir: Any, start_station: Any
) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}, boot_interval=1) as csms:
        csms.current_time = lambda: (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        FakeController(hub).state("idle")
        await csms.wait_for("Heartbeat", 2, timeout=6)
        events = csms.payloads("SecurityEventNotification")
        assert [p["type"] for p in events] == ["StartupOfTheDevice", "SettingSystemTime"]
        assert events[1]["techInfo"].startswith("station time moved -600.")
        stamp = parse_time(events[1]["timestamp"])
        assert abs((datetime.now(UTC) - stamp).total_seconds() - 600) < 5


async def test_whitepaper_names_invalid_central_system_certificate(
    config_dir: Any, start_station: Any, tmp_path: Any
) -> None:
    """A Central System TLS certificate the station does not trust: the whitepaper's
    InvalidCentralSystemCertificate (2.0.1 says InvalidCsmsCertificate), journaled while
    no link can carry it."""
    pki = CsmsPki(str(tmp_path))
    async with OcppCsms(
        passwords={STATION: PASSWORD}, ssl_context=pki.server_context(require_client=False)
    ) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        station = hub.data["ocpp16"]

        async def queued() -> list[str]:
            return [e.payload["type"] for e in await station.journal.pending()]

        for _ in range(50):
            if await queued():
                break
            await asyncio.sleep(0.1)
        assert set(await queued()) == {"InvalidCentralSystemCertificate"}  # one per attempt
        assert not csms.received()


async def test_whitepaper_names_invalid_charge_point_certificate(
    config_dir: Any, start_station: Any, tmp_path: Any
) -> None:
    """CertificateSigned with a chain for another key: Rejected and the whitepaper's
    InvalidChargePointCertificate (2.0.1: InvalidChargingStationCertificate)."""
    pki = CsmsPki(str(tmp_path))
    async with OcppCsms(ssl_context=pki.server_context(require_client=True)) as csms:
        cert, key = pki.client_files(STATION)
        yaml = station_yaml(
            csms.url(),
            password=None,
            ca_file=pki.root_file,
            security_profile=3,
            client_certificate=cert,
            client_key=key,
        )
        await start_station(config_dir(yaml))
        await csms.wait_for("BootNotification")
        trigger = await csms.call(
            STATION, "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}
        )
        assert trigger["status"] == "Accepted"
        await csms.wait_for("SignCertificate")
        other = open(pki.client_files("OTHER")[0]).read()  # not the CSR's key
        signed = await csms.call(STATION, "CertificateSigned", {"certificateChain": other})
        assert signed["status"] == "Rejected"
        event = (
            await csms.wait_for(
                "SecurityEventNotification", where=lambda p: p["type"] != "StartupOfTheDevice"
            )
        )[0].payload
        assert event["type"] == "InvalidChargePointCertificate"


async def test_invalid_messages_queued_once_then_logged(
    config_dir: Any, start_station: Any, caplog: Any
) -> None:
    """The whitepaper's InvalidMessages: malformed frames from the Central System, each
    answered with 1.6's CALLERROR (§4.2.3: ProtocolError, FormationViolation); one
    SecurityEventNotification, every one in the security log."""
    caplog.set_level("WARNING", logger="orge.security")
    async with OcppCsms(passwords={STATION: PASSWORD}, protocols=("ocpp1.6",)) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        FakeController(hub).state("idle")
        await csms.wait_for("SecurityEventNotification")  # StartupOfTheDevice
        for text, code in [
            ("[1, 2", "ProtocolError"),
            ('[2, "bad-1", "Reset", []]', "FormationViolation"),
        ]:
            answer = await csms.send_raw(STATION, text)
            assert answer is not None and answer.payload["code"] == code
        await csms.wait_for("SecurityEventNotification", 2)
        await asyncio.sleep(0.3)
        assert _types(csms) == ["StartupOfTheDevice", "InvalidMessages"]
        # in 1.6's words, as the Central System was answered
        tech_info = csms.payloads("SecurityEventNotification")[1]["techInfo"]
        assert tech_info.startswith("ProtocolError: ")
        logged = [r.getMessage() for r in caplog.records if "InvalidMessages" in r.getMessage()]
        assert len(logged) == 2, logged
