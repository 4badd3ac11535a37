"""The security whitepaper's non-critical events do not flood the journal under 1.6
either (the shared rule, `StationSecurity.event`): every occurrence in the security log,
one queued per type and report period with how many came meanwhile. The whitepaper
does not call InvalidFirmwareSignature critical (2.0.1 does)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from ocpp16_helpers import PASSWORD, STATION, station_yaml

from components.ocpp_station import security
from orge.testing.ocpp_csms import OcppCsms


async def test_refused_at_every_dial_journals_one_event_the_central_system_gets_the_count(
    config_dir: Any, start_station: Any, caplog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(security, "REPORT_EVERY", 1.5)
    caplog.set_level("WARNING", logger="orge.security")
    kind = "FailedToAuthenticateAtCentralSystem"  # the whitepaper's name

    def logged() -> int:
        return sum(
            r.name == "orge.security" and r.getMessage().startswith(f"Security event {kind}")
            for r in caplog.records
        )

    async with OcppCsms(passwords={STATION: "not-the-station-password"}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), queue_size=10)))
        station = hub.data["ocpp16"]
        refused = lambda: sum(a.outcome == "unauthorized" for a in csms.attempts)  # noqa: E731
        await csms.wait_until(lambda: refused() >= 10, 20, "10 refused dials")
        assert [e.payload["type"] for e in await station.journal.pending()] == [kind]
        assert logged() >= 10

        csms.passwords = {STATION: PASSWORD}
        events = await csms.wait_for(
            "SecurityEventNotification", count=2, where=lambda p: p["type"] == kind, timeout=10
        )
        first, report = (m.payload for m in events)
        assert first["techInfo"] == "HTTP 401"
        match = re.fullmatch(r"HTTP 401 \((\d+) times since the last report\)", report["techInfo"])
        assert match, report
        assert 1 + int(match[1]) == logged()


def test_whitepaper_criticality_differs_from_2_0_1_for_invalid_firmware_signature() -> None:
    """2.0.1 Part 2 appendix marks InvalidFirmwareSignature critical, the whitepaper's
    list does not; the other critical ones are the same."""
    assert "InvalidFirmwareSignature" in security.CRITICAL_EVENTS
    assert "InvalidFirmwareSignature" not in security.WHITEPAPER_CRITICAL_EVENTS
    assert security.CRITICAL_EVENTS - security.WHITEPAPER_CRITICAL_EVENTS == {
        "InvalidFirmwareSignature"
    }
