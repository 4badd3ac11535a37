"""Shared library of the OCPP components (ocpp201, ocpp16); no protocol types in here.

Modules (each imported on demand, nothing heavy at import):

- `evse`     controller state -> connector status / charging state, meter readings,
             session boundaries (`SessionTracker`), the per-EVSE bus binding (`EvseBinding`)
- `measurands` the measurands an EVSE supplies (energy, power, per-phase current and
             voltage), read from the bus for both protocols
- `session`  the session entity and the session log (`<domain>.get_sessions`)
- `journal`  SQLite (WAL, synchronous=FULL) journal of transaction messages, transaction
             records and a settings store, with an asyncio wrapper (`AsyncJournal`)
- `sender`   drains the journal in order: retries, attempt limits, moving aside
- `backoff`  reconnect back-off of OCPP 2.0.1 Part 4 section 5.3 (with jitter)
- `clock`    station clock: CSMS time + monotonic clock, timestamp correction
- `role`     primary/fallback coordination over the bus (events + a state)
- `once`     the protocol-neutral part of `orge once` (result shape, primary order)

See docs/ocpp.md for the contract between this library and the OCPP components.
"""
