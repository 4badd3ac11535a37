"""A Central System that answers a non-transaction message with CALLERROR NotImplemented
(it does not do that action, OCPP-J 1.6 §4.2.3) never holds up a StartTransaction queued
behind it: the refused message is moved aside after one transmission."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ocpp16_helpers import PASSWORD, STATION, FakeController, station_yaml

from tests.ocpp_csms import CallErrorAnswer, OcppCsms


async def _until(predicate: Any, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        await asyncio.sleep(0.02)


async def test_not_implemented_security_event_does_not_hold_up_start(
    config_dir: Any, start_station: Any
) -> None:
    async with OcppCsms(passwords={STATION: "not-the-station-password"}) as csms:
        csms.answer("SecurityEventNotification", CallErrorAnswer("NotImplemented"))
        # a retry would wait 30 s (TransactionMessageRetryInterval x 1)
        yaml = station_yaml(csms.url(), transaction_message_retry_interval=30)
        hub, _ = await start_station(config_dir(yaml))
        station = hub.data["ocpp16"]
        controller = FakeController(hub)
        controller.state("idle")
        moved: list[dict[str, Any]] = []
        hub.bus.async_listen("ocpp16_message_aside", lambda e: moved.append(e.data))

        def queued(action: str) -> Any:
            async def check() -> bool:
                return any(e.action == action for e in await station.journal.pending())

            return check

        # The Central System refuses the password (HTTP 401): FailedToAuthenticateAtCentralSystem
        # is journaled, then a local session's StartTransaction behind it.
        await csms.wait_until(
            lambda: any(a.outcome == "unauthorized" for a in csms.attempts), 8, "refusal"
        )
        await _until(queued("SecurityEventNotification"), "event journaled")
        controller.state("charging")  # a local session while offline
        await _until(queued("StartTransaction"), "StartTransaction journaled")
        csms.passwords = {STATION: PASSWORD}  # the Central System lets the station in

        start = (await csms.wait_for("StartTransaction", timeout=10))[0]
        events = csms.received("SecurityEventNotification")
        assert events[0].payload["type"] == "FailedToAuthenticateAtCentralSystem"  # whitepaper
        assert events[0].mono < start.mono  # it was ahead of StartTransaction in the queue
        assert start.mono - events[0].mono < 2.0  # and the start did not wait for a retry
        # every refused message moved aside after its one transmission, none retried

        async def drained() -> bool:
            return bool(await station.journal.count() == 0)

        await _until(drained, "queue drained")
        aside = await station.journal.aside()
        assert aside and {a["action"] for a in aside} == {"SecurityEventNotification"}
        assert len(aside) == len(csms.received("SecurityEventNotification"))
        assert all(a["attempts"] == 1 for a in aside)
        assert all(a["reason"].startswith("CallRejected: NotImplemented") for a in aside)
        assert csms.received("StartTransaction") == [start]  # accepted at once
        assert len(moved) == len(aside)  # each announced on the bus as today
        assert moved[0]["action"] == "SecurityEventNotification" and moved[0]["transaction"] is None
