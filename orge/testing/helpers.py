"""Set a component up, and watch what it does: states, events, service calls.

Names and behaviour follow Home Assistant's test helpers (tests/common.py and
homeassistant/setup.py of Home Assistant core).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import voluptuous as vol

from orge.core import Event, Orge, ServiceCall, SupportsResponse, callback


async def async_setup_component(orge: Orge, domain: str, config: Mapping[str, Any]) -> bool:
    """Set up `domain` (and its dependencies) from `config`, a whole configuration as a
    dict (`{"my_meter": {...}}`), as Home Assistant's `async_setup_component` does.

    The component is looked up the way a station finds it: built-ins, then
    `<config dir>/custom_components/`. The block is validated by its CONFIG_SCHEMA first.
    Returns True when it set up (or already was); False when validation or setup failed,
    the reason in `orge.config.setup_errors[domain]`, as on a station. Waits for the tasks
    setup started (`async_block_till_done`)."""
    from orge.check_result import CheckResult
    from orge.loader import ComponentIndex
    from orge.setup import _validate_component, async_setup_components

    if domain in orge.config.components:
        return True
    index = ComponentIndex(orge.config.config_dir)
    order, errors = index.resolve([domain])
    result = CheckResult(config_dir=orge.config.config_dir or "")
    result.order = [c for c in order if c.domain not in orge.config.components]
    for domain_name, reason in errors.items():
        result.errors.setdefault(domain_name, []).append(reason)
    for component in result.order:
        block = config.get(component.domain)
        result.blocks[component.domain] = _validate_component(result, component, block)
    if domain in errors:
        orge.config.setup_errors[domain] = "; ".join(result.errors[domain])
        return False
    await async_setup_components(orge, result)
    await orge.async_block_till_done()
    return domain in orge.config.components


def async_capture_events(orge: Orge, event_type: str) -> list[Event]:
    """A list that receives every `event_type` event fired from now on (in order)."""
    events: list[Event] = []

    @callback
    def capture(event: Event) -> None:
        events.append(event)

    orge.bus.async_listen(event_type, capture)
    return events


def async_mock_service(
    orge: Orge,
    domain: str,
    service: str,
    schema: vol.Schema | None = None,
    response: Any = None,
) -> list[ServiceCall]:
    """Register `domain.service` recording each call (and answering `response`, when the
    service supports responses); returns the list of ServiceCall received."""
    calls: list[ServiceCall] = []

    @callback
    def record(call: ServiceCall) -> Any:
        calls.append(call)
        return response

    supports = SupportsResponse.OPTIONAL if response is not None else SupportsResponse.NONE
    orge.services.async_register(domain, service, record, schema, supports)
    return calls


def assert_state(
    orge: Orge, entity_id: str, state: str, attributes: Mapping[str, Any] | None = None
) -> None:
    """AssertionError naming the entity when its state (or one of the given attributes)
    is not the expected one, or when it does not exist."""
    current = orge.states.get(entity_id)
    if current is None:
        raise AssertionError(f"{entity_id} does not exist (wanted {state!r})")
    if current.state != state:
        raise AssertionError(f"{entity_id} is {current.state!r}, wanted {state!r}")
    for key, value in (attributes or {}).items():
        if current.attributes.get(key) != value:
            raise AssertionError(
                f"{entity_id} attribute {key} is {current.attributes.get(key)!r}, wanted {value!r}"
            )


def link_custom_component(orge: Orge, folder: str | Path) -> Path:
    """Make the component in `folder` (its name is its domain) a custom component of the
    hub's config dir, by a symbolic link, so `async_setup_component` finds it as a
    station would find `<config>/custom_components/<domain>/`. Returns the link."""
    if not orge.config.config_dir:
        raise RuntimeError("the hub has no config dir: use the `orge` fixture")
    source = Path(folder).resolve()
    target = Path(orge.config.config_dir) / "custom_components" / source.name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(source, target, target_is_directory=True)
    return target


def load_component_module(folder: str | Path) -> ModuleType:
    """The `__init__.py` of the component in `folder`, imported on its own (not entered
    in sys.modules), to test its schema and `configured_entity_ids` without a hub."""
    path = Path(folder).resolve() / "__init__.py"
    spec = importlib.util.spec_from_file_location(f"_orge_testing_{path.parent.name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
