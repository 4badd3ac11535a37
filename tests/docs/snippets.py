"""The code blocks of a Markdown guide that a test runs.

A block is marked by an HTML comment on the line before its opening fence:

    <!-- snippet: name -->
    ```python
    ...
    ```

Every ```python and ```yaml block of a guide must be marked (`unmarked_blocks` finds the
others), so nothing a guide shows escapes its test; blocks in other languages (```text,
plain ```) are illustrations and are not run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

DOCS = Path(__file__).resolve().parents[2] / "docs"
RUN_LANGUAGES = ("python", "yaml")

_BLOCK = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```$", re.M | re.S)
_MARKER = re.compile(r"<!-- snippet: (?P<name>[\w-]+) -->\n$")


@dataclass(frozen=True)
class Snippet:
    name: str
    lang: str
    text: str
    line: int  # of the first line of code in the Markdown file
    where: str  # "docs/<file>.md, line N", for messages and tracebacks

    def yaml(self) -> Any:
        return yaml.safe_load(self.text)

    def module(self, name: str | None = None) -> ModuleType:
        """The snippet run as a module of its own; a traceback names the guide's line."""
        module = ModuleType(name or f"guide_snippet_{self.name}")
        # blank lines first, so the compiled line numbers are the Markdown file's
        code = compile("\n" * (self.line - 1) + self.text, self.where.split(",")[0], "exec")
        exec(code, module.__dict__)
        return module


def _blocks(path: Path) -> list[tuple[str | None, str, str, int]]:
    text = path.read_text(encoding="utf-8")
    found = []
    for match in _BLOCK.finditer(text):
        before = text[: match.start()]
        marker = _MARKER.search(before[-200:])
        line = before.count("\n") + 2
        found.append((marker["name"] if marker else None, match["lang"], match["body"], line))
    return found


def snippets(doc: str) -> dict[str, Snippet]:
    """name -> Snippet of docs/<doc>; a name used twice is an error."""
    path = DOCS / doc
    found: dict[str, Snippet] = {}
    for name, lang, body, line in _blocks(path):
        if name is None:
            continue
        if name in found:
            raise ValueError(f"docs/{doc}, line {line}: snippet name {name!r} used twice")
        found[name] = Snippet(name, lang, body, line, f"docs/{doc}, line {line}")
    return found


def unmarked_blocks(doc: str) -> list[str]:
    """`docs/<doc>, line N` of each python or yaml block without a snippet marker."""
    return [
        f"docs/{doc}, line {line}"
        for name, lang, _body, line in _blocks(DOCS / doc)
        if name is None and lang in RUN_LANGUAGES
    ]
