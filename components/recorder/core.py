"""The recorder's runtime: a bus listener that buffers, and a thread that owns SQLite.

The listener only appends the (immutable) State or Event object to a list; every
`commit_interval` the list is handed to the thread, which serializes and writes it in
one transaction. The loop never waits for the disk. Queries go through the same thread,
after the writes queued before them.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge import dt as dt_util
from orge.core import (
    EVENT_ORGE_CLOSE,
    EVENT_ORGE_FINAL_WRITE,
    EVENT_STATE_CHANGED,
    MATCH_ALL,
    Event,
    Orge,
    ServiceCall,
    State,
    SupportsResponse,
    callback,
)
from orge.exceptions import OrgeError, ServiceValidationError

from . import DOMAIN, database_path, queries
from .db import Writer
from .filters import RecorderFilter
from .metrics import RecorderMetrics

_LOGGER = logging.getLogger(__name__)
DATA_RECORDER = DOMAIN
# Events never worth a row: they are the recorder's own lifecycle or carry no information.
SKIP_EVENTS = frozenset({EVENT_ORGE_CLOSE, EVENT_ORGE_FINAL_WRITE})
_STOP = object()
PURGE_EVERY = timedelta(days=1)
MAX_RETAINED = 100_000  # rows kept in memory while the database cannot be written


class Recorder:
    def __init__(self, orge: Orge, path: str, config: dict[str, Any]) -> None:
        self.orge = orge
        self.path = path
        self.commit_interval: float = config["commit_interval"]
        self.keep_days: int = config["purge_keep_days"]
        self.filter = RecorderFilter(config["include"], config["exclude"])
        self.record_states = self.filter.event(EVENT_STATE_CHANGED)
        self.buffer: list[State | Event] = []
        self.jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.writer: Writer | None = None
        self.thread: threading.Thread | None = None
        self._flush_scheduled = False
        self._stopped = False
        self.retained: list[State | Event] = []  # thread only: rows waiting for a retry
        self._last_error_log = 0.0
        # For orge_recorder_queue_rows: rows given to the thread (loop side) and rows it
        # wrote or kept back (thread side).
        self.rows_handed_over = 0
        self.rows_settled = 0
        self.metrics: RecorderMetrics | None = None

    # the loop's side ---------------------------------------------------------------------

    @callback
    def on_event(self, event: Event) -> None:
        event_type = event.event_type
        if event_type == EVENT_STATE_CHANGED:
            new_state = event.data.get("new_state")
            if new_state is None or not self.record_states:
                return
            if not self.filter.entity(new_state.entity_id):
                return
            self.buffer.append(new_state)
        elif event_type in SKIP_EVENTS or not self.filter.event(event_type):
            return
        else:
            self.buffer.append(event)
        if self.commit_interval == 0 and not self._flush_scheduled:
            self._flush_scheduled = True
            self.orge.loop.call_soon(self.flush)

    @callback
    def flush(self) -> None:
        """Hand what is buffered to the writer thread."""
        self._flush_scheduled = False
        if self.buffer and not self._stopped:
            batch, self.buffer = self.buffer, []
            self.rows_handed_over += len(batch)
            self.jobs.put(batch)

    def submit(self, func: Callable[[sqlite3.Connection], Any]) -> asyncio.Future[Any]:
        """Run func(connection) on the thread after all buffered writes."""
        if self._stopped:
            raise OrgeError("The recorder has stopped")
        self.flush()
        future: Future[Any] = Future()
        self.jobs.put((func, future))
        return asyncio.wrap_future(future)

    async def async_block_till_done(self) -> None:
        """Wait until everything recorded so far is committed."""
        await self.submit(lambda conn: None)

    async def _commit_loop(self) -> None:
        while True:
            await asyncio.sleep(self.commit_interval or 1.0)
            self.flush()

    async def async_stop(self) -> None:
        if self._stopped:
            return
        self.flush()
        self._stopped = True
        self.jobs.put(_STOP)
        thread = self.thread
        if thread is not None:
            await self.orge.loop.run_in_executor(None, thread.join, 5.0)

    # the thread's side -------------------------------------------------------------------

    def run(self) -> None:
        assert self.writer is not None
        while True:
            job = self.jobs.get()
            if job is _STOP:
                break
            if isinstance(job, list):
                started = time.monotonic()
                written = self._write(job)
                self.rows_settled += len(job)
                if self.metrics is not None and written:
                    self.metrics.observe_commit(time.monotonic() - started, written)
                continue
            func, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(func(self.writer.conn))
            except BaseException as err:
                future.set_exception(err)
        self.writer.close()

    def _write(self, batch: list[State | Event]) -> int:
        """Write a batch (after any rows kept back); returns the rows written (0: kept back
        to retry, or lost)."""
        assert self.writer is not None
        if self.retained:
            # Rows a passing failure (a locked or full disk) kept back go first, in order.
            batch, self.retained = self.retained + batch, []
        try:
            self.writer.write(batch)
            return len(batch)
        except sqlite3.DatabaseError as err:
            if isinstance(err, sqlite3.OperationalError) and "malformed" not in str(err):
                self.retained = batch[-MAX_RETAINED:]
                now = time.monotonic()
                if now - self._last_error_log > 60:
                    self._last_error_log = now
                    _LOGGER.error(
                        "Could not write to the recorder (%s); keeping %d rows to retry",
                        err,
                        len(self.retained),
                    )
                return 0
            self.writer.reopen_after_corruption(err)
            try:
                self.writer.write(batch)
                return len(batch)
            except sqlite3.Error as again:
                _LOGGER.error("Lost %d rows after reopening the database: %s", len(batch), again)
        except Exception:
            _LOGGER.exception("Could not write %d rows to the recorder", len(batch))
        return 0


# --- services -------------------------------------------------------------------------------


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(cv.string(value).strip().replace(" ", "+"))
        except ValueError:
            raise vol.Invalid(f"invalid time {value!r} (use ISO 8601)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


QUERY_SCHEMA = vol.Schema(
    {
        vol.Optional("start_time"): _time,
        vol.Optional("end_time"): _time,
        vol.Optional("entity_ids", default=[]): vol.Any(cv.entity_ids, []),
        vol.Optional("minimal_response", default=False): cv.boolean,
        vol.Optional("no_attributes", default=False): cv.boolean,
        vol.Optional("significant_changes_only", default=False): cv.boolean,
        vol.Optional("include_start_time_state", default=True): cv.boolean,
        vol.Optional("compressed_state_format", default=False): cv.boolean,
    }
)
LOGBOOK_SCHEMA = vol.Schema(
    {
        vol.Optional("start_time"): _time,
        vol.Optional("end_time"): _time,
        vol.Optional("entity_ids", default=[]): vol.Any(cv.entity_ids, []),
        vol.Optional("context_id"): cv.string,
        vol.Optional("timestamp", default=False): cv.boolean,
    }
)
PURGE_SCHEMA = vol.Schema(
    {
        vol.Optional("keep_days"): vol.All(vol.Coerce(int), vol.Range(min=0)),
        vol.Optional("repack", default=False): cv.boolean,
    }
)


def _period(data: Any) -> tuple[float, float]:
    end = data.get("end_time") or dt_util.utcnow()
    start = data.get("start_time") or end - timedelta(days=1)
    if end < start:
        raise ServiceValidationError("end_time is before start_time")
    return start.timestamp(), end.timestamp()


def _register_services(orge: Orge, recorder: Recorder) -> None:
    async def get_history(call: ServiceCall) -> dict[str, Any]:
        start, end = _period(call.data)
        data = call.data
        result = await recorder.submit(
            lambda conn: queries.history(
                conn,
                start,
                end,
                list(data["entity_ids"]),
                data["minimal_response"],
                data["no_attributes"],
                data["significant_changes_only"],
                data["include_start_time_state"],
                data["compressed_state_format"],
            )
        )
        return {"history": result}

    async def get_logbook(call: ServiceCall) -> dict[str, Any]:
        start, end = _period(call.data)
        data = call.data
        entity_ids = list(data["entity_ids"])
        entries = await recorder.submit(
            lambda conn: queries.logbook(
                conn, start, end, entity_ids, data.get("context_id"), data["timestamp"]
            )
        )
        return {"entries": entries}

    async def purge(call: ServiceCall) -> None:
        keep_days = call.data.get("keep_days", recorder.keep_days)
        repack = call.data["repack"]
        assert recorder.writer is not None
        writer = recorder.writer
        removed = await recorder.submit(lambda conn: writer.purge(keep_days, repack))
        _LOGGER.info("Purged the recorder (keep %d days): %s", keep_days, removed)

    orge.services.async_register(
        DOMAIN,
        "get_history",
        get_history,
        QUERY_SCHEMA,
        SupportsResponse.ONLY,
        {
            "name": "Get history",
            "description": "States of entities over a period, as GET /api/history answers.",
        },
    )
    orge.services.async_register(
        DOMAIN,
        "get_logbook",
        get_logbook,
        LOGBOOK_SCHEMA,
        SupportsResponse.ONLY,
        {"name": "Get logbook", "description": "State changes and notable events over a period."},
    )
    orge.services.async_register(
        DOMAIN,
        "purge",
        purge,
        PURGE_SCHEMA,
        description={
            "name": "Purge",
            "description": "Delete recorded rows older than keep_days (default purge_keep_days).",
            "fields": {
                "keep_days": {"description": "Days of history to keep", "example": 10},
                "repack": {"description": "Rewrite the file to free disk space", "example": False},
            },
        },
    )


async def async_setup_recorder(orge: Orge, config: dict[str, Any]) -> Recorder:
    path = database_path(orge.config.config_dir or ".", config)
    recorder = Recorder(orge, path, config)
    recorder.metrics = RecorderMetrics(recorder)
    recorder.writer = await orge.async_add_executor_job(Writer, path)
    recorder.thread = threading.Thread(target=recorder.run, name="recorder", daemon=True)
    recorder.thread.start()
    orge.data[DATA_RECORDER] = recorder
    # States written before the recorder started (components set up earlier).
    for state in orge.states.async_all():
        if recorder.record_states and recorder.filter.entity(state.entity_id):
            recorder.buffer.append(state)
    orge.bus.async_listen(MATCH_ALL, recorder.on_event)
    if recorder.commit_interval > 0:
        orge.async_create_background_task(recorder._commit_loop(), "recorder commits")
    _register_services(orge, recorder)

    async def final_write(_event: Event) -> None:
        await recorder.async_stop()

    orge.bus.async_listen_once(EVENT_ORGE_FINAL_WRITE, final_write)

    if config["auto_purge"]:
        from orge.helpers.event import async_track_time_interval

        async def auto_purge(_now: Any = None) -> None:
            if recorder._stopped or recorder.writer is None:
                return
            writer = recorder.writer
            removed = await recorder.submit(lambda conn: writer.purge(recorder.keep_days))
            if any(removed.values()):
                _LOGGER.info("Auto purge removed %s", removed)

        async_track_time_interval(orge, auto_purge, PURGE_EVERY)
        orge.async_create_task(auto_purge(), name="recorder first purge")
    _LOGGER.info("Recording to %s (commit every %g s)", path, recorder.commit_interval)
    return recorder
