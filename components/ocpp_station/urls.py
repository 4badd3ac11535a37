"""CSMS URLs, the same for both protocols: what to dial, and a password given in the URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from orge.redact import register_secret


def station_url(url: str, station_id: str, append: Any = "auto") -> str:
    """The URL to dial: credentials removed (they go in the Authorization header);
    OCPP-J wants the station id as the last path segment: appended when `append` is
    True, or `auto` and the path does not already end with it."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    path = parts.path
    segments = [segment for segment in path.split("/") if segment]
    if append is True or (append == "auto" and (not segments or segments[-1] != station_id)):
        path = path.rstrip("/") + "/" + station_id
    return urlunsplit((parts.scheme, netloc, path, parts.query, ""))


def url_password(url: str) -> str | None:
    """A password given as `ws://station:password@host/...` (the station id is the user)."""
    password = urlsplit(url).password
    if password:
        register_secret(password)
    return password or None


def safe_url(url: str) -> str:
    """The URL without user:password (and without a query, which may carry a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
