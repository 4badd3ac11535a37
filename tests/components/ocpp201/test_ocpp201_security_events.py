"""The security events a start and the clock raise (2.0.1 A04, Part 2 appendix "Security
events"): StartupOfTheDevice once per start of the device (not per reconnect), with
ResetOrReboot when a Reset caused the start; SettingSystemTime when the CSMS's
currentTime changes the station's time. All are critical: journaled, never lost offline
(A04.FR.02)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp201_helpers import PASSWORD, STATION, station_yaml

from components.ocpp_station.clock import parse_time
from tests.ocpp_csms import OcppCsms


def _types(csms: OcppCsms) -> list[str]:
    return [p["type"] for p in csms.payloads("SecurityEventNotification")]


async def test_a04_startup_of_the_device_once_per_start_reset_or_reboot_after_a_reset(
    config_dir: Any, start_station: Any
) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        config = config_dir(station_yaml(csms.url(), evse=False))
        before = datetime.now(UTC)
        hub, _ = await start_station(config)
        boot = (await csms.wait_for("BootNotification"))[0]
        (event,) = [m.payload for m in await csms.wait_for("SecurityEventNotification")]
        assert event["type"] == "StartupOfTheDevice"
        # stamped with the start, before the boot's answer set the clock
        stamp = parse_time(event["timestamp"])
        assert before - timedelta(seconds=1) <= stamp <= datetime.now(UTC)
        assert boot.payload["reason"] == "PowerUp"

        # a reconnect of the same start: the device did not start again
        journal = hub.data["ocpp201"].journal  # confirmed before the link drops (no resend)
        await csms.wait_until(lambda: journal.count_cached == 0, 5, "event confirmed")
        await csms.drop()
        await csms.wait_until(lambda: len(csms.attempts) >= 2, 8, "reconnect")
        await csms.wait_for("Heartbeat")  # the reconnect's boot step (unchanged content)
        await asyncio.sleep(0.3)
        assert _types(csms) == ["StartupOfTheDevice"]

        # a Reset: the next start reports StartupOfTheDevice and ResetOrReboot
        reset = asyncio.Event()
        hub.bus.async_listen("ocpp_reset", lambda _event: reset.set())
        answer = await csms.call(STATION, "Reset", {"type": "Immediate"})
        assert answer["status"] == "Accepted"
        await asyncio.wait_for(reset.wait(), 10)
        await hub.async_stop()
        hub, _ = await start_station(config)
        await csms.wait_for("BootNotification", where=lambda p: p["reason"] == "RemoteReset")
        await csms.wait_for("SecurityEventNotification", 3)
        await asyncio.sleep(0.3)
        assert _types(csms) == ["StartupOfTheDevice", "StartupOfTheDevice", "ResetOrReboot"]
        last = csms.payloads("SecurityEventNotification")[-1]
        assert last["techInfo"] == "BootReason RemoteReset"


async def test_a04_setting_system_time_when_the_csms_time_moves_the_station_clock(
    config_dir: Any, start_station: Any
) -> None:
    """A CSMS whose time is an hour ahead of the station's: the BootNotification answer
    moves the station's time (SettingSystemTime, once); the heartbeats after it agree
    with it (no event)."""
    async with OcppCsms(passwords={STATION: PASSWORD}, boot_interval=1) as csms:
        csms.current_time = lambda: (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        config = config_dir(station_yaml(csms.url(), evse=False))
        await start_station(config)
        await csms.wait_for("Heartbeat", 2, timeout=6)
        events = [p for p in csms.payloads("SecurityEventNotification")]
        assert [p["type"] for p in events] == ["StartupOfTheDevice", "SettingSystemTime"]
        moved = events[1]
        assert moved["techInfo"].startswith("station time moved +3600.")
        # stamped in the CSMS's time
        stamp = parse_time(moved["timestamp"])
        assert abs((stamp - datetime.now(UTC)).total_seconds() - 3600) < 5


async def test_a04_no_setting_system_time_when_the_clocks_agree(
    config_dir: Any, start_station: Any
) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}, boot_interval=1) as csms:
        config = config_dir(station_yaml(csms.url(), evse=False))
        await start_station(config)
        await csms.wait_for("Heartbeat", 2, timeout=6)
        assert _types(csms) == ["StartupOfTheDevice"]


async def test_a04_invalid_messages_queued_once_then_logged(
    config_dir: Any, start_station: Any, caplog: Any
) -> None:
    """Part 2 appendix "Security events": InvalidMessages when the CSMS sends a message
    the station cannot take. Three malformed frames (not JSON, a CALL without a payload
    object, a payload against the schema), each answered with its CALLERROR (OCPP-J
    §4.3): one SecurityEventNotification names the first; all three are in the security
    log. A valid order the station does not support (NotSupported) is no invalid message."""
    caplog.set_level("WARNING", logger="orge.security")
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await start_station(config_dir(station_yaml(csms.url(), evse=False)))
        await csms.wait_for("SecurityEventNotification")  # StartupOfTheDevice
        frames = [
            ("not json", "RpcFrameworkError"),
            ('[2, "bad-1", "Reset", []]', "FormatViolation"),
            ('[2, "bad-2", "Reset", {"type": 5}]', "TypeConstraintViolation"),
        ]
        for text, code in frames:
            answer = await csms.send_raw(STATION, text)
            assert answer is not None and answer.payload["code"] == code
        unsupported = '[2, "ok-1", "CostUpdated", {"totalCost": 1.5, "transactionId": "t1"}]'
        answer = await csms.send_raw(STATION, unsupported)
        assert answer is not None and answer.payload["code"] == "NotSupported"
        await csms.wait_for("SecurityEventNotification", 2)
        await asyncio.sleep(0.3)
        assert _types(csms) == ["StartupOfTheDevice", "InvalidMessages"]
        assert csms.payloads("SecurityEventNotification")[1]["techInfo"].startswith(
            "RpcFrameworkError: "
        )
        logged = [r.getMessage() for r in caplog.records if "InvalidMessages" in r.getMessage()]
        assert len(logged) == 3, logged
        assert "TypeConstraintViolation" in logged[-1]
        assert not any("NotSupported" in line for line in logged)
