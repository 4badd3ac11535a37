"""Journal delivery (retries, aside, link loss) and primary/fallback coordination."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from components.ocpp_station.journal import KIND_END, KIND_START, AsyncJournal, Entry
from components.ocpp_station.once import OnceResult, safe_url
from components.ocpp_station.role import (
    ACTIVE_PROTOCOL_ENTITY,
    EVENT_PRIMARY_FAILED,
    LinkRole,
    domain_order,
    primary_domain,
)
from components.ocpp_station.sender import (
    CallRejected,
    JournalSender,
    LinkDown,
    NoAnswer,
    RetryPolicy,
)
from orge.core import Orge, callback


async def open_journal(tmp_path: Path) -> AsyncJournal:
    journal = AsyncJournal(str(tmp_path / "j.db"))
    await journal.open()
    return journal


async def test_sender_delivers_in_order_and_retries(tmp_path: Path) -> None:
    journal = await open_journal(tmp_path)
    for n in range(3):
        await journal.append("TransactionEvent", {"n": n}, KIND_START)
    sent: list[tuple[int, float]] = []
    failures = {1: 2}  # message n=1 is rejected twice, then accepted

    async def send(entry: Entry, payload: dict[str, Any]) -> dict[str, Any]:
        sent.append((payload["n"], time.monotonic()))
        if failures.get(payload["n"], 0):
            failures[payload["n"]] -= 1
            raise CallRejected("InternalError")
        return {}

    confirmed: list[int] = []
    sender = JournalSender(
        journal,
        lambda e: RetryPolicy(attempts=3, interval=0.05),
        on_confirmed=lambda e, r: confirmed.append(e.payload["n"]),
    )
    task = asyncio.create_task(sender.run(send))
    while len(confirmed) < 3 or await journal.count():
        await asyncio.sleep(0.01)
    task.cancel()
    assert [n for n, _ in sent] == [0, 1, 1, 1, 2] and confirmed == [0, 1, 2]
    gaps = [sent[i + 1][1] - sent[i][1] for i in (1, 2)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # interval x failures so far
    assert await journal.count() == 0
    await journal.close()


async def test_sender_moves_aside_after_attempts(tmp_path: Path) -> None:
    journal = await open_journal(tmp_path)
    await journal.append("TransactionEvent", {"n": 0}, KIND_START)
    await journal.append("TransactionEvent", {"n": 1}, KIND_END)
    attempts: list[int] = []
    aside: list[str] = []

    async def send(entry: Entry, payload: dict[str, Any]) -> dict[str, Any]:
        attempts.append(payload["n"])
        if payload["n"] == 0:
            raise NoAnswer("timeout")
        return {}

    sender = JournalSender(
        journal,
        lambda e: RetryPolicy(attempts=2, interval=0.01),
        on_aside=lambda e, reason: aside.append(reason),
    )
    task = asyncio.create_task(sender.run(send))
    while await journal.count():
        await asyncio.sleep(0.01)
    task.cancel()
    assert attempts == [0, 0, 1] and aside == ["NoAnswer: timeout"]
    assert (await journal.aside())[0]["attempts"] == 2
    await journal.close()


async def test_link_down_keeps_the_message(tmp_path: Path) -> None:
    journal = await open_journal(tmp_path)
    await journal.append("TransactionEvent", {"n": 0}, KIND_START)

    async def send(entry: Entry, payload: dict[str, Any]) -> None:
        raise LinkDown()

    sender = JournalSender(journal, lambda e: RetryPolicy())
    with pytest.raises(LinkDown):
        await sender.run(send)
    head = await journal.first()
    assert head is not None and head.attempts == 0
    await journal.close()


async def test_cancelled_while_confirming_sends_nothing_twice(tmp_path: Path) -> None:
    """The link drops (the session cancels `run`) after the CSMS answered but before the
    journal stored the confirmation: the hook's write and the delete still happen, and
    the next connection does not send the message again."""
    journal = await open_journal(tmp_path)
    await journal.append("StartTransaction", {"n": 0}, KIND_START)
    await journal.append("StopTransaction", {"n": 1}, KIND_END)
    gate = threading.Event()
    answered = asyncio.Event()
    sent: list[int] = []

    async def send(entry: Entry, payload: dict[str, Any]) -> dict[str, Any]:
        sent.append(payload["n"])
        if payload["n"] == 0 and not answered.is_set():
            # Hold the journal's one thread: the confirmation's jobs queue behind this,
            # not started, when the cancel lands (the window of the race, made certain).
            journal._run(gate.wait, 5)
            answered.set()
        return {"transactionId": 70 + payload["n"]}

    async def on_confirmed(entry: Entry, response: dict[str, Any]) -> None:
        await journal.set_setting(f"id:{entry.payload['n']}", response["transactionId"])

    sender = JournalSender(journal, lambda e: RetryPolicy(), on_confirmed=on_confirmed)
    try:
        first = asyncio.create_task(sender.run(send))
        await answered.wait()
        first.cancel()  # the connection ended
        with pytest.raises(asyncio.CancelledError):
            await first
    finally:
        gate.set()
    second = asyncio.create_task(sender.run(send))  # the next connection
    deadline = time.monotonic() + 5
    while await journal.count():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    second.cancel()
    assert sent == [0, 1]  # StartTransaction once
    assert await journal.get_setting("id:0") == 70 and await journal.get_setting("id:1") == 71
    await journal.close()


def test_primary_from_env() -> None:
    assert primary_domain({}) == "ocpp201"
    assert primary_domain({"OCPP_PRIMARY": "16"}) == "ocpp16"
    assert primary_domain({"OCPP_PRIMARY": "201"}) == "ocpp201"
    assert primary_domain({"OCPP_PRIMARY": "nonsense"}) == "ocpp201"
    both = {"ocpp201": {}, "ocpp16": {"fallback": True}}
    assert domain_order(both, {}) == ["ocpp201", "ocpp16"]
    assert domain_order(both, {"OCPP_PRIMARY": "16"}) == ["ocpp16", "ocpp201"]
    assert domain_order({"ocpp201": {}, "ocpp16": {"fallback": False}}, {}) == ["ocpp201"]
    assert domain_order({"ocpp16": {}}, {}) == ["ocpp16"]


async def test_fallback_takes_over_and_steps_down(orge: Orge) -> None:
    primary = LinkRole(orge, "ocpp201", failures_before_fallback=2, env={})
    fallback = LinkRole(orge, "ocpp16", env={})
    stepped_down: list[bool] = []
    fallback.on_deactivate = lambda: stepped_down.append(True)
    orge.config.components.update({"ocpp201", "ocpp16"})
    primary.start()
    fallback.start()
    await orge.async_start()
    assert primary.active and not fallback.active
    failed: list[Any] = []
    orge.bus.async_listen(EVENT_PRIMARY_FAILED, callback(lambda e: failed.append(e.data)))
    primary.report_failure("connection refused")
    assert not fallback.active
    primary.report_failure("connection refused")
    assert fallback.active and failed[0]["domain"] == "ocpp201"
    fallback.report_connected("ocpp1.6")
    assert orge.states.get(ACTIVE_PROTOCOL_ENTITY).state == "ocpp1.6"
    primary.report_connected("ocpp2.0.1")
    assert not fallback.active and stepped_down == [True]
    assert orge.states.get(ACTIVE_PROTOCOL_ENTITY).state == "ocpp2.0.1"
    fallback.report_disconnected()
    primary.report_disconnected()
    assert orge.states.get(ACTIVE_PROTOCOL_ENTITY).state == "none"
    primary.report_failure("boot Rejected", refused=True)
    assert fallback.active


async def test_fallback_active_without_primary(orge: Orge) -> None:
    fallback = LinkRole(orge, "ocpp16", env={})
    orge.config.components.add("ocpp16")
    fallback.start()
    await orge.async_start()
    assert fallback.active


def test_once_result_shape() -> None:
    assert safe_url("wss://CP1:s3cret@csms.example:8443/ocpp/CP1?token=x") == (
        "wss://csms.example:8443/ocpp/CP1"
    )
    result = OnceResult("ocpp2.0.1", "CP1", "ws://u:p@h/ocpp/CP1")
    result.boot_status = "Accepted"
    for action in ("BootNotification", "StatusNotification", "Heartbeat"):
        result.record(action, {}, {"ok": 1})
    data = result.as_dict()
    assert data["ok"] and data["url"] == "ws://h/ocpp/CP1" and "error" not in data
    result.boot_status = "Rejected"
    assert result.as_dict()["error"] == "boot Rejected"


async def test_unexpected_error_counts_as_an_attempt(tmp_path: Path) -> None:
    journal = await open_journal(tmp_path)
    await journal.append("TransactionEvent", {"n": 0}, KIND_START)
    await journal.append("TransactionEvent", {"n": 1}, KIND_END)
    sent: list[int] = []

    async def send(entry: Entry, payload: dict[str, Any]) -> dict[str, Any]:
        sent.append(payload["n"])
        if payload["n"] == 0:
            raise ValueError("a payload the schema refuses")
        return {}

    sender = JournalSender(journal, lambda e: RetryPolicy(attempts=2, interval=0.01))
    task = asyncio.create_task(sender.run(send))
    while await journal.count():
        await asyncio.sleep(0.01)
    task.cancel()
    assert sent == [0, 0, 1]  # the queue is not blocked behind a bad message
    await journal.close()


async def test_sender_retry_spacing_follows_a_new_interval_at_once(tmp_path: Path) -> None:
    """Issue 10 point 3: the retry interval (1.6 TransactionMessageRetryInterval, 2.0.1
    MessageAttemptInterval) lowered while a message waits for its retry applies now."""
    journal = await open_journal(tmp_path)
    await journal.append("TransactionEvent", {"n": 0}, KIND_START)
    sent: list[float] = []

    async def send(entry: Entry, payload: dict[str, Any]) -> dict[str, Any]:
        sent.append(time.monotonic())
        if len(sent) == 1:
            raise CallRejected("InternalError")
        return {}

    interval = {"value": 60.0}
    sender = JournalSender(journal, lambda e: RetryPolicy(attempts=3, interval=interval["value"]))
    task = asyncio.create_task(sender.run(send))
    while not sent:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # waiting for the retry, 60 s away
    changed = time.monotonic()
    interval["value"] = 0.5
    sender.settings.notify()
    while len(sent) < 2:
        assert time.monotonic() - changed < 3, "the retry still waits for the old 60 s"
        await asyncio.sleep(0.01)
    task.cancel()
    assert 0.5 <= sent[1] - sent[0] < 1.5  # interval x failures (1) from the failure
    await journal.close()
