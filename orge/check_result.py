"""`CheckResult`: what loading a configuration found, handed from the loader
(orge/setup.py) to the checks that run on it (orge/check_names.py) and to the CLI.

A leaf: it imports neither of them, so they may both import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orge import config as conf_util
from orge.loader import Component, ComponentIndex


@dataclass
class CheckResult:
    """What loading a configuration found: validated blocks and one line per problem."""

    config_dir: str
    raw: dict[str, Any] = field(default_factory=dict)
    blocks: dict[str, Any] = field(default_factory=dict)
    # The defaults until the sections validate: a configuration that does not load still
    # has a name, a time zone and log levels to start recovery mode with.
    core: dict[str, Any] = field(default_factory=lambda: conf_util.CORE_SCHEMA({}))
    logger: dict[str, Any] = field(default_factory=lambda: conf_util.LOGGER_SCHEMA({}))
    order: list[Component] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)
    index: ComponentIndex | None = None

    def add(self, domain: str, problems: list[str]) -> None:
        if problems:
            self.errors.setdefault(domain, []).extend(problems)

    @property
    def problems(self) -> list[str]:
        return [line for lines in self.errors.values() for line in lines]
