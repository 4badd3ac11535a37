"""Non-critical security events do not flood the journal (2.0.1 A04, Part 2 appendix
"Security events"): every occurrence is in the security log (A04.FR.03), but a
non-critical type is queued at most once per `REPORT_EVERY` s and never while its last
report still waits in the journal; the next report says how many came meanwhile.
Critical ones are queued every time (A04.FR.02)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from ocpp201_helpers import PASSWORD, STATION, station_yaml

from components.ocpp_station import security
from orge.testing.ocpp_csms import CsmsPki, OcppCsms


def _logged(caplog: Any, kind: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "orge.security" and r.getMessage().startswith(f"Security event {kind}")
    ]


async def test_a04_refused_at_every_dial_journals_one_event_the_csms_gets_the_count(
    config_dir: Any, start_station: Any, caplog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tester's case: `queue_size: 10`, a CSMS answering HTTP 401 at every dial.
    FailedToAuthenticateAtCsms (not critical) is in the security log once per attempt,
    in the journal once; once the CSMS lets the station in it gets that one, then one
    report with how many came meanwhile. StartupOfTheDevice (critical) is queued too."""
    monkeypatch.setattr(security, "REPORT_EVERY", 1.5)
    caplog.set_level("WARNING", logger="orge.security")
    async with OcppCsms(passwords={STATION: "not-the-station-password"}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), queue_size=10)))
        station = hub.data["ocpp201"]
        refused = lambda: sum(a.outcome == "unauthorized" for a in csms.attempts)  # noqa: E731
        await csms.wait_until(lambda: refused() >= 12, 20, "12 refused dials")
        pending = [e.payload["type"] for e in await station.journal.pending()]
        assert pending == ["FailedToAuthenticateAtCsms"]  # one, not one per attempt
        assert len(_logged(caplog, "FailedToAuthenticateAtCsms")) >= 12

        csms.passwords = {STATION: PASSWORD}
        events = await csms.wait_for(
            "SecurityEventNotification",
            count=2,
            where=lambda p: p["type"] == "FailedToAuthenticateAtCsms",
            timeout=10,
        )
        first, report = (m.payload for m in events)
        assert first["techInfo"] == "HTTP 401"
        match = re.fullmatch(r"HTTP 401 \((\d+) times since the last report\)", report["techInfo"])
        assert match, report
        logged = len(_logged(caplog, "FailedToAuthenticateAtCsms"))
        assert 1 + int(match[1]) == logged  # the CSMS is told of every refusal
        assert [p["type"] for p in csms.payloads("SecurityEventNotification")].count(
            "StartupOfTheDevice"
        ) == 1
        await asyncio.sleep(2 * security.REPORT_EVERY)  # nothing more to report
        assert len(csms.received("SecurityEventNotification")) == 3


async def test_a04_untrusted_csms_certificate_at_every_dial_journals_one_event(
    config_dir: Any,
    start_station: Any,
    tmp_path: Any,
    caplog: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A CSMS TLS certificate the station does not trust, dial after dial:
    InvalidCsmsCertificate in the security log every time, in the journal once, even
    over several report periods (its report waits undelivered: no second one)."""
    monkeypatch.setattr(security, "REPORT_EVERY", 0.3)
    caplog.set_level("WARNING", logger="orge.security")
    pki = CsmsPki(str(tmp_path))
    async with OcppCsms(
        passwords={STATION: PASSWORD}, ssl_context=pki.server_context(require_client=False)
    ) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), queue_size=10)))
        station = hub.data["ocpp201"]
        for _ in range(150):
            if len(_logged(caplog, "InvalidCsmsCertificate")) >= 8:
                break
            await asyncio.sleep(0.1)
        assert len(_logged(caplog, "InvalidCsmsCertificate")) >= 8
        pending = [e.payload["type"] for e in await station.journal.pending()]
        assert pending == ["InvalidCsmsCertificate"]
        assert not csms.received()
