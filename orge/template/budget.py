"""The template budget: what one render may build and spend.

A template runs inline on the loop: one that loops or allocates without bound would stall
the whole station (OCPP heartbeats, the ESP32 link) or exhaust its memory, and token holders
can submit any template (POST /api/template, WebSocket render_template). So renders get a
budget far above what any automation needs, and every operation that can build a large
value is checked *before* it allocates: a breach is an OverflowError/TimeoutError, which the
render turns into a TemplateError (orge.template).

The jinja2 sandbox classes that apply it are in orge.template.sandbox (imported when the
first template compiles); what a render read is in orge.template.tracking.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from functools import lru_cache
from itertools import chain
from typing import Any

from orge.template.tracking import RenderInfo, _current

_SENTINEL = object()


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


def _timeout(info: RenderInfo) -> TimeoutError:
    return TimeoutError(f"the template ran longer than {info.seconds} s")


def _check_deadline() -> None:
    info = _current()
    if info is not None and time.monotonic() > info.deadline:
        raise _timeout(info)


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
            raise _timeout(info)


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
                    raise _timeout(info)
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
            raise _timeout(info)
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
