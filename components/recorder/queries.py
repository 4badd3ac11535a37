"""History and logbook queries, answered in Home Assistant's shapes.

Run on the recorder thread after everything pending has been committed, so a query
always sees the states written before it was asked.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from orge.core import (
    EVENT_AUTOMATION_TRIGGERED,
    EVENT_LOGBOOK_ENTRY,
    EVENT_ORGE_START,
    EVENT_ORGE_STOP,
    EVENT_SCRIPT_STARTED,
)

# Events the logbook shows besides state changes.
LOGBOOK_EVENTS = (
    EVENT_AUTOMATION_TRIGGERED,
    EVENT_SCRIPT_STARTED,
    EVENT_LOGBOOK_ENTRY,
    EVENT_ORGE_START,
    EVENT_ORGE_STOP,
)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _in(column: str, values: list[str]) -> tuple[str, list[str]]:
    if not values:
        return "", []
    return f" AND {column} IN ({','.join('?' * len(values))})", list(values)


# Home Assistant's recorder/history constants: domains whose attribute changes are
# significant, and domains whose minimal response still needs attributes.
SIGNIFICANT_DOMAINS = ("climate", "device_tracker", "humidifier", "thermostat", "water_heater")
NEED_ATTRIBUTE_DOMAINS = {"climate", "humidifier", "input_datetime", "thermostat", "water_heater"}


def history(
    conn: sqlite3.Connection,
    start: float,
    end: float,
    entity_ids: list[str],
    minimal_response: bool = False,
    no_attributes: bool = False,
    significant_changes_only: bool = False,
    include_start_time_state: bool = True,
    compressed: bool = False,
) -> dict[str, list[dict[str, Any]]]:
    """`{entity_id: [state, ...]}`, as Home Assistant's recorder history answers it.

    - `include_start_time_state`: first the state each entity had at `start`, timed at start.
    - `significant_changes_only`: only rows where the state changed (last_changed ==
      last_updated), but every row of SIGNIFICANT_DOMAINS.
    - `minimal_response`: the first state whole, then only `{state, last_changed}` (the
      time of the row) for rows whose state differs from the one before (not for
      NEED_ATTRIBUTE_DOMAINS).
    - `no_attributes`: `attributes` is `{}`.
    - `compressed`: WebSocket shape: `{s, a, lu[, lc]}` with float timestamps; minimal rows
      `{s, lu}` (recorder/models/state.py row_to_compressed_state).
    Times are UTC epoch seconds.
    """
    where, args = _in("entity_id", entity_ids)
    columns = (
        "s.entity_id, s.state, a.shared_attrs, s.last_changed_ts, s.last_updated_ts, "
        "s.context_id, s.context_user_id, s.context_parent_id"
    )
    initial = []
    if include_start_time_state:
        initial = conn.execute(
            f"SELECT {columns} FROM states s "
            "JOIN (SELECT entity_id, MAX(last_updated_ts) AS ts FROM states "
            f"WHERE last_updated_ts < ?{where} GROUP BY entity_id) t "
            "ON s.entity_id = t.entity_id AND s.last_updated_ts = t.ts "
            "LEFT JOIN state_attributes a ON s.attributes_id = a.attributes_id",
            [start, *args],
        ).fetchall()
    significant = ""
    if significant_changes_only:
        domains = ",".join(f"'{domain}'" for domain in SIGNIFICANT_DOMAINS)
        significant = (
            " AND (s.last_changed_ts = s.last_updated_ts OR s.last_changed_ts IS NULL"
            f" OR substr(s.entity_id, 1, instr(s.entity_id, '.') - 1) IN ({domains}))"
        )
    rows = conn.execute(
        f"SELECT {columns} FROM states s "
        "LEFT JOIN state_attributes a ON s.attributes_id = a.attributes_id "
        f"WHERE s.last_updated_ts >= ? AND s.last_updated_ts < ?{where.replace('entity_id', 's.entity_id')}"
        f"{significant} ORDER BY s.entity_id, s.last_updated_ts, s.state_id",
        [start, end, *args],
    ).fetchall()
    full = _compressed if compressed else _state
    result: dict[str, list[dict[str, Any]]] = {}
    seen_initial: set[str] = set()
    for row in initial:
        if row[0] in seen_initial:
            continue  # two rows with the same timestamp: keep one
        seen_initial.add(row[0])
        result[row[0]] = [full(row, no_attributes, at=start)]
    previous: dict[str, Any] = {}
    for row in rows:
        entity_id, state = row[0], row[1]
        entries = result.setdefault(entity_id, [])
        minimal = (
            minimal_response
            and entries
            and entity_id.partition(".")[0] not in NEED_ATTRIBUTE_DOMAINS
        )
        if not minimal:
            entries.append(full(row, no_attributes))
        elif state != previous.get(entity_id, entries[-1].get("s" if compressed else "state")):
            if compressed:
                entries.append({"s": state, "lu": row[4]})
            else:
                entries.append({"state": state, "last_changed": _iso(row[4])})
        previous[entity_id] = state
    if entity_ids:
        return {eid: result[eid] for eid in entity_ids if eid in result}
    return dict(sorted(result.items()))


def _state(row: tuple[Any, ...], no_attributes: bool, at: float | None = None) -> dict[str, Any]:
    entity_id, state, attrs, changed, updated, ctx_id, ctx_user, ctx_parent = row
    if at is not None:
        changed = updated = at
    return {
        "entity_id": entity_id,
        "state": state,
        "attributes": json.loads(attrs) if attrs and not no_attributes else {},
        "last_changed": _iso(changed),
        "last_updated": _iso(updated),
        "context": {"id": ctx_id, "parent_id": ctx_parent, "user_id": ctx_user},
    }


def _compressed(
    row: tuple[Any, ...], no_attributes: bool, at: float | None = None
) -> dict[str, Any]:
    _entity_id, state, attrs, changed, updated = row[:5]
    item: dict[str, Any] = {
        "s": state,
        "a": json.loads(attrs) if attrs and not no_attributes else {},
    }
    if at is not None:
        item["lu"] = at
    else:
        item["lu"] = updated
        if changed and changed != updated:
            item["lc"] = changed
    return item


def logbook(
    conn: sqlite3.Connection,
    start: float,
    end: float,
    entity_ids: list[str],
    context_id: str | None = None,
    timestamp: bool = False,
) -> list[dict[str, Any]]:
    """State changes (not attribute-only updates, not measuring sensors) and notable events.

    `context_id` keeps only what happened in that context (HA's logbook `context_id`);
    `timestamp` gives `when` as UTC epoch seconds (the WebSocket form) instead of ISO 8601.
    """
    where, args = _in("s.entity_id", entity_ids)
    if context_id is not None:
        where += " AND s.context_id = ?"
        args.append(context_id)
    entries: list[tuple[float, dict[str, Any]]] = []
    for entity_id, state, attrs, changed, ctx_id, ctx_user in conn.execute(
        "SELECT s.entity_id, s.state, a.shared_attrs, s.last_changed_ts, s.context_id, "
        "s.context_user_id FROM states s "
        "LEFT JOIN state_attributes a ON s.attributes_id = a.attributes_id "
        "WHERE s.last_updated_ts >= ? AND s.last_updated_ts < ? "
        f"AND s.last_changed_ts = s.last_updated_ts{where} ORDER BY s.last_updated_ts",
        [start, end, *args],
    ):
        attributes = json.loads(attrs) if attrs else {}
        if "unit_of_measurement" in attributes or "state_class" in attributes:
            continue  # a measurement: its history chart is the place for it
        entries.append(
            (
                changed,
                {
                    "when": changed if timestamp else _iso(changed),
                    "name": attributes.get("friendly_name")
                    or entity_id.partition(".")[2].replace("_", " "),
                    "state": state,
                    "entity_id": entity_id,
                    "domain": entity_id.partition(".")[0],
                    "context_id": ctx_id,
                    "context_user_id": ctx_user,
                },
            )
        )
    marks = ",".join("?" * len(LOGBOOK_EVENTS))
    for event_type, data, fired, ctx_id, ctx_user in conn.execute(
        "SELECT event_type, event_data, time_fired_ts, context_id, context_user_id FROM events "
        f"WHERE time_fired_ts >= ? AND time_fired_ts < ? AND event_type IN ({marks}) "
        "ORDER BY time_fired_ts",
        [start, end, *LOGBOOK_EVENTS],
    ):
        payload = json.loads(data) if data else {}
        entry = _event_entry(event_type, payload)
        if entity_ids and entry.get("entity_id") not in entity_ids:
            continue
        if context_id is not None and ctx_id != context_id:
            continue
        entry.update(
            when=fired if timestamp else _iso(fired), context_id=ctx_id, context_user_id=ctx_user
        )
        entries.append((fired, entry))
    entries.sort(key=lambda item: item[0])
    return [entry for _ts, entry in entries]


def _event_entry(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    if event_type == EVENT_ORGE_START:
        return {"name": "ORGE", "message": "started", "domain": "orge"}
    if event_type == EVENT_ORGE_STOP:
        return {"name": "ORGE", "message": "stopped", "domain": "orge"}
    entity_id = data.get("entity_id")
    domain = str(entity_id).partition(".")[0] if entity_id else data.get("domain")
    if event_type == EVENT_LOGBOOK_ENTRY:
        message = data.get("message", "")
    elif event_type == EVENT_AUTOMATION_TRIGGERED:
        source = data.get("source")
        message = f"triggered by {source}" if source else "triggered"
    else:
        message = "started"
    return {
        "name": data.get("name") or entity_id or event_type,
        "message": str(message),
        "entity_id": entity_id,
        "domain": domain,
    }
