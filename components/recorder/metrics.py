"""The recorder's figures in the hub's metrics (orge/metrics.py), read at scrape time.

- `orge_recorder_queue_rows`: rows recorded but not yet committed (buffered on the loop,
  handed to the writer thread, or kept back after a failed write).
- `orge_recorder_commit_seconds`: a histogram of the time to write and commit one batch
  (on the writer thread).
- `orge_recorder_rows_written_total`: rows handed to SQLite.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from typing import Any

from orge import metrics
from orge.core import Orge

# Upper bounds in seconds: an SD card commits in 2-50 ms, a worn one takes seconds.
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class RecorderMetrics:
    """Counts kept by the writer thread only (one writer: no lock); read at scrape."""

    def __init__(self, orge: Orge, queued_rows: Callable[[], int]) -> None:
        """`queued_rows`: the recorder's count of rows not yet committed, read at scrape
        (components/recorder/core.py's Recorder.queued_rows)."""
        self.queued_rows = queued_rows
        self.bucket_counts = [0] * (len(COMMIT_BUCKETS) + 1)  # the last one: +Inf
        self.commit_seconds_sum = 0.0
        self.rows_written = 0
        metrics.add_collector(orge, self)

    def observe_commit(self, seconds: float, rows: int) -> None:
        self.bucket_counts[bisect.bisect_left(COMMIT_BUCKETS, seconds)] += 1
        self.commit_seconds_sum += seconds
        self.rows_written += rows

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        cumulative, buckets = 0, []
        for bound, count in zip((*COMMIT_BUCKETS, float("inf")), self.bucket_counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        yield HistogramMetricFamily(
            "orge_recorder_commit_seconds",
            "Time to write and commit one batch of rows",
            buckets=buckets,
            sum_value=self.commit_seconds_sum,
        )
        yield CounterMetricFamily(
            "orge_recorder_rows_written", "Rows handed to SQLite", value=self.rows_written
        )
        yield GaugeMetricFamily(
            "orge_recorder_queue_rows",
            "Rows recorded, not yet committed",
            value=self.queued_rows(),
        )
