"""The meter link's counts in the hub's Prometheus registry (orge/metrics.py), read at
scrape time from the reader's plain integers:

- `orge_modbus_meter_requests_total{meter}`: Modbus register read requests sent (function
  03 or 04 frames; a poll sends one per block of registers).
- `orge_modbus_meter_reads_total{meter}`: polls the meter answered in full (every block,
  decoded).
- `orge_modbus_meter_read_errors_total{meter,kind}`: failures by kind (the attributes of
  `sensor.<name>_errors`: timeouts, crc_errors, exception_answers, connection_errors,
  invalid_answers, refused_readings).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from orge import metrics

if TYPE_CHECKING:
    from orge.core import Orge

    from .reader import MeterReader


class MeterCollector:
    def __init__(self, reader: MeterReader, name: str) -> None:
        self._reader = reader
        self._name = name

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        reader, name = self._reader, self._name
        requests = CounterMetricFamily(
            "orge_modbus_meter_requests", "Modbus register read requests sent", labels=["meter"]
        )
        requests.add_metric([name], reader.requests)
        reads = CounterMetricFamily(
            "orge_modbus_meter_reads", "Meter polls answered in full", labels=["meter"]
        )
        reads.add_metric([name], reader.reads)
        errors = CounterMetricFamily(
            "orge_modbus_meter_read_errors", "Meter read failures by kind", labels=["meter", "kind"]
        )
        for kind, count in sorted(reader.errors.items()):
            errors.add_metric([name, kind], count)
        yield from (requests, reads, errors)


def register(orge: Orge, reader: MeterReader, name: str) -> None:
    """Add the meter's collector to the hub's metrics (one per configured meter)."""
    metrics.add_collector(orge, MeterCollector(reader, name))
