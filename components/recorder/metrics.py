"""The recorder's figures in the hub's Prometheus registry (orge/metrics.py).

- `orge_recorder_queue_rows`: rows recorded but not yet committed (buffered on the loop,
  handed to the writer thread, or kept back after a failed write).
- `orge_recorder_commit_seconds`: time of each batch commit on the writer thread (a
  histogram; prometheus_client's metrics are thread-safe).
- `orge_recorder_rows_written_total`: rows handed to SQLite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orge import metrics

if TYPE_CHECKING:
    from .core import Recorder

# Seconds; a Raspberry Pi's SD card commits in 2-50 ms, a worn one in seconds.
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class RecorderMetrics:
    def __init__(self, recorder: Recorder) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        registry = metrics.registry(recorder.orge)
        self.commit_seconds = Histogram(
            "orge_recorder_commit_seconds",
            "Time to write and commit one batch of rows",
            buckets=COMMIT_BUCKETS,
            registry=registry,
        )
        self.rows_written = Counter(
            "orge_recorder_rows_written", "Rows handed to SQLite", registry=registry
        )
        queue = Gauge(
            "orge_recorder_queue_rows", "Rows recorded, not yet committed", registry=registry
        )
        queue.set_function(lambda: _queued(recorder))


def _queued(recorder: Recorder) -> float:
    # handed_over is written by the loop only, settled by the writer thread only: each
    # counter has one writer, so no lock is needed and the difference is never negative
    # for long.
    in_thread = recorder.rows_handed_over - recorder.rows_settled
    return float(len(recorder.buffer) + max(in_thread, 0) + len(recorder.retained))
