"""Restore state: entity values that survive a restart.

Entities that inherit `RestoreEntity` are remembered: at stop (`orge_final_write`), every
15 minutes, and when removed (a reload), their state, attributes and `extra_restore_data`
are written to `<config>/.storage/restore_state.db` (SQLite, WAL, synchronous=FULL, so a
power cut loses at most the last interval). On start each asks `async_get_last_state()`.
Without a config dir (a bare test hub) the store lives in memory only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import time
from typing import Any

from orge.core import EVENT_ORGE_CLOSE, EVENT_ORGE_FINAL_WRITE, Event, Orge, State, callback
from orge.entity import Entity
from orge.storage import connect_sqlite, storage_path

_LOGGER = logging.getLogger(__name__)
DATA_KEY = "restore_state"
DB_NAME = "restore_state.db"
SAVE_INTERVAL = 900.0  # seconds between periodic saves
KEEP_SECONDS = 7 * 86400  # an entity gone this long is forgotten


class StoredState:
    """What was saved for one entity."""

    __slots__ = ("extra", "saved_at", "state")

    def __init__(self, state: State, extra: dict[str, Any] | None, saved_at: float) -> None:
        self.state = state
        self.extra = extra
        self.saved_at = saved_at


class RestoreStateStore:
    def __init__(self, orge: Orge) -> None:
        self.orge = orge
        config_dir = orge.config.config_dir
        self.path = storage_path(config_dir, DB_NAME) if config_dir else None
        self.last: dict[str, StoredState] = {}
        self.entities: dict[str, RestoreEntity] = {}

    # --- file ------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        conn = connect_sqlite(self.path)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS restore_state (entity_id TEXT PRIMARY KEY, "
            "state TEXT NOT NULL, attributes TEXT NOT NULL, last_changed REAL, "
            "last_updated REAL, extra TEXT, saved_at REAL NOT NULL)"
        )
        return conn

    def _read(self) -> dict[str, StoredState]:
        if self.path is None or not os.path.exists(self.path):
            return {}
        found: dict[str, StoredState] = {}
        try:
            conn = self._connect()
            try:
                rows = conn.execute(
                    "SELECT entity_id, state, attributes, last_changed, last_updated, extra, "
                    "saved_at FROM restore_state"
                ).fetchall()
            finally:
                conn.close()
        except sqlite3.Error as err:
            # Keep the unreadable file for inspection and start a fresh one beside it.
            aside = f"{self.path}.unreadable-{int(time.time())}"
            try:
                os.replace(self.path, aside)
            except OSError:
                aside = "(could not be moved aside)"
            _LOGGER.error(
                "Cannot read %s, starting without restored states (kept as %s): %s",
                self.path,
                aside,
                err,
            )
            return {}
        for entity_id, state, attrs, changed, updated, extra, saved_at in rows:
            try:
                found[entity_id] = StoredState(
                    State(entity_id, state, json.loads(attrs), changed, updated),
                    json.loads(extra) if extra else None,
                    saved_at,
                )
            except (ValueError, TypeError) as err:
                _LOGGER.warning("Skipping unreadable saved state of %s: %s", entity_id, err)
        return found

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        if self.path is None:
            return
        conn = self._connect()
        try:
            with conn:
                conn.executemany(
                    "INSERT OR REPLACE INTO restore_state VALUES (?, ?, ?, ?, ?, ?, ?)", rows
                )
                conn.execute(
                    "DELETE FROM restore_state WHERE saved_at < ?", (time.time() - KEEP_SECONDS,)
                )
        finally:
            conn.close()

    async def async_load(self) -> None:
        self.last = await self.orge.async_add_executor_job(self._read)

    # --- entities --------------------------------------------------------------------

    def _snapshot(self, entity: RestoreEntity) -> StoredState | None:
        if entity.entity_id is None:
            return None
        state = self.orge.states.get(entity.entity_id)
        if state is None or state.state == "unavailable":
            return None
        try:
            extra = entity.extra_restore_data
        except Exception:
            _LOGGER.exception("extra_restore_data of %s failed", entity.entity_id)
            extra = None
        return StoredState(state, extra, time.time())

    def register(self, entity: RestoreEntity) -> None:
        assert entity.entity_id is not None
        self.entities[entity.entity_id] = entity

    def unregister(self, entity: RestoreEntity) -> None:
        """Remember a removed entity's state (a reload re-creates it)."""
        if entity.entity_id is None:
            return
        snapshot = self._snapshot(entity)
        if snapshot is not None:
            self.last[entity.entity_id] = snapshot
        self.entities.pop(entity.entity_id, None)

    async def async_save(self) -> None:
        for entity in list(self.entities.values()):
            snapshot = self._snapshot(entity)
            if snapshot is not None and entity.entity_id is not None:
                self.last[entity.entity_id] = snapshot
        rows = []
        for entity_id, stored in self.last.items():
            state = stored.state
            try:
                rows.append(
                    (
                        entity_id,
                        state.state,
                        json.dumps(dict(state.attributes), default=str),
                        state.last_changed_timestamp,
                        state.last_updated_timestamp,
                        json.dumps(stored.extra, default=str) if stored.extra else None,
                        stored.saved_at,
                    )
                )
            except (TypeError, ValueError) as err:
                _LOGGER.warning("Cannot save the state of %s: %s", entity_id, err)
        try:
            await self.orge.async_add_executor_job(self._write, rows)
        except (OSError, sqlite3.Error) as err:
            _LOGGER.error("Cannot save restore state to %s: %s", self.path, err)


_LOCK_KEY = "restore_state_lock"


async def async_get_store(orge: Orge) -> RestoreStateStore:
    """The hub's store, loaded on first use; saved at stop and every 15 minutes."""
    store: RestoreStateStore | None = orge.data.get(DATA_KEY)
    if store is not None:
        return store
    lock = orge.data.setdefault(_LOCK_KEY, asyncio.Lock())
    async with lock:
        store = orge.data.get(DATA_KEY)
        if store is not None:
            return store
        store = RestoreStateStore(orge)
        await store.async_load()
        orge.data[DATA_KEY] = store

        async def final_write(_event: Event) -> None:
            await store.async_save()

        orge.bus.async_listen_once(EVENT_ORGE_FINAL_WRITE, final_write)
        if store.path is not None:
            from orge.helpers.event import async_track_time_interval

            async def periodic(_now: float) -> None:
                await store.async_save()

            cancel = async_track_time_interval(orge, periodic, SAVE_INTERVAL)
            orge.bus.async_listen_once(EVENT_ORGE_CLOSE, callback(lambda _e: cancel()))
        return store


class RestoreEntity(Entity):
    """An entity whose last state is saved across restarts.

    In `async_added_to_orge`, call `await super().async_added_to_orge()` first, then
    `await self.async_get_last_state()`.
    """

    @property
    def extra_restore_data(self) -> dict[str, Any] | None:
        """Extra values to save beside the state (a timer's remaining time)."""
        return None

    async def async_added_to_orge(self) -> None:
        assert self.orge is not None
        store = await async_get_store(self.orge)
        store.register(self)

    async def async_will_remove_from_orge(self) -> None:
        store: RestoreStateStore | None = self.orge.data.get(DATA_KEY) if self.orge else None
        if store is not None:
            store.unregister(self)

    async def async_get_last_state(self) -> State | None:
        assert self.orge is not None and self.entity_id is not None
        stored = (await async_get_store(self.orge)).last.get(self.entity_id)
        return stored.state if stored else None

    async def async_get_last_extra_data(self) -> dict[str, Any] | None:
        assert self.orge is not None and self.entity_id is not None
        stored = (await async_get_store(self.orge)).last.get(self.entity_id)
        return stored.extra if stored else None


class HelperEntity(RestoreEntity):
    """An entity an operator declares as `domain: {key: {name, icon, ...}}` (input_*,
    timer): its id is the key, its name `name` or the key in words."""

    def __init__(self, key: str, conf: dict[str, Any]) -> None:
        self.conf = conf
        self._attr_object_id = key
        self._attr_name = conf.get("name") or key.replace("_", " ").capitalize()
        self._attr_icon = conf.get("icon")
