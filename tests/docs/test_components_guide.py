"""docs/components.md stays true: each snippet runs and does what the guide says it does,
and every `path:symbol` of the esp32 walk-through exists.

The example component (`pulse_meter`) is written from the guide's three snippets into a
component folder, linked as a custom component of a real hub (`orge` fixture) and set up
through the loader, as a station does."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from orge.core import Orge
from orge.entity import entity_component
from orge.exceptions import ServiceValidationError
from orge.metrics import render
from orge.setup import check_configuration
from orge.testing import (
    assert_state,
    async_capture_events,
    async_setup_component,
    link_custom_component,
)

from .snippets import DOCS, snippets, unmarked_blocks

GUIDE = "components.md"
SNIPPETS = snippets(GUIDE)
REPO = DOCS.parent


def write_pulse_meter(parent: Path) -> Path:
    """components/pulse_meter/ as the guide shows it: manifest, __init__.py, services.yaml."""
    folder = parent / "pulse_meter"
    folder.mkdir(parents=True)
    (folder / "manifest.yaml").write_text(SNIPPETS["pulse_meter_manifest"].text)
    (folder / "__init__.py").write_text(SNIPPETS["pulse_meter_init"].text)
    (folder / "services.yaml").write_text(SNIPPETS["pulse_meter_services"].text)
    return folder


def test_every_code_block_is_a_tested_snippet() -> None:
    assert unmarked_blocks(GUIDE) == []
    assert set(SNIPPETS) == {
        "pulse_meter_manifest",
        "pulse_meter_init",
        "pulse_meter_services",
        "explained_failure",
        "fault_watch",
        "number_entity",
        "collector",
        "pulse_meter_test",
    }, "a new snippet needs its test here"


async def test_pulse_meter_sets_up_counts_and_refuses(orge: Orge, tmp_path: Path) -> None:
    link_custom_component(orge, write_pulse_meter(tmp_path / "src"))
    assert await async_setup_component(
        orge, "pulse_meter", {"pulse_meter": {"pulses_per_kwh": 500}}
    )

    # "sensor.pulse_energy = 0.0 (kWh) and sensor.pulse_pulses = 0"
    assert_state(orge, "sensor.pulse_energy", "0.0", {"unit_of_measurement": "kWh"})
    assert_state(orge, "sensor.pulse_pulses", "0", {"state_class": "total_increasing"})
    # "after pulse_meter.add_pulses with count: 250 they are 0.5 and 250"
    await orge.services.async_call("pulse_meter", "add_pulses", {"count": 250}, blocking=True)
    assert_state(orge, "sensor.pulse_energy", "0.5")
    assert_state(orge, "sensor.pulse_pulses", "250")
    # "count: 0 is refused before the handler runs (nothing counted)"
    with pytest.raises(ServiceValidationError):
        await orge.services.async_call("pulse_meter", "add_pulses", {"count": 0}, blocking=True)
    assert_state(orge, "sensor.pulse_pulses", "250")

    # configured_entity_ids names exactly what setup created
    created = {
        s.entity_id
        for s in orge.states.async_all()
        if entity_component(orge, s.entity_id) == "pulse_meter"
    }
    module = __import__("custom_components.pulse_meter", fromlist=["configured_entity_ids"])
    block = module.CONFIG_SCHEMA({"pulses_per_kwh": 500})
    assert (
        module.configured_entity_ids(block)
        == created
        == {
            "sensor.pulse_energy",
            "sensor.pulse_pulses",
        }
    )
    # services.yaml is attached to the registered service
    service = orge.services.async_services()["pulse_meter"]["add_pulses"]
    assert service.description["name"] == "Add pulses"
    assert service.description["fields"]["count"]["required"] is True


def test_bad_option_names_file_and_line(config_dir: Path, tmp_path: Path) -> None:
    path = config_dir("pulse_meter:\n  pulses_per_kwh: 0\n")
    write_pulse_meter(path / "custom_components")
    result = check_configuration(str(path))
    expected = (
        "Invalid config for 'pulse_meter' at configuration.yaml, line 2: pulses_per_kwh must "
        "be at least 1 for dictionary value 'pulses_per_kwh', got 0"
    )
    assert result.errors["pulse_meter"] == [expected]
    # the guide quotes this very line (wrapped)
    assert expected in " ".join((DOCS / GUIDE).read_text().replace("`", "").split())


async def test_explained_failure_reaches_the_operator(orge: Orge, tmp_path: Path) -> None:
    folder = tmp_path / "src" / "broken_meter"
    folder.mkdir(parents=True)
    (folder / "manifest.yaml").write_text("domain: broken_meter\nname: Broken meter\n")
    (folder / "__init__.py").write_text(SNIPPETS["explained_failure"].text)
    link_custom_component(orge, folder)

    assert not await async_setup_component(orge, "broken_meter", {"broken_meter": {}})
    message = "serial port /dev/ttyUSB9 not found: is the meter's RS485 adapter plugged in?"
    assert orge.config.setup_errors["broken_meter"] == message
    notification = orge.states.get("persistent_notification.setup_failed_broken_meter")
    assert notification is not None and notification.state == "notifying"
    assert message in notification.attributes["message"]
    assert "broken_meter" not in orge.config.components


async def test_fault_watch_bus_states_services(orge: Orge) -> None:
    SNIPPETS["fault_watch"].module().watch_faults(orge)
    faults = async_capture_events(orge, "charger_fault")

    orge.states.async_set("sensor.charger_state", "charging")
    orge.states.async_set("sensor.charger_state", "fault")
    await orge.async_block_till_done()
    assert [event.data for event in faults] == [{"entity_id": "sensor.charger_state"}]
    # the same state again is no change: nothing fires
    orge.states.async_set("sensor.charger_state", "fault")
    await orge.async_block_till_done()
    assert len(faults) == 1
    # "each time it turns to fault"
    orge.states.async_set("sensor.charger_state", "idle")
    orge.states.async_set("sensor.charger_state", "fault")
    await orge.async_block_till_done()
    assert len(faults) == 2

    await orge.services.async_call(
        "station", "acknowledge_fault", {"by": "operator"}, blocking=True
    )
    assert_state(orge, "sensor.fault_acknowledged", "operator")


async def test_number_entity_routed_and_range_checked(orge: Orge) -> None:
    entity = await SNIPPETS["number_entity"].module().add_current_limit(orge)
    assert entity.entity_id == "number.site_current_limit"
    assert_state(orge, "number.site_current_limit", "32", {"min": 6, "max": 32, "step": 1})

    data = {"entity_id": "number.site_current_limit", "value": 10}
    await orge.services.async_call("number", "set_value", data, blocking=True)
    assert_state(orge, "number.site_current_limit", "10")
    with pytest.raises(ServiceValidationError, match="outside 6..32"):
        await orge.services.async_call("number", "set_value", {**data, "value": 40}, blocking=True)
    assert_state(orge, "number.site_current_limit", "10")
    assert entity.limit == 10


async def test_collector_read_at_scrape(orge: Orge) -> None:
    counts = {"pulse": 3}
    SNIPPETS["collector"].module().register_metrics(orge, counts)
    line = 'orge_pulse_meter_pulses_total{meter="pulse"} 3.0'
    assert line in render(orge).decode().splitlines()
    counts["pulse"] = 5  # the collector reads the plain number when scraped
    assert 'orge_pulse_meter_pulses_total{meter="pulse"} 5.0' in render(orge).decode()


async def test_the_guides_own_test_passes(orge: Orge, tmp_path: Path) -> None:
    folder = write_pulse_meter(tmp_path / "src")
    await SNIPPETS["pulse_meter_test"].module().test_pulses_make_energy(orge, folder)


def test_python_snippets_pass_mypy_strict(tmp_path: Path) -> None:
    """The guide asks for full type hints; its own code has them (`mypy --strict`)."""
    pytest.importorskip("mypy")
    files = []
    for snippet in SNIPPETS.values():
        if snippet.lang == "python":
            file = tmp_path / f"{snippet.name}.py"
            file.write_text(snippet.text)
            files.append(str(file))
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent"]
        + ["--no-incremental", "--config-file", str(REPO / "pyproject.toml"), *files],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr


# --- the esp32 walk-through -----------------------------------------------------------

_REFERENCE = re.compile(r"`((?:components|orge|tests)/[\w/.-]+?\.(?:py|yaml|md))(?::([\w.]+))?`")


def _walkthrough() -> str:
    text = (DOCS / GUIDE).read_text()
    return text[text.index("## Walk-through: `esp32`") :]


def _defines(tree: ast.Module, dotted: str) -> bool:
    """`name` or `Class.member` defined at the top of the module (def, class, assignment)."""
    scope: list[ast.stmt] = tree.body
    for part in dotted.split("."):
        for node in scope:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            else:
                continue
            if part in names:
                scope = node.body if isinstance(node, ast.ClassDef) else []
                break
        else:
            return False
    return True


def test_walkthrough_names_exist() -> None:
    references = _REFERENCE.findall(_walkthrough())
    assert len(references) >= 25, references  # the pattern still finds them
    missing = []
    for path, symbol in references:
        file = REPO / path
        if not file.is_file():
            missing.append(path)
        elif symbol and not _defines(ast.parse(file.read_text()), symbol):
            missing.append(f"{path}:{symbol}")
    assert missing == []


def test_walkthrough_lists_the_esp32_entity_ids() -> None:
    from components.esp32 import CONFIG_SCHEMA, configured_entity_ids

    paragraph = _walkthrough().split("**Entities.**")[1].split("\n\n")[0]
    listed = set(re.findall(r"`((?:sensor|binary_sensor|number)\.charger_\w+)`", paragraph))
    assert listed == configured_entity_ids(CONFIG_SCHEMA({"port": "simulator"}))
