"""Voluptuous schemas as JSON Schema (draft-07) fragments: the converter and the shapes
of ORGE's validators (`orge.validation`), for `orge schema export` (schema_export.py).

The rule: a fragment never rejects what the schema accepts (the exceptions are listed in
orge/schema_export.py). What cannot be expressed (a custom validator with no
`cv.json_schema` hint, a check across two options) becomes `{}`, "anything". Typed values
also take the text an editor sees for `!env_var NAME default` with a default of the type
(see `env_var_text`), lists, mappings, URLs and secret-holding options the one word of
`!secret name` (`tag_word_too`, `or_tag_word`), and every value `!include file.yaml`
(`include_anywhere`). Each option carries
"description" (with its unit in brackets), "default" (durations in seconds) and
"examples" when its marker has them (`orge.validation.describe`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.redact import is_secret_name

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
Fragment = dict[str, Any]

# What an editor sees of a tag is the text after it (the YAML language server gives a custom
# tag's scalar as is), so `!env_var PORT` and a plain `PORT` look the same to it. A pattern
# therefore takes the tag text only in a shape a plain value of the slot never has:
# `!env_var NAME default` (orge/yaml.py:_env_var) with a default the slot accepts, which is
# the value the station runs with when NAME is unset. A bare `!env_var NAME` where a number,
# boolean, duration, URL or time zone goes is refused: it cannot be told from a mistyped word.
# NAME: a name a shell can export (POSIX: letters, digits, `_`, no digit first).
_ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_NUMBER_TEXT = r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*"


def env_var_text(default: str) -> str:
    """The text an editor sees of `!env_var NAME default`, `default` matching the regex
    `default` (the loader joins the words after NAME with one space)."""
    return rf"\s*{_ENV_NAME}\s+(?:{default})\s*"


# What an editor sees of `!include file.yaml` or `!include_dir_named folder/`.
INCLUDE_TEXT = r"^[^\s:]+(?:\.ya?ml|/)$"
# What an editor sees of `!secret name` or `!include file.yaml` where a list or a mapping
# goes: one word (a secret keeps its own YAML type: orge/yaml.py:_secret).
TAG_WORD_TEXT = r"^\S+$"
TAG_WORD: Fragment = {"type": "string", "pattern": TAG_WORD_TEXT}
_BOOLEAN_WORDS = ("1", "true", "yes", "on", "enable", "0", "false", "no", "off", "disable")


def any_case(word: str) -> str:
    """`on` -> `[oO][nN]` (the word's own case first, for `words_of`): JSON Schema patterns (ECMA 262) have no case-insensitive flag."""
    return "".join(f"[{c}{c.swapcase()}]" if c.isalpha() else re.escape(c) for c in word)


def _words(words: Iterable[str]) -> str:
    return r"^\s*(?:" + _alternatives(words) + r")\s*$"


def _alternatives(words: Iterable[str]) -> str:
    return "|".join(any_case(w) for w in words)


_WORDS = re.compile(r"^\^\\s\*(?:\(\?:(.*)\)|(.*))\\s\*\$$")
_WORD = re.compile(r"(?:\[([a-zA-Z])[a-zA-Z]\]|\\(\W)|([\w /.,=-]))+")


def words_of(pattern: str) -> list[str] | None:
    """The words of a pattern `^\\s*(?:[oO][nN]|...)\\s*$` (as `choices(..., fold_case=True)`
    makes it, or a hand-written hint of that shape), or None: what the docs list as the
    option's choices."""
    found = _WORDS.match(pattern)
    if found is None:
        return None
    words = []
    for alternative in (found.group(1) or found.group(2)).split("|"):
        if not _WORD.fullmatch(alternative):
            return None
        parts = re.findall(r"\[([a-zA-Z])[a-zA-Z]\]|\\(\W)|([\w /.,=-])", alternative)
        words.append("".join("".join(groups) for groups in parts))
    return words


# A number, or text voluptuous's Coerce reads as one (or an `!env_var` text).
NUMBER: Fragment = {
    "type": ["number", "string"],
    "pattern": f"^(?:{_NUMBER_TEXT}|{env_var_text(_NUMBER_TEXT)})$",
}


BOOLEAN: Fragment = {
    "anyOf": [
        {"type": "boolean"},
        {"enum": [0, 1]},
        {
            "type": "string",
            "pattern": f"(?:{_words(_BOOLEAN_WORDS)})"
            f"|^{env_var_text(_alternatives(_BOOLEAN_WORDS))}$",
        },
    ]
}
STRING: Fragment = {"type": ["string", "number", "boolean"]}  # cv.string: any scalar
STRICT_STRING: Fragment = {"type": "string"}
SLUG_PATTERN = r"^[a-z0-9_]+$"
# cv.entity_id lower-cases before it checks; cv.entity_ids also splits "a.b, c.d".
_ENTITY_ID_TEXT = r"\s*[A-Za-z0-9_]+\.[A-Za-z0-9_]+\s*"
ENTITY_ID: Fragment = {"type": "string", "pattern": f"^{_ENTITY_ID_TEXT}$"}
ENTITY_IDS_TEXT: Fragment = {
    "type": "string",
    "pattern": f"^{_ENTITY_ID_TEXT}(?:,{_ENTITY_ID_TEXT})*$",
}
_SERVICE_PART = r"[A-Za-z0-9](?:[A-Za-z0-9_]*[A-Za-z0-9])?"  # cv.service: no _ at either end
SERVICE: Fragment = {"type": "string", "pattern": rf"^{_SERVICE_PART}\.{_SERVICE_PART}$"}
# Durations as cv.time_period reads them; a template (where one is taken) is a string too.
_CLOCK_TEXT = r"\s*(?:-?\d+:)?-?\d+:-?\d+(?:\.\d+)?\s*"
_DURATION_TEXT = (
    rf"^(?:{_NUMBER_TEXT}|{_CLOCK_TEXT}|{env_var_text(f'{_NUMBER_TEXT}|{_CLOCK_TEXT}')})$"
    r"|\{[{%]"
)
TIME_PERIOD: Fragment = {
    "title": "duration",
    "description": "A duration: seconds (5), 'HH:MM', 'HH:MM:SS' or {hours, minutes, seconds}",
    "anyOf": [
        {"type": "number"},
        {"type": "string", "pattern": _DURATION_TEXT},
        {
            "type": "object",
            "properties": {
                unit: {"type": ["number", "string"]}
                for unit in ("days", "hours", "minutes", "seconds", "milliseconds")
            },
            "additionalProperties": False,
        },
    ],
}


def _time_zones() -> Fragment:
    """The IANA names this machine's zoneinfo knows (what cv.time_zone accepts), so an
    editor completes them."""
    from zoneinfo import available_timezones

    return {
        "anyOf": [
            {"enum": sorted(available_timezones())},
            {"type": "string", "pattern": f"^{env_var_text(r'[A-Za-z_][A-Za-z0-9_+/-]*')}$"},
        ]
    }


def _url(*schemes: str) -> Fragment:
    """A URL of `schemes`, `!env_var NAME url`, or the one word of `!secret name` (a URL
    often holds credentials, so it is often a secret: a plain word is therefore taken too)."""
    url = rf"(?:{_alternatives(schemes)})://[^/]"
    return {"type": "string", "pattern": rf"^(?:{url}|{env_var_text(url)})|{TAG_WORD_TEXT}"}


def _known() -> dict[int, Fragment]:
    """The shared validators of orge.validation, by identity."""
    return {
        id(cv.string): STRING,
        id(cv.strict_string): STRICT_STRING,
        id(cv.boolean): BOOLEAN,
        id(cv.slug): {"type": ["string", "integer"], "pattern": SLUG_PATTERN},
        id(cv.entity_id): ENTITY_ID,
        id(cv.entity_ids): {"anyOf": [ENTITY_IDS_TEXT, {"type": "array", "items": ENTITY_ID}]},
        id(cv.service): SERVICE,
        # urlparse lower-cases the scheme before cv.url checks it.
        id(cv.url): _url("https", "http", "wss", "ws"),
        id(cv.ws_url): _url("wss", "ws"),
        id(cv.time_zone): _time_zones(),
        # Inline: in draft-07 a keyword beside "$ref" (a minimum) would be ignored.
        id(cv.time_period): TIME_PERIOD,
        id(cv.positive_time_period): {**TIME_PERIOD, "minimum": 0},
        id(cv.time_of_day): {"type": "string"},
        id(cv.dynamic_template): {"type": "string"},
        id(vol.Boolean): BOOLEAN,
    }


_CASE_FOLDS = (vol.Lower, vol.Upper)
_TYPES: dict[type, Fragment] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    dict: {"type": "object"},
    list: {"type": "array"},
    type(None): {"type": "null"},
}


def choices(values: Iterable[Any], fold_case: bool = False) -> Fragment:
    """One of `values`; numbers also as text (what Coerce/int() reads), words in any case
    with `fold_case`. For validators that pick from a fixed set."""
    values = list(values)
    texts = [str(v) for v in values]
    if all(isinstance(v, str) for v in values):
        return {"type": "string", "pattern": _words(texts)} if fold_case else {"enum": values}
    pattern = r"^\s*(?:" + "|".join(re.escape(t) for t in texts) + r")\s*$"
    return {"anyOf": [{"enum": values}, {"type": "string", "pattern": pattern}]}


def json_value(value: Any) -> tuple[bool, Any]:
    """(True, the value as JSON) or (False, None) when it has no JSON form.
    Durations become seconds, as every duration option takes them."""
    if isinstance(value, timedelta):
        return True, value.total_seconds()
    if value is None or isinstance(value, (str, int, float, bool)):
        return True, value if not isinstance(value, str) else str(value)
    if isinstance(value, (list, tuple)):
        items = [json_value(item) for item in value]
        return all(ok for ok, _ in items), [item for _, item in items]
    if isinstance(value, dict):
        pairs = {str(k): json_value(v) for k, v in value.items()}
        return all(ok for ok, _ in pairs.values()), {k: v for k, (_, v) in pairs.items()}
    return False, None


def merge(parts: list[Fragment]) -> Fragment:
    """All of `parts`: one mapping when their keywords do not clash, else allOf."""
    parts = [part for part in parts if part]
    if not parts:
        return {}
    merged: Fragment = {}
    for part in parts:
        part = dict(part)
        # Two lower bounds (a duration's minimum, then a Range): the larger one holds.
        for key, pick in (("minimum", max), ("maximum", min)):
            if key in part and key in merged:
                merged[key] = pick(merged[key], part.pop(key))
        if set(part) & set(merged):
            return {"allOf": parts}
        merged.update(part)
    return merged


def _collection_only(fragment: Fragment) -> bool:
    """Whether a fragment takes only lists or mappings (and null): no text at all."""
    if "anyOf" in fragment:
        return all(_collection_only(option) for option in fragment["anyOf"])
    types = fragment.get("type")
    types = types if isinstance(types, list) else [types]
    return bool(types) and all(t in ("array", "object", "null") for t in types)


def tag_word_too(fragment: Fragment) -> Fragment:
    """An option that takes a list or a mapping also takes the text an editor sees of
    `!secret name` or `!include file.yaml` (the loader puts the list or mapping there)."""
    if not _collection_only(fragment) or not (fragment.get("type") or "anyOf" in fragment):
        return fragment
    shown: Fragment = {
        k: fragment[k] for k in ("description", "default", "examples") if k in fragment
    }
    inner = {k: v for k, v in fragment.items() if k not in shown}
    return {**shown, "anyOf": [*flat_any_of([inner]), TAG_WORD]}


# Keywords an editor shows of an option (hover, completion): they stay on the outside when
# a fragment is widened to an anyOf.
_SHOWN = ("title", "description", "default", "examples")


def _or(fragment: Fragment, extra: Fragment) -> Fragment:
    """`fragment`, or what `extra` takes; {} (anything) stays {}."""
    shown: Fragment = {k: fragment[k] for k in _SHOWN if k in fragment}
    inner = {k: v for k, v in fragment.items() if k not in shown}
    if not inner or (set(inner) == {"anyOf"} and extra in inner["anyOf"]):
        return fragment
    return {**shown, "anyOf": [*flat_any_of([inner]), extra]}


def or_tag_word(fragment: Fragment) -> Fragment:
    """A secret-holding option (orge.redact.is_secret_name) also takes the one word an
    editor sees of `!secret name`, whatever its own checks (an access token's 16
    characters)."""
    return _or(fragment, TAG_WORD)


INCLUDE: Fragment = {"type": "string", "pattern": INCLUDE_TEXT}
# Where a value goes: JSON Schema keywords holding the schema of one value, keyed (a
# mapping of them) or not; `if` and `not` are left alone (widening them would narrow).
_VALUE_MAPS = ("properties", "patternProperties")
_VALUES = ("additionalProperties", "items")
_BRANCHES = ("anyOf", "allOf", "oneOf")


def _or_include(fragment: Fragment) -> Fragment:
    """A fixed value (`const`, `enum`: `trigger: state`, a blueprint's path) or an
    exclusion (`not`: a path no blueprint has) stays as it is: it tells the branches of an
    anyOf apart, and a file name can match it."""
    if {"const", "enum", "not"} & set(fragment):
        return fragment
    return _or(fragment, INCLUDE)


def include_anywhere(fragment: Fragment) -> Fragment:
    """A copy of `fragment` where every value, list item and mapping also takes the text an
    editor sees of `!include file.yaml` (the loader puts the file's content there, any
    type): orge/yaml.py takes the tag anywhere."""
    result = dict(fragment)
    for key in _VALUE_MAPS:
        if isinstance(fragment.get(key), dict):
            result[key] = {
                name: _or_include(include_anywhere(child)) for name, child in fragment[key].items()
            }
    for key in _VALUES:
        if isinstance(fragment.get(key), dict) and fragment[key]:
            result[key] = _or_include(include_anywhere(fragment[key]))
    for key in _BRANCHES:
        if isinstance(fragment.get(key), list):
            result[key] = [include_anywhere(child) for child in fragment[key]]
    for key in ("then", "else"):
        if isinstance(fragment.get(key), dict):
            result[key] = include_anywhere(fragment[key])
    if isinstance(fragment.get("definitions"), dict):
        result["definitions"] = {
            name: include_anywhere(child) for name, child in fragment["definitions"].items()
        }
    return result


def flat_any_of(options: list[Fragment]) -> list[Fragment]:
    """anyOf inside anyOf, as one list (what an editor lists as choices)."""
    flat: list[Fragment] = []
    for option in options:
        inner = option.get("anyOf") if set(option) == {"anyOf"} else None
        for item in flat_any_of(inner) if inner else [option]:
            if item not in flat:
                flat.append(item)
    return flat


class Converter:
    """Voluptuous schema -> JSON Schema fragment; shared pieces go to `definitions`.
    `config_dir` is the configuration exported for (None: the built-in components only),
    for hints that read files of it (blueprints)."""

    def __init__(self, config_dir: str | None = None) -> None:
        self.config_dir = config_dir
        self.definitions: dict[str, Fragment] = {"time_period": TIME_PERIOD}
        self._known = _known()
        self._refs: dict[int, str] = {}

    def define(
        self, name: str, schema: Any | None, build: Callable[[], Fragment] | None = None
    ) -> None:
        """Export `schema` (or what `build` returns) once, as `#/definitions/name`; where
        `schema` appears it becomes a reference (so recursive schemas end)."""
        if schema is not None:
            self._refs[id(schema)] = name
        if name not in self.definitions:
            self.definitions[name] = {}  # a recursive reference finds the name meanwhile
            self.definitions[name] = build() if build else self._convert(schema)

    def alias(self, schema: Any, name: str) -> None:
        """`schema` exports as a reference to `#/definitions/name` (defined elsewhere)."""
        self._refs[id(schema)] = name

    def __call__(self, schema: Any) -> Fragment:
        name = self._refs.get(id(schema))
        if name is not None:
            return {"$ref": f"#/definitions/{name}"}
        return self._convert(schema)

    def _convert(self, schema: Any) -> Fragment:
        hint = getattr(schema, cv.JSON_SCHEMA_ATTR, None)
        if hint is not None:
            return dict(hint(self) if callable(hint) else hint)
        known = self._known.get(id(schema))
        if known is not None:
            return dict(known)
        if isinstance(schema, vol.Schema):
            inner = self(schema.schema)
            if isinstance(schema.schema, dict) and schema.extra != vol.PREVENT_EXTRA:
                inner["additionalProperties"] = True
            return inner
        if isinstance(schema, dict):
            return self._object(schema)
        if isinstance(schema, list):
            if not schema:
                return {"type": "array"}
            return {"type": "array", "items": self._any(schema)}
        if isinstance(schema, vol.All):
            return self._all(list(schema.validators))
        if isinstance(schema, vol.Any):
            return self._any(list(schema.validators))
        if isinstance(schema, vol.Coerce):
            if schema.type in (int, float):  # int(5.7) is 5: a float is accepted too
                return dict(NUMBER)
            return {}
        if isinstance(schema, vol.Range):
            return self._range(schema)
        if isinstance(schema, vol.Length):
            return self._length(schema)
        if isinstance(schema, vol.In):
            return self._in(schema.container, fold_case=False)
        if isinstance(schema, vol.Match):
            pattern = getattr(schema.pattern, "pattern", schema.pattern)
            return {"type": "string", "pattern": pattern}
        if isinstance(schema, type):
            return dict(_TYPES.get(schema, {}))
        if schema is None or isinstance(schema, (str, int, float, bool)):
            return {"const": schema}
        return {}  # a validator JSON Schema cannot say: accept, never reject falsely

    def _object(self, schema: dict[Any, Any]) -> Fragment:
        properties: dict[str, Fragment] = {}
        patterns: dict[str, Fragment] = {}
        required: list[str] = []
        others: list[Fragment] = []
        for key, value in schema.items():
            name = key.schema if isinstance(key, vol.Marker) else key
            if isinstance(name, str):
                prop = tag_word_too(self(value))
                if is_secret_name(name):
                    prop = or_tag_word(prop)
                if isinstance(key, vol.Marker):
                    prop = _document(prop, key)
                properties[name] = prop
                if isinstance(key, vol.Required) and key.default is vol.UNDEFINED:
                    required.append(name)
            elif name is vol.Extra:
                others.append({})
            elif name is cv.slug:
                patterns[SLUG_PATTERN] = self(value)
            else:
                key_schema = self(name)
                if "pattern" in key_schema and key_schema.get("type") == "string":
                    patterns[key_schema["pattern"]] = self(value)
                else:
                    others.append(self(value))
        result: Fragment = {"type": "object"}
        if properties:
            result["properties"] = properties
        if required:
            result["required"] = required
        if patterns:
            result["patternProperties"] = patterns
        if not others:
            result["additionalProperties"] = False
        elif len(others) == 1:
            if others[0]:
                result["additionalProperties"] = others[0]
        elif all(others):
            result["additionalProperties"] = {"anyOf": others}
        return result

    def _all(self, validators: list[Any]) -> Fragment:
        parts: list[Fragment] = []
        fold_case = False
        for index, validator in enumerate(validators):
            if validator is cv.ensure_list:
                # A scalar becomes a one-item list, None an empty one: the rest applies to
                # the list, so accept the item alone too.
                rest = self._all(validators[index + 1 :])
                if rest.get("type") == "array" and "items" in rest:
                    parts.append({"anyOf": [{"type": "null"}, rest["items"], rest]})
                elif "$ref" in rest:  # a shared list shape, which takes one item too
                    parts.append(rest)
                break
            if validator in _CASE_FOLDS:
                fold_case = True
                continue
            if isinstance(validator, vol.In):
                parts.append(self._in(validator.container, fold_case))
                continue
            converted = self(validator)
            parts.append(converted)
            if not converted and validator not in (dict, list, object):
                break  # it may have changed the value: what follows checks something else
        return merge(parts)

    def _any(self, validators: list[Any]) -> Fragment:
        options = [self(validator) for validator in validators]
        if any(not option for option in options):
            return {}
        options = flat_any_of(options)
        return options[0] if len(options) == 1 else {"anyOf": options}

    def _in(self, container: Any, fold_case: bool) -> Fragment:
        try:
            values = list(container)
        except TypeError:
            return {}
        ok, plain = json_value(values)
        if not ok:
            return {}
        if fold_case and all(isinstance(value, str) for value in plain):
            return {"type": "string", "pattern": _words(plain)}
        return {"enum": plain}

    @staticmethod
    def _range(schema: vol.Range) -> Fragment:
        result: Fragment = {}
        for bound, included, key in (
            (schema.min, schema.min_included, "minimum"),
            (schema.max, schema.max_included, "maximum"),
        ):
            ok, value = json_value(bound)
            if bound is None or not ok or not isinstance(value, (int, float)):
                continue
            result[key if included else f"exclusive{key.title()}"] = value
        return result

    @staticmethod
    def _length(schema: vol.Length) -> Fragment:
        result: Fragment = {}
        if schema.min is not None:
            result.update(minLength=schema.min, minItems=schema.min)
        if schema.max is not None:
            result.update(maxLength=schema.max, maxItems=schema.max)
        return result


def _document(prop: Fragment, marker: vol.Marker) -> Fragment:
    """The marker's description (unit in brackets), default and example."""
    prop = dict(prop)
    description = marker.description
    if description:
        unit = getattr(description, "unit", None)
        prop["description"] = f"{description} [{unit}]" if unit else str(description)
        example = getattr(description, "example", None)
        if example is not None:
            ok, value = json_value(example)
            if ok:
                prop["examples"] = [value]
    default = getattr(marker, "default", vol.UNDEFINED)
    if default is not vol.UNDEFINED:
        ok, value = json_value(default() if callable(default) else default)
        if ok:
            prop["default"] = value
    return prop


OLDER_SPELLING = "Older spelling of"


def with_old_keys(fragment: Fragment, renames: dict[str, str]) -> Fragment:
    """An object schema that also takes the older spelling of some keys (`trigger:` for
    `triggers:`), as Home Assistant does: either spelling, and a required key in one of
    them."""
    result = dict(fragment)
    properties = dict(result.get("properties", {}))
    required = list(result.get("required", []))
    either: list[Fragment] = []
    for old, new in renames.items():
        if new in properties:
            properties[old] = {**properties[new], "description": f"{OLDER_SPELLING} `{new}`."}
        if new in required:
            required.remove(new)
            either.append({"anyOf": [{"required": [new]}, {"required": [old]}]})
    result["properties"] = properties
    if required:
        result["required"] = required
    else:
        result.pop("required", None)
    if either:
        result["allOf"] = [*result.get("allOf", []), *either]
    return result


EMPTY_MAPPING: Fragment = {"type": "object", "maxProperties": 0}


def list_or_one(
    item: Fragment, empty_mapping: bool = False, empty_entries: bool = False
) -> Fragment:
    """A list of items, one item alone, or nothing (an empty included file); with
    `empty_mapping` also `{}` (a domain's list such as automation:), with `empty_entries` a
    list may hold empty entries (skipped)."""
    entry = {"anyOf": [{"type": "null"}, item]} if empty_entries else item
    options = [{"type": "null"}, EMPTY_MAPPING] if empty_mapping else [{"type": "null"}]
    return {"anyOf": [*options, item, {"type": "array", "items": entry}]}


def accepts_nothing(schema: Any) -> bool:
    """Whether an empty block (`domain:` alone, read as {}) is valid."""
    try:
        schema({})
    except (vol.Invalid, ValueError, TypeError, KeyError):
        return False
    return True
