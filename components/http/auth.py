"""Long-lived access tokens: created by `orge auth create-token`, kept only as salted hashes.

`<config>/.storage/auth_tokens.json` holds `{"version": 1, "tokens": [{"id", "name",
"created", "salt", "hash"}]}`. A token is shown once, when it is created, and never again:
neither the file, a log line nor an API answer contains it. Tokens declared in YAML
(`http: access_tokens:`) are hashed in memory the same way.

The server re-reads the file when it changes (checked at most once a second), so a token
created or revoked from the command line takes effect on a running station.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from orge import storage

STORAGE_FILE = "auth_tokens.json"
_RELOAD_EVERY = 1.0  # seconds between checks of the file's modification time
_CACHE_SIZE = 64


@dataclass(frozen=True)
class TokenEntry:
    id: str
    name: str
    created: str
    salt: str
    hash: str
    source: str = "storage"  # or "yaml"

    def matches(self, token: str) -> bool:
        return hmac.compare_digest(_hash(self.salt, token), self.hash)

    def public(self) -> dict[str, Any]:
        """What `orge auth list` shows: never the hash or the salt."""
        return {"id": self.id, "name": self.name, "created": self.created, "source": self.source}


def _hash(salt: str, token: str) -> str:
    return hashlib.sha256(f"{salt}:{token}".encode()).hexdigest()


def storage_path(config_dir: str) -> str:
    return storage.storage_path(config_dir, STORAGE_FILE)


def _write_atomic(path: str, data: dict[str, Any]) -> None:
    """Replace the file atomically, 0600 in a 0700 `.storage/`."""
    storage.write_private_file(path, json.dumps(data, indent=2).encode("utf-8"))


def load_entries(config_dir: str) -> list[TokenEntry]:
    path = storage_path(config_dir)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return []
    entries = []
    for item in data.get("tokens", []):
        entries.append(
            TokenEntry(item["id"], item["name"], item["created"], item["salt"], item["hash"])
        )
    return entries


def _save_entries(config_dir: str, entries: list[TokenEntry]) -> None:
    tokens = [
        {"id": e.id, "name": e.name, "created": e.created, "salt": e.salt, "hash": e.hash}
        for e in entries
    ]
    _write_atomic(storage_path(config_dir), {"version": 1, "tokens": tokens})


def create_token(config_dir: str, name: str) -> str:
    """Store a new token's hash under `name` and return the token (shown once)."""
    name = name.strip()
    if not name:
        raise ValueError("a token needs a name")
    entries = load_entries(config_dir)
    if any(e.name == name for e in entries):
        raise ValueError(f"a token named {name!r} exists already (revoke it first)")
    token = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    entry = TokenEntry(
        id=secrets.token_hex(8),
        name=name,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        salt=salt,
        hash=_hash(salt, token),
    )
    _save_entries(config_dir, [*entries, entry])
    return token


def revoke_token(config_dir: str, name: str) -> bool:
    entries = load_entries(config_dir)
    remaining = [e for e in entries if e.name != name]
    if len(remaining) == len(entries):
        return False
    _save_entries(config_dir, remaining)
    return True


def yaml_entries(tokens: list[dict[str, Any]]) -> list[TokenEntry]:
    entries = []
    for item in tokens:
        salt = secrets.token_hex(16)
        name = str(item["name"])
        entries.append(
            TokenEntry(
                id=f"yaml-{hashlib.sha256(name.encode()).hexdigest()[:12]}",
                name=name,
                created="",
                salt=salt,
                hash=_hash(salt, str(item["token"])),
                source="yaml",
            )
        )
    return entries


class TokenValidator:
    """Checks a presented token against the stored and YAML tokens."""

    def __init__(self, config_dir: str, yaml_tokens: list[dict[str, Any]]) -> None:
        self._config_dir = config_dir
        self._yaml = yaml_entries(yaml_tokens)
        self._stored: list[TokenEntry] = []
        self._mtime: float | None = None
        self._checked = 0.0
        # Recently accepted tokens, keyed by an unsalted digest so the plain token is not
        # kept; spares a salted hash per entry on every request.
        self._cache: dict[str, TokenEntry] = {}
        self.reload()

    def reload(self) -> None:
        path = storage_path(self._config_dir)
        try:
            mtime = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            mtime = None
        self._checked = time.monotonic()
        if mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            self._stored = load_entries(self._config_dir) if mtime is not None else []
        except (OSError, ValueError, KeyError):
            self._stored = []
        self._cache.clear()

    def validate(self, token: str | None) -> TokenEntry | None:
        if not token:
            return None
        if time.monotonic() - self._checked > _RELOAD_EVERY:
            self.reload()
        try:
            key = hashlib.sha256(token.encode()).hexdigest()
        except UnicodeEncodeError:
            # Header bytes that are not UTF-8 arrive as lone surrogates: no token is like that.
            return None
        entry = self._cache.get(key)
        if entry is not None:
            return entry
        for entry in (*self._stored, *self._yaml):
            if entry.matches(token):
                if len(self._cache) >= _CACHE_SIZE:
                    self._cache.clear()
                self._cache[key] = entry
                return entry
        return None

    def entries(self) -> list[TokenEntry]:
        return [*self._stored, *self._yaml]
