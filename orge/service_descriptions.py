"""`services.yaml`: what each service does and which fields it takes, in Home Assistant's format.

A component folder may hold a `services.yaml` (Home Assistant's developer docs, "Service
descriptions"): one key per service, each with `name`, `description`, `fields` (field ->
`{name, description, required, example, default, selector}`) and an optional `target`.
The engine reads it (never the component) and attaches each description to the service
when it is registered, so `GET /api/services`, WebSocket `get_services`, the web view and
`orge check-config` all see the same text. The engine's own services (`orge.*` and the
entity-domain services such as `switch.turn_on`) are described in `orge/services.yaml`.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from typing import Any

import yaml

from orge.exceptions import ConfigError

SERVICES_YAML = "services.yaml"
ENGINE_SERVICES_YAML = os.path.join(os.path.dirname(os.path.abspath(__file__)), SERVICES_YAML)
# The keys Home Assistant reads for one service and for one field.
_SERVICE_KEYS = ("name", "description", "fields", "target", "response")
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Descriptions = dict[str, dict[str, Any]]


def read_services_yaml(path: str) -> Descriptions:
    """`{service: {"name", "description", "fields": {...}, "target"?}}` from one file.

    A missing file is `{}`. Raises ConfigError naming the file (and line for YAML syntax)
    when the file cannot be read or a service entry is not a mapping.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.load(handle, Loader=_FAST_LOADER) or {}
    except FileNotFoundError:
        return {}
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: {getattr(err, 'problem', None) or err}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected one mapping of service name -> description")
    return {str(name): normalize(str(name), entry, path) for name, entry in data.items()}


def normalize(service: str, entry: Any, source: str = "") -> dict[str, Any]:
    """One service's description with HA's keys only; `fields` always present."""
    if entry is None:
        entry = {}
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{source}: service '{service}' must be a mapping, got {entry!r}")
    described: dict[str, Any] = {key: entry[key] for key in _SERVICE_KEYS if key in entry}
    fields = described.get("fields") or {}
    if not isinstance(fields, Mapping):
        raise ConfigError(f"{source}: fields of '{service}' must be a mapping")
    described["fields"] = {str(name): dict(field or {}) for name, field in fields.items()}
    return described


def merge(base: Mapping[str, Any] | None, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """`services.yaml` (base) wins; a description given in code only fills what it lacks."""
    merged = dict(extra or {})
    merged.update(base or {})
    if "fields" not in merged:
        merged["fields"] = {}
    return merged


@functools.cache
def engine_descriptions() -> dict[str, Descriptions]:
    """`{domain: {service: description}}` for the services the engine itself registers."""
    data = read_services_yaml(ENGINE_SERVICES_YAML)
    # orge/services.yaml is keyed `domain.service` (the engine serves several domains).
    by_domain: dict[str, Descriptions] = {}
    for key, description in data.items():
        domain, _, service = key.partition(".")
        by_domain.setdefault(domain, {})[service] = description
    return by_domain


@functools.cache
def component_descriptions(folder: str) -> Descriptions:
    """The `services.yaml` of one component folder (read once per process)."""
    return read_services_yaml(os.path.join(folder, SERVICES_YAML))


def describe_component(registry: Any, domain: str, folder: str) -> None:
    """Give `registry` (a ServiceRegistry) the descriptions in `folder/services.yaml`.

    A broken file is logged (check-config reports it with file and line) and the services
    still register, without descriptions: a typo in a description never stops a charger.
    """
    try:
        descriptions = component_descriptions(folder)
    except ConfigError as err:
        logging.getLogger(__name__).error("Service descriptions of %s not loaded: %s", domain, err)
        return
    if descriptions:
        registry.async_set_descriptions(domain, descriptions)
