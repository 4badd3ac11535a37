"""A Script: a validated action sequence with a run mode (single, restart, queued,
parallel), shared by automations and the script component."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Context, Orge
from orge.script.runner import EXPECTED_ERRORS, ScriptRun, StopRun
from orge.script.trace import Trace, TraceStore
from orge.template import attach

_LOGGER = logging.getLogger(__name__)
MODES = ("single", "restart", "queued", "parallel")
DEFAULT_MAX = 10
LOG_LEVELS = ("silent", "critical", "error", "warning", "info", "debug")

MODE_SCHEMA = {
    vol.Optional(
        "mode",
        default="single",
        description="What a new run does while one is running: single (refused), restart, queued or parallel.",
    ): vol.In(MODES),
    vol.Optional(
        "max",
        default=DEFAULT_MAX,
        description="Runs queued or in parallel at most (queued and parallel modes).",
    ): vol.All(vol.Coerce(int), vol.Range(min=1)),
    vol.Optional(
        "max_exceeded",
        default="warning",
        description="Log level of a refused run (critical..debug), or silent.",
    ): vol.All(cv.string, vol.Lower, vol.In(LOG_LEVELS)),
}


class Script:
    """Runs `sequence` on demand; `async_run` returns the run's response (stop's variable)."""

    def __init__(
        self,
        orge: Orge,
        sequence: list[dict[str, Any]],
        name: str,
        item_id: str,
        mode: str = "single",
        max_runs: int = DEFAULT_MAX,
        max_exceeded: str = "warning",
        traces: TraceStore | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        attach(orge, sequence)
        self.orge = orge
        self.sequence = sequence
        self.name = name
        self.item_id = item_id
        self.mode = mode
        self.max_runs = max_runs if mode in ("queued", "parallel") else 1
        self.max_exceeded = max_exceeded
        self.traces = traces if traces is not None else TraceStore()
        self.on_change = on_change
        self.runs: list[asyncio.Task[Any]] = []
        self._queue = asyncio.Lock()

    @property
    def is_running(self) -> bool:
        return bool(self.runs)

    def _log_exceeded(self) -> None:
        if self.max_exceeded == "silent":
            return
        level = logging.getLevelName(self.max_exceeded.upper())
        reason = "Already running" if self.mode == "single" else "Maximum number of runs exceeded"
        _LOGGER.log(level, "%s: %s (mode %s, max %d)", self.name, reason, self.mode, self.max_runs)

    async def async_run(
        self,
        variables: dict[str, Any] | None = None,
        context: Context | None = None,
        trace: Trace | None = None,
    ) -> Any:
        """Run once, honouring the mode; returns the response or None if not run."""
        if self.runs:
            if self.mode == "restart":
                await self.async_stop()
            elif self.mode == "single" or len(self.runs) >= self.max_runs:
                self._log_exceeded()
                if trace is not None:
                    trace.finished("failed_" + self.mode)
                    self.traces.add(trace)
                return None
        context = context or Context()
        trace = trace or Trace(self.item_id, None, context)
        run = ScriptRun(self.orge, self.name, self.sequence, dict(variables or {}), context, trace)
        task = asyncio.current_task()
        assert task is not None
        self.runs.append(task)
        self._changed()
        try:
            if self.mode == "queued":
                async with self._queue:
                    return await self._execute(run)
            return await self._execute(run)
        finally:
            self.runs.remove(task)
            self._changed()

    async def _execute(self, run: ScriptRun) -> Any:
        trace = run.trace
        if trace not in self.traces.get(trace.item_id):
            self.traces.add(trace)
        trace.variables = run.variables
        try:
            await run.async_run()
        except StopRun as stop:
            trace.finished(stop.execution, stop.error)
            if stop.execution == "error":
                _LOGGER.error("%s: stopped with error: %s", self.name, stop.error)
            return stop.response
        except asyncio.CancelledError:
            trace.finished("cancelled")
            raise
        except Exception as err:
            trace.finished("error", str(err))
            _LOGGER.error("%s: %s", self.name, err, exc_info=not isinstance(err, EXPECTED_ERRORS))
            return None
        trace.finished("finished")
        return None

    async def async_stop(self) -> None:
        """Cancel every run (restart mode, turn_off, reload) and wait for them."""
        me = asyncio.current_task()
        tasks = [task for task in self.runs if task is not me]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()
