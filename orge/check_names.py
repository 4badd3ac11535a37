"""Names that do not exist: services and entity ids that the configuration names.

An automation, script, template or blueprint input (or any other block: the OCPP EVSE
mapping's `state_entity`, `authorize_action`) that names a service or an entity id nobody
provides is reported with its file, line and the nearest existing name:

    automations.yaml, line 12: service `esp32.authorise` does not exist; did you mean
    `esp32.authorize`?

Where the names come from:

- services: the engine's `orge/services.yaml` (`orge.*`, and the entity-domain services such
  as `switch.turn_on` only where that domain has an entity: the engine registers them with
  the domain's first entity, as Home Assistant loads the `switch` integration only for a
  switch platform, and an action of a domain with none is "not found"), the `services.yaml`
  of every configured component, and one service per configured script (`script.<key>`, as
  in Home Assistant);
- entity ids: each configured component's `configured_entity_ids(config) -> set[str]`
  (docs/components.md), given its validated block. An entry `domain.*` says "this component
  also makes ids in `domain` at run time". A component without the hook (a custom one) may
  create any id, so unknown ids are then left to the run-time check.

`orge check-config` reports what it can know from the files (`find_unknown_names`). Once
the station has started, every name the files do not show to exist (those check-config
reports, and those only the running station can know) is looked up in it
(`async_check_started`): one warning in the log and one persistent notification per name
it does not have. These are
warnings: they change check-config's exit code only with `--strict`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from orge import service_descriptions
from orge.check_result import CheckResult
from orge.core import EVENT_ORGE_STARTED, Event, Orge, callback, valid_entity_id
from orge.exceptions import ConfigError
from orge.recovery import PROBLEM_ENTITY
from orge.suggest import did_you_mean
from orge.yaml import NodeDict, Secret, display_path, where

_LOGGER = logging.getLogger(__name__)

ENTITY_IDS_HOOK = "configured_entity_ids"
NOTIFICATION_DOMAIN = "persistent_notification"
# Keys whose string value is a service name (`action:` since HA 2024.8, `service:` before).
SERVICE_KEYS = frozenset({"service", "action"})
# Keys whose value is one entity id or a list of them; `*_entity` is the convention of the
# components' own options (ocpp201 `state_entity`, `current_limit_entity`...).
ENTITY_KEYS = frozenset({"entity_id", "entity_ids"})
ENTITY_KEY_SUFFIXES = ("_entity", "_entities")
# `entity_id: all` / `none` address every / no entity (Home Assistant's ENTITY_MATCH_*).
ENTITY_MATCH = frozenset({"all", "none"})
# The keys of use_blueprint whose values are inputs (HA's blueprint schema).
BLUEPRINT_KEY = "use_blueprint"
# Service and entity names as written: `domain.object_id`, lower case.
_DOTTED = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z0-9_]+$")
# Entity ids inside templates: the functions of HA's template docs that take one, and
# `states.domain.object_id`.
_TEMPLATE_CALL = re.compile(
    r"\b(?:states|is_state|state_attr|is_state_attr|has_value|expand|state_translated"
    r"|state_with_unit)\(\s*['\"]([a-z0-9_]+\.[a-z0-9_]+)['\"]"
)
_TEMPLATE_STATES = re.compile(r"\bstates\.([a-z0-9_]+)\.([a-z0-9_]+)\b")
# The entity domains of the engine (orge/entity.py): an id there is an entity, not a service.
ENTITY_DOMAINS = frozenset({"sensor", "binary_sensor", "switch", "number", "button", "select"})
# Blocks that hold no names: the engine's own sections.
_SKIPPED_BLOCKS = frozenset({"orge", "logger"})


@dataclass(frozen=True)
class Reference:
    """One name written in the configuration. `kind`: service, entity or input (a
    blueprint input value, which may be either)."""

    kind: str
    name: str
    file: str
    line: int

    def place(self, config_dir: str | None) -> str:
        return f"{display_path(self.file, config_dir)}, line {self.line}"


@dataclass
class Known:
    """The names the configuration provides. `open_domains`: entity domains where ids
    also appear at run time; `complete`: every configured component said what it makes."""

    services: set[str] = field(default_factory=set)
    # The engine's entity-domain services (`switch.turn_on`), whether a domain has entities
    # or not: what a blueprint input of that name is (a service, never an entity id).
    entity_services: set[str] = field(default_factory=set)
    service_domains: set[str] = field(default_factory=set)
    open_service_domains: set[str] = field(default_factory=set)
    entities: set[str] = field(default_factory=set)
    open_domains: set[str] = field(default_factory=set)
    open_prefixes: set[str] = field(default_factory=set)  # `sensor.ngrok_*`: ids at run time
    complete: bool = True
    problems: list[str] = field(default_factory=list)  # a services.yaml that cannot be read


# --- finding the names ---------------------------------------------------------------


def _at(node: Any, fallback: tuple[str, int]) -> tuple[str, int]:
    return where(node) or fallback


def _entity_names(value: Any, place: tuple[str, int]) -> Iterator[tuple[str, tuple[str, int]]]:
    """Entity ids in an `entity_id` value: a string (comma separated) or a list."""
    if isinstance(value, str):
        if "{" in value or isinstance(value, Secret):
            return  # a template (read by _template_names); a secret is never echoed
        for part in value.split(","):
            part = part.strip()
            if part and part not in ENTITY_MATCH:
                yield part, _at(value, place)
    elif isinstance(value, list):
        lines = getattr(value, "_item_lines", [])
        for index, item in enumerate(value):
            item_place = lines[index] if index < len(lines) else _at(value, place)
            if isinstance(item, str):
                yield from _entity_names(item, item_place)


def _template_names(text: str) -> Iterator[str]:
    if "{{" not in text and "{%" not in text:
        return
    for match in _TEMPLATE_CALL.finditer(text):
        yield match.group(1)
    for match in _TEMPLATE_STATES.finditer(text):
        yield f"{match.group(1)}.{match.group(2)}"


def find_references(
    value: Any, place: tuple[str, int] = ("configuration.yaml", 1)
) -> list[Reference]:
    """Every service, entity id and blueprint input value named in a loaded YAML tree."""
    found: list[Reference] = []

    def add(kind: str, name: str, at: tuple[str, int]) -> None:
        found.append(Reference(kind, name, at[0], at[1]))

    def walk(node: Any, at: tuple[str, int]) -> None:
        at = _at(node, at)
        if isinstance(node, Mapping):
            for key, item in node.items():
                key_at = node.key_line(key) if isinstance(node, NodeDict) else at
                key_at = _at(item, key_at)
                name = str(key)
                if name in SERVICE_KEYS and isinstance(item, str):
                    if _DOTTED.match(item) and not isinstance(item, Secret):
                        add("service", item, key_at)
                    continue
                if name in ENTITY_KEYS or name.endswith(ENTITY_KEY_SUFFIXES):
                    for entity_id, entity_at in _entity_names(item, key_at):
                        add("entity", entity_id, entity_at)
                if name == BLUEPRINT_KEY and isinstance(item, Mapping):
                    inputs = item.get("input")
                    if isinstance(inputs, Mapping):
                        walk_inputs(inputs, key_at)
                    continue
                walk(item, key_at)
        elif isinstance(node, list):
            lines = getattr(node, "_item_lines", [])
            for index, item in enumerate(node):
                walk(item, lines[index] if index < len(lines) else at)
        elif isinstance(node, str):
            for entity_id in _template_names(node):
                add("entity", entity_id, at)

    def walk_inputs(inputs: Mapping[str, Any], at: tuple[str, int]) -> None:
        # An input's value is substituted where the blueprint puts it: a dotted name may be
        # a service or an entity id; which one is decided against what exists.
        for key, item in inputs.items():
            key_at = inputs.key_line(key) if isinstance(inputs, NodeDict) else at
            values = item if isinstance(item, list) else [item]
            lines = getattr(item, "_item_lines", [])
            for index, value in enumerate(values):
                value_at = lines[index] if index < len(lines) else _at(value, key_at)
                if isinstance(value, Secret):
                    continue
                if isinstance(value, str) and _DOTTED.match(value):
                    add("input", value, value_at)
                elif isinstance(value, (Mapping, list)):
                    walk(value, value_at)
                elif isinstance(value, str):
                    for entity_id in _template_names(value):
                        add("entity", entity_id, value_at)

    walk(value, place)
    return found


def configuration_references(result: CheckResult) -> list[Reference]:
    """The names in every component block of a loaded configuration."""
    raw = result.raw
    references: list[Reference] = []
    for key, block in raw.items():
        if str(key).split(" ", 1)[0] in _SKIPPED_BLOCKS:
            continue
        at = raw.key_line(key) if isinstance(raw, NodeDict) else ("configuration.yaml", 1)
        references.extend(find_references(block, at))
    return references


# --- what exists -----------------------------------------------------------------------


def known_names(result: CheckResult) -> Known:
    """Services and entity ids the configured components provide, from the files alone."""
    known = Known()
    for domain, services in service_descriptions.engine_descriptions().items():
        names = {f"{domain}.{service}" for service in services}
        if domain in ENTITY_DOMAINS:
            known.entity_services.update(names)  # added below where the domain has entities
            continue
        known.service_domains.add(domain)
        known.services.update(names)
    # The engine's own entities (orge/recovery.py), present on every station.
    known.entities.add(PROBLEM_ENTITY)
    for component in result.order:
        domain = component.domain
        known.service_domains.add(domain)
        try:
            described = service_descriptions.component_descriptions(component.path)
        except ConfigError as err:
            known.problems.append(str(err))
            described = {}
        if not described and component.is_custom:
            known.open_service_domains.add(domain)
        known.services.update(f"{domain}.{service}" for service in described)
        if component.is_library:
            continue  # shared code of other components: it sets nothing up itself
        hook: Callable[[Any], Iterable[str]] | None = None
        try:
            hook = getattr(component.import_module(), ENTITY_IDS_HOOK, None)
        except Exception:
            hook = None
        if hook is None:
            known.complete = False
            continue
        block = result.blocks.get(domain)
        if block is None and domain in result.errors:
            known.complete = False  # its block is invalid: what it would make is unknown
            continue
        try:
            ids = set(hook(block))
        except Exception:
            _LOGGER.warning("%s.%s failed", domain, ENTITY_IDS_HOOK, exc_info=True)
            known.complete = False
            continue
        for entity_id in ids:
            if entity_id.endswith(".*"):
                known.open_domains.add(entity_id[:-2])
            elif entity_id.endswith("*"):
                known.open_prefixes.add(entity_id[:-1])
            else:
                known.entities.add(entity_id)
    # Each script is also a service (`script.<key>`), as in Home Assistant.
    known.services.update(e for e in known.entities if e.startswith("script."))
    _add_entity_services(known)
    return known


def _add_entity_services(known: Known) -> None:
    """`switch.turn_on` and the like exist where their domain has an entity (or may have
    one at run time: a domain made at run time, a component that does not say what it
    makes); a domain with none has no such service (orge/entity.py registers them with the
    domain's first entity)."""
    with_entities = {name.partition(".")[0] for name in known.entities | known.open_prefixes}
    with_entities |= known.open_domains
    for name in known.entity_services:
        domain = name.partition(".")[0]
        if domain in with_entities:
            known.services.add(name)
            known.service_domains.add(domain)
        elif not known.complete:
            known.open_service_domains.add(domain)  # the running station settles it


def _is_service(name: str, known: Known) -> bool | None:
    """True/False when the files settle it; None when only the running station knows."""
    if name in known.services:
        return True
    domain = name.partition(".")[0]
    if domain in known.open_service_domains:
        return None
    return False


def _is_entity(name: str, known: Known) -> bool | None:
    if name in known.entities:
        return True
    if name.partition(".")[0] in known.open_domains or not known.complete:
        return None
    if any(name.startswith(prefix) for prefix in known.open_prefixes):
        return None
    return False


def _classify(reference: Reference, known: Known) -> str | None:
    """A blueprint input value: a service if it names a service domain's name, an entity
    id if its domain holds entities, else None (any other text: a host name, a version)."""
    if reference.kind != "input":
        return reference.kind
    if reference.name in known.services or reference.name in known.entity_services:
        return "service"
    if reference.name in known.entities:
        return "entity"
    domain = reference.name.partition(".")[0]
    entity_domains = (
        {e.partition(".")[0] for e in known.entities | known.open_prefixes}
        | known.open_domains
        | ENTITY_DOMAINS
    )
    if domain in entity_domains:
        return "entity"
    if domain in known.service_domains:
        return "service"
    return None


def _problem(reference: Reference, kind: str, candidates: Iterable[str], config_dir: str) -> str:
    what = "service" if kind == "service" else "entity"
    # The nearest name in the same domain first (a typo is rarely in the domain), and it
    # keeps the comparisons few on a station with many names.
    prefix = reference.name.partition(".")[0] + "."
    names = list(candidates)
    hint = did_you_mean(reference.name, [n for n in names if n.startswith(prefix)])
    if not hint:
        hint = did_you_mean(reference.name, names)
    return f"{reference.place(config_dir)}: {what} `{reference.name}` does not exist{hint}"


def find_unknown_names(result: CheckResult) -> list[str]:
    """One warning line per service or entity id that no configured component provides
    (and per configured component's services.yaml that cannot be read).

    Names only the running station can know (custom components, ids made at run time)
    are not reported here; `async_check_started` checks them.
    """
    if not result.raw:
        return []
    known = known_names(result)
    warnings: list[str] = list(known.problems)
    for reference in configuration_references(result):
        kind = _classify(reference, known)
        if kind == "service":
            if _is_service(reference.name, known) is False:
                warnings.append(_problem(reference, kind, known.services, result.config_dir))
        elif kind is None:
            continue  # a blueprint input that names neither a service nor an entity
        elif valid_entity_id(reference.name):
            if _is_entity(reference.name, known) is False:
                warnings.append(_problem(reference, kind, known.entities, result.config_dir))
        else:
            warnings.append(
                f"{reference.place(result.config_dir)}: `{reference.name}` is not a valid "
                "entity id (lower-case `domain.object_id`)"
            )
    return list(dict.fromkeys(warnings))


# --- once the station has started -------------------------------------------------------


def unknown_at_run_time(orge: Orge, references: Iterable[Reference]) -> list[tuple[Reference, str]]:
    """(reference, message) for each name the running station does not have."""
    entity_ids = orge.states.async_entity_ids()
    services = [
        f"{domain}.{service}"
        for domain, names in orge.services.async_services().items()
        for service in names
    ]
    config_dir = orge.config.config_dir or ""
    missing: list[tuple[Reference, str]] = []
    for reference in references:
        domain, _, service = reference.name.partition(".")
        kind = reference.kind
        if kind == "input":
            if orge.services.has_service(domain, service) or orge.states.get(reference.name):
                continue
            kind = "service" if domain in orge.services.async_services() else "entity"
        if kind == "service":
            if not orge.services.has_service(domain, service):
                missing.append((reference, _problem(reference, kind, services, config_dir)))
        elif valid_entity_id(reference.name) and orge.states.get(reference.name) is None:
            if orge.states.async_available(reference.name):
                missing.append((reference, _problem(reference, kind, entity_ids, config_dir)))
    return missing


def not_known_to_exist(result: CheckResult) -> list[Reference]:
    """The names the files do not show to exist: those check-config reports as unknown and
    those it could not settle. The run-time check looks each up in the running station.
    (An id a component promises from its config is not checked again: some appear only
    once a link reports, e.g. sensor.ocpp_active_protocol.)"""
    known = known_names(result)
    left = []
    for reference in configuration_references(result):
        kind = _classify(reference, known)
        if kind == "service":
            if _is_service(reference.name, known) is not True:
                left.append(reference)
        elif kind == "entity" and valid_entity_id(reference.name):
            if _is_entity(reference.name, known) is not True:
                left.append(reference)
    return left


def async_check_started(orge: Orge, result: CheckResult) -> None:
    """Once the station has started: a warning and a persistent notification per name that
    the configuration uses and the running station does not have. The configuration is
    read then, not during set-up, so starting the components waits for nothing."""
    if not result.raw:
        return

    @callback
    def check(_event: Event) -> None:
        seen: set[str] = set()
        for reference, message in unknown_at_run_time(orge, not_known_to_exist(result)):
            if reference.name in seen:
                continue
            seen.add(reference.name)
            _LOGGER.warning("%s", message)
            object_id = re.sub(r"[^a-z0-9_]+", "_", reference.name.lower())
            orge.states.async_set(
                f"{NOTIFICATION_DOMAIN}.unknown_name_{object_id}",
                "notifying",
                {
                    "title": f"Unknown name {reference.name}",
                    "message": message,
                    "friendly_name": f"Unknown name {reference.name}",
                },
            )

    orge.bus.async_listen_once(EVENT_ORGE_STARTED, check)


def entity_ids_of(entities: Iterable[Any], component: str) -> set[str]:
    """The ids `orge.entity.async_add_entities` gives these (not yet added) entities, for a
    component's `configured_entity_ids` (a `_2` suffix for a taken id is not foreseen)."""
    from orge.validation import slugify

    return {
        f"{entity.domain}.{entity._attr_object_id or slugify(entity.name or component)}"
        for entity in entities
    }
