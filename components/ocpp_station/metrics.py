"""Both OCPP components' figures in the hub's Prometheus registry (orge/metrics.py).

Per hub, one `OcppMetrics` (`ocpp_metrics(orge)`); both components and a socket handed from
one to the other count into it, labelled by the socket's OCPP-J subprotocol (`ocpp2.0.1`,
`ocpp1.6`) and the message's action (OCPP's names: `BootNotification`, `MeterValues`...):

- `orge_ocpp_messages_sent_total{protocol,action}`: CALLs of the station written to the
  socket (the CSMS received each; whether it answered or not). `Connection.call`.
- `orge_ocpp_messages_received_total{protocol,action}`: CALLs of the CSMS received on the
  socket (well-formed frames, whether the station supports the action or not).
  `Connection._dispatch`.
- `orge_ocpp_messages_queued_total{protocol,action}`: messages written to the offline
  journal (transaction events, statuses...: what must reach the CSMS even across an
  outage). `AsyncJournal.append`, through its `on_append` hook (set when the station is
  built, so what start-up journals, e.g. a transaction ended while the station was off,
  is counted).
- `orge_ocpp_messages_retried_total{protocol,action}`: journaled messages the CSMS refused
  (CALLERROR) or left unanswered, to be sent again (OCPP 2.0.1 MessageAttempts / 1.6
  TransactionMessageAttempts); the last failure moves the message aside instead and is
  not counted here. `JournalSender._failed`, through its `on_retry` hook.
- `orge_ocpp_journal_messages{protocol}`: messages in the journal now (waiting for the CSMS).
- `orge_ocpp_journal_size_bytes{protocol}`: the journal's SQLite database on disk: its
  file and its write-ahead log (`-wal`), in bytes, read at scrape time.

Counts are plain integers (a dict add at each message); prometheus_client is imported only
when /api/metrics is scraped (orge/metrics.py says why). Everything runs on the event loop:
one writer per number.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orge import metrics

if TYPE_CHECKING:
    from orge.core import Orge

    from .journal import AsyncJournal, Entry
    from .sender import JournalSender

DATA_OCPP_METRICS = "ocpp_station_metrics"

Counts = dict[tuple[str, str], int]  # (protocol, action) -> count


def _add(counts: Counts, protocol: str, action: str) -> None:
    key = (protocol, action)
    counts[key] = counts.get(key, 0) + 1


@dataclass(eq=False)  # hashed by identity: prometheus_client keys its collectors
class OcppMetrics:
    """The hub's OCPP counts; a collector of the hub's metrics."""

    sent: Counts = field(default_factory=dict)
    received: Counts = field(default_factory=dict)
    queued: Counts = field(default_factory=dict)
    retried: Counts = field(default_factory=dict)
    journals: dict[str, AsyncJournal] = field(default_factory=dict)  # protocol -> journal

    def count_sent(self, protocol: str, action: str) -> None:
        _add(self.sent, protocol, action)

    def count_received(self, protocol: str, action: str) -> None:
        _add(self.received, protocol, action)

    def watch(self, protocol: str, journal: AsyncJournal, sender: JournalSender) -> None:
        """Count what `journal` queues and what `sender` retries, under `protocol`; the
        journal's size is read at each scrape."""
        self.journals[protocol] = journal

        def queued(entry: Entry) -> None:
            _add(self.queued, protocol, entry.action)

        def retried(entry: Entry) -> None:
            _add(self.retried, protocol, entry.action)

        journal.on_append = queued
        sender.on_retry = retried

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        labels = ["protocol", "action"]
        for name, text, counts in (
            ("sent", "OCPP CALLs sent to the CSMS", self.sent),
            ("received", "OCPP CALLs received from the CSMS", self.received),
            ("queued", "OCPP messages written to the offline journal", self.queued),
            ("retried", "Journaled OCPP messages to be sent again", self.retried),
        ):
            family = CounterMetricFamily(f"orge_ocpp_messages_{name}", text, labels=labels)
            for (protocol, action), count in sorted(counts.items()):
                family.add_metric([protocol, action], count)
            yield family
        waiting = GaugeMetricFamily(
            "orge_ocpp_journal_messages", "Messages waiting for the CSMS", labels=["protocol"]
        )
        size = GaugeMetricFamily(
            "orge_ocpp_journal_size_bytes",
            "The offline journal's database on disk (file and write-ahead log)",
            labels=["protocol"],
        )
        for protocol, journal in sorted(self.journals.items()):
            waiting.add_metric([protocol], journal.count_cached)
            size.add_metric([protocol], journal_bytes(journal.path))
        yield waiting
        yield size


def journal_bytes(path: str) -> int:
    """The bytes an SQLite database in WAL mode holds on disk: the file and its `-wal`
    (either may be missing: 0 for it)."""
    total = 0
    for name in (path, path + "-wal"):
        try:
            total += os.stat(name).st_size
        except OSError:
            pass
    return total


def ocpp_metrics(orge: Orge) -> OcppMetrics:
    """The hub's `OcppMetrics`, created (and added to the hub's metrics) on first use."""
    existing = orge.data.get(DATA_OCPP_METRICS)
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    created = OcppMetrics()
    orge.data[DATA_OCPP_METRICS] = created
    metrics.add_collector(orge, created)
    return created
