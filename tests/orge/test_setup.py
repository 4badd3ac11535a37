"""Component discovery, dependency order, setup failures that leave the others running."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orge.setup import check_configuration

GOOD = """
import voluptuous as vol
import orge.validation as cv

CONFIG_SCHEMA = vol.Schema({vol.Optional("value", default=1): vol.Coerce(int)})

async def async_setup(orge, config):
    order = orge.data.setdefault("order", [])
    order.append("%(domain)s")
    orge.data["%(domain)s"] = config
    orge.states.async_set("sensor.%(domain)s", config["value"])
    return True
"""

RAISES = """
async def async_setup(orge, config):
    raise RuntimeError("controller on fire")
"""

RETURNS_FALSE = """
async def async_setup(orge, config):
    return False
"""

SLOW = """
import asyncio
async def async_setup(orge, config):
    await asyncio.sleep(30)
    return True
"""


def component(
    domain: str, code: str = GOOD, deps: list[str] | None = None, after: list[str] | None = None
) -> dict[str, str]:
    manifest = f"domain: {domain}\nname: {domain.title()}\nversion: '1.0'\n"
    if deps:
        manifest += f"dependencies: [{', '.join(deps)}]\n"
    if after:
        manifest += f"after_dependencies: [{', '.join(after)}]\n"
    return {
        f"custom_components/{domain}/manifest.yaml": manifest,
        f"custom_components/{domain}/__init__.py": code % {"domain": domain}
        if "%(domain)s" in code
        else code,
    }


def files(*parts: dict[str, str]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for part in parts:
        merged.update(part)
    return merged


async def test_dependency_order_and_empty_block(
    config_dir: Callable[..., Path], start_station: Callable[..., Any]
) -> None:
    path = config_dir(
        "alpha:\nbeta:\n  value: 7\n",
        files=files(
            component("alpha", deps=["gamma"]),
            component("beta", after=["alpha"]),
            component("gamma"),
        ),
    )
    orge, result = await start_station(path)
    assert result.problems == []
    assert orge.data["order"] == ["gamma", "alpha", "beta"]
    assert orge.data["alpha"] == {"value": 1}  # `alpha:` with no value gets an empty block
    assert orge.states.get("sensor.beta").state == "7"
    assert {"alpha", "beta", "gamma"} <= orge.config.components


async def test_failing_components_do_not_take_others_down(
    config_dir: Callable[..., Path],
    start_station: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = config_dir(
        "ok_one:\nfire:\nfalse_one:\nneeds_fire:\nok_two:\n",
        files=files(
            component("ok_one"),
            component("fire", RAISES),
            component("false_one", RETURNS_FALSE),
            component("needs_fire", deps=["fire"]),
            component("ok_two"),
        ),
    )
    orge, _ = await start_station(path)
    assert {"ok_one", "ok_two"} <= orge.config.components
    assert set(orge.config.setup_errors) == {"fire", "false_one", "needs_fire"}
    assert "controller on fire" in orge.config.setup_errors["fire"]
    assert "Traceback" in caplog.text and "controller on fire" in caplog.text
    note = orge.states.get("persistent_notification.setup_failed_fire")
    assert note is not None and "controller on fire" in note.attributes["message"]
    assert "dependency 'fire' failed" in orge.config.setup_errors["needs_fire"]


async def test_setup_timeout(
    config_dir: Callable[..., Path], start_station: Callable[..., Any]
) -> None:
    path = config_dir(
        "orge:\n  setup_timeout: 1\nslow:\nfast:\n",
        files=files(component("slow", SLOW), component("fast")),
    )
    orge, _ = await start_station(path)
    assert "longer than 1 s" in orge.config.setup_errors["slow"]
    assert "fast" in orge.config.components


def test_cycle_and_missing_dependency_are_reported(config_dir: Callable[..., Path]) -> None:
    path = config_dir(
        "a:\nb:\nlonely:\nnowhere:\nfine:\n",
        files=files(
            component("a", deps=["b"]),
            component("b", deps=["a"]),
            component("lonely", deps=["ghost"]),
            component("fine"),
        ),
    )
    result = check_configuration(str(path))
    text = "\n".join(result.problems)
    assert "dependency cycle: a -> b -> a" in text or "dependency cycle: b -> a -> b" in text
    assert "dependency 'ghost' cannot be loaded (Component 'ghost' not found)" in text
    assert "configuration.yaml, line 4: Component 'nowhere' not found" in text
    assert [c.domain for c in result.order] == ["fine"]


def test_schema_error_of_a_component(config_dir: Callable[..., Path]) -> None:
    path = config_dir("orge:\n  name: t\nalpha:\n  value: lots\n", files=component("alpha"))
    result = check_configuration(str(path))
    assert result.problems == [
        "Invalid config for 'alpha' at configuration.yaml, line 4: expected int for "
        "dictionary value 'value', got 'lots'"
    ]


def test_custom_component_replaces_builtin_with_warning(
    config_dir: Callable[..., Path], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    import components as builtin

    builtin_dir = Path(builtin.__file__).parent
    domains = [p.name for p in builtin_dir.iterdir() if (p / "manifest.yaml").is_file()]
    if not domains:
        pytest.skip("no built-in component to replace yet")
    domain = sorted(domains)[0]
    path = config_dir(f"{domain}:\n", files=component(domain))
    result = check_configuration(str(path))
    assert result.index is not None and result.index.get(domain).is_custom
    assert f"Custom component {domain} replaces the built-in one" in caplog.text


def test_broken_import_is_one_problem(config_dir: Callable[..., Path]) -> None:
    path = config_dir(
        "broken:\nalpha:\n",
        files=files(component("broken", "import not_a_module_anywhere\n"), component("alpha")),
    )
    result = check_configuration(str(path))
    assert any(
        "Component 'broken' cannot be imported: ModuleNotFoundError" in p for p in result.problems
    )
    assert "alpha" in result.blocks


def test_missing_requirement_is_reported_not_installed(config_dir: Callable[..., Path]) -> None:
    parts = component("needy")
    parts["custom_components/needy/manifest.yaml"] += (
        "requirements: [surely-not-installed-pkg>=1, PyYAML]\n"
    )
    result = check_configuration(str(config_dir("needy:\n", files=parts)))
    assert result.problems == ["Component 'needy' needs surely-not-installed-pkg>=1, not installed"]


def test_a_second_block_of_a_one_block_domain_is_named_at_its_line(config_dir) -> None:
    """`esp32 second:` beside `esp32:`: esp32 takes one mapping, so check-config names
    the second block's line and what to do (not "expected a dictionary" without a
    line), and no entity-id hook is run on the invalid block; a domain whose schema
    takes a list (automation) merges its blocks."""
    from orge.setup import check_configuration

    path = config_dir(
        "esp32:\n  port: simulator\nesp32 second:\n  port: simulator\n  name: second\n"
        "automation:\n  - trigger: {platform: homeassistant, event: start}\n"
        "    action: []\n"
        "automation more:\n  - trigger: {platform: homeassistant, event: start}\n"
        "    action: []\n"
    )
    result = check_configuration(str(path))
    assert result.errors["esp32"] == [
        "configuration.yaml, line 3: `esp32 second` is a second esp32 block, but esp32 "
        "takes one: put its options under `esp32:`"
    ]
    assert "automation" not in result.errors
    assert len(result.blocks["automation"]) == 2
