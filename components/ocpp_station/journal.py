"""The durable journal: transaction messages, transaction records, settings.

One SQLite file per OCPP component in `<config>/.storage/` (WAL, synchronous=FULL), so a
kill -9 or a power cut after `append` returned cannot lose the message. A message is
written before it is sent and deleted only when the CSMS confirmed it; one that used up
its attempts is moved to the `aside` table (kept for the operator, never retried).

The journal knows nothing about OCPP versions: a message is an action name, a JSON
payload and a `kind` that says what may be dropped under pressure:

- `start`, `end`   never dropped (Started/Ended, StartTransaction/StopTransaction)
- `update`         a state change inside a transaction; dropped only after all `meter`
- `meter`          an intermediate meter value; dropped first
- `other`          anything else that must be delivered in order; never dropped

`max_messages` (the components' `queue_size`) is a room rule, not a hard cap: when the
queue is full, an append first drops one intermediate message (`DROP_ORDER`); when the
queue holds only messages that are never dropped (start / end / other), the new one is
kept beyond `max_messages` (a warning says so, once per crossing), since each of them
is one the CSMS must get (a transaction's start/end, a critical security event, a
status the CSMS asked for). What bounds `other` is its producers: critical security
events happen a bounded number of times per start (StartupOfTheDevice once, ...),
non-critical ones are journaled at most one per type at a time
(`security.StationSecurity.event`), and the status notifications answer the CSMS's
own orders (sent while connected).

`Journal` is synchronous (and thread-safe); `AsyncJournal` runs it on one dedicated
thread so the event loop never waits on an fsync and order is kept.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from orge.storage import connect_sqlite

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")

KIND_START = "start"
KIND_END = "end"
KIND_UPDATE = "update"
KIND_METER = "meter"
KIND_OTHER = "other"
KINDS = (KIND_START, KIND_END, KIND_UPDATE, KIND_METER, KIND_OTHER)
# Under pressure: the first kind in this list is dropped first; start/end never.
DROP_ORDER = (KIND_METER, KIND_UPDATE)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    kind TEXT NOT NULL,
    tx_id TEXT,
    created_wall REAL NOT NULL,
    created_mono REAL NOT NULL,
    boot_id TEXT NOT NULL,
    time_synced INTEGER NOT NULL,
    offline INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS aside (
    id INTEGER PRIMARY KEY,
    action TEXT NOT NULL,
    payload TEXT NOT NULL,
    kind TEXT NOT NULL,
    tx_id TEXT,
    created_wall REAL NOT NULL,
    attempts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    moved_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS transactions (
    tx_id TEXT PRIMARY KEY,
    evse_id INTEGER NOT NULL,
    data TEXT NOT NULL,
    seq_next INTEGER NOT NULL DEFAULT 0,
    opened_wall REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def boot_id() -> str:
    """The kernel's id of this boot: monotonic times are comparable only within one boot."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return "unknown"


_BOOT_ID = boot_id()


@dataclass
class Entry:
    """One journaled message, oldest first by `id`."""

    id: int
    action: str
    payload: dict[str, Any]
    kind: str
    tx_id: str | None
    created_wall: float
    created_mono: float
    boot_id: str
    time_synced: bool
    offline: bool
    attempts: int = 0
    last_error: str | None = None


@dataclass
class TransactionRecord:
    """A transaction the station opened and has not closed (survives restarts)."""

    tx_id: str
    evse_id: int
    seq_next: int
    opened_wall: float
    data: dict[str, Any] = field(default_factory=dict)


def read_setting(path: str, key: str, default: Any = None) -> Any:
    """One setting of the journal at `path`, read-only, without creating the file (for
    `orge once`, which may run beside the station): `default` when there is no journal
    or no such setting."""
    if not os.path.exists(path):
        return default
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    except sqlite3.Error:  # a journal from before the settings table
        return default
    finally:
        db.close()
    return json.loads(row[0]) if row else default


class Journal:
    """The SQLite journal. Every write commits with synchronous=FULL before returning."""

    def __init__(self, path: str, max_messages: int = 1000) -> None:
        self.path = path
        self.max_messages = max_messages
        self._over = False  # full of messages never dropped (warned once per crossing)
        self._lock = threading.Lock()
        self._db = connect_sqlite(path, check_same_thread=False, isolation_level=None)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # messages -------------------------------------------------------------------

    def append(
        self,
        action: str,
        payload: dict[str, Any],
        kind: str,
        *,
        tx_id: str | None = None,
        offline: bool = False,
        time_synced: bool = True,
        created_wall: float | None = None,
        created_mono: float | None = None,
        seq_key: str | None = None,
        open_tx: tuple[int, dict[str, Any]] | None = None,
        close_tx: bool = False,
    ) -> Entry:
        """Write a message durably (committed when this returns) and return it.

        `seq_key`: take the transaction's next sequence number and store it in the payload
        under this key, in the same SQLite transaction (no gap, no duplicate after a
        crash). `open_tx=(evse_id, data)`: open the transaction record together with its
        first message, so a crash never leaves one without the other. `close_tx`: close
        the transaction record `tx_id` together with its end message, so a crash never
        leaves an end journaled with the record still open (a restart would resume the
        transaction and end it a second time).

        If the queue is full, intermediate messages are dropped first (`DROP_ORDER`);
        a start/end message is always kept, even beyond `max_messages`.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown journal kind {kind!r}")
        wall = time.time() if created_wall is None else created_wall
        mono = time.monotonic() if created_mono is None else created_mono
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if open_tx is not None:
                    self._db.execute(
                        "INSERT INTO transactions (tx_id, evse_id, data, seq_next, opened_wall) "
                        "VALUES (?,?,?,0,?)",
                        (tx_id, open_tx[0], json.dumps(open_tx[1]), time.time()),
                    )
                if seq_key is not None:
                    payload = {**payload, seq_key: self._next_seq(str(tx_id))}
                self._make_room()
                cursor = self._db.execute(
                    "INSERT INTO messages (action, payload, kind, tx_id, created_wall, "
                    "created_mono, boot_id, time_synced, offline) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        action,
                        json.dumps(payload, separators=(",", ":")),
                        kind,
                        tx_id,
                        wall,
                        mono,
                        _BOOT_ID,
                        int(time_synced),
                        int(offline),
                    ),
                )
                if close_tx:
                    self._db.execute("DELETE FROM transactions WHERE tx_id = ?", (tx_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            row_id = cursor.lastrowid
        return Entry(
            int(row_id or 0),
            action,
            payload,
            kind,
            tx_id,
            wall,
            mono,
            _BOOT_ID,
            time_synced,
            offline,
        )

    def _make_room(self) -> None:
        count = self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        if count < self.max_messages:
            self._over = False
            return
        for kind in DROP_ORDER:
            # Never drop the oldest message: it may be in flight right now.
            row = self._db.execute(
                "SELECT id, action, tx_id FROM messages WHERE kind = ? AND id > "
                "(SELECT MIN(id) FROM messages) ORDER BY id LIMIT 1",
                (kind,),
            ).fetchone()
            if row:
                self._db.execute("DELETE FROM messages WHERE id = ?", (row[0],))
                _LOGGER.warning(
                    "Offline queue full (%d): dropped intermediate %s %d of transaction %s",
                    count,
                    row[1],
                    row[0],
                    row[2],
                )
                return
        if not self._over:
            self._over = True
            _LOGGER.warning(
                "Offline queue full (%d of %d): only messages that are never dropped "
                "(transaction start/end, events the CSMS must get); kept beyond the limit",
                count,
                self.max_messages,
            )

    def _entry(self, row: tuple[Any, ...]) -> Entry:
        return Entry(
            id=row[0],
            action=row[1],
            payload=json.loads(row[2]),
            kind=row[3],
            tx_id=row[4],
            created_wall=row[5],
            created_mono=row[6],
            boot_id=row[7],
            time_synced=bool(row[8]),
            offline=bool(row[9]),
            attempts=row[10],
            last_error=row[11],
        )

    _COLUMNS = (
        "id, action, payload, kind, tx_id, created_wall, created_mono, boot_id, "
        "time_synced, offline, attempts, last_error"
    )

    def first(self, skip: Collection[int] = ()) -> Entry | None:
        """The oldest message still to deliver, leaving out the ids in `skip` (messages
        waiting for their retry that the sender steps over)."""
        ids = tuple(skip)
        where = f"WHERE id NOT IN ({','.join('?' * len(ids))}) " if ids else ""
        with self._lock:
            row = self._db.execute(
                f"SELECT {self._COLUMNS} FROM messages {where}ORDER BY id LIMIT 1", ids
            ).fetchone()
        return self._entry(row) if row else None

    def pending(self, tx_id: str | None = None) -> list[Entry]:
        """Messages still to deliver, oldest first (of one transaction if given)."""
        with self._lock:
            if tx_id is None:
                rows = self._db.execute(
                    f"SELECT {self._COLUMNS} FROM messages ORDER BY id"
                ).fetchall()
            else:
                rows = self._db.execute(
                    f"SELECT {self._COLUMNS} FROM messages WHERE tx_id = ? ORDER BY id",
                    (tx_id,),
                ).fetchall()
        return [self._entry(row) for row in rows]

    def count(self, tx_id: str | None = None) -> int:
        with self._lock:
            if tx_id is None:
                return int(self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
            return int(
                self._db.execute(
                    "SELECT COUNT(*) FROM messages WHERE tx_id = ?", (tx_id,)
                ).fetchone()[0]
            )

    def confirm(self, entry_id: int) -> None:
        """The CSMS answered: the message is delivered and leaves the journal."""
        with self._lock:
            self._db.execute("DELETE FROM messages WHERE id = ?", (entry_id,))

    def has(self, entry_id: int) -> bool:
        """Whether the message is still to deliver (not confirmed nor moved aside)."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM messages WHERE id = ?", (entry_id,)).fetchone()
        return row is not None

    def record_attempt(self, entry_id: int, error: str) -> int:
        """A failed transmission (CALLERROR or no answer); returns the attempts so far."""
        with self._lock:
            self._db.execute(
                "UPDATE messages SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                (error, entry_id),
            )
            row = self._db.execute(
                "SELECT attempts FROM messages WHERE id = ?", (entry_id,)
            ).fetchone()
        return int(row[0]) if row else 0

    def update_payload(self, entry_id: int, payload: dict[str, Any]) -> None:
        """Rewrite a queued payload (a corrected timestamp, 1.6's real transactionId)."""
        with self._lock:
            self._db.execute(
                "UPDATE messages SET payload = ? WHERE id = ?",
                (json.dumps(payload, separators=(",", ":")), entry_id),
            )

    def move_aside(self, entry_id: int, reason: str) -> None:
        """Give up on a message: keep it in `aside` for the operator, never retry it."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO aside (id, action, payload, kind, tx_id, "
                    "created_wall, attempts, reason, moved_at) SELECT id, action, payload, "
                    "kind, tx_id, created_wall, attempts, ?, ? FROM messages WHERE id = ?",
                    (reason, time.time(), entry_id),
                )
                self._db.execute("DELETE FROM messages WHERE id = ?", (entry_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def aside(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, action, payload, kind, tx_id, attempts, reason FROM aside ORDER BY id"
            ).fetchall()
        return [
            {
                "id": r[0],
                "action": r[1],
                "payload": json.loads(r[2]),
                "kind": r[3],
                "tx_id": r[4],
                "attempts": r[5],
                "reason": r[6],
            }
            for r in rows
        ]

    # transactions ----------------------------------------------------------------

    def open_transaction(self, tx_id: str, evse_id: int, data: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO transactions (tx_id, evse_id, data, seq_next, opened_wall) "
                "VALUES (?,?,?,0,?)",
                (tx_id, evse_id, json.dumps(data), time.time()),
            )

    def next_seq(self, tx_id: str) -> int:
        """The next sequence number of a transaction (0, 1, 2...), persisted."""
        with self._lock:
            return self._next_seq(tx_id)

    def _next_seq(self, tx_id: str) -> int:
        row = self._db.execute(
            "UPDATE transactions SET seq_next = seq_next + 1 WHERE tx_id = ? "
            "RETURNING seq_next - 1",
            (tx_id,),
        ).fetchone()
        if row is None:
            raise KeyError(f"no open transaction {tx_id}")
        return int(row[0])

    def update_transaction(self, tx_id: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE transactions SET data = ? WHERE tx_id = ?", (json.dumps(data), tx_id)
            )

    def transactions(self) -> list[TransactionRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT tx_id, evse_id, seq_next, opened_wall, data FROM transactions "
                "ORDER BY opened_wall"
            ).fetchall()
        return [TransactionRecord(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    # settings ----------------------------------------------------------------------

    def get_setting(self, key: str, default: Any = None) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, key: str, value: Any) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    def delete_setting(self, key: str) -> None:
        """Forget a setting (nothing happens if it is not there)."""
        with self._lock:
            self._db.execute("DELETE FROM settings WHERE key = ?", (key,))

    def settings(self, prefix: str = "") -> dict[str, Any]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM settings WHERE key LIKE ? ORDER BY key",
                (prefix.replace("%", r"\%") + "%",),
            ).fetchall()
        return {key: json.loads(value) for key, value in rows}

    # for the tables of other modules in this file (session.py) -------------------

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one SQL statement (committed at once, synchronous=FULL); its rows."""
        with self._lock:
            return self._db.execute(sql, params).fetchall()


class AsyncJournal:
    """`Journal` run on one dedicated thread: awaitable, ordered, never blocks the loop.

    Attribute access returns an async version of the journal's method:
    `await journal.append(...)`, `await journal.first()`. `count_cached` is kept up to date
    for entities without a database round-trip.
    """

    def __init__(self, path: str, max_messages: int = 1000) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocpp-journal")
        self._journal: Journal | None = None
        self._path = path
        self._max = max_messages
        self.count_cached = 0
        self.on_count: Callable[[int], None] | None = None
        self.on_append: Callable[[Entry], None] | None = None  # a message was journaled

    @property
    def path(self) -> str:
        """The SQLite database's file."""
        return self._path

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            raise RuntimeError("journal not opened")
        return self._journal

    async def open(self) -> None:
        def _open() -> int:
            self._journal = Journal(self._path, self._max)
            return self._journal.count()

        self.count_cached = await self._run(_open)

    async def close(self) -> None:
        if self._journal is not None:
            await self._run(self._journal.close)
        self._executor.shutdown(wait=False)

    def _run(self, func: Callable[..., _T], *args: Any, **kwargs: Any) -> asyncio.Future[_T]:
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor, lambda: func(*args, **kwargs))

    async def _counted(self, func: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        def run() -> tuple[_T, int]:
            result = func(*args, **kwargs)
            return result, self.journal.count()

        result, count = await self._run(run)
        if count != self.count_cached:
            self.count_cached = count
            if self.on_count is not None:
                self.on_count(count)
        return result

    async def append(self, *args: Any, **kwargs: Any) -> Entry:
        entry = await self._counted(self.journal.append, *args, **kwargs)
        if self.on_append is not None:
            self.on_append(entry)
        return entry

    async def confirm(self, entry_id: int) -> None:
        await self._counted(self.journal.confirm, entry_id)

    async def move_aside(self, entry_id: int, reason: str) -> None:
        await self._counted(self.journal.move_aside, entry_id, reason)

    async def delete_setting(self, key: str) -> None:
        await self._run(self.journal.delete_setting, key)

    def __getattr__(self, name: str) -> Callable[..., asyncio.Future[Any]]:
        method = getattr(Journal, name, None)
        if method is None or name.startswith("_"):
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> asyncio.Future[Any]:
            return self._run(getattr(self.journal, name), *args, **kwargs)

        return call
