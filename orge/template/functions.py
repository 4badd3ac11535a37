"""Home Assistant's template functions and filters (helpers/template.py, 2024.x), with
its defaults and errors: without a default, a value a function cannot take raises
"<name> got invalid input '<value>' and no default was specified".

Each one keeps to the sandbox's limits (orge.template.budget): regexes are checked for
backtracking and their input is bounded, results that could be large are sized first.
Functions that need the station (states, now) are made per station in orge.template.
"""

from __future__ import annotations

import base64
import json
import math
import re
import statistics
import struct
import unicodedata
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import TYPE_CHECKING, Any

from orge import dt as dt_util
from orge.template.budget import MAX_ITERATIONS, _charge, _checked_regex, _regex_input
from orge.template.tracking import _current, _track_time

if TYPE_CHECKING:
    from orge.core import Orge

_SENTINEL = object()


def time_zone(orge: Orge | None) -> Any:
    """The station's configured time zone (UTC without a hub)."""
    from zoneinfo import ZoneInfo

    name = orge.config.time_zone if orge is not None else "UTC"
    try:
        return ZoneInfo(name)
    except Exception:
        return UTC


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
    delta = (dt_util.utcnow() - value).total_seconds()
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
    today = dt_util.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
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


def time_value(value: Any) -> dt_time | None:
    """A datetime.time from 'HH:MM[:SS]' or None."""
    if isinstance(value, dt_time):
        return value
    try:
        text = str(value).strip()
        return datetime.strptime(text, "%H:%M:%S" if text.count(":") == 2 else "%H:%M").time()
    except ValueError:
        return None


def min_max(env: Any, name: str) -> Any:
    """min()/max() as functions, as Home Assistant makes them from jinja's filters (so
    text compares case-insensitively, and `attribute=` works): one iterable, or several
    values."""

    def apply(*args: Any, **kwargs: Any) -> Any:
        if not args:
            raise TypeError(f"{name} expected at least 1 argument, got 0")
        if len(args) == 1:
            if not isinstance(args[0], Iterable):
                raise TypeError(f"'{type(args[0]).__name__}' object is not iterable")
            return env.filters[name](env, args[0], **kwargs)
        return env.filters[name](env, args, **kwargs)

    return apply


# globals (min and max are added with the environment: see min_max)
FUNCTIONS: dict[str, Any] = {
    "float": forgiving_float,
    "int": forgiving_int,
    "bool": forgiving_bool,
    "round": forgiving_round,
    "iif": iif,
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

# filters (min and max stay jinja's own)
FILTERS: dict[str, Any] = {
    **{name: func for name, func in FUNCTIONS.items() if callable(func)},
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
    "regex_match": _match,
    "regex_search": _search,
    "regex_replace": regex_replace,
    "regex_findall": regex_findall,
    "regex_findall_index": regex_findall_index,
}
FILTERS.pop("timedelta")
FILTERS.pop("strptime")
TESTS: dict[str, Any] = {
    "is_number": _is_number,
    "match": _match,
    "search": _search,
    "contains": _contains,
}
