"""The journal on a real SQLite file: order, durability, pressure, attempts, settings."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from components.ocpp_station.journal import (
    KIND_END,
    KIND_METER,
    KIND_OTHER,
    KIND_START,
    KIND_UPDATE,
    AsyncJournal,
    Journal,
)


def test_messages_in_order_and_confirmed(tmp_path: Path) -> None:
    journal = Journal(str(tmp_path / "j.db"))
    first = journal.append("TransactionEvent", {"n": 1}, KIND_START, tx_id="t1", offline=True)
    journal.append("TransactionEvent", {"n": 2}, KIND_UPDATE, tx_id="t1")
    journal.append("TransactionEvent", {"n": 3}, KIND_END, tx_id="t1")
    assert [e.payload["n"] for e in journal.pending()] == [1, 2, 3]
    head = journal.first()
    assert head is not None and head.id == first.id and head.offline and head.tx_id == "t1"
    journal.confirm(first.id)
    assert [e.payload["n"] for e in journal.pending("t1")] == [2, 3]
    assert journal.count() == 2 and journal.count("other") == 0


def test_wal_and_full_sync(tmp_path: Path) -> None:
    journal = Journal(str(tmp_path / "j.db"))
    assert journal._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_survives_kill_9(tmp_path: Path) -> None:
    """A process killed right after append returned: the message is there on reopen."""
    path = tmp_path / "j.db"
    script = textwrap.dedent(
        f"""
        import os, signal
        from components.ocpp_station.journal import Journal
        j = Journal({str(path)!r})
        j.append("TransactionEvent", {{"eventType": "Started"}}, "start", tx_id="t")
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[3])
    assert proc.returncode == -9
    entries = Journal(str(path)).pending()
    assert [e.payload for e in entries] == [{"eventType": "Started"}]


def test_pressure_drops_meter_values_first_never_start_end(tmp_path: Path) -> None:
    journal = Journal(str(tmp_path / "j.db"), max_messages=4)
    journal.append("TransactionEvent", {"n": "start"}, KIND_START)
    journal.append("TransactionEvent", {"n": "upd"}, KIND_UPDATE)
    journal.append("TransactionEvent", {"n": "m1"}, KIND_METER)
    journal.append("TransactionEvent", {"n": "m2"}, KIND_METER)
    journal.append("TransactionEvent", {"n": "m3"}, KIND_METER)  # drops m1
    assert [e.payload["n"] for e in journal.pending()] == ["start", "upd", "m2", "m3"]
    journal.append("TransactionEvent", {"n": "end"}, KIND_END)  # drops m2
    journal.append("TransactionEvent", {"n": "end2"}, KIND_END)  # drops m3
    journal.append("TransactionEvent", {"n": "end3"}, KIND_END)  # drops upd
    journal.append("TransactionEvent", {"n": "end4"}, KIND_END)  # nothing left to drop
    kinds = [e.payload["n"] for e in journal.pending()]
    assert kinds == ["start", "end", "end2", "end3", "end4"]


def test_full_of_messages_never_dropped_keeps_them_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A queue full of `other` (and start/end) messages: nothing may be dropped, the new
    one is kept beyond `max_messages`, one warning per crossing (not one per append); a
    meter value that comes then still drops an older meter value first."""
    caplog.set_level("WARNING", logger="components.ocpp_station.journal")
    journal = Journal(str(tmp_path / "j.db"), max_messages=3)
    for n in range(5):
        journal.append("StatusNotification", {"n": n}, KIND_OTHER)
    assert [e.payload["n"] for e in journal.pending()] == [0, 1, 2, 3, 4]
    warned = [r for r in caplog.records if "never dropped" in r.getMessage()]
    assert len(warned) == 1 and "(3 of 3)" in warned[0].getMessage()
    journal.append("MeterValues", {"n": "m1"}, KIND_METER)
    journal.append("MeterValues", {"n": "m2"}, KIND_METER)  # drops m1, the only droppable
    assert [e.payload["n"] for e in journal.pending()][-1:] == ["m2"]
    assert journal.count() == 6
    assert journal.has(journal.pending()[-1].id)
    journal.confirm(journal.pending()[-1].id)
    assert not journal.has(9999)


def test_attempts_and_move_aside(tmp_path: Path) -> None:
    journal = Journal(str(tmp_path / "j.db"))
    entry = journal.append("TransactionEvent", {"a": 1}, KIND_START, tx_id="t")
    assert journal.record_attempt(entry.id, "CallError: InternalError") == 1
    assert journal.record_attempt(entry.id, "NoAnswer") == 2
    journal.move_aside(entry.id, "NoAnswer")
    assert journal.count() == 0
    aside = journal.aside()
    assert aside[0]["attempts"] == 2 and aside[0]["reason"] == "NoAnswer"
    assert aside[0]["payload"] == {"a": 1}


def test_transactions_and_seq_persist(tmp_path: Path) -> None:
    path = str(tmp_path / "j.db")
    journal = Journal(path)
    journal.open_transaction("tx1", 1, {"id_token": "A"})
    assert [journal.next_seq("tx1") for _ in range(3)] == [0, 1, 2]
    journal.close()
    again = Journal(path)
    assert again.next_seq("tx1") == 3
    (record,) = again.transactions()
    assert record.tx_id == "tx1" and record.data == {"id_token": "A"} and record.seq_next == 4
    again.update_transaction("tx1", {"id_token": "B"})
    assert again.transactions()[0].data == {"id_token": "B"}
    # the end message closes the record (the one way the station closes one)
    again.append("TransactionEvent", {"eventType": "Ended"}, KIND_END, tx_id="tx1", close_tx=True)
    assert again.transactions() == []
    with pytest.raises(KeyError):
        again.next_seq("tx1")


def test_end_message_and_closing_of_the_record_are_one_commit(tmp_path: Path) -> None:
    """`close_tx`: the end message and the closing of the transaction record commit
    together. A crash right after the end was journaled (and sent) must not find the
    record open: the restart would resume the transaction and end it a second time (the
    CSMS would get two Ended events / StopTransactions). If the end cannot be written,
    the record stays open (one rollback)."""
    path = str(tmp_path / "j.db")
    journal = Journal(path)
    journal.append(
        "TransactionEvent",
        {"eventType": "Started"},
        KIND_START,
        tx_id="tx1",
        open_tx=(1, {"id_token": "A"}),
    )
    journal.append("TransactionEvent", {"eventType": "Ended"}, KIND_END, tx_id="tx1", close_tx=True)
    journal.close()  # what a restart reads
    again = Journal(path)
    assert again.transactions() == []
    assert [e.payload["eventType"] for e in again.pending()] == ["Started", "Ended"]
    # a failed end leaves the record open, as before it
    again.append(
        "TransactionEvent", {"eventType": "Started"}, KIND_START, tx_id="tx2", open_tx=(1, {})
    )
    with pytest.raises(TypeError):  # inside the SQLite transaction: rolled back
        again.append(
            "TransactionEvent",
            {"eventType": "Ended", "x": object()},
            KIND_END,
            tx_id="tx2",
            close_tx=True,
        )
    assert [record.tx_id for record in again.transactions()] == ["tx2"]


def test_settings(tmp_path: Path) -> None:
    journal = Journal(str(tmp_path / "j.db"))
    assert journal.get_setting("x", 5) == 5
    journal.set_setting("dm/OCPPCommCtrlr/HeartbeatInterval", 30)
    journal.set_setting("dm/OCPPCommCtrlr/HeartbeatInterval", 45)
    journal.set_setting("availability/1", "Inoperative")
    assert journal.settings("dm/") == {"dm/OCPPCommCtrlr/HeartbeatInterval": 45}
    assert journal.get_setting("availability/1") == "Inoperative"


async def test_delete_setting_is_durable(tmp_path: Path) -> None:
    path = str(tmp_path / "j.db")
    journal = AsyncJournal(path)
    await journal.open()
    await journal.set_setting("txid16:a", 7)
    await journal.set_setting("txid16:b", 8)
    await journal.delete_setting("txid16:a")
    await journal.delete_setting("txid16:missing")  # nothing there: no error
    assert await journal.settings("txid16:") == {"txid16:b": 8}
    await journal.close()
    assert Journal(path).settings("txid16:") == {"txid16:b": 8}  # from the file itself


def test_unknown_kind_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Journal(str(tmp_path / "j.db")).append("X", {}, "whatever")


async def test_async_journal_counts(tmp_path: Path) -> None:
    journal = AsyncJournal(str(tmp_path / "sub" / "j.db"))
    seen: list[int] = []
    journal.on_count = seen.append
    await journal.open()
    entry = await journal.append("TransactionEvent", {"x": 1}, KIND_METER)
    await journal.append("TransactionEvent", {"x": 2}, KIND_METER)
    assert (await journal.first()).id == entry.id
    await journal.confirm(entry.id)
    assert seen == [1, 2, 1] and journal.count_cached == 1
    await journal.close()
    # The file is a plain SQLite database an operator can inspect.
    rows = sqlite3.connect(tmp_path / "sub" / "j.db").execute("SELECT action FROM messages")
    assert [r[0] for r in rows] == ["TransactionEvent"]


def test_append_takes_seq_and_opens_transaction_atomically(tmp_path: Path) -> None:
    journal = Journal(str(tmp_path / "j.db"))
    first = journal.append(
        "TransactionEvent",
        {"eventType": "Started", "seqNo": -1},
        KIND_START,
        tx_id="t1",
        seq_key="seqNo",
        open_tx=(1, {"id_token": None}),
    )
    second = journal.append(
        "TransactionEvent", {"eventType": "Updated"}, KIND_UPDATE, tx_id="t1", seq_key="seqNo"
    )
    assert (first.payload["seqNo"], second.payload["seqNo"]) == (0, 1)
    assert [e.payload["seqNo"] for e in journal.pending()] == [0, 1]
    assert journal.transactions()[0].seq_next == 2
    # A failed write leaves nothing behind: no record, no message, no used number.
    with pytest.raises(sqlite3.IntegrityError):
        journal.append(
            "TransactionEvent", {}, KIND_START, tx_id="t1", seq_key="seqNo", open_tx=(1, {})
        )
    with pytest.raises(KeyError):
        journal.append("TransactionEvent", {}, KIND_UPDATE, tx_id="nope", seq_key="seqNo")
    assert journal.count() == 2 and journal.transactions()[0].seq_next == 2
