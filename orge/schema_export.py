"""The voluptuous schemas of the configuration as one JSON Schema (draft-07).

`orge schema export -c DIR` writes it for the YAML language server (redhat
yaml-language-server, used by VS Code's YAML extension and most editors), which validates
and completes `configuration.yaml` while it is typed and shows each option's description.
draft-07 is the draft that server supports best (`definitions`, `if`/`then`).

The top level is the `orge:` core section, `logger:`, and the CONFIG_SCHEMA of every
component the station can load (built-in, and custom ones of DIR) under its domain, also as
`<domain> <label>` (a second block, as in Home Assistant). A component with no schema takes
anything; an unknown domain is rejected, as check-config rejects it.

The rule: the export never rejects what the station accepts, with the exceptions below.
What it cannot express (a custom validator with no `cv.json_schema` hint, a check across
two options) becomes `{}`, "anything". An editor sees a tagged scalar as its text only
(yaml-language-server `customTags`), so the export takes that text where the tag may be:
- `!include file.yaml` (or a folder of `!include_dir_*`) wherever a value, a list item or a
  mapping goes (json_schema.include_anywhere);
- the one word of `!secret name` where a list or mapping goes, for a secret-holding option
  (orge.redact.is_secret_name: `password`, `token`, `authtoken`...) and for a URL;
- `!env_var NAME default` where a number, boolean, duration, URL or time zone goes, when the
  default fits.

The exceptions, exactly (tests/orge/test_schema_export.py::test_the_stated_exceptions):
- refused by the export, taken by the station: a bare `!env_var NAME` or a `!secret name`
  where a number, boolean, duration or time zone goes (the text cannot be told from a
  mistyped word, which the editor must show); an `!include` where a fixed word (`const`,
  `enum`) or an exclusion (`not`) goes, e.g. `unit_system: !include unit.yaml`;
- taken by the export, refused by the station: any one word where a secret-holding option
  or a URL goes (an access token shorter than 16 characters, `url: localhost`), any
  `name.yaml` or `folder/` where a value goes: it may be a tag's text.

Shape of the result: {"$schema", "title", "type": "object", "properties": {domain: ...},
"patternProperties", "additionalProperties": false, "definitions": {...}}. Each option
carries "description" (with its unit in brackets), "default" (durations in seconds) and
"examples" when its marker has them (`orge.validation.describe`).
"""

from __future__ import annotations

import json
import re

from orge.json_schema import (
    DRAFT_07,
    INCLUDE_TEXT,
    Converter,
    Fragment,
    accepts_nothing,
    flat_any_of,
    include_anywhere,
)


def _block(fragment: Fragment, empty_ok: bool, description: str = "") -> Fragment:
    options: list[Fragment] = flat_any_of([fragment]) if fragment else []
    if fragment and empty_ok and {"type": "null"} not in options:
        options.insert(0, {"type": "null"})
    if fragment:
        options.append({"type": "string", "pattern": INCLUDE_TEXT})
    result: Fragment = {"anyOf": options} if len(options) > 1 else (options[0] if options else {})
    if description:
        result = {"description": description, **result}
    return result


def export_schema(config_dir: str | None = None) -> Fragment:
    """The JSON Schema of `configuration.yaml` for the components of `config_dir`, as an
    editor is given it: every value, list item and mapping also takes `!include file.yaml`
    (json_schema.include_anywhere).

    Raises nothing for a component that cannot be imported: its block takes anything
    (check-config reports the import error)."""
    return include_anywhere(options_schema(config_dir))


def options_schema(config_dir: str | None = None) -> Fragment:
    """`export_schema` without the `!include` text at every value: the options' own shapes,
    which docs/configuration.md lists (orge/schema_docs.py)."""
    from orge.config import CORE_DOMAIN, CORE_SCHEMA, LOGGER_DOMAIN, LOGGER_SCHEMA
    from orge.loader import ComponentIndex
    from orge.script.json_schema import define_script_shapes
    from orge.setup import takes_blocks

    convert = Converter(config_dir)
    define_script_shapes(convert)
    core = convert(CORE_SCHEMA)
    option = core["properties"]["packages"]
    shown = {key: option[key] for key in ("description", "default") if key in option}
    packages = next(p for p in option.get("anyOf", [option]) if p.get("type") == "object")
    packages = {k: v for k, v in packages.items() if k not in shown}
    for name, package in packages["patternProperties"].items():  # `pkg: !include pkg.yaml`
        packages["patternProperties"][name] = _block(package, False)
    core["properties"]["packages"] = {**shown, **_block(packages, False)}  # or a folder
    properties: dict[str, Fragment] = {
        CORE_DOMAIN: _block(core, True, "The station itself (core options)"),
        LOGGER_DOMAIN: _block(convert(LOGGER_SCHEMA), True, "Log levels"),
    }
    index = ComponentIndex(config_dir)
    single: set[str] = set()  # domains that take one block (no `esp32 second:`)
    for domain in sorted(index.components):
        component = index.components[domain]
        if component.is_library:
            continue
        try:
            module = component.import_module()
        except Exception:  # reported by check-config; the editor must not fail on it
            properties[domain] = {}
            continue
        schema = getattr(module, "CONFIG_SCHEMA", None)
        description = component.description or component.name
        if schema is None:
            properties[domain] = {"description": description} if description else {}
            continue
        properties[domain] = _block(convert(schema), accepts_nothing(schema), description)
        if not takes_blocks(component):
            single.add(domain)
    further = {  # `automation more:` is a second automation block (a list-taking domain)
        f"^{re.escape(domain)} .+$": {"$ref": f"#/properties/{domain}"}
        for domain in properties
        if domain not in (CORE_DOMAIN, LOGGER_DOMAIN) and domain not in single
    }
    return {
        "$schema": DRAFT_07,
        "title": "ORGE configuration.yaml",
        "type": "object",
        "properties": properties,
        "patternProperties": further,
        "additionalProperties": False,
        "definitions": convert.definitions,
    }


def dumps(schema: Fragment) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
