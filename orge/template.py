"""Templates: a sandboxed jinja2 environment with Home Assistant's helpers.

`Template(text, orge)` compiles lazily and caches compiled code by text, so 200 automations
sharing `{{ trigger.to_state.state }}` compile it once. While rendering, every entity a
template reads is recorded (`Template.entities`, `RenderInfo`), so a template trigger
re-renders only when one of those entities changes. A failure raises `TemplateError` whose
message names the template's file and line; callers log it and carry on.
"""

from __future__ import annotations

import ast
import base64
import json
import logging
import math
import re
import statistics
import struct
import time
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from functools import lru_cache
from itertools import chain
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
    """A template that cannot be compiled or rendered; the message says where.

    `render_info` is what the failed render had read before it failed (None for a syntax
    error): a watcher keeps listening to those entities, as Home Assistant's
    async_track_template_result does, so a template that fails because an entity does not
    exist yet renders again when it appears.
    """

    render_info: RenderInfo | None = None


class RenderInfo:
    """What one render read: entity ids, whole domains, all states, the clock."""

    __slots__ = (
        "all_states",
        "allocated",
        "deadline",
        "domains",
        "entities",
        "has_time",
        "iterations",
        "orge",
        "text",
    )

    def __init__(self, text: str = "") -> None:
        self.text = text  # the template being rendered (named in undefined-variable warnings)
        self.orge: Orge | None = None  # whose time zone the time filters use
        self.entities: set[str] = set()
        self.domains: set[str] = set()
        self.all_states = False
        self.has_time = False
        self.iterations = 0
        self.allocated = 0  # characters/items built so far (see MAX_ALLOCATED)
        self.deadline = math.inf  # time.monotonic() by which the render must end


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

    def __getattr__(self, name: str) -> TemplateState | None:
        if name.startswith("_"):
            raise AttributeError(name)
        entity_id = f"{self._domain}.{name}"
        _track_entity(entity_id)
        state = self._orge.states.get(entity_id)
        return None if state is None else TemplateState(state)

    def __iter__(self) -> Iterator[TemplateState]:
        _track_domain(self._domain)
        states = sorted(self._orge.states.async_all(self._domain), key=lambda s: s.entity_id)
        return map(TemplateState, states)

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
        if state is None:
            return _UNKNOWN
        return _with_unit(state) if with_unit else state.state

    def __len__(self) -> int:
        if _INFO_STACK:
            _INFO_STACK[-1].all_states = True
        return len(self._orge.states.async_entity_ids())

    def __getattr__(self, name: str) -> _DomainStates:
        # jinja2's sandbox probes callables for these two flags; they are not domains.
        if name.startswith("_") or name in ("alters_data", "unsafe_callable"):
            raise AttributeError(name)
        return _DomainStates(self._orge, name)

    def __iter__(self) -> Iterator[TemplateState]:
        if _INFO_STACK:
            _INFO_STACK[-1].all_states = True
        return map(TemplateState, sorted(self._orge.states.async_all(), key=lambda s: s.entity_id))


def _with_unit(state: State) -> str:
    """'7200 W': the state and its unit_of_measurement (HA's state_with_unit)."""
    unit = state.attributes.get("unit_of_measurement")
    return f"{state.state} {unit}" if unit else state.state


class TemplateState:
    """A state as `states.sensor.x` gives it in a template: the State's attributes plus
    `state_with_unit` (Home Assistant's TemplateState). Equal to the State it wraps."""

    __slots__ = ("_state",)

    def __init__(self, state: State) -> None:
        self._state = state

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._state, name)

    @property
    def state_with_unit(self) -> str:
        return _with_unit(self._state)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TemplateState):
            other = other._state
        return self._state == other

    __hash__ = None  # type: ignore[assignment]  # as State: mutable attributes

    def __repr__(self) -> str:
        return repr(self._state)


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
    """Home Assistant's bool (cv.boolean): true/yes/on/enable/1 and false/no/off/disable/0
    in any case, a number is true unless 0; anything else raises or gives the default."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "yes", "on", "enable"):
            return True
        if text in ("0", "false", "no", "off", "disable"):
            return False
    elif isinstance(value, (int, float)):
        return value != 0
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
    if not isinstance(precision, int) or abs(precision) > 400:
        # a float has at most ~310 significant decimal places; 10**huge would stall the loop
        raise ValueError(f"round precision {precision!r} is out of range")
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


def _many(name: str) -> Any:
    """min()/max() as functions, as Home Assistant makes them from jinja's filters (so
    text compares case-insensitively, and `attribute=` works): one iterable, or several
    values."""

    def apply(*args: Any, **kwargs: Any) -> Any:
        env = _environment()
        if not args:
            raise TypeError(f"{name} expected at least 1 argument, got 0")
        if len(args) == 1:
            if not isinstance(args[0], Iterable):
                raise TypeError(f"'{type(args[0]).__name__}' object is not iterable")
            return env.filters[name](env, args[0], **kwargs)
        return env.filters[name](env, args, **kwargs)

    return apply


def as_datetime(value: Any, default: Any = _SENTINEL) -> Any:
    """Home Assistant's as_datetime: a datetime as is; a date at midnight (naive); a UNIX
    timestamp (number or numeric text) in UTC; ISO 8601 text (naive when it names no
    zone). Other text gives None (HA keeps that for pre-2024.2 templates); any other value
    raises unless a default is given."""
    if type(value) is datetime:
        return value
    if type(value) is date:
        return datetime.combine(value, dt_time(0, 0, 0))
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        pass
    try:
        return _parse_datetime(value)
    except (TypeError, ValueError):
        if default is _SENTINEL:
            if isinstance(value, str):
                return None
            _fail("as_datetime", value)
        return default


def _parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"cannot parse {type(value).__name__} as a date and time")
    return datetime.fromisoformat(value.strip())


def as_timestamp(value: Any, default: Any = _SENTINEL) -> Any:
    """Seconds since the epoch of a datetime or ISO 8601 text (naive ones are read in the
    station's time zone); a number passes through."""
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        parsed = _parse_datetime(value) if isinstance(value, str) else value
        if not isinstance(parsed, datetime):
            raise TypeError(f"not a date and time: {value!r}")
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=_local_tz())
        return parsed.timestamp()
    except (TypeError, ValueError, OverflowError):
        if default is _SENTINEL:
            _fail("as_timestamp", value)
        return default


def _local_tz() -> Any:
    """The time zone of the station whose template is rendering (UTC without one)."""
    info = _current()
    return time_zone(info.orge if info is not None else None)


def as_local(value: Any) -> Any:
    """A datetime in the station's time zone; a naive one is taken to be local already
    (dt_util.as_local)."""
    zone = _local_tz()
    if not isinstance(value, datetime):
        raise TypeError(f"as_local needs a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        return value.replace(tzinfo=zone)
    return value.astimezone(zone)


def _from_timestamp(value: Any, local: bool) -> datetime:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"a timestamp must be a number, got {type(value).__name__}")
    moment = datetime.fromtimestamp(value, UTC)
    return moment.astimezone(_local_tz()) if local else moment


def timestamp_custom(
    value: Any, date_format: str = "%Y-%m-%d %H:%M:%S", local: bool = True, default: Any = _SENTINEL
) -> Any:
    """A UNIX timestamp formatted with strftime, in the station's time zone or UTC."""
    try:
        _charge(len(str(date_format)) * 16, "formatted date")  # '%c' (2) gives 24 characters
        return _from_timestamp(value, local).strftime(str(date_format))
    except (TypeError, ValueError, OverflowError, OSError):
        if default is _SENTINEL:
            _fail("timestamp_custom", value)
        return default


def timestamp_local(value: Any, default: Any = _SENTINEL) -> Any:
    """A UNIX timestamp as ISO 8601 text in the station's time zone."""
    try:
        return _from_timestamp(value, True).isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        if default is _SENTINEL:
            _fail("timestamp_local", value)
        return default


def timestamp_utc(value: Any, default: Any = _SENTINEL) -> Any:
    """A UNIX timestamp as ISO 8601 text in UTC."""
    try:
        return _from_timestamp(value, False).isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        if default is _SENTINEL:
            _fail("timestamp_utc", value)
        return default


# '[D day[s], ][[HH:]MM:]SS[.ffffff]' and ISO 8601 'P1DT2H3M4.5S': the forms Home
# Assistant's dt_util.parse_duration reads (after Django's parse_duration)
_DURATION = re.compile(
    r"^(?:(?P<days>-?\d+) (?:days?, )?)?(?P<sign>-?)(?:(?P<hours>\d+):(?=\d+:\d+))?"
    r"(?:(?P<minutes>\d+):)?(?P<seconds>\d+)(?:[.,](?P<micro>\d{1,6})\d{0,6})?$"
)
_ISO_DURATION = re.compile(
    r"^(?P<sign>[-+]?)P(?:(?P<days>\d+(?:[.,]\d+)?)D)?(?:T(?:(?P<hours>\d+(?:[.,]\d+)?)H)?"
    r"(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$"
)


def as_timedelta(value: Any) -> timedelta | None:
    """A duration from text ('01:30:00', '2 days, 0:10:00', 'PT15M'); None if it is not one."""
    text = str(value).strip()
    if len(text) > 64:
        return None
    match = _DURATION.match(text)
    if match:
        parts = match.groupdict()
        sign = -1 if parts.pop("sign") == "-" else 1
        days = timedelta(days=float(parts.pop("days") or 0))
        micro = (parts.pop("micro") or "").ljust(6, "0")
        rest = timedelta(
            hours=float(parts["hours"] or 0),
            minutes=float(parts["minutes"] or 0),
            seconds=float(parts["seconds"]),
            microseconds=int(micro),
        )
        return days + sign * rest
    match = _ISO_DURATION.match(text)
    if match and text not in ("P", "-P", "+P") and not text.endswith("T"):
        parts = match.groupdict()
        sign = -1 if parts.pop("sign") == "-" else 1
        amounts = {k: float(v.replace(",", ".")) for k, v in parts.items() if v}
        return sign * timedelta(**amounts)
    return None


def strptime(string: Any, fmt: Any, default: Any = _SENTINEL) -> Any:
    """datetime.strptime, with an optional default instead of the error."""
    try:
        return datetime.strptime(string, fmt)
    except (ValueError, AttributeError, TypeError):
        if default is _SENTINEL:
            _fail("strptime", string)
        return default


def _relative_time(value: Any) -> Any:
    """How long ago a datetime was, as Home Assistant words it (dt_util.get_age): the
    largest unit, rounded ('1 hour', '2 minutes'); a naive datetime is local time; a
    future datetime or anything else is returned unchanged."""
    if not isinstance(value, datetime):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=_local_tz())
    delta = (datetime.now(UTC) - value).total_seconds()
    if delta < 0:
        return value
    rounded = round(delta)
    unit = "year"
    for name, factor in (("second", 60), ("minute", 60), ("hour", 24), ("day", 30), ("month", 12)):
        if rounded < factor:
            unit = name
            break
        delta /= factor
        rounded = round(delta)
    return f"1 {unit}" if rounded == 1 else f"{rounded:d} {unit}s"


def _today_at(orge: Orge, value: str = "") -> datetime:
    """Today (in the station's time zone) at 'HH:MM[:SS]'; midnight without one."""
    _track_time()
    zone = time_zone(orge)
    today = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    if not value:
        return today
    moment = time_value(value)
    if moment is None:
        raise ValueError(f"could not convert {type(value).__name__} to datetime: '{value}'")
    return datetime.combine(today.date(), moment, zone)


def _is_number(value: Any) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return not (math.isnan(number) or math.isinf(number)) and not isinstance(value, bool)


def _statistic(name: str, func: Any) -> Any:
    """average/median/statistical_mode as Home Assistant takes them: a list (a second
    argument is then the default) or several values; `default=` instead of the error."""

    def apply(*args: Any, default: Any = _SENTINEL) -> Any:
        if not args:
            raise TypeError(f"{name} expected at least 1 argument, got 0")
        if isinstance(args[0], Iterable):
            values = args[0]
            if len(args) > 1 and default is _SENTINEL:
                default = args[1]
        elif len(args) == 1:
            raise TypeError(f"'{type(args[0]).__name__}' object is not iterable")
        else:
            values = args
        values = list(values)
        if len(values) > MAX_ITERATIONS:  # median sorts: bounded like the sort filter
            raise OverflowError(f"{name} of more than {MAX_ITERATIONS} items")
        try:
            return func(values)
        except (TypeError, statistics.StatisticsError):
            if default is _SENTINEL:
                _fail(name, args)
            return default

    return apply


def _math(name: str, func: Any) -> Any:
    """A one-argument math function taking anything float() takes, with a default."""

    def apply(value: Any, default: Any = _SENTINEL) -> Any:
        try:
            return func(float(value))
        except (ValueError, TypeError):
            if default is _SENTINEL:
                _fail(name, value)
            return default

    return apply


def logarithm(value: Any, base: Any = math.e, default: Any = _SENTINEL) -> Any:
    """log(value, base=e); a bad base or value gives the default or an error."""
    try:
        base_float = float(base)
    except (ValueError, TypeError):
        if default is _SENTINEL:
            _fail("log", base)
        return default
    try:
        return math.log(float(value), base_float)
    except (ValueError, TypeError, ZeroDivisionError):
        if default is _SENTINEL:
            _fail("log", value)
        return default


def arc_tangent2(*args: Any, default: Any = _SENTINEL) -> Any:
    """atan2(y, x), or `(y, x) | atan2`."""
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = tuple(args[0])
    elif len(args) == 3 and default is _SENTINEL:
        default = args[2]
    try:
        return math.atan2(float(args[0]), float(args[1]))
    except (ValueError, TypeError, IndexError):
        if default is _SENTINEL:
            _fail("atan2", args)
        return default


def _arith(name: str, func: Any) -> Any:
    """multiply/add: float(value) op amount, with a default."""

    def apply(value: Any, amount: Any, default: Any = _SENTINEL) -> Any:
        try:
            return func(float(value), amount)
        except (ValueError, TypeError):
            if default is _SENTINEL:
                _fail(name, value)
            return default

    return apply


# Letters that do not decompose into an ASCII letter and an accent
_TRANSLITERATE = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "Æ": "AE",
        "ø": "o",
        "Ø": "O",
        "œ": "oe",
        "Œ": "OE",
        "đ": "d",
        "Đ": "D",
        "ł": "l",
        "Ł": "L",
        "þ": "th",
        "Þ": "TH",
        "ı": "i",
    }
)


def slugify(value: Any, separator: str = "_") -> str:
    """Home Assistant's slugify: accents dropped, lower case, runs of anything but letters
    and digits become one separator; text with nothing left is 'unknown'."""
    if value is None or value == "":
        return ""
    text = str(value).translate(_TRANSLITERATE)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"['\u2019]", "", text.lower())  # "it's" -> "its", as python-slugify does
    slug = re.sub(r"[^a-z0-9]+", separator, text).strip(separator)
    return slug or "unknown"


def base64_encode(value: Any) -> str:
    return base64.b64encode(str(value).encode("utf-8")).decode("utf-8")


def base64_decode(value: Any, encoding: str | None = "utf-8") -> Any:
    """Text from base64 (`encoding=None` gives the bytes)."""
    decoded = base64.b64decode(value)
    return decoded if encoding is None else decoded.decode(encoding)


def from_json(value: Any, default: Any = _SENTINEL) -> Any:
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        if default is _SENTINEL:
            _fail("from_json", value)
        return default


def to_json(
    value: Any, ensure_ascii: bool = False, pretty_print: bool = False, sort_keys: bool = False
) -> str:
    """JSON text as Home Assistant writes it: compact ('{"a":1}', orjson's form) unless
    pretty_print (indented by 2) or ensure_ascii (then json.dumps' ', ' and ': ')."""
    compact = not ensure_ascii and not pretty_print
    return json.dumps(
        value,
        ensure_ascii=ensure_ascii,
        indent=2 if pretty_print else None,
        separators=(",", ":") if compact else None,
        sort_keys=sort_keys,
        default=str,
    )


def _pack(value: Any, format_string: str) -> bytes | None:
    """struct.pack of one value; None when it cannot be packed."""
    try:
        _charge(struct.calcsize(format_string), "pack() result")
        return struct.pack(format_string, value)
    except struct.error:
        return None


def _unpack(value: Any, format_string: str, offset: int = 0) -> Any:
    """The first value struct.unpack_from finds; None when it cannot."""
    try:
        _charge(struct.calcsize(format_string), "unpack() result")
        return struct.unpack_from(format_string, value, offset)[0]
    except struct.error:
        return None


def _contains(seq: Any, value: Any) -> bool:
    return value in seq


_FUNCTIONS: dict[str, Any] = {
    "float": forgiving_float,
    "int": forgiving_int,
    "bool": forgiving_bool,
    "round": forgiving_round,
    "iif": iif,
    "min": _many("min"),
    "max": _many("max"),
    "as_datetime": as_datetime,
    "as_timestamp": as_timestamp,
    "as_local": as_local,
    "strptime": strptime,
    "timedelta": timedelta,
    "as_timedelta": as_timedelta,
    "is_number": _is_number,
    "average": _statistic("average", statistics.fmean),
    "median": _statistic("median", statistics.median),
    "statistical_mode": _statistic("statistical_mode", statistics.mode),
    "log": logarithm,
    "sin": _math("sin", math.sin),
    "cos": _math("cos", math.cos),
    "tan": _math("tan", math.tan),
    "asin": _math("asin", math.asin),
    "acos": _math("acos", math.acos),
    "atan": _math("atan", math.atan),
    "atan2": arc_tangent2,
    "sqrt": _math("sqrt", math.sqrt),
    "pack": _pack,
    "unpack": _unpack,
    "e": math.e,
    "pi": math.pi,
    "tau": math.tau,
    "inf": math.inf,
}

_FILTERS: dict[str, Any] = {
    # min and max stay jinja's own filters (Home Assistant's globals wrap them)
    **{k: f for k, f in _FUNCTIONS.items() if callable(f) and k not in ("min", "max")},
    "relative_time": _relative_time,
    "timestamp_custom": timestamp_custom,
    "timestamp_local": timestamp_local,
    "timestamp_utc": timestamp_utc,
    "slugify": slugify,
    "base64_encode": base64_encode,
    "base64_decode": base64_decode,
    "ord": ord,
    "from_json": from_json,
    "to_json": to_json,
    "bitwise_and": lambda first, second: first & second,
    "bitwise_or": lambda first, second: first | second,
    "bitwise_xor": lambda first, second: first ^ second,
    "multiply": _arith("multiply", lambda value, amount: value * amount),
    "add": _arith("add", lambda value, amount: value + amount),
    "contains": _contains,
}
_FILTERS.pop("timedelta")
_FILTERS.pop("strptime")


# A template runs inline on the loop: one that loops or allocates without bound would stall
# the whole station (OCPP heartbeats, the ESP32 link) or exhaust its memory, and token holders
# can submit any template (POST /api/template, WebSocket render_template). So renders get a
# budget far above what any automation needs, and every operation that can build a large
# value is checked *before* it allocates: a breach is an OverflowError/TimeoutError, which the
# render turns into a TemplateError.
MAX_TEMPLATE_LENGTH = 50_000  # characters: compiling costs ~7 µs a character, on the loop
MAX_ITERATIONS = 100_000  # range() items per render, nested loops included
MAX_SEQUENCE = 1_000_000  # characters/items of any one string, list or output built in a template
MAX_ALLOCATED = 10_000_000  # characters/items built in total by one render (freed ones included)
MAX_INT_BITS = 10_000  # size of an integer computed with *, **, /, //, %
MAX_EXPONENT = 1_000  # kept for callers; powers are now bounded by their result size
MAX_RENDER_SECONDS = 1.0  # wall clock per render: the backstop for whatever slips through
MAX_WORDWRAP_INPUT = 20_000  # textwrap is slow per chunk (wordwrap(1) on 300,000 chars: 2.3 s)
MAX_REGEX_INPUT = 255  # characters a regex test looks at (a state is at most 255)
MAX_REGEX_PATTERN = 200  # characters of a regex pattern
MAX_REGEX_REPEATS = 3  # quantifiers in one pattern (each multiplies the backtracking)


def _current() -> RenderInfo | None:
    return _INFO_STACK[-1] if _INFO_STACK else None


def _check_deadline() -> None:
    info = _current()
    if info is not None and time.monotonic() > info.deadline:
        raise TimeoutError(f"the template ran longer than {MAX_RENDER_SECONDS} s")


def _charge(size: int, what: str = "result") -> None:
    """Account for a value of `size` characters/items about to be (or just) built."""
    if size > MAX_SEQUENCE:
        raise OverflowError(
            f"a {what} of {size} characters/items is too large for a template "
            f"(limit {MAX_SEQUENCE})"
        )
    info = _current()
    if info is not None:
        info.allocated += size
        if info.allocated > MAX_ALLOCATED:
            raise OverflowError(
                f"the template builds more than {MAX_ALLOCATED} characters/items in all"
            )
        if time.monotonic() > info.deadline:
            raise TimeoutError(f"the template ran longer than {MAX_RENDER_SECONDS} s")


def _charge_result(value: Any) -> None:
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)):
        _charge(len(value))


def _estimate(value: Any, limit: int = MAX_SEQUENCE) -> int:
    """Roughly len(str(value)), without building it; stops counting past `limit`.

    `[big] * 1000` is a small list of references whose text is huge: anything turned into
    text (output, `~`, join, string, to_json) is estimated first.
    """
    total = 0
    seen: set[int] = set()
    stack: list[Iterator[Any]] = [iter((value,))]
    while stack:
        item = next(stack[-1], _SENTINEL)
        if item is _SENTINEL:
            stack.pop()
            continue
        if isinstance(item, (str, bytes)):
            total += len(item) + 2
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() * 3 // 10 + 1
        elif isinstance(item, dict):
            total += 2
            stack.append(chain.from_iterable(item.items()))
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + len(item)
            stack.append(iter(item))
        else:
            # jinja's namespace(); read through __dict__, since an Undefined raises on any
            # other attribute
            attrs = (getattr(item, "__dict__", None) or {}).get("_Namespace__attrs")
            if isinstance(attrs, dict) and id(item) not in seen:
                seen.add(id(item))
                stack.append(iter([attrs]))
            total += 16
        if total > limit:
            break
    return total


def _check_text(value: Any, what: str = "text") -> None:
    if not isinstance(value, str):
        _charge(_estimate(value), what)


def _check_bits(left: Any, right: Any, operator: str) -> None:
    for number in (left, right):
        if isinstance(number, int) and number.bit_length() > MAX_INT_BITS:
            raise OverflowError(
                f"a number of {number.bit_length()} bits is too large for {operator}"
            )


def _check_power(base: Any, exponent: Any) -> None:
    if not (isinstance(base, int) and isinstance(exponent, int)) or exponent <= 0:
        return  # float powers overflow quickly by themselves; negative ones give floats
    _check_bits(base, exponent, "**")
    if abs(base) > 1 and math.log2(abs(base)) * exponent > MAX_INT_BITS:
        raise OverflowError(
            f"{base if base.bit_length() < 64 else 'a number'} ** {exponent} is too large "
            f"for a template (more than {MAX_INT_BITS} bits)"
        )


_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.S)


def _check_printf(fmt: str | bytes, values: Any) -> None:
    """`'%500000000s' % x` and the `format` filter: widths and arguments add up first."""
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    size = len(text) + _estimate(values)
    for width, precision, _kind in _PRINTF_SPEC.findall(text):
        if "*" in (width, precision):
            raise OverflowError("'*' widths are not allowed in template formats")
        size += int(width or 0) + int(precision or 0)
    _charge(size, "formatted text")


_SPEC_NUMBER = re.compile(r"\d+")


def _check_str_method(owner: str | bytes, name: str, args: tuple, kwargs: dict) -> None:
    """Refuse str/bytes methods whose result would be too large, before they run."""
    if name in ("center", "ljust", "rjust", "zfill"):
        width = args[0] if args else kwargs.get("width", 0)
        if isinstance(width, int):
            _charge(max(width, len(owner)), f"{name}() result")
    elif name == "expandtabs":
        tabsize = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(tabsize, int):
            _charge(len(owner) + owner.count("\t" if isinstance(owner, str) else b"\t") * tabsize)
    elif name == "replace" and len(args) >= 2:
        _check_replace(owner, args[0], args[1], args[2] if len(args) > 2 else -1)
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        _charge(len(owner) * max(longest, 1), "translate() result")


def _check_replace(text: Any, old: Any, new: Any, count: Any = -1) -> None:
    if not (isinstance(text, (str, bytes)) and isinstance(old, type(text))):
        return
    if not isinstance(new, type(text)):
        return
    hits = len(text) + 1 if not old else text.count(old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    _charge(len(text) + hits * max(len(new) - len(old), 0), "replace() result")


@lru_cache(maxsize=256)
def _checked_regex(pattern: str, flags: int = 0) -> Any:
    return _regex_pattern(pattern, flags)


def _regex_pattern(pattern: Any, flags: int = 0) -> Any:
    """A compiled pattern, refusing what can backtrack for ages (ReDoS)."""
    import re._constants as sre_c
    import re._parser as sre_p

    pattern = str(pattern)
    if len(pattern) > MAX_REGEX_PATTERN:
        raise OverflowError(f"a regex pattern longer than {MAX_REGEX_PATTERN} characters")
    repeats = 0
    kinds = (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT)

    def walk(items: Any, inside_repeat: bool) -> None:
        nonlocal repeats
        for op, av in items:
            if op in kinds:
                repeats += 1
                if inside_repeat:  # (a+)+, (a*)*, (a+b?)*: exponential backtracking
                    raise OverflowError(f"nested quantifiers in regex {pattern!r}")
                walk(av[2], av[1] > 1)  # (\.\d+)? is fine: it matches at most once
            elif op is sre_c.BRANCH:
                if inside_repeat:  # (a|aa)+
                    raise OverflowError(f"alternation inside a quantifier in regex {pattern!r}")
                for branch in av[1]:
                    walk(branch, inside_repeat)
            elif op is sre_c.SUBPATTERN:
                walk(av[3], inside_repeat)
            elif op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
                walk(av[1], inside_repeat)
            elif op is sre_c.GROUPREF_EXISTS:
                walk(av[1], inside_repeat)
                if av[2] is not None:
                    walk(av[2], inside_repeat)

    walk(sre_p.parse(pattern), False)
    if repeats > MAX_REGEX_REPEATS:
        raise OverflowError(f"more than {MAX_REGEX_REPEATS} quantifiers in regex {pattern!r}")
    return re.compile(pattern, flags)


def _regex_input(value: Any) -> str:
    text = str(value)
    if len(text) > MAX_REGEX_INPUT:
        raise OverflowError(f"a regex test on more than {MAX_REGEX_INPUT} characters")
    return text


def _match(value: Any, pattern: Any, ignorecase: bool = False) -> bool:
    """The `match` test and `regex_match` filter: re.match, bounded (see _regex_pattern)."""
    regex = _checked_regex(str(pattern), re.IGNORECASE if ignorecase else 0)
    return regex.match(_regex_input(value)) is not None


def _search(value: Any, pattern: Any = "", ignorecase: bool = False) -> bool:
    """The `search` test and `regex_search` filter: re.search, bounded."""
    regex = _checked_regex(str(pattern), re.IGNORECASE if ignorecase else 0)
    return regex.search(_regex_input(value)) is not None


def regex_replace(
    value: Any = "", find: Any = "", replace: Any = "", ignorecase: bool = False
) -> str:
    """re.sub of `find` by `replace` in str(value); the result is sized before it is built."""
    text = _regex_input(value)
    regex = _checked_regex(str(find), re.IGNORECASE if ignorecase else 0)
    _charge(len(text) + (len(text) + 1) * len(str(replace)), "regex_replace() result")
    return str(regex.sub(str(replace), text))


def regex_findall(value: Any, find: Any = "", ignorecase: bool = False) -> list[Any]:
    """Every match of `find` in str(value) (groups as re.findall gives them)."""
    regex = _checked_regex(str(find), re.IGNORECASE if ignorecase else 0)
    return list(regex.findall(_regex_input(value)))


def regex_findall_index(
    value: Any, find: Any = "", index: int = 0, ignorecase: bool = False
) -> Any:
    """The `index`-th match of regex_findall (IndexError when there is none, as in HA)."""
    return regex_findall(value, find, ignorecase)[index]


_REGEX_FILTERS: dict[str, Any] = {
    "regex_match": _match,
    "regex_search": _search,
    "regex_replace": regex_replace,
    "regex_findall": regex_findall,
    "regex_findall_index": regex_findall_index,
}


class _BudgetRange:
    """`range()` in templates: a real range whose iteration counts against the budget."""

    __slots__ = ("_range",)

    def __init__(self, *args: int) -> None:
        from jinja2.sandbox import safe_range

        self._range = safe_range(*args)  # refuses more than 100,000 items at once

    def __iter__(self) -> Iterator[int]:
        info = _current()
        for item in self._range:
            if info is not None:
                info.iterations += 1
                if info.iterations > MAX_ITERATIONS:
                    raise OverflowError(
                        f"the template loops more than {MAX_ITERATIONS} times (a runaway loop?)"
                    )
                if time.monotonic() > info.deadline:
                    raise TimeoutError(f"the template ran longer than {MAX_RENDER_SECONDS} s")
            yield item

    def __len__(self) -> int:
        return len(self._range)

    def __getitem__(self, index: Any) -> Any:
        return self._range[index]

    def __contains__(self, value: object) -> bool:
        return value in self._range

    def __repr__(self) -> str:
        return repr(self._range)


def _loop_iter(iterable: Any) -> Any:
    """What every `{% for %}` iterates: the items, with the render's clock checked."""
    info = _current()
    if info is None:
        return iterable
    return _timed(iterable, info)


def _timed(iterable: Any, info: RenderInfo) -> Iterator[Any]:
    for item in iterable:
        if time.monotonic() > info.deadline:
            raise TimeoutError(f"the template ran longer than {MAX_RENDER_SECONDS} s")
        yield item


class _Sliceable:
    """`value[i:j]` in a template: the copy is sized (and budgeted) before it is made."""

    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        self._value = value

    def __getitem__(self, key: slice) -> Any:
        value = self._value
        if isinstance(value, (str, bytes, list, tuple)):
            _charge(len(range(*key.indices(len(value)))), "slice")
        return value[key]


def _bounded_filters(filters: dict[str, Any]) -> dict[str, Any]:
    """Jinja's built-in filters that can build large values, with a size check first."""
    from functools import update_wrapper

    from jinja2 import pass_environment, pass_eval_context

    original = dict(filters)

    def center(value: Any, width: int = 80) -> str:
        _check_text(value)
        if isinstance(width, int):
            _charge(width, "center() result")
        return original["center"](value, width)

    def indent(value: Any, width: Any = 4, first: bool = False, blank: bool = False) -> str:
        _check_text(value)
        text = str(value)
        step = width if isinstance(width, int) else len(str(width))
        _charge(len(text) + (text.count("\n") + 1) * max(step, 0), "indent() result")
        return original["indent"](value, width, first, blank)

    @pass_environment
    def wordwrap(env: Any, value: Any, width: int = 79, *args: Any, **kwargs: Any) -> str:
        text = str(value)
        if len(text) > MAX_WORDWRAP_INPUT:
            raise OverflowError(f"wordwrap of more than {MAX_WORDWRAP_INPUT} characters")
        wrap = kwargs.get("wrapstring") or (args[1] if len(args) > 1 else None) or "\n"
        lines = len(text) // max(int(width), 1) + text.count("\n") + 1
        _charge(len(text) + lines * len(str(wrap)), "wordwrap() result")
        return original["wordwrap"](env, value, width, *args, **kwargs)

    @pass_eval_context
    def replace(ctx: Any, value: Any, old: Any, new: Any, count: Any = None) -> str:
        _check_text(value)
        _check_replace(str(value), str(old), str(new), -1 if count is None else count)
        return original["replace"](ctx, value, old, new, count)

    def format_(value: Any, *args: Any, **kwargs: Any) -> str:
        _check_printf(str(value), kwargs or args)
        return original["format"](value, *args, **kwargs)

    @pass_eval_context
    def join(ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
        items = list(value)
        _charge(_estimate(items) + len(str(d)) * len(items), "join() result")
        return original["join"](ctx, items, d, attribute)

    def batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
        _charge(int(linecount), "batch")
        return original["batch"](value, linecount, fill_with)

    @pass_eval_context
    def slice_(ctx: Any, value: Any, slices: int, fill_with: Any = None) -> Any:
        _charge(int(slices), "slice")
        return original["slice"](ctx, value, slices, fill_with)

    @pass_eval_context
    def tojson(ctx: Any, value: Any, indent: Any = None) -> str:
        if indent is not None and (not isinstance(indent, int) or indent > 16):
            raise OverflowError("tojson indent must be a number up to 16")
        _charge(_estimate(value) * (1 + (indent or 0)), "tojson() result")
        return original["tojson"](ctx, value, indent)

    @pass_environment
    def sum_(env: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
        items = list(iterable)
        if not isinstance(start, (int, float)):  # sum(start=[]) concatenates: size it
            _charge(_estimate([start, *items]), "sum() result")
        return original["sum"](env, items, attribute, start)

    def text_of(name: str) -> Any:
        def check(value: Any, *args: Any, **kwargs: Any) -> Any:
            _check_text(value)
            return original[name](value, *args, **kwargs)

        return update_wrapper(check, original[name])

    bounded = {
        "center": center,
        "indent": indent,
        "wordwrap": wordwrap,
        "replace": replace,
        "format": format_,
        "join": join,
        "batch": batch,
        "slice": slice_,
        "tojson": tojson,
        "sum": sum_,
        "string": text_of("string"),
        "pprint": text_of("pprint"),
        "to_json": text_of("to_json"),
    }
    # Filters that run Python code per item (a key, a test, a filter): at most MAX_ITERATIONS
    # items, like loops (sorting 1,000,000 characters took 1.8 s).
    for name in (
        "sort",
        "unique",
        "groupby",
        "map",
        "select",
        "reject",
        "selectattr",
        "rejectattr",
        "dictsort",
    ):
        if name in original:
            bounded[name] = _items_capped(name, original[name])
    result = {**original, **bounded}
    # Every filter's result also counts towards the render's allocation budget.
    return {name: _charged(func) for name, func in result.items()}


def _items_capped(name: str, func: Any) -> Any:
    from functools import update_wrapper

    from jinja2.utils import _PassArg

    position = 0 if _PassArg.from_obj(func) is None else 1  # after context/environment

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if len(args) > position:
            value = args[position]
            items = list(value.items() if isinstance(value, dict) and name == "dictsort" else value)
            if len(items) > MAX_ITERATIONS:
                raise OverflowError(f"{name} of more than {MAX_ITERATIONS} items")
            if name != "dictsort":
                args = (*args[:position], items, *args[position + 1 :])
        return func(*args, **kwargs)

    return update_wrapper(wrapper, func)


def _charged(func: Any) -> Any:
    from functools import update_wrapper

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _check_deadline()
        result = func(*args, **kwargs)
        _charge_result(result)
        return result

    return update_wrapper(wrapper, func)  # keeps jinja's pass_* marker


def _sandbox_class() -> Any:
    from jinja2.compiler import CodeGenerator
    from jinja2.nodes import Call, EnvironmentAttribute, Slice
    from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
    from markupsafe import EscapeFormatter, Markup

    class BoundedFormatter(SandboxedFormatter):  # type: ignore[misc]
        """str.format / format_map: a field's width or precision is sized before use."""

        def format_field(self, value: Any, format_spec: str) -> Any:
            wanted = sum(int(n) for n in _SPEC_NUMBER.findall(format_spec))
            _charge(_estimate(value) + wanted, "formatted field")
            result = super().format_field(value, format_spec)
            _charge_result(result)
            return result

    class BoundedEscapeFormatter(BoundedFormatter, EscapeFormatter):  # type: ignore[misc]
        pass

    class BoundedCodeGenerator(CodeGenerator):  # type: ignore[misc]
        def visit_Concat(self, node: Any, frame: Any) -> None:
            # `a ~ b` joins through a size check instead of jinja's bare str_join
            self.write("environment.orge_concat((")
            for arg in node.nodes:
                self.visit(arg, frame)
                self.write(", ")
            self.write("))")

        def visit_Getitem(self, node: Any, frame: Any) -> None:
            # jinja compiles a[i:j] as a bare Python slice; each one copies (4,000 slices of
            # a 1 MB string are 4 GB), so it is sized through _Sliceable first
            if not isinstance(node.arg, Slice):
                super().visit_Getitem(node, frame)
                return
            self.write("environment.orge_sliceable(")
            self.visit(node.node, frame)
            self.write(")[")
            self.visit(node.arg, frame)
            self.write("]")

        def visit_For(self, node: Any, frame: Any) -> None:
            # every loop runs on the render's clock (loops over strings/lists are not range)
            if not isinstance(node.iter, Call) or not isinstance(
                node.iter.node, EnvironmentAttribute
            ):
                node.iter = Call(
                    EnvironmentAttribute("orge_loop", lineno=node.lineno),
                    [node.iter],
                    [],
                    None,
                    None,
                    lineno=node.lineno,
                )
            super().visit_For(node, frame)

    class OrgeSandbox(ImmutableSandboxedEnvironment):  # type: ignore[misc]
        code_generator_class = BoundedCodeGenerator
        intercepted_binops = frozenset(["*", "**", "+", "%", "/", "//"])

        orge_loop = staticmethod(_loop_iter)
        orge_sliceable = _Sliceable

        @staticmethod
        def orge_concat(values: tuple) -> str:
            size = 0
            for value in values:
                size += len(value) if isinstance(value, str) else _estimate(value)
                if size > MAX_SEQUENCE:
                    break
            _charge(size, "joined text (~)")
            return "".join(map(str, values))

        def concat(self, chunks: Any) -> str:
            """Joins a render's output (and macro/block bodies): bounded like the rest."""
            parts: list[str] = []
            size = 0
            for chunk in chunks:
                size += len(chunk)
                if size > MAX_SEQUENCE:
                    raise OverflowError(f"the template's output exceeds {MAX_SEQUENCE} characters")
                parts.append(chunk)
            _charge(size, "output")
            return "".join(parts)

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "**":
                _check_power(left, right)
                return left**right
            if operator == "*":
                for seq, count in ((left, right), (right, left)):
                    if isinstance(seq, (str, bytes, list, tuple)) and isinstance(count, int):
                        _charge(len(seq) * count)
                if isinstance(left, int) and isinstance(right, int):
                    if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                        raise OverflowError(f"a product over {MAX_INT_BITS} bits is too large")
                return left * right
            if operator == "+":
                if isinstance(left, (str, bytes, list, tuple)) and isinstance(
                    right, (str, bytes, list, tuple)
                ):
                    _charge(len(left) + len(right))
                return left + right
            if operator == "%":
                if isinstance(left, (str, bytes)):
                    _check_printf(left, right)
                    return left % right
                _check_bits(left, right, "%")
                return left % right
            _check_bits(left, right, operator)
            return left / right if operator == "/" else left // right

        def wrap_str_format(self, value: Any) -> Any:
            if super().wrap_str_format(value) is None:  # not a str's format/format_map
                return None
            owner, is_map = value.__self__, value.__name__ == "format_map"
            formatter: Any
            if isinstance(owner, Markup):  # `|safe` makes a Markup, which escapes fields
                formatter = BoundedEscapeFormatter(self, escape=owner.escape)
            else:
                formatter = BoundedFormatter(self)

            def bounded(*args: Any, **kwargs: Any) -> str:
                if is_map:
                    return type(owner)(formatter.vformat(owner, (), args[0] if args else {}))
                return type(owner)(formatter.vformat(owner, args, kwargs))

            return bounded

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            _check_deadline()  # macros, recursion, method calls all pass here
            owner = getattr(__obj, "__self__", None)
            name = getattr(__obj, "__name__", "")
            if isinstance(owner, (str, bytes)):
                if name == "join" and args and not kwargs:
                    items = list(args[0])
                    _charge(_estimate(items) + len(owner) * len(items), "join() result")
                    args = (items,)
                else:
                    _check_str_method(owner, name, args, kwargs)
            result = super().call(__context, __obj, *args, **kwargs)
            _charge_result(result)
            return result

    return OrgeSandbox


def _environment() -> Any:
    """The shared sandbox; built on first use so importing this module stays cheap."""
    global _ENV
    if _ENV is None:
        env = _sandbox_class()(
            autoescape=False, keep_trailing_newline=False, undefined=_logging_undefined()
        )
        env.globals.update(_FUNCTIONS)
        env.globals["range"] = _BudgetRange
        env.globals.pop("lipsum", None)  # lipsum(100000000) would build gigabytes of text
        env.filters.update(_FILTERS)
        env.filters.update(_REGEX_FILTERS)
        for name in _CLOCK_FILTERS:
            env.filters[name] = _not_constant(env.filters[name])
        env.filters = _bounded_filters(env.filters)
        env.tests["is_number"] = _is_number
        env.tests["match"] = _match
        env.tests["search"] = _search
        env.tests["contains"] = _contains
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
        info.deadline = time.monotonic() + MAX_RENDER_SECONDS
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
