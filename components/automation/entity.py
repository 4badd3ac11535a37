"""An automation as an entity: `automation.<id>`, on/off, with `last_triggered`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from orge.core import EVENT_AUTOMATION_TRIGGERED, STATE_OFF, STATE_ON, Context, callback
from orge.restore_state import RestoreEntity
from orge.script import condition as cond
from orge.script.script import Script
from orge.script.trace import Trace, TraceStore
from orge.script.trigger import async_attach_triggers, describe
from orge.template import TemplateError, attach, render_complex

_LOGGER = logging.getLogger(__name__)


class AutomationEntity(RestoreEntity):
    domain = "automation"

    def __init__(self, config: dict[str, Any], object_id: str, traces: TraceStore) -> None:
        self.config = config
        self.automation_id = config.get("id")
        self._attr_name = config.get("alias") or config.get("id") or object_id
        self._attr_object_id = object_id
        self.traces = traces
        self.enabled = False
        self.last_triggered: float | None = None
        self.script: Script | None = None
        self._detach: Callable[[], None] | None = None
        self._checks: list[Any] = []

    @property
    def state(self) -> str:
        return STATE_ON if self.enabled else STATE_OFF

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        from orge.core import _ts_to_iso

        return {
            "last_triggered": _ts_to_iso(self.last_triggered) if self.last_triggered else None,
            "mode": self.config["mode"],
            "current": len(self.script.runs) if self.script else 0,
            "id": self.automation_id,
        }

    @property
    def label(self) -> str:
        return f"automation {self.entity_id} ({self.name})"

    async def async_added_to_orge(self) -> None:
        await super().async_added_to_orge()
        assert self.orge is not None and self.entity_id is not None
        config = self.config
        attach(self.orge, config["variables"])  # actions and triggers attach their own
        attach(self.orge, config["conditions"])
        if config["max"] and config["mode"] in ("queued", "parallel"):
            max_runs = config["max"]
        else:
            max_runs = 1
        self.script = Script(
            self.orge,
            config["actions"],
            self.label,
            self.entity_id,
            config["mode"],
            max_runs,
            config["max_exceeded"],
            self.traces,
            on_change=self._runs_changed,
        )
        self._checks = cond.build_all(self.orge, config["conditions"], self.label)
        if "stored_traces" in config["trace"]:
            self.traces.set_kept(self.entity_id, config["trace"]["stored_traces"])
        last = await self.async_get_last_state()
        if last is not None and last.attributes.get("last_triggered"):
            from orge.template import as_timestamp

            self.last_triggered = as_timestamp(last.attributes["last_triggered"], None)
        if config.get("initial_state") is not None:
            enable = config["initial_state"]
        elif last is not None:
            enable = last.state == STATE_ON
        else:
            enable = True
        if enable:
            await self.async_enable()

    async def async_will_remove_from_orge(self) -> None:
        await self.async_disable(stop_actions=True, write=False)
        await super().async_will_remove_from_orge()

    @callback
    def _runs_changed(self) -> None:
        if self.orge is not None and self.entity_id in self.orge.data.get("entities", {}):
            self.async_write_state()

    async def async_enable(self) -> None:
        if self.enabled:
            return
        assert self.orge is not None
        self._detach = await async_attach_triggers(
            self.orge,
            self.config["triggers"],
            self._triggered,
            self.label,
            self._trigger_variables(),
        )
        self.enabled = True

    async def async_disable(self, stop_actions: bool = True, write: bool = True) -> None:
        if self._detach is not None:
            self._detach()
            self._detach = None
        self.enabled = False
        if stop_actions and self.script is not None:
            await self.script.async_stop()
        if write:
            self.async_write_state()

    def _trigger_variables(self) -> dict[str, Any]:
        return {
            "this": self.orge.states.get(self.entity_id) if self.orge else None,
            **(self.config.get("trigger_variables") or {}),
        }

    @callback
    def _triggered(self, run_vars: dict[str, Any], context: Context | None) -> None:
        assert self.orge is not None
        self.orge.async_create_task(self.async_trigger(run_vars, context), self.entity_id)

    async def async_trigger(
        self,
        run_vars: dict[str, Any],
        parent: Context | None = None,
        skip_condition: bool = False,
    ) -> None:
        """Check the conditions and run the actions; everything goes into a trace."""
        assert self.orge is not None and self.script is not None
        if not self.enabled and not skip_condition:
            return
        trigger = run_vars.get("trigger") or {}
        context = Context(parent_id=parent.id if parent else None)
        trace = Trace(self.entity_id or "", trigger.get("description"), context)
        variables: dict[str, Any] = {"this": self.orge.states.get(self.entity_id or "")}
        try:
            variables.update(render_complex(self.config["variables"], {**variables, **run_vars}))
        except TemplateError as err:
            _LOGGER.error("%s: variables failed: %s", self.label, err)
            trace.finished("error", str(err))
            self.traces.add(trace)
            return
        variables.update(run_vars)
        if trigger.get("idx") is not None:
            trace.add_step(f"trigger/{trigger['idx']}", time.time(), {"id": trigger.get("id")})
        if not skip_condition:
            for index, check in enumerate(self._checks):
                started = time.time()
                passed = check(variables)
                trace.add_step(f"condition/{index}", started, {"result": passed})
                if not passed:
                    trace.finished("failed_conditions")
                    trace.variables = variables
                    self.traces.add(trace)
                    return
        self.last_triggered = time.time()  # written with `current` as the run starts
        self.orge.bus.async_fire(
            EVENT_AUTOMATION_TRIGGERED,
            {"name": self.name, "entity_id": self.entity_id, "source": trigger.get("description")},
            context=context,
        )
        await self.script.async_run(variables, context, trace)


def describe_trigger(config: dict[str, Any]) -> str:
    return describe(config)
