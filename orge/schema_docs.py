"""docs/configuration.md: every option of the core and of every built-in component, with its
type, default and description, written from the exported JSON Schema (orge/schema_export.py)
so the page and the editor's hints come from one place: the `description=` of each option.

`orge schema docs -o docs/configuration.md` rewrites it; tests/orge/test_schema_docs.py fails
when the page is out of step with the schemas.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from orge.json_schema import (
    BOOLEAN,
    ENTITY_ID,
    ENTITY_IDS_TEXT,
    INCLUDE_TEXT,
    NUMBER,
    SERVICE,
    TAG_WORD,
    TIME_PERIOD,
    words_of,
)
from orge.schema_export import options_schema

Fragment = dict[str, Any]
HEADER = """\
# Configuration options

<!-- Written by `orge schema docs -o docs/configuration.md`; do not edit by hand: change
the option's `description=` in its schema and run the command again. -->

Every option of `configuration.yaml`, section by section: the core (`orge:`), `logger:` and
each built-in component. A duration takes seconds (`5`), `"HH:MM"`, `"HH:MM:SS"` or
`{minutes: 5}`; its default is shown in seconds. A unit is shown in brackets after the
description. `configuration.yaml.example` shows every option in use. Editors check and
complete the file as it is typed with the JSON Schema of `orge schema export` (README).
"""
_REFS = {
    "triggers": "triggers",
    "conditions": "conditions",
    "actions": "actions",
    "trigger": "trigger",
    "condition": "condition",
    "action": "action",
}
_MAX_ENUM = 12


def _resolve(fragment: Fragment, definitions: dict[str, Fragment]) -> Fragment:
    ref = fragment.get("$ref", "")
    if ref.startswith("#/definitions/"):
        name = ref.rsplit("/", 1)[1]
        if name not in _REFS:
            return {**definitions[name], **{k: v for k, v in fragment.items() if k != "$ref"}}
    return fragment


def _is_filler(fragment: Fragment) -> bool:
    """The parts that only let an editor's view through: null, an include's file name, the
    name of a `!secret` standing for a list or mapping."""
    return fragment in ({"type": "null"}, {"type": "string", "pattern": INCLUDE_TEXT}, TAG_WORD)


def kind(fragment: Fragment, definitions: dict[str, Fragment]) -> str:
    """A short human name of what a fragment takes: `number (1..65535)`, `list of entity id`."""
    fragment = _resolve(fragment, definitions)
    text = _kind(fragment, definitions)
    low, high = fragment.get("minimum"), fragment.get("maximum")
    if low is not None or high is not None:
        text += f" ({'' if low is None else f'{low:g}'}..{'' if high is None else f'{high:g}'})"
    return text


def _kind(fragment: Fragment, definitions: dict[str, Fragment]) -> str:
    ref = fragment.get("$ref", "")
    if ref:
        return _REFS.get(ref.rsplit("/", 1)[1], "see schema")
    if fragment.get("anyOf") == BOOLEAN["anyOf"]:
        return "boolean"
    if fragment.get("title") == "duration":
        return "duration"
    if "enum" in fragment:
        values = fragment["enum"]
        if len(values) > _MAX_ENUM:
            return f"one of {len(values)} names"
        return " \\| ".join(json.dumps(v) if not isinstance(v, str) else v for v in values)
    if "anyOf" in fragment:
        parts = [p for p in fragment["anyOf"] if not _is_filler(p)]
        names: list[str] = []
        for part in parts:
            name = kind(part, definitions)
            if name not in names and not (
                part.get("pattern")
                and words_of(part["pattern"]) is None
                and len(parts) > 1
                and "enum" not in part
                and part.get("type") == "string"
                and names
            ):  # a number's or an !env_var's text: the other parts name the type
                names.append(name)
        return " or ".join(names) or "any"
    types = fragment.get("type")
    if "allOf" in fragment and not types:
        # All of them hold: the narrowest names it (cv.string, then the level's words).
        kinds = [kind(part, definitions) for part in fragment["allOf"]]
        narrow = [name for name in kinds if name not in ("any", "string")]
        return narrow[-1] if narrow else kinds[0]
    if isinstance(types, list):
        if set(types) == {"number", "string"} and fragment.get("pattern") == NUMBER["pattern"]:
            return "number"
        if set(types) == {"string", "number", "boolean"}:
            return "string"
        if "string" in types and "pattern" in fragment:
            return "string"
        return " or ".join(types)
    if types == "array":
        items = fragment.get("items")
        return f"list of {kind(items, definitions)}" if items else "list"
    if types == "object":
        return "mapping"
    if types == "string":
        words = words_of(fragment.get("pattern", ""))
        if words:  # choices in any case (vol.Lower/vol.Upper before vol.In)
            return " \\| ".join(words)
        if fragment.get("pattern") in (ENTITY_ID["pattern"], ENTITY_IDS_TEXT["pattern"]):
            return "entity id"
        if fragment.get("pattern") == SERVICE["pattern"]:
            return "action name (domain.service)"
        return "string"
    if types:
        return str(types)
    if "const" in fragment:
        return json.dumps(fragment["const"])
    if "minimum" in fragment or "maximum" in fragment:
        return "number"
    return "any"


def _object_of(fragment: Fragment, definitions: dict[str, Fragment]) -> Fragment | None:
    """The mapping a block or option stands for (through anyOf/allOf and lists)."""
    fragment = _resolve(fragment, definitions)
    if fragment.get("title"):  # a duration: its units are not options
        return None
    if fragment.get("type") == "object" and "properties" in fragment:
        return fragment
    for key in ("anyOf", "allOf"):
        for part in fragment.get(key, []):
            found = _object_of(part, definitions)
            if found is not None:
                return found
    if fragment.get("type") == "array" and isinstance(fragment.get("items"), dict):
        return _object_of(fragment["items"], definitions)
    patterns = fragment.get("patternProperties")
    if fragment.get("type") == "object" and patterns:
        return _object_of(next(iter(patterns.values())), definitions)
    return None


def _is_list(fragment: Fragment, definitions: dict[str, Fragment]) -> bool:
    fragment = _resolve(fragment, definitions)
    if fragment.get("type") == "array":
        return True
    return any(_is_list(p, definitions) for p in fragment.get("anyOf", []))


def _keyed(fragment: Fragment) -> bool:
    """A mapping of names (`input_boolean: {name: options}`) rather than of options."""
    if fragment.get("type") == "object" and "properties" not in fragment:
        return True
    return any(_keyed(part) for part in fragment.get("anyOf", []) if part != TAG_WORD)


def _keyed_block(block: Fragment) -> bool:
    """`input_boolean: {name: options}`: the block is a mapping of names."""
    if _keyed(block) and "patternProperties" in block:
        return True
    return any(_keyed_block(part) for part in block.get("anyOf", []))


def rows(
    fragment: Fragment, definitions: dict[str, Fragment], prefix: str = ""
) -> Iterator[tuple[str, str, str, str]]:
    """(option, type, default or "required", description) for every option, nested ones as
    `parent.child`, list items as `parent[].child`, named entries as `<name>.child`."""
    for row, _option in option_rows(fragment, definitions, prefix):
        yield row


def option_rows(
    fragment: Fragment, definitions: dict[str, Fragment], prefix: str = ""
) -> Iterator[tuple[tuple[str, str, str, str], Fragment]]:
    """Each row of `rows` with the option's fragment it was written from."""
    mapping = _object_of(fragment, definitions)
    if mapping is None:
        return
    required = set(mapping.get("required", []))
    for name, option in mapping.get("properties", {}).items():
        resolved = _resolve(option, definitions)
        if "default" in option:
            default = f"`{json.dumps(option['default'], ensure_ascii=False)}`"
        else:
            default = "required" if name in required else ""
        description = str(option.get("description", ""))
        if description == TIME_PERIOD["description"]:
            description = ""  # the page's header says what a duration takes
        if "examples" in option:
            example = json.dumps(option["examples"][0], ensure_ascii=False)
            description += f" Example: `{example}`."
        full = f"{prefix}{name}"
        yield (full, kind(option, definitions), default, description), option
        if option.get("$ref", "").rsplit("/", 1)[-1] in _REFS or resolved.get("title"):
            continue  # triggers, conditions, actions, durations: not options of their own
        inner = _object_of(option, definitions)
        if inner is not None and inner is not mapping:
            if _keyed(_resolve(option, definitions)):
                child = f"{full}.<name>."
            else:
                child = f"{full}[]." if _is_list(option, definitions) else f"{full}."
            yield from option_rows(option, definitions, child)


SCRIPT_SECTIONS = (
    ("trigger", "Triggers", "trigger"),
    ("condition", "Conditions", "condition"),
    ("action", "Actions", ""),
)


def _label(kind_schema: Fragment, key: str) -> str:
    """`state` for the state trigger, `delay` for a delay action, `action` for a call."""
    chosen = kind_schema.get("properties", {}).get(key, {}) if key else {}
    if "pattern" in chosen:
        return f'{key}: "{{{{ template }}}}"'
    if "const" in chosen:
        return f"{key}: {chosen['const']}"
    if "enum" in chosen:
        return f"{key}: {chosen['enum'][0]}"
    required = kind_schema.get("required", [])
    return required[0] if required else "action"


def script_kinds(schema: Fragment) -> Iterator[tuple[str, str, Fragment]]:
    """(section, kind label, kind schema) of every trigger, condition and action kind."""
    definitions = schema["definitions"]
    for name, title, key in SCRIPT_SECTIONS:
        for kind_schema in definitions[name]["anyOf"]:
            if kind_schema.get("type") != "object" or "properties" not in kind_schema:
                continue
            if not key and "condition" in kind_schema["properties"]:
                continue  # a condition as a step: the conditions above, + continue_on_error
            yield title, _label(kind_schema, key), kind_schema


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") if "\\|" not in text else text


def render() -> str:
    """The whole page (Markdown) for the built-in components."""
    schema = options_schema()
    definitions = schema["definitions"]
    out = [HEADER]
    for domain, block in schema["properties"].items():
        out.append(f"\n## `{domain}:`\n")
        if block.get("description"):
            out.append(f"\n{block['description']}\n")
        table = list(rows(block, definitions, "<name>." if _keyed_block(block) else ""))
        if not table:
            out.append("\nNo options.\n")
            continue
        out.extend(_table(table))
    section = ""
    for title, label, kind_schema in script_kinds(schema):
        if title != section:
            section = title
            out.append(f"\n## {title} (automations, scripts, template entities)\n")
            if title == "Actions":
                out.append(
                    "\nA condition is a step too: any condition above, with `continue_on_error`.\n"
                )
        out.append(f"\n### `{label}`\n")
        out.extend(_table(list(rows(kind_schema, definitions))))
    return "".join(out)


def _table(table: list[tuple[str, str, str, str]]) -> list[str]:
    out = ["\n| Option | Type | Default | Description |\n|---|---|---|---|\n"]
    for name, type_name, default, description in table:
        out.append(f"| `{name}` | {_cell(type_name)} | {default} | {_cell(description)} |\n")
    return out
