"""The hub's Prometheus metrics: one `CollectorRegistry` per hub, never the global one.

`GET /api/metrics` (components/http) renders it in Prometheus' text format. Components add
their metrics without knowing about http, as custom collectors (prometheus_client's
collector API: an object whose `collect()` yields metric families), read at scrape time:

    from orge.metrics import add_collector

    class LinkCollector:
        def collect(self):
            from prometheus_client.core import CounterMetricFamily
            yield CounterMetricFamily("orge_esp32_frames_sent", "Frames sent", value=link.sent)

    add_collector(orge, LinkCollector())

Why the engine owns the registry (and not http): a component must be able to count
whether or not http is configured, and components do not import each other.

Why plain integers converted at scrape time, and not prometheus_client's `Counter`s: the
engine's hot paths (`EventBus.fired`, `StateMachine.writes`, `Service.calls`) pay a dict
or attribute add, tens of nanoseconds, where a labelled `inc()` costs a microsecond; and
prometheus_client (its import pulls in an HTTP server and WSGI: ~60 ms and ~1 MiB per
station) is imported only when someone scrapes, never on a station nobody monitors, never
by `orge check-config`. `registry(orge)` is there for a component that wants
prometheus_client's own metric types; it pays the import at that moment.

Metric names follow Prometheus' conventions (`_total` for counters, base units:
seconds, bytes): https://prometheus.io/docs/practices/naming/.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

    from orge.core import Orge

DATA_METRICS = "metrics"
DATA_COLLECTORS = "metrics_collectors"


class Collector(Protocol):
    """prometheus_client's custom collector: `collect()` yields metric families."""

    def collect(self) -> Iterable[Metric]: ...


def add_collector(orge: Orge, collector: Collector) -> None:
    """Have `collector` scraped with this hub's metrics (no prometheus_client import now)."""
    orge.data.setdefault(DATA_COLLECTORS, []).append(collector)
    existing = orge.data.get(DATA_METRICS)
    if existing is not None:
        existing.register(collector)


def registry(orge: Orge) -> CollectorRegistry:
    """This hub's registry, created on first use with the engine's collector and every
    collector added so far."""
    existing = orge.data.get(DATA_METRICS)
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    from prometheus_client import CollectorRegistry

    created = CollectorRegistry(auto_describe=True)  # collect() once: duplicate names fail at once
    created.register(EngineCollector(orge))
    for collector in orge.data.get(DATA_COLLECTORS, []):
        created.register(collector)
    orge.data[DATA_METRICS] = created
    return created


def render(orge: Orge) -> bytes:
    """The registry in Prometheus' text exposition format 0.0.4."""
    from prometheus_client import generate_latest

    return generate_latest(registry(orge))


class EngineCollector:
    """The engine's counts, read at scrape time (prometheus_client's custom collector API).

    - `orge_events_total{event_type}`: events fired on the bus, by type (event types past
      `MAX_COUNTED_EVENT_TYPES` are counted under `other`).
    - `orge_state_writes_total`: `states.async_set` calls, whether they changed the state.
    - `orge_service_calls_total{domain,service}`: calls that reached a registered service.
    - `orge_entities`: entities in the state machine now.
    """

    def __init__(self, orge: Orge) -> None:
        self._orge = orge

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        orge = self._orge
        events = CounterMetricFamily(
            "orge_events", "Events fired on the event bus", labels=["event_type"]
        )
        for event_type, count in sorted(orge.bus.fired.items()):
            events.add_metric([event_type], count)
        yield events
        yield CounterMetricFamily(
            "orge_state_writes",
            "State writes (states.async_set), changed or not",
            value=orge.states.writes,
        )
        calls = CounterMetricFamily(
            "orge_service_calls", "Service calls by service", labels=["domain", "service"]
        )
        for domain, services in sorted(orge.services.async_services().items()):
            for name, service in sorted(services.items()):
                calls.add_metric([domain, name], service.calls)
        yield calls
        yield GaugeMetricFamily(
            "orge_entities", "Entities in the state machine", value=len(orge.states.async_all())
        )
