"""`orge scaffold component NAME [-c DIR]`: a new component that works as generated.

It writes `manifest.yaml`, `__init__.py` (a CONFIG_SCHEMA whose options are described, an
`async_setup` adding one sensor and registering one service, `configured_entity_ids`),
`services.yaml` and a test that passes as generated (using orge.testing), following
docs/components.md. Without `-c` they go to `components/NAME/` of the checkout and the test
to `tests/components/NAME/`; with `-c DIR` to `DIR/custom_components/NAME/` and its
`tests/` folder. A name that is not a domain (`[a-z][a-z0-9_]*`, Home Assistant's rule
for integration domains) or that clashes with a component or an engine domain is
refused, and an existing file is never overwritten (nothing is written then).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from string import Template

from orge.exceptions import OrgeError

DOMAIN_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


class ScaffoldError(OrgeError):
    """The component cannot be created; the message says why."""


@dataclass(frozen=True)
class Created:
    """What `scaffold_component` wrote: the component folder and each file, in order."""

    folder: str
    files: list[str]


def engine_domains() -> set[str]:
    """Domains the engine itself owns: `orge` and the entity domains whose services it
    routes (`switch.turn_on`, ...). A component named like one would shadow them."""
    from orge.entity import Entity

    found = {"orge"}
    pending = list(Entity.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        domain = getattr(cls, "domain", None)
        if isinstance(domain, str):
            found.add(domain)
    return found


def check_name(name: str, config_dir: str | None) -> None:
    """ScaffoldError unless `name` is a free, valid domain for this checkout/config dir."""
    from orge.loader import ComponentIndex

    if not DOMAIN_PATTERN.match(name):
        raise ScaffoldError(
            f"'{name}' is not a valid domain: lower-case letters, digits and _, "
            "starting with a letter"
        )
    if name in engine_domains():
        raise ScaffoldError(f"'{name}' is a domain of the engine itself; choose another name")
    existing = ComponentIndex(config_dir).get(name)
    if existing is not None:
        raise ScaffoldError(f"a component '{name}' already exists at {existing.path}")


def _targets(name: str, config_dir: str | None) -> tuple[str, dict[str, str]]:
    """(component folder, {path: text}) for the files to write."""
    from orge.loader import BUILTIN_DIR

    custom = config_dir is not None
    if config_dir is not None:
        folder = os.path.join(config_dir, "custom_components", name)
        test_path = os.path.join(folder, "tests", f"test_{name}.py")
    else:
        folder = os.path.join(BUILTIN_DIR, name)
        checkout = os.path.dirname(BUILTIN_DIR)
        test_path = os.path.join(checkout, "tests", "components", name, f"test_{name}.py")
    values = {
        "domain": name,
        "title": name.replace("_", " ").capitalize(),
        "package": f"custom_components.{name}" if custom else f"components.{name}",
    }
    files = {
        os.path.join(folder, "manifest.yaml"): MANIFEST.substitute(values),
        os.path.join(folder, "__init__.py"): INIT.substitute(values),
        os.path.join(folder, "services.yaml"): SERVICES.substitute(values),
        test_path: (CUSTOM_TEST if custom else BUILTIN_TEST).substitute(values),
    }
    if not custom:
        files[os.path.join(os.path.dirname(test_path), "__init__.py")] = ""
    return folder, files


def scaffold_component(name: str, config_dir: str | None = None) -> Created:
    """Write a new component `name`; see the module. Raises ScaffoldError (bad or taken
    name, a file already there) before writing anything."""
    check_name(name, config_dir)
    folder, files = _targets(name, config_dir)
    present = [path for path in files if os.path.exists(path)]
    if present:
        raise ScaffoldError(f"{present[0]} exists; scaffold never overwrites a file")
    written = []
    for path, text in files.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # "x": fail rather than overwrite a file that appeared meanwhile.
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(text)
        written.append(path)
    return Created(folder, written)


MANIFEST = Template(
    """\
domain: $domain
name: $title
version: "0.1"
description: A counter to start from; replace it with what $domain does.
dependencies: []
after_dependencies: []
requirements: []
"""
)

INIT = Template(
    '''\
"""$title: a counter sensor and an `increment` service, made by `orge scaffold`.

Configuration (docs/components.md):

    $domain:
      name: Pulses   # sensor.pulses_count
      step: 1
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.check_names import entity_ids_of
from orge.core import Orge, ServiceCall
from orge.entity import SensorEntity, async_add_entities

DOMAIN = "$domain"
SERVICE_INCREMENT = "increment"

CONFIG_SCHEMA = vol.Schema(
    {
        vol.Optional(
            "name", default="$title", description="Sensor name; its id is sensor.<name>_count."
        ): cv.string,
        vol.Optional(
            "initial", default=0, description="Value of the counter at start."
        ): vol.Coerce(int),
        vol.Optional(
            "step", default=1, description="How much `$domain.increment` adds without `amount`."
        ): vol.All(vol.Coerce(int), vol.Range(min=1)),
    }
)

INCREMENT_SCHEMA = vol.Schema({vol.Optional("amount"): vol.All(vol.Coerce(int), vol.Range(min=1))})


class CountSensor(SensorEntity):
    """The counter; its state is an integer."""

    _attr_state_class = "total_increasing"

    def __init__(self, config: dict[str, Any]) -> None:
        self._attr_name = f"{config['name']} count"
        self._attr_state = config["initial"]


async def async_setup(orge: Orge, config: dict[str, Any]) -> bool:
    """Add the sensor and register `$domain.increment` (described in services.yaml)."""
    sensor = CountSensor(config)
    await async_add_entities(orge, DOMAIN, [sensor])

    async def increment(call: ServiceCall) -> None:
        sensor._attr_state = int(sensor.state) + call.data.get("amount", config["step"])
        sensor.async_write_state()

    orge.services.async_register(DOMAIN, SERVICE_INCREMENT, increment, INCREMENT_SCHEMA)
    return True


def configured_entity_ids(config: dict[str, Any]) -> set[str]:
    """The ids this block creates, from the same class that names the sensor."""
    return entity_ids_of([CountSensor(config)], DOMAIN)
'''
)

SERVICES = Template(
    """\
increment:
  name: Increment
  description: Add to the counter (the configured step without `amount`).
  fields:
    amount:
      name: Amount
      description: How much to add.
      required: false
      example: 5
      selector:
        number: {min: 1, max: 1000, step: 1}
"""
)

_TEST_BODY = '''

@pytest.mark.asyncio
async def test_sensor_and_service(orge: Orge) -> None:
    """The sensor starts at `initial`; `increment` adds `step`, or `amount`."""$link
    config = {DOMAIN: {"name": "Pulses", "initial": 3, "step": 2}}
    assert await async_setup_component(orge, DOMAIN, config)
    assert_state(orge, "sensor.pulses_count", "3")
    changes = async_capture_events(orge, EVENT_STATE_CHANGED)

    await orge.services.async_call(DOMAIN, "increment", {}, blocking=True)
    assert_state(orge, "sensor.pulses_count", "5")
    await orge.services.async_call(DOMAIN, "increment", {"amount": 10}, blocking=True)
    assert_state(orge, "sensor.pulses_count", "15")
    assert [event.data["new_state"].state for event in changes] == ["5", "15"]


@pytest.mark.asyncio
async def test_bad_config_is_refused(orge: Orge) -> None:
    """A step of 0 fails validation: nothing is set up and the reason names the option."""$link
    assert not await async_setup_component(orge, DOMAIN, {DOMAIN: {"step": 0}})
    assert "step" in orge.config.setup_errors[DOMAIN]
    assert orge.states.get("sensor.${domain}_count") is None


def test_configured_entity_ids() -> None:
    assert component.configured_entity_ids(component.CONFIG_SCHEMA({"name": "Pulses"})) == {
        "sensor.pulses_count"
    }
'''

BUILTIN_TEST = Template(
    '''\
"""Tests of the $domain component, with orge.testing's fixtures and helpers."""

from __future__ import annotations

import pytest

import $package as component
from orge.core import EVENT_STATE_CHANGED, Orge
from orge.testing import assert_state, async_capture_events, async_setup_component

DOMAIN = "$domain"
'''
    + _TEST_BODY.replace("$link", "")
)

CUSTOM_TEST = Template(
    '''\
"""Tests of the $domain custom component, with orge.testing's fixtures and helpers
(`pip install orge` registers them; run `python -m pytest` in this folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orge.core import EVENT_STATE_CHANGED, Orge
from orge.testing import (
    assert_state,
    async_capture_events,
    async_setup_component,
    link_custom_component,
    load_component_module,
)

DOMAIN = "$domain"
COMPONENT_DIR = Path(__file__).resolve().parent.parent
component = load_component_module(COMPONENT_DIR)
'''
    + _TEST_BODY.replace("$link", "\n    link_custom_component(orge, COMPONENT_DIR)")
)
