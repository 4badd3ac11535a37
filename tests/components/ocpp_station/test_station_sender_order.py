"""The sender's order when the CSMS answers oddly: a non-transaction message the CSMS does
not do (CALLERROR NotImplemented / NotSupported, OCPP-J §4.2.3) is moved aside at once,
one waiting for its retry is stepped over, and transaction messages (1.6J §4.10, 2.0.1
E12/E13: retried on any CALLERROR) stay strictly in order."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from components.ocpp_station.journal import (
    KIND_END,
    KIND_OTHER,
    KIND_START,
    KIND_UPDATE,
    AsyncJournal,
    Entry,
)
from components.ocpp_station.sender import CallRejected, JournalSender, RetryPolicy


async def open_journal(tmp_path: Path) -> AsyncJournal:
    journal = AsyncJournal(str(tmp_path / "j.db"))
    await journal.open()
    return journal


async def drain(journal: AsyncJournal, until: float = 5.0) -> None:
    deadline = time.monotonic() + until
    while await journal.count():
        assert time.monotonic() < deadline, await journal.pending()
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("code", ["NotImplemented", "NotSupported"])
async def test_unsupported_other_message_moved_aside_at_once(tmp_path: Path, code: str) -> None:
    journal = await open_journal(tmp_path)
    await journal.append("NotifyCustomerInformation", {"n": 0}, KIND_OTHER)
    await journal.append("TransactionEvent", {"n": 1}, KIND_START, tx_id="t1")
    sent: list[tuple[int, float]] = []
    aside: list[tuple[str, str]] = []

    async def send(entry: Entry, payload: dict[str, Any]) -> dict[str, Any]:
        sent.append((payload["n"], time.monotonic()))
        if payload["n"] == 0:
            raise CallRejected(code, "the CSMS does not do this")
        return {}

    sender = JournalSender(
        journal,
        lambda e: RetryPolicy(attempts=3, interval=60.0),  # a retry would wait a minute
        on_aside=lambda e, reason: aside.append((e.action, reason)),
    )
    task = asyncio.create_task(sender.run(send))
    await drain(journal)
    task.cancel()
    assert [n for n, _ in sent] == [0, 1]  # sent once, not retried
    assert sent[1][1] - sent[0][1] < 1.0  # the next message did not wait for a retry
    assert aside == [
        ("NotifyCustomerInformation", f"CallRejected: {code}: the CSMS does not do this")
    ]
    (kept,) = await journal.aside()
    assert kept["action"] == "NotifyCustomerInformation" and kept["attempts"] == 1
    assert kept["reason"].startswith(f"CallRejected: {code}")
    await journal.close()


async def test_unsupported_transaction_message_is_still_retried(tmp_path: Path) -> None:
    """A transaction message is never given up early, whatever the CALLERROR code."""
    journal = await open_journal(tmp_path)
    await journal.append("StartTransaction", {"n": 0}, KIND_START, tx_id="t1")
    await journal.append("StopTransaction", {"n": 1}, KIND_END, tx_id="t1")
    sent: list[int] = []
    rejections = {0: 2}

    async def send(entry: Entry, payload: dict[str, Any]) -> dict[str, Any]:
        sent.append(payload["n"])
        if rejections.get(payload["n"], 0):
            rejections[payload["n"]] -= 1
            raise CallRejected("NotImplemented")
        return {}

    sender = JournalSender(journal, lambda e: RetryPolicy(attempts=3, interval=0.05))
    task = asyncio.create_task(sender.run(send))
    await drain(journal)
    task.cancel()
    assert sent == [0, 0, 0, 1]
    assert await journal.aside() == []
    await journal.close()


async def test_other_message_waiting_for_retry_is_stepped_over(tmp_path: Path) -> None:
    journal = await open_journal(tmp_path)
    await journal.append("SecurityEventNotification", {"n": 0}, KIND_OTHER)
    await journal.append("TransactionEvent", {"n": 1}, KIND_START, tx_id="t1")
    await journal.append("TransactionEvent", {"n": 2}, KIND_UPDATE, tx_id="t1")
    await journal.append("StatusNotification", {"n": 3}, KIND_OTHER)
    sent: list[tuple[int, float]] = []
    rejections = {0: 1}
    retried: list[str] = []

    async def send(entry: Entry, payload: dict[str, Any]) -> dict[str, Any]:
        sent.append((payload["n"], time.monotonic()))
        if rejections.get(payload["n"], 0):
            rejections[payload["n"]] -= 1
            raise CallRejected("InternalError")
        return {}

    sender = JournalSender(journal, lambda e: RetryPolicy(attempts=3, interval=0.4))
    sender.on_retry = lambda e: retried.append(e.action)
    task = asyncio.create_task(sender.run(send))
    await drain(journal)
    task.cancel()
    # the transaction messages, in order, then the other message behind them; the one
    # that failed is retried once its interval is over (nothing else waiting then)
    assert [n for n, _ in sent] == [0, 1, 2, 3, 0]
    assert sent[1][1] - sent[0][1] < 0.3  # the TransactionEvent did not wait
    assert sent[4][1] - sent[0][1] >= 0.4  # the retry kept its spacing
    assert retried == ["SecurityEventNotification"]
    assert await journal.aside() == []
    await journal.close()


async def test_stepped_over_message_goes_before_younger_ones_once_due(tmp_path: Path) -> None:
    """Once its retry is due, a stepped-over message is the oldest again: it goes before
    the messages journaled after it that are still waiting."""
    journal = await open_journal(tmp_path)
    await journal.append("FirmwareStatusNotification", {"n": 0}, KIND_OTHER)
    await journal.append("TransactionEvent", {"n": 1}, KIND_START, tx_id="t1")
    await journal.append("TransactionEvent", {"n": 2}, KIND_UPDATE, tx_id="t1")
    sent: list[int] = []
    rejections = {0: 1}

    async def send(entry: Entry, payload: dict[str, Any]) -> dict[str, Any]:
        sent.append(payload["n"])
        if rejections.get(payload["n"], 0):
            rejections[payload["n"]] -= 1
            raise CallRejected("InternalError")
        if payload["n"] == 1:
            await asyncio.sleep(0.3)  # a slow answer: the retry falls due meanwhile
        return {}

    sender = JournalSender(journal, lambda e: RetryPolicy(attempts=3, interval=0.1))
    task = asyncio.create_task(sender.run(send))
    await drain(journal)
    task.cancel()
    assert sent == [0, 1, 0, 2]
    await journal.close()


async def test_transaction_message_waiting_for_retry_holds_up_the_queue(tmp_path: Path) -> None:
    """A transaction message's retry is not stepped over: what follows it (its end, the
    connector's status) must not reach the CSMS before it."""
    journal = await open_journal(tmp_path)
    await journal.append("StopTransaction", {"n": 0}, KIND_END, tx_id="t1")
    await journal.append("StatusNotification", {"n": 1}, KIND_OTHER)
    sent: list[tuple[int, float]] = []
    rejections = {0: 1}

    async def send(entry: Entry, payload: dict[str, Any]) -> dict[str, Any]:
        sent.append((payload["n"], time.monotonic()))
        if rejections.get(payload["n"], 0):
            rejections[payload["n"]] -= 1
            raise CallRejected("InternalError")
        return {}

    sender = JournalSender(journal, lambda e: RetryPolicy(attempts=3, interval=0.2))
    task = asyncio.create_task(sender.run(send))
    await drain(journal)
    task.cancel()
    assert [n for n, _ in sent] == [0, 0, 1]
    assert sent[1][1] - sent[0][1] >= 0.2
    await journal.close()


async def test_new_connection_retries_a_stepped_over_message_at_once(tmp_path: Path) -> None:
    journal = await open_journal(tmp_path)
    await journal.append("LogStatusNotification", {"n": 0}, KIND_OTHER)
    sent: list[int] = []

    async def refuse(entry: Entry, payload: dict[str, Any]) -> dict[str, Any]:
        sent.append(payload["n"])
        raise CallRejected("InternalError")

    sender = JournalSender(journal, lambda e: RetryPolicy(attempts=3, interval=60.0))
    first = asyncio.create_task(sender.run(refuse))
    while not sent:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    first.cancel()  # the link dropped while it waited for its retry

    async def accept(entry: Entry, payload: dict[str, Any]) -> dict[str, Any]:
        sent.append(payload["n"])
        return {}

    second = asyncio.create_task(sender.run(accept))
    await drain(journal, until=2.0)
    second.cancel()
    assert sent == [0, 0]
    await journal.close()
