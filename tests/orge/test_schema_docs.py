"""docs/configuration.md and configuration.yaml.example keep step with the schemas: every
option of the core and of every built-in component is described once, in its schema, and
shown in the example."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from orge.json_schema import OLDER_SPELLING, words_of
from orge.schema_docs import _resolve, option_rows, render, rows, script_kinds
from orge.schema_export import options_schema
from tests.conftest import REPO

_TOP_KEY = re.compile(r"^([a-z0-9_]+):", re.MULTILINE)


def _options() -> list[tuple[str, str, str]]:
    """(domain, option, description) of every option."""
    schema = options_schema()
    found = []
    for domain, block in schema["properties"].items():
        for name, _kind, _default, description in rows(block, schema["definitions"]):
            if not description.startswith(OLDER_SPELLING):
                found.append((domain, name, description))
    return found


def test_docs_page_is_in_step_with_the_schemas() -> None:
    """Fails when a schema changed and `orge schema docs -o docs/configuration.md` was not
    run again."""
    page = (REPO / "docs" / "configuration.md").read_text()
    assert page == render(), "run: orge schema docs -o docs/configuration.md"


def test_every_option_is_described() -> None:
    missing = [f"{domain}: {name}" for domain, name, text in _options() if not text.strip()]
    assert missing == []


def test_every_trigger_condition_and_action_option_is_described() -> None:
    schema = options_schema()
    missing = [
        f"{section} {label}: {name}"
        for section, label, kind_schema in script_kinds(schema)
        for name, _kind, _default, text in rows(kind_schema, schema["definitions"])
        if not text.strip()
    ]
    kinds = {(section, label) for section, label, _ in script_kinds(schema)}
    assert ("Triggers", "trigger: state") in kinds and ("Actions", "delay") in kinds
    assert ("Conditions", "condition: time") in kinds and ("Actions", "repeat") in kinds
    assert missing == []


def _sections(text: str) -> dict[str, str]:
    """Each top-level block of the example with the comments up to the next one."""
    starts = [(m.group(1), m.start()) for m in _TOP_KEY.finditer(text)]
    ends = [start for _, start in starts[1:]] + [len(text)]
    return {domain: text[start:end] for (domain, start), end in zip(starts, ends, strict=True)}


def test_example_shows_every_option() -> None:
    sections = _sections((REPO / "configuration.yaml.example").read_text())
    missing = []
    for domain, name, _text in _options():
        leaf = name.rsplit(".", 1)[-1].removesuffix("[]")
        if not re.search(rf"(?<![a-z0-9_]){re.escape(leaf)}:", sections.get(domain, "")):
            missing.append(f"{domain}: {name}")
    assert missing == []


@pytest.mark.parametrize("domain", ["orge", "esp32", "http", "ocpp201"])
def test_page_lists_the_options_of(domain: str) -> None:
    page = render()
    section = page.split(f"## `{domain}:`", 1)[1].split("\n## ", 1)[0]
    for option_domain, name, _text in _options():
        if option_domain == domain:
            assert f"| `{name}` |" in section


def test_cli_writes_the_page(tmp_path: Path) -> None:
    """A real `orge schema docs -o FILE` writes what the test above compares."""
    out = tmp_path / "configuration.md"
    done = subprocess.run(
        [sys.executable, "-m", "orge", "schema", "docs", "-o", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text() == (REPO / "docs" / "configuration.md").read_text()


def _choices(fragment: dict[str, Any], definitions: dict[str, Any]) -> list[Any]:
    """The values an option lists (an enum, words in any case), through anyOf/allOf."""
    fragment = _resolve(fragment, definitions)
    found: list[Any] = list(fragment.get("enum", []))
    words = words_of(fragment.get("pattern", "")) if fragment.get("type") == "string" else None
    found += words or []
    for key in ("anyOf", "allOf"):
        for part in fragment.get(key, []):
            found += [c for c in _choices(part, definitions) if c not in found]
    return found


def test_type_lines_name_what_the_schema_takes() -> None:
    """Each option's type on the page names every kind of value its schema takes: a boolean
    that also takes a word (`append_station_id: auto`) is "boolean or auto", words in any
    case are listed, a number that also takes words names both."""
    schema = options_schema()
    definitions = schema["definitions"]
    wrong = []
    checked = 0
    for domain, block in schema["properties"].items():
        for (name, line, _default, _text), option in option_rows(block, definitions):
            if "$ref" in option:
                continue
            probe = jsonschema.Draft7Validator({"definitions": definitions, **option})
            takes = probe.is_valid
            missing = []
            if takes(True) and not takes("any free text") and "boolean" not in line:
                missing.append("boolean")
            if takes(7.5) and not takes("any free text") and not takes(True):
                if not {"number", "duration", "any"} & set(line.replace("(", " ").split()):
                    missing.append("number")
            if "one of " not in line:
                missing += [
                    str(c)
                    for c in _choices(option, definitions)
                    if isinstance(c, str)
                    and takes(c)
                    and c not in line.split(" \\| ")
                    and c not in line.split(" or ")
                ]
            checked += 1
            if missing:
                wrong.append(f"{domain}: {name}: {line!r} lacks {missing}")
    assert checked > 100
    assert wrong == []
