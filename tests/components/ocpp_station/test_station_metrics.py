"""The OCPP figures of /api/metrics (components/ocpp_station/metrics.py) on a running
station against the test CSMS, over real HTTP, parsed by prometheus_client's text parser:
every count is the number of frames the CSMS itself recorded."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from ocpp.exceptions import NotSupportedError
from prometheus_client.parser import text_string_to_metric_families

from components.http.auth import create_token
from tests.components.http.conftest import free_port
from tests.components.ocpp201.ocpp201_helpers import (
    PASSWORD,
    STATION,
    FakeController,
    station_yaml,
    wait_until,
)
from tests.ocpp_csms import CallErrorAnswer, OcppCsms

PROTOCOL = "ocpp2.0.1"


def families(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """{sample name: {sorted labels: value}} of a Prometheus text answer."""
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            found.setdefault(sample.name, {})[labels] = sample.value
    return found


def per_action(samples: dict[tuple[tuple[str, str], ...], float]) -> dict[str, int]:
    """{action: count} of one protocol's samples of a per-action counter."""
    counts = {}
    for labels, value in samples.items():
        named = dict(labels)
        assert named["protocol"] == PROTOCOL, named
        counts[named["action"]] = int(value)
    return counts


async def test_ocpp_counts_match_what_the_csms_saw(config_dir, start_station) -> None:
    port = free_port()
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        yaml = station_yaml(csms.url()) + (
            f"http:\n  server_host: 127.0.0.1\n  server_port: {port}\n"
        )
        path: Path = config_dir(yaml)
        token = create_token(str(path), "monitor")
        hub, result = await start_station(path)
        assert not result.problems, result.problems
        controller = FakeController(hub)
        controller.state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        # The CSMS refuses the transaction's first message once: sent twice, retried once.
        csms.answer("TransactionEvent", CallErrorAnswer("InternalError"), times=1)
        controller.energy(1.5, 7.0)
        controller.state("charging", cp=2)
        controller.state("stopped", cp=0)
        await csms.wait_for("TransactionEvent", 3)  # Started (twice), Ended
        journal = hub.data["ocpp201"].journal
        await wait_until(lambda: journal.count_cached == 0, what="journal delivered")
        # Two CALLs of the CSMS's own, one of an action the station does not support
        heartbeat = {
            "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "HeartbeatInterval"},
        }
        await csms.call(STATION, "GetVariables", {"getVariableData": [heartbeat]})
        with pytest.raises(NotSupportedError):  # received (and answered) all the same
            await csms.call(STATION, "CostUpdated", {"totalCost": 1.5, "transactionId": "x"})
        await asyncio.sleep(0.3)  # the last answers and confirmations settle

        async with aiohttp.ClientSession() as session:
            response = await session.get(
                f"http://127.0.0.1:{port}/api/metrics",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status == 200
            found = families(await response.text())

        seen_by_csms = Counter(message.action for message in csms.received())
        sent_by_csms = Counter(
            message.action
            for message in csms.messages
            if message.direction == "out" and message.kind == "call"
        )
        assert per_action(found["orge_ocpp_messages_sent_total"]) == dict(seen_by_csms)
        assert per_action(found["orge_ocpp_messages_received_total"]) == dict(sent_by_csms)
        assert dict(sent_by_csms) == {"GetVariables": 1, "CostUpdated": 1}
        # Every TransactionEvent went through the journal once; the refused one was sent
        # again: the CSMS saw one more than were queued. The start's security event
        # (StartupOfTheDevice) is journaled too.
        events = csms.received("TransactionEvent")
        assert per_action(found["orge_ocpp_messages_queued_total"]) == {
            "TransactionEvent": len(events) - 1,
            "SecurityEventNotification": len(csms.received("SecurityEventNotification")),
        }
        assert csms.payloads("SecurityEventNotification")[0]["type"] == "StartupOfTheDevice"
        assert per_action(found["orge_ocpp_messages_retried_total"]) == {"TransactionEvent": 1}
        assert events[0].payload == events[1].payload  # the retry is the same message
        labels = (("protocol", PROTOCOL),)
        assert found["orge_ocpp_journal_messages"] == {labels: 0}
        db = path / ".storage" / "ocpp201.db"
        on_disk = sum(
            os.stat(name).st_size for name in (db, Path(f"{db}-wal")) if os.path.exists(name)
        )
        assert on_disk > 0
        assert found["orge_ocpp_journal_size_bytes"] == {labels: on_disk}
