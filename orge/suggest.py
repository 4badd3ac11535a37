"""Nearest valid names for "did you mean": unknown components, options, services, entity ids.

One place for the cut-off and the wording, so every message reads the same:
`...; did you mean `esp32.authorize`?`
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import voluptuous as vol

# difflib's ratio from which a name counts as "near" (its own default for close matches).
CUTOFF = 0.6


def nearest(name: str, candidates: Iterable[Any]) -> str | None:
    """The candidate closest to `name` (ratio >= CUTOFF), or None."""
    names = [str(candidate) for candidate in candidates]
    import difflib  # only when a name is wrong: ~0.4 MiB a running station never needs

    matches = difflib.get_close_matches(str(name), names, n=1, cutoff=CUTOFF)
    return matches[0] if matches else None


def did_you_mean(name: str, candidates: Iterable[Any]) -> str:
    """`; did you mean `x`?` or an empty string: the tail of a problem line."""
    found = nearest(name, candidates)
    return f"; did you mean `{found}`?" if found else ""


def _mapping_of(schema: Any) -> dict[Any, Any] | None:
    """The dict inside a voluptuous schema (through Schema, All and Any), if one."""
    if isinstance(schema, vol.Schema):
        return _mapping_of(schema.schema)
    if isinstance(schema, dict):
        return schema
    if isinstance(schema, (vol.All, vol.Any)):
        for validator in schema.validators:
            found = _mapping_of(validator)
            if found is not None:
                return found
    return None


def _item_of(schema: Any) -> Any:
    """The item schema of a list schema (`[item]`, possibly wrapped)."""
    if isinstance(schema, vol.Schema):
        return _item_of(schema.schema)
    if isinstance(schema, list) and schema:
        return schema[0]
    if isinstance(schema, (vol.All, vol.Any)):
        for validator in schema.validators:
            found = _item_of(validator)
            if found is not None:
                return found
    return None


def option_names(schema: Any, path: Sequence[Any]) -> list[str]:
    """The option names a schema accepts at `path` (keys of the mapping found there);
    empty when the schema is not plain enough to tell (a function, a custom validator)."""
    for step in path:
        if isinstance(step, int):
            schema = _item_of(schema)
            continue
        mapping = _mapping_of(schema)
        if mapping is None:
            return []
        schema = next(
            (value for key, value in mapping.items() if _key_name(key) == str(step)), None
        )
        if schema is None:
            # `{cv.slug: ITEM}`: keys the operator names (input_number: {limit: ...})
            free = [value for key, value in mapping.items() if _key_name(key) is None]
            schema = free[0] if len(free) == 1 else None
        if schema is None:
            return []
    mapping = _mapping_of(schema)
    if mapping is None:
        return []
    return [name for name in map(_key_name, mapping) if name is not None]


def _key_name(key: Any) -> str | None:
    if isinstance(key, vol.Marker):
        key = key.schema
    return key if isinstance(key, str) else None


def option_hint(schema: Any, path: Sequence[Any], errors: Sequence[vol.Invalid] = ()) -> str:
    """For voluptuous's "extra keys not allowed" at `path`: the nearest valid option, from
    the schema when given, and from the required keys the same validation found missing
    beside it (`trigers:` given, `triggers` missing) when the schema cannot tell."""
    if not path:
        return ""
    bad = path[-1]
    if isinstance(bad, vol.Marker):
        bad = bad.schema
    parent = list(path[:-1])
    candidates = option_names(schema, parent) if schema is not None else []
    for error in errors:
        where = list(error.path)
        if where[:-1] == parent and where and "required key not provided" in str(error.msg):
            candidates.append(str(_key_name(where[-1]) or where[-1]))
    return did_you_mean(str(bad), candidates)
