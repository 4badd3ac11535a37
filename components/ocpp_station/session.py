"""The charging session on the bus and the session log, the same for both protocols.

Entities (one per EVSE; `<domain>` is `ocpp201` or `ocpp16`, EVSE 1 has no EVSE part,
EVSE n > 1 is `<domain>_evse<n>_session_state`):

`sensor.<domain>_session_state`, one of

- `idle`         no vehicle, no session (connector Available)
- `preparing`    a vehicle is plugged in or a start is authorised; no energy flows yet
- `charging`     the session runs and energy flows
- `suspended`    the session runs, the EV or the station paused the energy
- `finishing`    a stop was asked for (CSMS, local, reset); the controller has not stopped yet
- `ended`        the session ended and the vehicle is still plugged in
- `faulted`      the connector is faulted (earth, phase missing...)
- `unavailable`  the controller is silent or the CSMS set the connector Inoperative

and as attributes (the contract of the web page; all `None` until a first session):

- `id_token`            the token that started it, whole (the page masks it); 1.6 idTag,
                        2.0.1 idToken.idToken; None when no token was presented
- `transaction_id`      2.0.1 transactionId; 1.6 the CSMS's transactionId once it answered
                        StartTransaction (None until then), as a string
- `started_at`, `ended_at`  ISO 8601 UTC, to the millisecond
- `duration_s`          seconds (int), as of the last write; frozen at the end
- `session_energy_kwh`  kWh taken from the meter register since the start (register now
                        minus register at start, never the lifetime total); frozen at the end
- `power_w`             power now (W), from the EVSE's power entity
- `stop_reason`         the reason sent to the CSMS (2.0.1 ReasonEnumType, 1.6 Reason)
- `evse_id`

The values stay until the next session starts, so a finished session stays readable.

Events (for automations, the logbook and the mqtt component; no id token in them: events
travel further than the API, and a token is personal data):

- `ocpp_session_started` `{"domain", "evse_id", "transaction_id", "started_at"}`
- `ocpp_session_ended` `{"domain", "evse_id", "transaction_id", "started_at", "ended_at",
  "energy_kwh", "duration_s", "stop_reason"}`, fired once the end message is journaled

The session log: every transaction of the station, newest first, kept in the OCPP
journal's SQLite file (`<config>/.storage/<domain>.db`, table `sessions`), not in the
recorder's: the journal is there whenever the component runs (the recorder may not be
configured, and it purges after `purge_keep_days`), the session row is written in the
same file and with the same fsync as the transaction messages it describes, and the
CSMS's confirmation of the end message (`confirmed`) is known right there. A row is
written when the transaction starts (so a restart keeps its start and its meter start)
and completed when it ends. Read it with the service `<domain>.get_sessions`
(response only): `{"sessions": [{transaction_id, id_token, started_at, ended_at,
energy_kwh, duration_s, stop_reason, confirmed, evse_id}, ...]}`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import voluptuous as vol

from orge.core import Event, Orge

from .entities import LinkSensor
from .evse import ConnectorView, EvseBinding, Status

if TYPE_CHECKING:
    from .journal import AsyncJournal

_LOGGER = logging.getLogger(__name__)

EVENT_SESSION_STARTED = "ocpp_session_started"
EVENT_SESSION_ENDED = "ocpp_session_ended"
KEEP = 500  # sessions kept in the log (the oldest ended ones are dropped)
TICK = 30.0  # seconds between writes of a running session's duration without a meter change

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    key TEXT PRIMARY KEY,
    evse_id INTEGER NOT NULL,
    transaction_id TEXT,
    id_token TEXT,
    started_wall REAL NOT NULL,
    energy_start_wh REAL,
    ended_wall REAL,
    energy_kwh REAL,
    stop_reason TEXT,
    confirmed INTEGER NOT NULL DEFAULT 0
)
"""
_COLUMNS = (
    "key, evse_id, transaction_id, id_token, started_wall, energy_start_wh, ended_wall, "
    "energy_kwh, stop_reason, confirmed"
)


def iso(wall: float | None) -> str | None:
    """Seconds since the epoch -> ISO 8601 UTC (None stays None)."""
    if wall is None:
        return None
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds")


@dataclass
class SessionRecord:
    """One transaction's session. `key` is the station's own transaction key (the 2.0.1
    transactionId, the 1.6 journal's local id)."""

    key: str
    evse_id: int
    transaction_id: str | None
    id_token: str | None
    started_wall: float
    energy_start_wh: float | None
    ended_wall: float | None = None
    energy_kwh: float | None = None
    stop_reason: str | None = None
    confirmed: bool = False

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> SessionRecord:
        key, evse_id, transaction_id, id_token, started, energy_start = row[:6]
        ended, energy_kwh, stop_reason, confirmed = row[6:10]
        return cls(
            key,
            evse_id,
            transaction_id,
            id_token,
            started,
            energy_start,
            ended,
            energy_kwh,
            stop_reason,
            bool(confirmed),
        )

    def duration_s(self, now: float) -> int:
        return max(0, round((self.ended_wall or now) - self.started_wall))

    def energy_now_kwh(self, register_wh: float | None) -> float | None:
        """Energy of this session: frozen once ended, else register now - register at start."""
        if self.ended_wall is not None:
            return self.energy_kwh
        if register_wh is None or self.energy_start_wh is None:
            return None
        # a register below the start (a swapped meter) gives 0, never a negative session
        return round(max(0.0, register_wh - self.energy_start_wh) / 1000.0, 3)

    def as_log(self, now: float) -> dict[str, Any]:
        return {
            "transaction_id": self.transaction_id,
            "id_token": self.id_token,
            "started_at": iso(self.started_wall),
            "ended_at": iso(self.ended_wall),
            "energy_kwh": self.energy_kwh,
            "duration_s": self.duration_s(now),
            "stop_reason": self.stop_reason,
            "confirmed": self.confirmed,
            "evse_id": self.evse_id,
        }


def session_key(evse_id: int) -> str:
    """The object id after `<domain>_` of an EVSE's session entity."""
    return "session_state" if evse_id == 1 else f"evse{evse_id}_session_state"


def session_entity_ids(domain: str, evses: Any) -> set[str]:
    """The session entities an OCPP component with these `evse:` entries creates (for
    its `configured_entity_ids`; the entries may not be valid yet); none = EVSE 1."""
    entries = evses if isinstance(evses, list) else [evses or {"id": 1}]
    ids: set[int] = set()
    for evse in entries:
        try:
            ids.add(int(evse.get("id", 1)) if isinstance(evse, Mapping) else 1)
        except (TypeError, ValueError):
            continue  # reported by the schema
    return {f"sensor.{domain}_{session_key(evse_id)}" for evse_id in ids or {1}}


def session_state(view: ConnectorView, active: bool, stop_requested: bool) -> str:
    """The operator's word for the EVSE now (see the module docstring)."""
    if view.status is Status.FAULTED:
        return "faulted"
    if view.status is Status.UNAVAILABLE:
        return "unavailable"
    if active:
        if stop_requested:
            return "finishing"
        if view.status is Status.CHARGING:
            return "charging"
        if view.status in (Status.SUSPENDED_EV, Status.SUSPENDED_EVSE):
            return "suspended"
        return "preparing"
    if view.status is Status.FINISHING:
        return "ended"
    if view.status in (Status.AVAILABLE, Status.RESERVED):
        return "idle"
    return "preparing"


class StationSessions:
    """Session entities and session log of one OCPP component.

    The station calls `evse_changed` from its EVSE change handler and the
    `transaction_*` coroutines from its transaction code; everything else is here.
    """

    def __init__(self, orge: Orge, domain: str, label: str, journal: AsyncJournal) -> None:
        self.orge = orge
        self.domain = domain
        self.label = label
        self.journal = journal
        self.bindings: dict[int, EvseBinding] = {}
        self.sensors: dict[int, LinkSensor] = {}
        self.current: dict[int, SessionRecord] = {}  # evse id -> latest session
        self._unsubs: list[Callable[[], None]] = []

    # --- setup ------------------------------------------------------------------------

    async def async_start(self, bindings: Iterable[EvseBinding]) -> None:
        """Create the table, read the latest session of each EVSE (a running one survives
        a restart), add the entities and the `get_sessions` service. Call it before the
        bindings start, after the journal is open."""
        from orge.core import SupportsResponse
        from orge.entity import async_add_entities
        from orge.helpers.event import async_track_state_change_event, async_track_time_interval

        await self.journal.execute(_SCHEMA)
        for binding in bindings:
            evse_id = binding.evse_id
            self.bindings[evse_id] = binding
            key = session_key(evse_id)
            name = "session" if evse_id == 1 else f"EVSE {evse_id} session"
            sensor = LinkSensor(self.domain, key, f"{self.label} {name}", "mdi:ev-station", "idle")
            self.sensors[evse_id] = sensor
            rows = await self.journal.execute(
                f"SELECT {_COLUMNS} FROM sessions WHERE evse_id = ? "
                "ORDER BY started_wall DESC LIMIT 1",
                (evse_id,),
            )
            if rows:
                self.current[evse_id] = SessionRecord.from_row(rows[0])
            watched: list[str] = [
                entity
                for entity in (binding.config.get(k) for k in ("energy_entity", "power_entity"))
                if entity
            ]
            if watched:

                def on_change(_event: Event, binding: EvseBinding = binding) -> None:
                    self.refresh(binding)

                self._unsubs.append(async_track_state_change_event(self.orge, watched, on_change))
        await async_add_entities(self.orge, self.domain, list(self.sensors.values()))
        self._unsubs.append(async_track_time_interval(self.orge, self._tick, TICK))
        self.orge.services.async_register(
            self.domain,
            "get_sessions",
            self._service_get_sessions,
            vol.Schema(
                {
                    vol.Optional("limit", default=100): vol.All(
                        vol.Coerce(int), vol.Range(min=1, max=KEEP)
                    )
                }
            ),
            supports_response=SupportsResponse.ONLY,
            description={
                "name": "Get sessions",
                "description": "The session log, newest first: transaction id, id token, "
                "start and end (ISO 8601 UTC), energy (kWh from the meter register), "
                "duration (s), stop reason, and whether the CSMS confirmed the end.",
            },
        )

    def stop(self) -> None:
        for unsub in self._unsubs:
            unsub()
        self._unsubs = []

    # --- entities -----------------------------------------------------------------------

    def _tick(self, _now: float) -> None:
        for binding in self.bindings.values():
            if binding.session.active:
                self.refresh(binding)

    def evse_changed(self, binding: EvseBinding, view: ConnectorView) -> None:
        """The EVSE's view or session changed (called inline by the station)."""
        self.refresh(binding, view)

    def refresh(self, binding: EvseBinding, view: ConnectorView | None = None) -> None:
        sensor = self.sensors.get(binding.evse_id)
        if sensor is None:
            return
        view = view or binding.current_view()
        state = session_state(view, binding.session.active, bool(binding.session.stop_requested))
        record = self.current.get(binding.evse_id)
        now = time.time()
        power = binding.power_w()
        attributes: dict[str, Any] = {
            "evse_id": binding.evse_id,
            "id_token": record.id_token if record else None,
            "transaction_id": record.transaction_id if record else None,
            "started_at": iso(record.started_wall) if record else None,
            "ended_at": iso(record.ended_wall) if record else None,
            "duration_s": record.duration_s(now) if record else None,
            "session_energy_kwh": record.energy_now_kwh(binding.energy_wh()) if record else None,
            "power_w": round(power, 1) if power is not None else None,
            "stop_reason": record.stop_reason if record else None,
        }
        sensor.update(state, **attributes)

    # --- the station's transaction hooks ---------------------------------------------------

    async def transaction_started(
        self, binding: EvseBinding, key: str, transaction_id: str | None, id_token: str | None
    ) -> None:
        """A transaction started on `binding`: its session begins with the meter register
        now (Wh) as its zero."""
        record = SessionRecord(
            key, binding.evse_id, transaction_id, id_token, time.time(), binding.energy_wh()
        )
        self.current[binding.evse_id] = record
        self.refresh(binding)
        self.orge.bus.async_fire(
            EVENT_SESSION_STARTED,
            {
                "domain": self.domain,
                "evse_id": record.evse_id,
                "transaction_id": record.transaction_id,
                "started_at": iso(record.started_wall),
            },
        )
        await self.journal.execute(
            f"INSERT OR REPLACE INTO sessions ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                record.key,
                record.evse_id,
                record.transaction_id,
                record.id_token,
                record.started_wall,
                record.energy_start_wh,
                None,
                None,
                None,
                0,
            ),
        )
        # keep the newest KEEP sessions
        await self.journal.execute(
            "DELETE FROM sessions WHERE key IN (SELECT key FROM sessions "
            "WHERE ended_wall IS NOT NULL ORDER BY started_wall DESC LIMIT -1 OFFSET ?)",
            (KEEP,),
        )

    async def transaction_id_known(self, key: str, transaction_id: str) -> None:
        """1.6: the CSMS gave its transactionId for the transaction `key`."""
        for evse_id, record in self.current.items():
            if record.key == key:
                record.transaction_id = transaction_id
                self.refresh(self.bindings[evse_id])
        await self.journal.execute(
            "UPDATE sessions SET transaction_id = ? WHERE key = ?", (transaction_id, key)
        )

    async def transaction_ended(self, binding: EvseBinding, key: str, stop_reason: str) -> None:
        """The transaction `key` ended (the end message is journaled): freeze its energy
        and duration."""
        record = self.current.get(binding.evse_id)
        if record is None or record.key != key:
            rows = await self.journal.execute(
                f"SELECT {_COLUMNS} FROM sessions WHERE key = ?", (key,)
            )
            if not rows:
                _LOGGER.warning("No session record for transaction %s", key)
                return
            record = SessionRecord.from_row(rows[0])
        record.energy_kwh = record.energy_now_kwh(binding.energy_wh())
        record.ended_wall = time.time()
        record.stop_reason = stop_reason
        self.refresh(binding)
        self.orge.bus.async_fire(
            EVENT_SESSION_ENDED,
            {
                "domain": self.domain,
                "evse_id": record.evse_id,
                "transaction_id": record.transaction_id,
                "started_at": iso(record.started_wall),
                "ended_at": iso(record.ended_wall),
                "energy_kwh": record.energy_kwh,
                "duration_s": record.duration_s(record.ended_wall),
                "stop_reason": stop_reason,
            },
        )
        await self.journal.execute(
            "UPDATE sessions SET ended_wall = ?, energy_kwh = ?, stop_reason = ? WHERE key = ?",
            (record.ended_wall, record.energy_kwh, stop_reason, key),
        )

    async def transaction_confirmed(self, key: str) -> None:
        """The CSMS confirmed the transaction's end message."""
        for record in self.current.values():
            if record.key == key:
                record.confirmed = True
        await self.journal.execute("UPDATE sessions SET confirmed = 1 WHERE key = ?", (key,))

    # --- the log --------------------------------------------------------------------------

    async def sessions(self, limit: int = 100) -> list[dict[str, Any]]:
        """The log, newest first (a running session has `ended_at` None and its energy
        so far)."""
        rows = await self.journal.execute(
            f"SELECT {_COLUMNS} FROM sessions ORDER BY started_wall DESC LIMIT ?", (limit,)
        )
        now = time.time()
        result = []
        for row in rows:
            record = SessionRecord.from_row(row)
            entry = record.as_log(now)
            binding = self.bindings.get(record.evse_id)
            if record.ended_wall is None and binding is not None:
                entry["energy_kwh"] = record.energy_now_kwh(binding.energy_wh())
            result.append(entry)
        return result

    async def _service_get_sessions(self, call: Any) -> dict[str, Any]:
        return {"sessions": await self.sessions(call.data["limit"])}
