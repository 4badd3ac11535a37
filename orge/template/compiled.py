"""The compile cache and `Template`: a sandboxed jinja2 environment with Home Assistant's
globals, compiled code cached by text (200 automations sharing
`{{ trigger.to_state.state }}` compile it once), rendering under the budget, and the
helpers that walk structures of templates.
"""

from __future__ import annotations

import ast
import logging
import time
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orge import dt as dt_util
from orge.exceptions import OrgeError
from orge.template import budget
from orge.template.budget import MAX_TEMPLATE_LENGTH, _bounded_filters, _BudgetRange, _check_text
from orge.template.functions import (
    FILTERS,
    FUNCTIONS,
    TESTS,
    _relative_time,
    _today_at,
    min_max,
    time_zone,
)
from orge.template.tracking import (
    _INFO_STACK,
    RenderInfo,
    TemplateState,
    _AllStates,
    _current,
    _get_state,
    _track_time,
)
from orge.yaml import display_path, where

if TYPE_CHECKING:
    from orge.core import Orge

_LOGGER = logging.getLogger(__name__)
_MARKERS = ("{{", "{%", "{#")
_NO_VALUE = ("unknown", "unavailable")
_SENTINEL = object()
_COMPILED: dict[str, Any] = {}  # template text -> compiled jinja Template
_COMPILED_MAX = 4096
_ENV: Any = None
_PARSED: set[str] = set()  # texts known to parse
_CHECKED: set[str] = set()  # texts known to parse and to use only known filters and tests
_STRICT = False  # compile fully while validating (check-config)


class TemplateError(OrgeError):
    """A template that cannot be compiled or rendered; the message says where.

    `render_info` is what the failed render had read before it failed (None for a syntax
    error): a watcher keeps listening to those entities, as Home Assistant's
    async_track_template_result does, so a template that fails because an entity does not
    exist yet renders again when it appears.
    """

    render_info: RenderInfo | None = None


def is_template_string(text: str) -> bool:
    return any(marker in text for marker in _MARKERS)


def _globals_for(orge: Orge) -> dict[str, Any]:
    def is_state(entity_id: str, value: Any) -> bool:
        state = _get_state(orge, entity_id)
        if state is None:
            return False
        if isinstance(value, (list, tuple, set)):
            return state.state in [str(v) for v in value]
        return state.state == str(value)

    def state_attr(entity_id: str, name: str) -> Any:
        state = _get_state(orge, entity_id)
        return None if state is None else state.attributes.get(name)

    def is_state_attr(entity_id: str, name: str, value: Any) -> bool:
        attribute = state_attr(entity_id, name)
        return attribute is not None and attribute == value

    def has_value(entity_id: str) -> bool:
        state = _get_state(orge, entity_id)
        return state is not None and state.state not in _NO_VALUE

    def expand(*args: Any) -> list[Any]:
        """States of the given entities (ids or states, lists of them), groups replaced by
        their members' states, each once, sorted by entity id."""
        found: dict[str, Any] = {}
        pending = list(args)
        seen: set[str] = set()
        while pending:
            item = pending.pop()
            if isinstance(item, (list, tuple, set)):
                pending.extend(item)
                continue
            state = item if hasattr(item, "entity_id") and hasattr(item, "state") else None
            if state is None:
                state = _get_state(orge, item)
                if state is None:
                    continue
            entity_id = state.entity_id
            if entity_id in seen:
                continue
            seen.add(entity_id)
            members = state.attributes.get("entity_id")
            if entity_id.startswith("group.") and isinstance(members, (list, tuple)):
                pending.extend(members)
            else:
                found[entity_id] = state
        return [
            state if isinstance(state, TemplateState) else TemplateState(state)
            for state in (found[key] for key in sorted(found))
        ]

    def now() -> datetime:
        _track_time()
        return dt_util.now(time_zone(orge))

    def relative_time(value: Any) -> Any:
        _track_time()
        return _relative_time(value)

    return {
        "states": _AllStates(orge),
        "is_state": is_state,
        "state_attr": state_attr,
        "is_state_attr": is_state_attr,
        "has_value": has_value,
        "now": now,
        "utcnow": lambda: (_track_time(), dt_util.utcnow())[1],
        "relative_time": relative_time,
        "today_at": lambda value="": _today_at(orge, value),
        "expand": expand,
    }


def _cached_globals(orge: Orge | None) -> dict[str, Any]:
    """Every name a render starts with (the environment's globals and the station's), as
    one plain dict: jinja would otherwise copy its globals ChainMap key by key each render."""
    if orge is None:
        return _environment().globals_flat  # type: ignore[no-any-return]
    cached = orge.data.get("_template_globals")
    if cached is None:
        cached = orge.data["_template_globals"] = {
            **_environment().globals_flat,
            **_globals_for(orge),
        }
    return cached


def _environment() -> Any:
    """The shared sandbox; built on first use so importing this module stays cheap."""
    global _ENV
    if _ENV is None:
        from orge.template.sandbox import sandbox_class  # jinja2: at the first compile

        env = sandbox_class()(
            autoescape=False, keep_trailing_newline=False, undefined=_logging_undefined()
        )
        env.globals.update(FUNCTIONS)
        env.globals["min"] = min_max(env, "min")
        env.globals["max"] = min_max(env, "max")
        env.globals["range"] = _BudgetRange
        env.globals.pop("lipsum", None)  # lipsum(100000000) would build gigabytes of text
        env.filters.update(FILTERS)
        for name in _CLOCK_FILTERS:
            env.filters[name] = _not_constant(env.filters[name])
        env.filters = _bounded_filters(env.filters)
        env.tests.update(TESTS)
        env.finalize = _finalize
        env.globals_flat = dict(env.globals)  # see _cached_globals
        _ENV = env
    return _ENV


# Filters whose result depends on the station's time zone or clock: jinja folds a filter
# on a constant (`0 | timestamp_local`) at compile time, when no station is rendering.
_CLOCK_FILTERS = ("timestamp_custom", "timestamp_local", "as_local", "relative_time")


def _not_constant(func: Any) -> Any:
    """`func` as a filter that jinja will not evaluate at compile time."""
    from jinja2 import pass_context

    @pass_context
    def filter_(_context: Any, *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return filter_


def _logging_undefined() -> type:
    """Home Assistant's undefined (helpers/template.py make_logging_undefined, not strict):
    printing, testing or iterating an undefined name gives "", False or nothing and logs
    a warning naming the template; arithmetic, comparison, `float`/`int` conversion,
    calling or indexing it still fails (jinja2.Undefined's rules), as in Home Assistant."""
    from jinja2 import Undefined

    class LoggingUndefined(Undefined):  # type: ignore[misc]
        __slots__ = ()

        def _log_message(self) -> None:
            info = _current()
            _LOGGER.warning(
                "Template variable warning: %s when rendering '%s'",
                self._undefined_message,
                info.text if info is not None else "",
            )

        def __str__(self) -> str:
            self._log_message()
            return super().__str__()

        def __iter__(self) -> Iterator[Any]:
            self._log_message()
            return super().__iter__()

        def __bool__(self) -> bool:
            self._log_message()
            return super().__bool__()

    return LoggingUndefined


def _finalize(value: Any) -> Any:
    """Each `{{ value }}`: a list of references to one big string prints as a huge text."""
    if not isinstance(value, str):
        _check_text(value, "printed value")
    return value


class UnknownNameError(Exception):
    """A filter or test the environment does not have (what compiling would report)."""


def _check_names(env: Any, parsed: Any) -> None:
    """Catch an unknown filter or test from the parse tree, at a fifth of a compile's cost."""
    from jinja2 import nodes

    for node in parsed.find_all((nodes.Filter, nodes.Test)):
        known = env.filters if isinstance(node, nodes.Filter) else env.tests
        if node.name not in known:
            kind = "filter" if isinstance(node, nodes.Filter) else "test"
            raise UnknownNameError(f"No {kind} named '{node.name}' (line {node.lineno})")


def _check_length(text: str) -> None:
    if len(text) > MAX_TEMPLATE_LENGTH:
        raise OverflowError(
            f"the template is {len(text)} characters long (limit {MAX_TEMPLATE_LENGTH})"
        )


def _compile(text: str) -> Any:
    compiled = _COMPILED.get(text)
    if compiled is None:
        _check_length(text)
        compiled = _environment().from_string(text)
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        _COMPILED[text] = compiled
    return compiled


# --- results -----------------------------------------------------------------------

_LITERALS = {"True": True, "False": False, "None": None}


def parse_result(text: str) -> Any:
    """'16' -> 16, '[1, 2]' -> [1, 2], 'True' -> True; anything else stays text."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "-+0123456789.[({'\"TFN":
        return text
    if stripped in _LITERALS:  # the common condition results, without a parse
        return _LITERALS[stripped]
    if stripped.isdigit() and (stripped[0] != "0" or stripped == "0"):
        return int(stripped)
    try:
        result = ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    if isinstance(result, (int, float)) and not isinstance(result, bool):
        # '1.10' and '1e3' keep their spelling: they were probably meant as text
        if str(result) != stripped:
            return text
    if isinstance(result, (str, complex)):
        return text
    return result


# --- the template ------------------------------------------------------------------


class Template:
    """One template text; render with `async_render(variables)` on the loop."""

    __slots__ = (
        "_compiled",
        "_static_result",
        "entities",
        "file",
        "is_static",
        "line",
        "orge",
        "text",
    )

    def __init__(self, text: str, orge: Orge | None = None) -> None:
        if isinstance(text, Template):
            text = text.text
        if not isinstance(text, str):
            raise TypeError(f"a template must be a string, got {type(text).__name__}")
        place = where(text)
        self.file, self.line = place if place else (None, 0)
        self.text = str(text)
        self.orge = orge
        self.is_static = not is_template_string(self.text)
        self._compiled: Any = None
        self._static_result: Any = _SENTINEL
        self.entities: set[str] = set()

    def __repr__(self) -> str:
        return f"Template<{self.text!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Template) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    @property
    def location(self) -> str:
        if not self.file:
            return ""
        config_dir = self.orge.config.config_dir if self.orge is not None else None
        return f"{display_path(self.file, config_dir)}, line {self.line}"

    def ensure_valid(self) -> None:
        """Compile now; raises TemplateError on a syntax error or an unknown filter."""
        if self.is_static or self._compiled is not None:
            return
        try:
            self._compiled = _compile(self.text)
        except Exception as err:
            raise TemplateError(self._message(err)) from None

    def check_syntax(self) -> None:
        """Parse only (a fifth of a compile): what start-up validation can afford.

        Under `strict_checks` (check-config) unknown filters and tests are caught too, from
        the parse tree; rendering compiles on first use or in a warm-up task.
        """
        checked = _CHECKED if _STRICT else _PARSED
        if self.is_static or self._compiled is not None or self.text in checked:
            return
        env = _environment()
        try:
            _check_length(self.text)
            parsed = env.parse(self.text)
            if _STRICT:
                _check_names(env, parsed)
        except Exception as err:
            raise TemplateError(self._message(err)) from None
        if len(checked) >= _COMPILED_MAX:
            checked.clear()
        checked.add(self.text)

    def _message(self, err: Exception) -> str:
        where_text = f" at {self.location}" if self.location else ""
        detail = getattr(err, "message", None) or str(err)
        lineno = getattr(err, "lineno", None)
        if lineno and lineno > 1:
            detail += f" (line {lineno} of the template)"
        text = self.text if len(self.text) <= 120 else self.text[:117] + "..."
        return f"Template error{where_text}: {type(err).__name__}: {detail} in '{text}'"

    def render_to_text(self, variables: dict[str, Any] | None = None) -> str:
        return self.async_render(variables, parse_result=False)

    def async_render(
        self, variables: dict[str, Any] | None = None, parse_result: bool = True
    ) -> Any:
        """Render; parse the text into a number, list, dict or bool when it is one."""
        result, _info = self.async_render_with_info(variables, parse_result)
        return result

    def async_render_with_info(
        self, variables: dict[str, Any] | None = None, parse_result: bool = True
    ) -> tuple[Any, RenderInfo]:
        info = RenderInfo(self.text)
        if self.is_static:
            if not parse_result:
                return self.text, info
            if self._static_result is _SENTINEL:
                self._static_result = globals()["parse_result"](self.text)
            return self._static_result, info
        self.ensure_valid()
        context = dict(_cached_globals(self.orge))
        if variables:
            context.update(variables)
        info.orge = self.orge
        info.seconds = budget.MAX_RENDER_SECONDS
        info.deadline = time.monotonic() + budget.MAX_RENDER_SECONDS
        _INFO_STACK.append(info)
        try:
            # what jinja's Template.render does, with the globals already in `context`
            compiled = self._compiled
            frame = compiled.new_context(context, shared=True)
            text = compiled.environment.concat(compiled.root_render_func(frame))
        except TemplateError as err:
            if err.render_info is None:
                err.render_info = info
            raise
        except Exception as err:
            error = TemplateError(self._message(err))
            error.render_info = info
            raise error from None
        finally:
            _INFO_STACK.pop()
            self.entities = info.entities
        if parse_result:
            return globals()["parse_result"](text), info
        return text, info


def render_text(orge: Orge, text: str, variables: dict[str, Any] | None = None) -> str:
    """Render a template text to a string (the API's POST /api/template)."""
    return Template(text, orge).render_to_text(variables)


# --- structures of templates -------------------------------------------------------


class strict_checks:
    """Validation inside this block compiles templates fully (check-config does this)."""

    def __enter__(self) -> None:
        global _STRICT
        self._previous = _STRICT
        _STRICT = True

    def __exit__(self, *exc: object) -> None:
        global _STRICT
        _STRICT = self._previous


def collect(value: Any, found: list[Template] | None = None) -> list[Template]:
    """Every Template inside a validated config."""
    found = [] if found is None else found
    if isinstance(value, Template):
        found.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            collect(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            collect(item, found)
    return found


async def async_warm_up(templates: list[Template]) -> None:
    """Compile templates ahead of their first render, yielding to the loop between each,
    so start-up does not wait for them and a first trigger does not pay for them."""
    import asyncio

    for tpl in templates:
        if tpl.is_static or tpl._compiled is not None:
            continue
        try:
            tpl.ensure_valid()
        except TemplateError:
            pass  # reported when it is rendered
        await asyncio.sleep(0)


def attach(orge: Orge, value: Any) -> None:
    """Give every Template inside a validated config the hub it renders against."""
    if isinstance(value, Template):
        value.orge = orge
    elif isinstance(value, dict):
        for item in value.values():
            attach(orge, item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            attach(orge, item)


def render_complex(value: Any, variables: dict[str, Any] | None = None) -> Any:
    """Render every Template inside dicts and lists; other values pass through."""
    if isinstance(value, Template):
        return value.async_render(variables)
    if isinstance(value, dict):
        return {
            render_complex(k, variables): render_complex(v, variables) for k, v in value.items()
        }
    if isinstance(value, list):
        return [render_complex(item, variables) for item in value]
    return value
