"""The script component: `script: {name: {alias, fields, mode, sequence}}`.

Each script is an entity `script.<name>` (on while running) and a service
`script.<name>` that runs it and waits, returning the response of a `stop:` step.
"""

from __future__ import annotations

from typing import Any

from orge.core import Orge

from .config import CONFIG_SCHEMA as CONFIG_SCHEMA  # what the loader validates with
from .config import validate_scripts
from .const import DOMAIN


def validate_config(config_dir: str, block: Any) -> list[str]:
    from orge.template import strict_checks

    with strict_checks():  # compile every template: an unknown filter is caught too
        return validate_scripts(block, config_dir)[1]


async def async_setup(orge: Orge, config: dict[str, Any]) -> bool:
    from .manager import async_setup_scripts

    await async_setup_scripts(orge, config)
    return True


def configured_entity_ids(config: dict[str, Any] | None) -> set[str]:
    """`script.<key>` for each script (also the service of that name; docs/components.md)."""
    return {f"{DOMAIN}.{key}" for key in config or {}}
