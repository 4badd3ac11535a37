"""Traces: what one run of an automation or script did, step by step, with timings.

Each automation keeps its last 5 traces in memory; `automation.get_traces` returns them as
plain dicts (JSON-ready) for the API and the web view.
"""

from __future__ import annotations

import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from orge.core import Context, new_id
from orge.script.helpers import trace_value

TRACES_KEPT = 5


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


class Trace:
    """One run. `state` is running/stopped; `script_execution` says how it ended."""

    __slots__ = (
        "context",
        "error",
        "finish",
        "item_id",
        "run_id",
        "script_execution",
        "start",
        "state",
        "steps",
        "trigger",
        "variables",
    )

    def __init__(self, item_id: str, trigger: str | None, context: Context | None) -> None:
        self.item_id = item_id
        self.run_id = new_id()
        self.trigger = trigger
        self.context = context
        self.start = time.time()
        self.finish: float | None = None
        self.state = "running"
        self.script_execution: str | None = None
        self.error: str | None = None
        self.steps: list[tuple[str, float, Any, str | None, float]] = []
        self.variables: dict[str, Any] = {}

    def add_step(
        self,
        path: str,
        started: float,
        result: Any = None,
        error: str | None = None,
    ) -> None:
        # Kept raw: formatting (ISO times, JSON-ready results) waits until someone reads it.
        self.steps.append((path, started, result, error, time.time() - started))

    def finished(self, execution: str, error: str | None = None) -> None:
        if self.state == "stopped":
            return
        self.finish = time.time()
        self.state = "stopped"
        self.script_execution = execution
        self.error = error

    def as_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "run_id": self.run_id,
            "trigger": self.trigger,
            "start": _iso(self.start),
            "finish": _iso(self.finish),
            "state": self.state,
            "script_execution": self.script_execution,
            "error": self.error,
            "context": self.context.as_dict() if self.context else None,
            "steps": [
                {
                    "path": path,
                    "timestamp": _iso(started),
                    "result": trace_value(result),
                    "error": error,
                    "elapsed_ms": round(elapsed * 1000, 3),
                }
                for path, started, result, error, elapsed in self.steps
            ],
            "variables": trace_value(self.variables),
        }


class TraceStore:
    """The last few traces of each item (automation or script), newest last."""

    def __init__(self, kept: int = TRACES_KEPT) -> None:
        self.kept = kept
        self._kept: dict[str, int] = {}
        self._traces: dict[str, deque[Trace]] = {}

    def set_kept(self, item_id: str, kept: int) -> None:
        """How many traces to keep for one item (`trace: stored_traces:`)."""
        self._kept[item_id] = kept
        if item_id in self._traces:
            self._traces[item_id] = deque(self._traces[item_id], maxlen=kept)

    def add(self, trace: Trace) -> None:
        traces = self._traces.get(trace.item_id)
        if traces is None:
            kept = self._kept.get(trace.item_id, self.kept)
            traces = self._traces[trace.item_id] = deque(maxlen=kept)
        traces.append(trace)

    def get(self, item_id: str) -> list[Trace]:
        return list(self._traces.get(item_id, ()))

    def items(self) -> list[str]:
        return list(self._traces)

    def as_dict(self, item_ids: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
        wanted = self._traces if item_ids is None else item_ids
        return {item: [t.as_dict() for t in self._traces.get(item, ())] for item in wanted}
