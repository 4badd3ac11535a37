"""Blueprints: Home Assistant's format, `!input` substituted from `use_blueprint: input:`.

A blueprint is looked up in `<config>/blueprints/automation/<path>` first, then among the
blueprints shipped with ORGE (`blueprints/automation/<path>`, e.g. `orge/x.yaml`). Every
problem (missing input, unknown input, a value its selector refuses) names a file and line.
"""

from __future__ import annotations

import os
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.exceptions import ConfigError
from orge.yaml import Input, NodeDict, display_path, load_yaml, where

_INPUT = vol.Schema(
    {
        vol.Optional("name"): cv.string,
        vol.Optional("description"): cv.string,
        vol.Optional("default"): object,
        vol.Optional("selector"): vol.Any(None, dict),
    },
    extra=vol.ALLOW_EXTRA,
)
_METADATA = vol.Schema(
    {
        vol.Required("name"): cv.string,
        vol.Optional("description"): cv.string,
        vol.Required("domain"): "automation",
        vol.Optional("author"): cv.string,
        vol.Optional("source_url"): cv.string,
        vol.Optional("input", default={}): vol.Any(None, dict),
    },
    extra=vol.ALLOW_EXTRA,
)


def shipped_dir() -> str:
    import blueprints

    return os.path.join(os.path.dirname(os.path.abspath(blueprints.__file__)), "automation")


def _place(node: Any, config_dir: str, fallback: Any = None) -> str:
    found = where(node) or where(fallback)
    if found is None:
        return "configuration.yaml"
    return f"{display_path(found[0], config_dir)}, line {found[1]}"


def find(config_dir: str, path: str) -> str | None:
    """The blueprint file for `path`, refusing anything outside the blueprint folders."""
    for base in (os.path.join(config_dir, "blueprints", "automation"), shipped_dir()):
        base = os.path.realpath(base)
        candidate = os.path.realpath(os.path.join(base, path))
        if candidate.startswith(base + os.sep) and os.path.isfile(candidate):
            return candidate
    return None


def load(config_dir: str, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metadata, inputs flattened from sections); raises ConfigError with the file."""
    file = find(config_dir, path)
    if file is None:
        raise ConfigError(f"blueprint '{path}' not found in blueprints/automation/")
    data = load_yaml(file, config_dir)
    shown = display_path(file, config_dir)
    if not isinstance(data, dict) or not isinstance(data.get("blueprint"), dict):
        raise ConfigError(f"{shown}: not a blueprint (no 'blueprint:' section)")
    try:
        metadata = _METADATA(data["blueprint"])
    except vol.Invalid as err:
        raise ConfigError(f"{shown}: invalid blueprint metadata: {err}") from None
    inputs: dict[str, Any] = {}
    for name, spec in (metadata.get("input") or {}).items():
        spec = spec or {}
        if isinstance(spec, dict) and "input" in spec and isinstance(spec["input"], dict):
            inputs.update(spec["input"])  # a section of inputs
        else:
            inputs[name] = _INPUT(spec) if isinstance(spec, dict) else {}
    return data, inputs


def selector_json_schema(selector: Any, convert: Any) -> dict[str, Any]:
    """What `_check_selector` lets through, as JSON Schema ({} where it checks nothing)."""
    from orge.json_schema import any_case, choices

    if not isinstance(selector, dict) or not selector:
        return {}
    kind, options = next(iter(selector.items()))
    options = options or {}
    if kind == "entity":
        entity = convert(cv.entity_id)
        domains = [str(d).lower() for d in cv.ensure_list(options.get("domain"))]
        if domains:
            alternatives = "|".join(any_case(domain) for domain in domains)
            entity = {"type": "string", "pattern": rf"^\s*(?:{alternatives})\.[A-Za-z0-9_]+\s*$"}
        return {"type": "array", "items": entity} if options.get("multiple") else entity
    if kind == "number":
        number = convert(vol.Coerce(float))
        for key, bound in (("min", "minimum"), ("max", "maximum")):
            if isinstance(options.get(key), (int, float)):
                number[bound] = options[key]
        return number
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "time":
        return convert(cv.time_of_day)
    if kind == "duration":
        return convert(cv.time_period)
    if kind == "text":
        return convert(cv.string)
    if kind == "select":
        allowed = [o["value"] if isinstance(o, dict) else o for o in options.get("options", [])]
        return choices(allowed) if allowed else {}
    return {}


def use_json_schema(convert: Any, config_dir: str | None) -> dict[str, Any]:
    """`use_blueprint:` for every blueprint found (those of `config_dir` first): its path,
    and its inputs with their descriptions, the ones without a default required, no other.
    Any other path takes any input (check-config says whether it exists)."""
    found: dict[str, dict[str, Any]] = {}
    bases = [shipped_dir()]
    if config_dir:
        bases.insert(0, os.path.join(config_dir, "blueprints", "automation"))
    for base in bases:
        for folder, _dirs, files in sorted(os.walk(base)):
            for file in sorted(files):
                if not file.endswith((".yaml", ".yml")):
                    continue
                path = os.path.relpath(os.path.join(folder, file), base).replace(os.sep, "/")
                if path in found:
                    continue
                try:
                    data, inputs = load(config_dir or base, path)
                except (ConfigError, OSError):
                    continue  # check-config reports a broken blueprint where it is used
                properties = {}
                for name, spec in inputs.items():
                    prop = selector_json_schema(spec.get("selector"), convert)
                    text = ": ".join(str(spec[k]) for k in ("name", "description") if spec.get(k))
                    if text:
                        prop = {**prop, "description": text}
                    properties[name] = prop
                required = [name for name, spec in inputs.items() if "default" not in spec]
                found[path] = {
                    "type": "object",
                    "description": str(data["blueprint"].get("name", "")),
                    "properties": {
                        "path": {"const": path},
                        "input": {
                            "type": ["object", "null"] if not required else "object",
                            "properties": properties,
                            **({"required": required} if required else {}),
                            "additionalProperties": False,
                        },
                    },
                    "required": ["path", *(["input"] if required else [])],
                    "additionalProperties": False,
                }
    other = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "not": {"enum": list(found)}},
            "input": {"type": ["object", "null"]},
        },
        "required": ["path"],
        "additionalProperties": False,
    }
    return {"anyOf": [*found.values(), other]}


def _check_selector(value: Any, selector: Any) -> str | None:
    """None if the value suits the selector, else why not."""
    if not isinstance(selector, dict) or not selector:
        return None
    kind, options = next(iter(selector.items()))
    options = options or {}
    try:
        if kind == "entity":
            values = value if options.get("multiple") else [value]
            if not isinstance(values, list):
                return "expected a list of entity ids"
            domains = cv.ensure_list(options.get("domain"))
            for item in values:
                entity = cv.entity_id(item)
                if domains and entity.split(".")[0] not in domains:
                    return f"entity {entity} is not in domain {', '.join(domains)}"
        elif kind == "number":
            number = float(value)
            if "min" in options and number < float(options["min"]):
                return f"{number:g} is below the minimum {options['min']}"
            if "max" in options and number > float(options["max"]):
                return f"{number:g} is above the maximum {options['max']}"
        elif kind == "boolean":
            if not isinstance(value, bool):
                return f"expected true or false, got {value!r}"
        elif kind == "time":
            cv.time_of_day(value)
        elif kind == "duration":
            cv.time_period(value)
        elif kind == "text":
            cv.string(value)
        elif kind == "select":
            allowed = [o["value"] if isinstance(o, dict) else o for o in options.get("options", [])]
            if allowed and value not in allowed:
                return f"{value!r} is not one of {', '.join(map(str, allowed))}"
    except (vol.Invalid, TypeError, ValueError) as err:
        return str(getattr(err, "msg", err))
    return None


def substitute(value: Any, inputs: dict[str, Any]) -> Any:
    """Replace each `!input name` with its value (mappings keep their file/line)."""
    if isinstance(value, Input):
        return inputs[value.name]
    if isinstance(value, NodeDict):
        result = NodeDict((k, substitute(v, inputs)) for k, v in value.items())
        result.__config_file__, result.__line__ = value.__config_file__, value.__line__
        result._key_lines = dict(value._key_lines)
        return result
    if isinstance(value, dict):
        return {k: substitute(v, inputs) for k, v in value.items()}
    if isinstance(value, list):
        return (
            type(value)(substitute(v, inputs) for v in value)
            if not hasattr(value, "_item_lines")
            else _sub_list(value, inputs)
        )
    return value


def _sub_list(value: Any, inputs: dict[str, Any]) -> Any:
    result = type(value)(substitute(v, inputs) for v in value)
    result.__config_file__, result.__line__ = value.__config_file__, value.__line__
    result._item_lines = list(value._item_lines)
    return result


def _used_inputs(value: Any, found: dict[str, Input]) -> dict[str, Input]:
    if isinstance(value, Input):
        found.setdefault(value.name, value)
    elif isinstance(value, dict):
        for item in value.values():
            _used_inputs(item, found)
    elif isinstance(value, list):
        for item in value:
            _used_inputs(item, found)
    return found


def resolve(config: dict[str, Any], config_dir: str) -> tuple[dict[str, Any] | None, list[str]]:
    """An automation using a blueprint -> (the automation it stands for, problems)."""
    use = config["use_blueprint"]
    if not isinstance(use, dict) or not use.get("path"):
        return None, [f"{_place(use, config_dir, config)}: use_blueprint needs a 'path'"]
    given = use.get("input") or {}
    if not isinstance(given, dict):
        return None, [f"{_place(given, config_dir, use)}: use_blueprint input must be a mapping"]
    try:
        data, inputs = load(config_dir, str(use["path"]))
    except ConfigError as err:
        return None, [f"{_place(use, config_dir, config)}: {err}"]
    problems: list[str] = []
    values: dict[str, Any] = {}
    given_at = given if isinstance(given, NodeDict) else None
    for name in given:
        if name not in inputs:
            line = _key_place(given_at, name, config_dir, use)
            problems.append(
                f"{line}: blueprint {use['path']} has no input '{name}' "
                f"(inputs: {', '.join(inputs) or 'none'})"
            )
    for name, spec in inputs.items():
        if name in given:
            values[name] = given[name]
            why = _check_selector(given[name], spec.get("selector"))
            if why:
                problems.append(
                    f"{_key_place(given_at, name, config_dir, use)}: blueprint input "
                    f"'{name}': {why}"
                )
        elif "default" in spec:
            values[name] = spec["default"]
        else:
            problems.append(
                f"{_place(given if given else use, config_dir, config)}: blueprint "
                f"{use['path']} needs input '{name}', which is missing"
            )
    body = {k: v for k, v in data.items() if k != "blueprint"}
    for name, node in _used_inputs(body, {}).items():
        if name not in inputs:
            problems.append(
                f"{_place(node, config_dir)}: !input {name} is not declared in the blueprint"
            )
    if problems:
        return None, problems
    result = substitute(data, values)
    result.pop("blueprint", None)
    for key, value in config.items():
        if key != "use_blueprint":
            result[key] = value
            if isinstance(result, NodeDict) and isinstance(config, NodeDict):
                result._key_lines[key] = config.key_line(key)
    return result, []


def _key_place(node: NodeDict | None, key: Any, config_dir: str, fallback: Any) -> str:
    if node is None:
        return _place(fallback, config_dir)
    file, line = node.key_line(key)
    return f"{display_path(file, config_dir)}, line {line}"
