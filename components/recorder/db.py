"""The SQLite file: opening (and recovering a corrupt one), the tables, writes and purges.

Everything here runs on the recorder's own thread, which owns the connection.
WAL mode with `synchronous=FULL`: each commit is on disk when it returns, so a kill -9
(or a power cut) loses only what had not been committed yet.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable
from typing import Any

from orge.core import Event, State
from orge.storage import connect_sqlite

_LOGGER = logging.getLogger(__name__)
SCHEMA_VERSION = 1
_ATTR_CACHE_SIZE = 4096

SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS state_attributes (
    attributes_id INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    shared_attrs TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS states (
    state_id INTEGER PRIMARY KEY,
    entity_id TEXT NOT NULL,
    state TEXT,
    attributes_id INTEGER,
    last_changed_ts REAL NOT NULL,
    last_updated_ts REAL NOT NULL,
    context_id TEXT,
    context_user_id TEXT,
    context_parent_id TEXT
);
CREATE INDEX IF NOT EXISTS ix_states_entity_updated ON states (entity_id, last_updated_ts);
CREATE INDEX IF NOT EXISTS ix_states_updated ON states (last_updated_ts);
CREATE TABLE IF NOT EXISTS events (
    event_id INTEGER PRIMARY KEY,
    event_type TEXT NOT NULL,
    event_data TEXT,
    origin TEXT,
    time_fired_ts REAL NOT NULL,
    context_id TEXT,
    context_user_id TEXT,
    context_parent_id TEXT
);
CREATE INDEX IF NOT EXISTS ix_events_time ON events (time_fired_ts);
CREATE INDEX IF NOT EXISTS ix_events_type_time ON events (event_type, time_fired_ts);
"""


class CorruptDatabase(Exception):
    pass


def _connect(path: str) -> sqlite3.Connection:
    try:
        conn = connect_sqlite(path, isolation_level=None, check_same_thread=False, timeout=10)
    except sqlite3.DatabaseError as err:
        raise CorruptDatabase(str(err)) from None
    try:
        row = conn.execute("PRAGMA quick_check").fetchone()
        if not row or row[0] != "ok":
            raise CorruptDatabase(row[0] if row else "quick_check returned nothing")
        conn.executescript(SCHEMA)
        if conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 0:
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
    except sqlite3.DatabaseError as err:
        conn.close()
        raise CorruptDatabase(str(err)) from None
    except CorruptDatabase:
        conn.close()
        raise
    return conn


def move_aside(path: str) -> str:
    """Rename a broken database (and its WAL files) to `<file>.corrupt.<timestamp>`."""
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    target = f"{path}.corrupt.{stamp}"
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.replace(path + suffix, target + suffix)
    return target


def open_database(path: str) -> sqlite3.Connection:
    """Open (creating) the database; a corrupt file is moved aside and a new one started."""
    try:
        return _connect(path)
    except CorruptDatabase as err:
        target = move_aside(path)
        _LOGGER.error(
            "The recorder database %s is corrupt (%s); moved it to %s and started a new one",
            path,
            err,
            target,
        )
        return _connect(path)


def _default(value: Any) -> Any:
    if hasattr(value, "isoformat"):  # datetime, date, time: as the API shows them
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return str(value)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=_default)


class Writer:
    """Writes batches of states and events; keeps the attribute ids it has seen."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn = open_database(path)
        self._attr_ids: dict[str, int] = {}

    def reopen_after_corruption(self, err: Exception) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass
        target = move_aside(self.path)
        _LOGGER.error(
            "The recorder database %s failed (%s); moved it to %s and started a new one",
            self.path,
            err,
            target,
        )
        self._attr_ids.clear()
        self.conn = _connect(self.path)

    def _attributes_id(self, attributes: Any) -> int | None:
        if not attributes:
            return None
        shared = _json(dict(attributes))
        digest = hashlib.blake2b(shared.encode(), digest_size=16).hexdigest()
        found = self._attr_ids.get(digest)
        if found is not None:
            return found
        row = self.conn.execute(
            "SELECT attributes_id FROM state_attributes WHERE hash = ?", (digest,)
        ).fetchone()
        if row is None:
            cursor = self.conn.execute(
                "INSERT INTO state_attributes (hash, shared_attrs) VALUES (?, ?)", (digest, shared)
            )
            found = int(cursor.lastrowid)  # type: ignore[arg-type]
        else:
            found = int(row[0])
        if len(self._attr_ids) >= _ATTR_CACHE_SIZE:
            self._attr_ids.clear()
        self._attr_ids[digest] = found
        return found

    def write(self, items: Iterable[State | Event]) -> int:
        """One transaction for the batch; returns the number of rows written."""
        conn = self.conn
        count = 0
        conn.execute("BEGIN")
        try:
            for item in items:
                ctx = item.context
                if isinstance(item, State):
                    conn.execute(
                        "INSERT INTO states (entity_id, state, attributes_id, last_changed_ts, "
                        "last_updated_ts, context_id, context_user_id, context_parent_id) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            item.entity_id,
                            item.state,
                            self._attributes_id(item.attributes),
                            item.last_changed_timestamp,
                            item.last_updated_timestamp,
                            ctx.id,
                            ctx.user_id,
                            ctx.parent_id,
                        ),
                    )
                else:
                    conn.execute(
                        "INSERT INTO events (event_type, event_data, origin, time_fired_ts, "
                        "context_id, context_user_id, context_parent_id) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            item.event_type,
                            _json(item.data) if item.data else None,
                            item.origin,
                            item.time_fired_timestamp,
                            ctx.id,
                            ctx.user_id,
                            ctx.parent_id,
                        ),
                    )
                count += 1
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._attr_ids.clear()  # ids inserted in the rolled-back transaction are gone
            raise
        return count

    def purge(self, keep_days: float, repack: bool = False) -> dict[str, int]:
        cutoff = time.time() - keep_days * 86400
        conn = self.conn
        conn.execute("BEGIN")
        try:
            states = conn.execute(
                "DELETE FROM states WHERE last_updated_ts < ?", (cutoff,)
            ).rowcount
            events = conn.execute("DELETE FROM events WHERE time_fired_ts < ?", (cutoff,)).rowcount
            attributes = conn.execute(
                "DELETE FROM state_attributes WHERE attributes_id NOT IN "
                "(SELECT DISTINCT attributes_id FROM states WHERE attributes_id IS NOT NULL)"
            ).rowcount
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            self._attr_ids.clear()
        if repack:
            conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return {"states": states, "events": events, "attributes": attributes}

    def close(self) -> None:
        try:
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass
        self.conn.close()
