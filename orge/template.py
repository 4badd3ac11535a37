"""Templates: a sandboxed jinja2 environment with Home Assistant's helpers.

`Template(text, orge)` compiles lazily and caches compiled code by text, so 200 automations
sharing `{{ trigger.to_state.state }}` compile it once. While rendering, every entity a
template reads is recorded (`Template.entities`, `RenderInfo`), so a template trigger
re-renders only when one of those entities changes. A failure raises `TemplateError` whose
message names the template's file and line; callers log it and carry on.
"""

from __future__ import annotations

import ast
import logging
import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import TYPE_CHECKING, Any

import voluptuous as vol

from orge.exceptions import OrgeError
from orge.yaml import display_path, where

if TYPE_CHECKING:
    from orge.core import Orge, State

_LOGGER = logging.getLogger(__name__)
_MARKERS = ("{{", "{%", "{#")
_UNKNOWN = "unknown"
_NO_VALUE = ("unknown", "unavailable")
_SENTINEL = object()
_COMPILED: dict[str, Any] = {}  # template text -> compiled jinja Template
_COMPILED_MAX = 4096
_ENV: Any = None
_PARSED: set[str] = set()  # texts known to parse
_CHECKED: set[str] = set()  # texts known to parse and to use only known filters and tests
_STRICT = False  # compile fully while validating (check-config)


class TemplateError(OrgeError):
    """A template that cannot be compiled or rendered; the message says where."""


class RenderInfo:
    """What one render read: entity ids, whole domains, all states, the clock."""

    __slots__ = ("all_states", "domains", "entities", "has_time", "iterations")

    def __init__(self) -> None:
        self.entities: set[str] = set()
        self.domains: set[str] = set()
        self.all_states = False
        self.has_time = False
        self.iterations = 0


_INFO_STACK: list[RenderInfo] = []  # renders are synchronous on the loop: a stack suffices


def _track_entity(entity_id: str) -> None:
    if _INFO_STACK:
        _INFO_STACK[-1].entities.add(entity_id)


def _track_domain(domain: str) -> None:
    if _INFO_STACK:
        _INFO_STACK[-1].domains.add(domain)


def _track_time() -> None:
    if _INFO_STACK:
        _INFO_STACK[-1].has_time = True


def is_template_string(text: str) -> bool:
    return any(marker in text for marker in _MARKERS)


# --- state access ------------------------------------------------------------------


class _DomainStates:
    """`states.sensor`: attribute access gives a State (or None), iteration the domain."""

    __slots__ = ("_domain", "_orge")

    def __init__(self, orge: Orge, domain: str) -> None:
        self._orge = orge
        self._domain = domain

    def __getattr__(self, name: str) -> State | None:
        if name.startswith("_"):
            raise AttributeError(name)
        entity_id = f"{self._domain}.{name}"
        _track_entity(entity_id)
        return self._orge.states.get(entity_id)

    def __iter__(self) -> Iterator[State]:
        _track_domain(self._domain)
        return iter(sorted(self._orge.states.async_all(self._domain), key=lambda s: s.entity_id))

    def __len__(self) -> int:
        _track_domain(self._domain)
        return len(self._orge.states.async_entity_ids(self._domain))


class _AllStates:
    """`states('sensor.x')`, `states.sensor.x`, `states | list`."""

    __slots__ = ("_orge",)

    def __init__(self, orge: Orge) -> None:
        self._orge = orge

    def __call__(self, entity_id: str, rounded: bool = False, with_unit: bool = False) -> str:
        state = _get_state(self._orge, entity_id)
        return _UNKNOWN if state is None else state.state

    def __getattr__(self, name: str) -> _DomainStates:
        # jinja2's sandbox probes callables for these two flags; they are not domains.
        if name.startswith("_") or name in ("alters_data", "unsafe_callable"):
            raise AttributeError(name)
        return _DomainStates(self._orge, name)

    def __iter__(self) -> Iterator[State]:
        if _INFO_STACK:
            _INFO_STACK[-1].all_states = True
        return iter(sorted(self._orge.states.async_all(), key=lambda s: s.entity_id))


def _get_state(orge: Orge, entity_id: Any) -> State | None:
    entity_id = str(entity_id).lower()
    _track_entity(entity_id)
    return orge.states.get(entity_id)


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
        state = _get_state(orge, entity_id)
        return state is not None and name in state.attributes and state.attributes[name] == value

    def has_value(entity_id: str) -> bool:
        state = _get_state(orge, entity_id)
        return state is not None and state.state not in _NO_VALUE

    def now() -> datetime:
        _track_time()
        return datetime.now(time_zone(orge))

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
        "utcnow": lambda: (_track_time(), datetime.now(UTC))[1],
        "relative_time": relative_time,
        "today_at": lambda value="00:00": _today_at(orge, value),
    }


def _cached_globals(orge: Orge) -> dict[str, Any]:
    cached = orge.data.get("_template_globals")
    if cached is None:
        cached = orge.data["_template_globals"] = _globals_for(orge)
    return cached


def time_zone(orge: Orge | None) -> Any:
    """The station's configured time zone (UTC without a hub)."""
    from zoneinfo import ZoneInfo

    name = orge.config.time_zone if orge is not None else "UTC"
    try:
        return ZoneInfo(name)
    except Exception:
        return UTC


# --- functions and filters ---------------------------------------------------------


def _fail(name: str, value: Any) -> None:
    raise ValueError(f"{name} got invalid input '{value}' and no default was specified")


def forgiving_float(value: Any, default: Any = _SENTINEL) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        if default is _SENTINEL:
            _fail("float", value)
        return default


def forgiving_int(value: Any, default: Any = _SENTINEL, base: int = 10) -> Any:
    try:
        if isinstance(value, str) and base != 10:
            return int(value, base)
        return int(float(value)) if not isinstance(value, int) else value
    except (TypeError, ValueError):
        if default is _SENTINEL:
            _fail("int", value)
        return default


def forgiving_bool(value: Any, default: Any = _SENTINEL) -> Any:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on", "enable"):
        return True
    if text in ("0", "false", "no", "off", "disable", "none"):
        return False
    if default is _SENTINEL:
        _fail("bool", value)
    return default


def forgiving_round(
    value: Any, precision: int = 0, method: str = "common", default: Any = _SENTINEL
) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError):
        if default is _SENTINEL:
            _fail("round", value)
        return default
    factor = 10**precision
    if method == "ceil":
        result = math.ceil(number * factor) / factor
    elif method == "floor":
        result = math.floor(number * factor) / factor
    elif method == "half":
        result = round(number * 2) / 2
    else:
        result = round(number, precision)
    return int(result) if precision == 0 else result


def iif(value: Any, if_true: Any = True, if_false: Any = False, if_none: Any = _SENTINEL) -> Any:
    if value is None and if_none is not _SENTINEL:
        return if_none
    return if_true if value else if_false


def _many(name: str, func: Any) -> Any:
    def apply(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and isinstance(args[0], (list, tuple, set, dict, Iterator)):
            return func(args[0], **kwargs)
        if not args:
            raise ValueError(f"{name} needs at least one value")
        return func(args, **kwargs)

    return apply


def as_datetime(value: Any, default: Any = _SENTINEL) -> Any:
    try:
        if isinstance(value, datetime):
            return value
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        text = str(value).strip()
        try:
            return datetime.fromtimestamp(float(text), UTC)
        except ValueError:
            pass
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed
    except (TypeError, ValueError, OverflowError):
        if default is _SENTINEL:
            _fail("as_datetime", value)
        return default


def as_timestamp(value: Any, default: Any = _SENTINEL) -> Any:
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        parsed = as_datetime(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    except (TypeError, ValueError, OverflowError):
        if default is _SENTINEL:
            _fail("as_timestamp", value)
        return default


def _relative_time(value: Any) -> Any:
    if not isinstance(value, datetime):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = (datetime.now(UTC) - value).total_seconds()
    if seconds < 0:
        return value
    for unit, size in (("year", 31536000), ("month", 2592000), ("day", 86400), ("hour", 3600)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    for unit, size in (("minute", 60), ("second", 1)):
        if seconds >= size or unit == "second":
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return value  # pragma: no cover


def _today_at(orge: Orge, value: str) -> datetime:
    _track_time()
    moment = datetime.strptime(str(value), "%H:%M:%S" if value.count(":") == 2 else "%H:%M").time()
    return datetime.combine(datetime.now(time_zone(orge)).date(), moment, time_zone(orge))


def _timestamp_custom(value: Any, fmt: str = "%Y-%m-%d %H:%M:%S", local: bool = True) -> Any:
    try:
        moment = datetime.fromtimestamp(float(value), None if local else UTC)
    except (TypeError, ValueError, OverflowError):
        return value
    return moment.strftime(fmt)


def _is_number(value: Any) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return not (math.isnan(number) or math.isinf(number)) and not isinstance(value, bool)


_FUNCTIONS: dict[str, Any] = {
    "float": forgiving_float,
    "int": forgiving_int,
    "bool": forgiving_bool,
    "round": forgiving_round,
    "iif": iif,
    "min": _many("min", min),
    "max": _many("max", max),
    "as_datetime": as_datetime,
    "as_timestamp": as_timestamp,
    "is_number": _is_number,
    "timedelta": timedelta,
}

_FILTERS: dict[str, Any] = {
    **_FUNCTIONS,
    "min": min,
    "max": max,
    "relative_time": _relative_time,
    "timestamp_custom": _timestamp_custom,
    "from_json": lambda text: __import__("json").loads(text),
    "to_json": lambda value: __import__("json").dumps(value, default=str),
}


# A template runs inline on the loop: one that loops or allocates without bound would stall
# the whole station, so renders get a budget (far above what any automation needs).
MAX_ITERATIONS = 100_000  # range() items per render, nested loops included
MAX_SEQUENCE = 1_000_000  # length of a string or list built with * in a template
MAX_EXPONENT = 1_000


class _BudgetRange:
    """`range()` in templates: a real range whose iteration counts against the budget."""

    __slots__ = ("_range",)

    def __init__(self, *args: int) -> None:
        from jinja2.sandbox import safe_range

        self._range = safe_range(*args)  # refuses more than 100,000 items at once

    def __iter__(self) -> Iterator[int]:
        info = _INFO_STACK[-1] if _INFO_STACK else None
        for item in self._range:
            if info is not None:
                info.iterations += 1
                if info.iterations > MAX_ITERATIONS:
                    raise OverflowError(
                        f"the template loops more than {MAX_ITERATIONS} times (a runaway loop?)"
                    )
            yield item

    def __len__(self) -> int:
        return len(self._range)

    def __getitem__(self, index: Any) -> Any:
        return self._range[index]

    def __contains__(self, value: object) -> bool:
        return value in self._range

    def __repr__(self) -> str:
        return repr(self._range)


def _sandbox_class() -> Any:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class OrgeSandbox(ImmutableSandboxedEnvironment):  # type: ignore[misc]
        intercepted_binops = frozenset(["*", "**"])

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "**":
                if isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
                    raise OverflowError(f"exponent {right} is too large for a template")
                return left**right
            for seq, count in ((left, right), (right, left)):
                if (
                    isinstance(seq, (str, list, tuple))
                    and isinstance(count, int)
                    and len(seq) * count > MAX_SEQUENCE
                ):
                    raise OverflowError(
                        f"a result of {len(seq) * count} items is too large for a template"
                    )
            return left * right

    return OrgeSandbox


def _environment() -> Any:
    """The shared sandbox; built on first use so importing this module stays cheap."""
    global _ENV
    if _ENV is None:
        env = _sandbox_class()(autoescape=False, keep_trailing_newline=False)
        env.globals.update(_FUNCTIONS)
        env.globals["range"] = _BudgetRange
        env.filters.update(_FILTERS)
        env.tests["is_number"] = _is_number
        env.tests["match"] = lambda value, pattern: __import__("re").match(pattern, str(value))
        _ENV = env
    return _ENV


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


def _compile(text: str) -> Any:
    compiled = _COMPILED.get(text)
    if compiled is None:
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
        info = RenderInfo()
        if self.is_static:
            if not parse_result:
                return self.text, info
            if self._static_result is _SENTINEL:
                self._static_result = globals()["parse_result"](self.text)
            return self._static_result, info
        self.ensure_valid()
        context = dict(_cached_globals(self.orge)) if self.orge is not None else {}
        if variables:
            context.update(variables)
        _INFO_STACK.append(info)
        try:
            text = self._compiled.render(context)
        except TemplateError:
            raise
        except Exception as err:
            raise TemplateError(self._message(err)) from None
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


def _to_template(value: Any) -> Template:
    if isinstance(value, Template):
        return value
    if value is None or isinstance(value, (dict, list)):
        raise vol.Invalid("template value should be a string")
    if not isinstance(value, str):
        value = str(value)
    tpl = Template(value)
    try:
        tpl.check_syntax()
    except TemplateError as err:
        raise vol.Invalid(f"invalid template ({str(err).split(': ', 1)[-1]})") from None
    return tpl


def template(value: Any) -> Template:
    """Voluptuous validator: a string compiled to a Template (syntax errors are Invalid)."""
    return _to_template(value)


def dynamic_template(value: Any) -> Template:
    """A template that must contain template markers."""
    tpl = _to_template(value)
    if tpl.is_static:
        raise vol.Invalid("template value does not contain a dynamic template")
    return tpl


def template_complex(value: Any) -> Any:
    """Every string inside a dict/list becomes a Template; other scalars stay."""
    if isinstance(value, list):
        return [_at(index, item) for index, item in enumerate(value)]
    if isinstance(value, dict):
        return {key: _at(key, item) for key, item in value.items()}
    if isinstance(value, str):
        return _to_template(value)
    return value


def _at(key: Any, value: Any) -> Any:
    """template_complex of one item; an error names the item's place (file and line)."""
    try:
        return template_complex(value)
    except vol.Invalid as err:
        raise vol.Invalid(err.msg, path=[key, *err.path]) from None


def result_as_boolean(value: Any) -> bool:
    """How a condition template's result is read: true/on/yes/1 (any case) are true."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in ("true", "on", "yes", "1", "enable")
    return False


def time_value(value: Any) -> dt_time | None:
    """A datetime.time from 'HH:MM[:SS]' or None."""
    if isinstance(value, dt_time):
        return value
    try:
        text = str(value).strip()
        return datetime.strptime(text, "%H:%M:%S" if text.count(":") == 2 else "%H:%M").time()
    except ValueError:
        return None
