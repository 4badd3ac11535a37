"""Running a validated action sequence: one `ScriptRun` per run, steps traced by path.

Paths follow Home Assistant's traces: `action/0`, `action/2/choose/1/sequence/0`,
`action/3/repeat/sequence/0`. A step that fails with an ORGE error stops the run unless it
sets `continue_on_error`; template errors are logged with the template's file and line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import voluptuous as vol

from orge.core import Context, Orge
from orge.exceptions import OrgeError
from orge.script import condition as cond
from orge.script.helpers import render_period
from orge.script.trace import Trace
from orge.template import Template, TemplateError, render_complex, result_as_boolean

_LOGGER = logging.getLogger(__name__)


# Errors an action is expected to raise (a refused call, a bad value): `continue_on_error`
# skips only these, and a run ending in one is logged without a traceback.
EXPECTED_ERRORS = (OrgeError, ValueError, vol.Invalid)


class StopRun(Exception):
    """Ends a run early: `stop:` or a failed `condition:` step."""

    def __init__(self, execution: str, response: Any = None, error: str | None = None) -> None:
        super().__init__(error or execution)
        self.execution = execution
        self.response = response
        self.error = error


class ScriptRun:
    """One run of an action sequence (a Script's, orge/script/script.py, which owns the
    run mode: the run is handed only what it runs, so it needs no Script)."""

    def __init__(
        self,
        orge: Orge,
        name: str,
        sequence: list[dict[str, Any]],
        variables: dict[str, Any],
        context: Context,
        trace: Trace,
    ) -> None:
        self.orge = orge
        self.name = name
        self.sequence = sequence
        self.variables = variables
        self.context = context
        self.trace = trace
        self._checks: dict[int, Callable[[dict[str, Any]], bool]] = {}

    async def async_run(self) -> Any:
        await self.run_sequence(self.sequence, "action")
        return None

    async def run_sequence(self, steps: list[dict[str, Any]], path: str) -> None:
        for index, step in enumerate(steps):
            if not step.get("enabled", True):
                continue
            await self.run_step(step, f"{path}/{index}")

    async def run_step(self, step: dict[str, Any], path: str) -> None:
        started = time.time()
        kind = step["kind"]
        try:
            result = await getattr(self, f"_step_{kind}")(step, path)
        except StopRun as stop:
            self.trace.add_step(path, started, {"stop": stop.execution}, stop.error)
            raise
        except asyncio.CancelledError:
            self.trace.add_step(path, started, None, "cancelled")
            raise
        except Exception as err:
            message = _describe(err)
            self.trace.add_step(path, started, None, message)
            if step.get("continue_on_error") and isinstance(err, EXPECTED_ERRORS):
                _LOGGER.warning("%s: %s failed, continuing: %s", self.name, path, message)
                return
            raise
        self.trace.add_step(path, started, result)

    def _render(self, value: Any) -> Any:
        return render_complex(value, self.variables)

    def _check(self, config: dict[str, Any]) -> bool:
        check = self._checks.get(id(config))
        if check is None:
            check = self._checks[id(config)] = cond.build(self.orge, config, self.name)
        return check(self.variables)

    def _check_all(self, configs: list[dict[str, Any]]) -> bool:
        return all(self._check(config) for config in configs)

    # --- the kinds of step -----------------------------------------------------------

    async def _step_call_service(self, step: dict[str, Any], path: str) -> Any:
        name = step["action"]
        if isinstance(name, Template):
            name = str(name.render_to_text(self.variables)).strip()
        domain, _, service = name.partition(".")
        data = self._render(step["data"]) if step["data"] else None
        target = self._render(step["target"]) if step["target"] else None
        want = step.get("response_variable")
        response = await self.orge.services.async_call(
            domain,
            service,
            data,
            blocking=True,
            context=self.context,
            target=target,
            return_response=bool(want),
        )
        if want:
            self.variables[want] = response
        return {"action": name, "data": data, "target": target, "response": response}

    async def _step_delay(self, step: dict[str, Any], path: str) -> Any:
        delay = render_period(step["delay"], self.variables)
        await asyncio.sleep(delay.total_seconds())
        return {"delay": delay.total_seconds()}

    def _timeout(self, step: dict[str, Any]) -> float | None:
        if "timeout" not in step:
            return None
        return render_period(step["timeout"], self.variables).total_seconds()

    async def _wait_done(self, step: dict[str, Any], future: asyncio.Future[Any]) -> Any:
        timeout = self._timeout(step)
        started = time.monotonic()
        try:
            result = await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            self.variables["wait"] = {"completed": False, "remaining": 0, "trigger": None}
            if not step["continue_on_timeout"]:
                raise StopRun("aborted", error="timed out waiting") from None
            return self.variables["wait"]
        remaining = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
        self.variables["wait"] = {"completed": True, "remaining": remaining, "trigger": result}
        return {"completed": True, "remaining": remaining}

    async def _step_wait_template(self, step: dict[str, Any], path: str) -> Any:
        from orge.script.tracking import TemplateWatcher

        tpl: Template = step["wait_template"]
        future: asyncio.Future[Any] = self.orge.loop.create_future()

        def on_result(result: Any, _event: Any) -> None:
            if result is not None and result_as_boolean(result) and not future.done():
                future.set_result(None)

        watcher = TemplateWatcher(self.orge, tpl, self.variables, on_result, self.name)
        first = watcher.start()
        try:
            if first is not None and result_as_boolean(first):
                self.variables["wait"] = {"completed": True, "remaining": None, "trigger": None}
                return {"completed": True}
            return await self._wait_done(step, future)
        finally:
            watcher.stop()

    async def _step_wait_for_trigger(self, step: dict[str, Any], path: str) -> Any:
        from orge.script.trigger import async_attach_triggers

        future: asyncio.Future[Any] = self.orge.loop.create_future()

        def fired(variables: dict[str, Any]) -> None:
            if not future.done():
                future.set_result(variables["trigger"])

        from orge.core import callback

        remove = await async_attach_triggers(
            self.orge, step["wait_for_trigger"], callback(fired), self.name, self.variables
        )
        try:
            return await self._wait_done(step, future)
        finally:
            remove()

    async def _step_event(self, step: dict[str, Any], path: str) -> Any:
        data = self._render(step["event_data"])
        if step.get("event_data_template"):
            data.update(self._render(step["event_data_template"]))
        self.orge.bus.async_fire(step["event"], data, context=self.context)
        return {"event": step["event"], "event_data": data}

    async def _step_condition(self, step: dict[str, Any], path: str) -> Any:
        if not self._check(step):
            raise StopRun("failed_conditions", {"result": False})
        return {"result": True}

    async def _step_choose(self, step: dict[str, Any], path: str) -> Any:
        for index, option in enumerate(step["choose"]):
            if self._check_all(option["conditions"]):
                await self.run_sequence(option["sequence"], f"{path}/choose/{index}/sequence")
                return {"choice": index}
        if step.get("default"):
            await self.run_sequence(step["default"], f"{path}/default")
            return {"choice": "default"}
        return {"choice": None}

    async def _step_if(self, step: dict[str, Any], path: str) -> Any:
        if self._check_all(step["if"]):
            await self.run_sequence(step["then"], f"{path}/then")
            return {"choice": "then"}
        if step.get("else"):
            await self.run_sequence(step["else"], f"{path}/else")
            return {"choice": "else"}
        return {"choice": None}

    async def _step_repeat(self, step: dict[str, Any], path: str) -> Any:
        body = step["repeat"]
        sequence, seq_path = body["sequence"], f"{path}/repeat/sequence"
        saved = self.variables.get("repeat")
        iterations = 0
        try:
            if "count" in body:
                count = int(self._render(body["count"]))
                for index in range(1, count + 1):
                    self.variables["repeat"] = {
                        "first": index == 1,
                        "index": index,
                        "last": index == count,
                    }
                    await self.run_sequence(sequence, seq_path)
                    iterations += 1
            elif "for_each" in body:
                items = self._render(body["for_each"])
                if not isinstance(items, list):
                    raise OrgeError(f"repeat for_each needs a list, got {items!r}")
                for index, item in enumerate(items, 1):
                    self.variables["repeat"] = {
                        "first": index == 1,
                        "index": index,
                        "last": index == len(items),
                        "item": item,
                    }
                    await self.run_sequence(sequence, seq_path)
                    iterations += 1
            else:
                index = 0
                while True:
                    index += 1
                    self.variables["repeat"] = {"first": index == 1, "index": index}
                    if "while" in body and not self._check_all(body["while"]):
                        break
                    await self.run_sequence(sequence, seq_path)
                    iterations += 1
                    if "until" in body and self._check_all(body["until"]):
                        break
                    await asyncio.sleep(0)  # a tight loop must not starve the hub
        finally:
            if saved is None:
                self.variables.pop("repeat", None)
            else:
                self.variables["repeat"] = saved
        return {"iterations": iterations}

    async def _step_variables(self, step: dict[str, Any], path: str) -> Any:
        for key, value in step["variables"].items():
            self.variables[key] = render_complex(value, self.variables)
        return {"variables": {key: self.variables[key] for key in step["variables"]}}

    async def _step_stop(self, step: dict[str, Any], path: str) -> Any:
        response = None
        if step.get("response_variable"):
            response = self.variables.get(step["response_variable"])
        if step["error"]:
            raise StopRun("error", response, error=step["stop"])
        raise StopRun("finished", response, error=None)

    async def _step_parallel(self, step: dict[str, Any], path: str) -> Any:
        branches = [
            self.run_sequence(branch, f"{path}/parallel/{index}")
            for index, branch in enumerate(step["parallel"])
        ]
        results = await asyncio.gather(*branches, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return {"branches": len(branches)}

    async def _step_sequence(self, step: dict[str, Any], path: str) -> Any:
        await self.run_sequence(step["sequence"], f"{path}/sequence")
        return None


def _describe(err: BaseException) -> str:
    if isinstance(err, (OrgeError, TemplateError)):
        return str(err)
    return f"{type(err).__name__}: {err}"


def seconds(value: timedelta | float) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
