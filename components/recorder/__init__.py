"""The recorder: state changes and events into SQLite, and history/logbook for the API.

Only the schema lives here (check-config imports it); sqlite and the writer thread are
imported in `async_setup`. Other components read history through the services
`recorder.get_history` and `recorder.get_logbook` (response only), never by importing.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Orge
from orge.helpers.entity_filter import FILTER_SCHEMA

DOMAIN = "recorder"
DEFAULT_DB_FILE = "orge.db"


def _db_url(value: Any) -> str:
    text = cv.strict_string(value)
    if not text.startswith("sqlite:///") or len(text) <= len("sqlite:///"):
        raise vol.Invalid(f"only sqlite:///PATH database URLs are supported, got {text!r}")
    return text


EXCLUDE_SCHEMA = FILTER_SCHEMA.extend(
    {vol.Optional("event_types", default=[]): vol.All(cv.ensure_list, [cv.string])}
)

CONFIG_SCHEMA = vol.Schema(
    {
        vol.Optional("db_url"): _db_url,
        vol.Optional("commit_interval", default=1.0): vol.All(
            vol.Coerce(float), vol.Range(min=0, max=60)
        ),
        vol.Optional("purge_keep_days", default=10): vol.All(vol.Coerce(int), vol.Range(min=1)),
        vol.Optional("auto_purge", default=True): cv.boolean,
        vol.Optional("include", default={}): FILTER_SCHEMA,
        vol.Optional("exclude", default={}): EXCLUDE_SCHEMA,
    }
)


def database_path(config_dir: str, config: dict[str, Any]) -> str:
    """The SQLite file: `db_url` (relative paths are inside the config dir) or the default."""
    import os

    url = config.get("db_url")
    if not url:
        return os.path.join(config_dir, ".storage", DEFAULT_DB_FILE)
    path = url[len("sqlite:///") :]
    return path if os.path.isabs(path) else os.path.join(config_dir, path)


async def async_setup(orge: Orge, config: dict[str, Any]) -> bool:
    from .core import async_setup_recorder

    await async_setup_recorder(orge, config)
    return True


def configured_entity_ids(config: Any) -> set[str]:
    """None: the recorder keeps states, it makes no entity (docs/components.md)."""
    return set()
