"""The hub's Prometheus metrics: one `CollectorRegistry` per hub, never the global one.

`GET /api/metrics` (components/http) renders `registry(orge)` in Prometheus' text format.
Components add their own metrics to the same registry without knowing about http:

    from orge.metrics import registry
    from prometheus_client import Counter

    frames = Counter("orge_esp32_frames_total", "Frames sent to the controller",
                     registry=registry(orge))
    frames.inc()

Why the engine owns the registry (and not http): a component must be able to count
whether or not http is configured, and components do not import each other. Why the
engine keeps its own hot-path counts as plain integers (`EventBus.fired`,
`StateMachine.writes`, `Service.calls`) and converts them only at scrape time: a dict or
attribute increment costs a few tens of nanoseconds, a prometheus_client `inc()` with
labels a microsecond, and the bus fires thousands of events per second.
prometheus_client is imported on the first call of `registry()` (http's setup), so
`orge check-config` never pays for it.

Metric names follow Prometheus' conventions (`_total` for counters, base units:
seconds, bytes): https://prometheus.io/docs/practices/naming/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

    from orge.core import Orge

DATA_METRICS = "metrics"


def registry(orge: Orge) -> CollectorRegistry:
    """This hub's registry, created (with the engine's own collector) on first use."""
    existing = orge.data.get(DATA_METRICS)
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    from prometheus_client import CollectorRegistry

    created = CollectorRegistry(auto_describe=True)
    created.register(EngineCollector(orge))
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

    def describe(self) -> list[Any]:
        return []  # names are fixed and known; nothing to check for collisions up front

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
