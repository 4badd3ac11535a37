"""The controller link's counts in the hub's Prometheus registry (orge/metrics.py).

- `orge_esp32_frames_sent_total{charger}`: frames written to the controller.
- `orge_esp32_lines_received_total{charger}`: lines read from it.
- `orge_esp32_bad_lines_total{charger,kind}`: lines that could not be used, by kind
  (the protocol's BAD_KINDS: checksum, overlong, unknown, ...).
- `orge_esp32_link_up{charger}`: 1 while the serial port is open.

The link keeps plain integers (the reader runs for every byte burst); they are read here
only when /api/metrics is scraped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from orge import metrics
from orge.core import Orge

from .charger import Esp32Charger


class Esp32Collector:
    def __init__(self, chargers: dict[str, Esp32Charger]) -> None:
        self._chargers = chargers

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        sent = CounterMetricFamily(
            "orge_esp32_frames_sent", "Frames written to the controller", labels=["charger"]
        )
        received = CounterMetricFamily(
            "orge_esp32_lines_received", "Lines read from the controller", labels=["charger"]
        )
        bad = CounterMetricFamily(
            "orge_esp32_bad_lines",
            "Lines from the controller that could not be used, by kind",
            labels=["charger", "kind"],
        )
        up = GaugeMetricFamily(
            "orge_esp32_link_up", "1 while the serial link is open", labels=["charger"]
        )
        for name, charger in sorted(self._chargers.items()):
            sent.add_metric([name], charger.link.frames_sent)
            received.add_metric([name], charger.link.lines_received)
            for kind, count in sorted(charger.bad_counts.items()):
                bad.add_metric([name, kind], count)
            up.add_metric([name], 1 if charger.link.connected else 0)
        yield from (sent, received, bad, up)


def register(orge: Orge, chargers: dict[str, Esp32Charger]) -> None:
    """Add the collector to the hub's metrics; `chargers` is read at every scrape."""
    metrics.add_collector(orge, Esp32Collector(chargers))
