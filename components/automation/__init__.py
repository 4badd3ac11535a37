"""The automation component: `automation:` in configuration.yaml (or `!include`).

Validation here is per automation: a broken automation is reported with its file and
line and skipped, the others run. `orge check-config` gets every problem through
`validate_config`. Runtime lives in `manager.py`, imported only by `async_setup`.
"""

from __future__ import annotations

from typing import Any

from orge.core import Orge

from .config import CONFIG_SCHEMA, DOMAIN, validate_all

__all__ = [
    "CONFIG_SCHEMA",
    "DOMAIN",
    "async_setup",
    "configured_entity_ids",
    "validate_config",
]


def validate_config(config_dir: str, block: Any) -> list[str]:
    """Every problem of every automation: schema, templates, blueprints, with file/line."""
    from orge.template import strict_checks

    with strict_checks():  # compile every template: an unknown filter is caught too
        _valid, problems = validate_all(block, config_dir)
    return problems


async def async_setup(orge: Orge, config: list[Any]) -> bool:
    from .manager import async_setup_manager

    await async_setup_manager(orge, config)
    return True


def configured_entity_ids(config: list[Any] | None) -> set[str]:
    """`automation.<slug of id, alias or automation_N>`, as the manager names them
    (docs/components.md)."""
    import orge.validation as cv

    ids = set()
    for index, item in enumerate(config or [], 1):
        item = item if isinstance(item, dict) else {}
        ids.add(
            f"{DOMAIN}.{cv.slugify(item.get('id') or item.get('alias') or f'{DOMAIN}_{index}')}"
        )
    return ids
