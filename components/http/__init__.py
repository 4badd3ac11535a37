"""The HTTP API: Home Assistant's REST and WebSocket APIs, and the web entity view at `/`.

Only the schema lives here so `orge check-config` stays fast; aiohttp and everything
that serves requests is imported in `async_setup`.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import voluptuous as vol

import orge.validation as cv
from orge.core import Orge

DOMAIN = "http"
DEFAULT_PORT = 8000
DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_IDLE_TIMEOUT = 30.0
DEFAULT_MAX_CONNECTIONS = 256


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(cv.string(value), strict=False)
    except ValueError:
        raise vol.Invalid(f"invalid IP address or network {value!r}") from None


def _token_value(value: Any) -> str:
    text = cv.string(value)
    if len(text) < 16:
        raise vol.Invalid("an access token must be at least 16 characters long")
    return text


ACCESS_TOKEN_SCHEMA = vol.Schema(
    {vol.Required("name"): cv.string, vol.Required("token"): _token_value}
)

CONFIG_SCHEMA = vol.Schema(
    {
        vol.Optional("server_host", default="0.0.0.0"): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional("server_port", default=DEFAULT_PORT): cv.port,
        vol.Optional("cors_allowed_origins", default=[]): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional("use_x_forwarded_for", default=False): cv.boolean,
        vol.Optional("trusted_proxies", default=[]): vol.All(cv.ensure_list, [_network]),
        vol.Optional("ip_ban_enabled", default=True): cv.boolean,
        # Home Assistant's default (-1) never bans; a station on the internet should.
        vol.Optional("login_attempts_threshold", default=10): vol.All(
            vol.Coerce(int), vol.Any(-1, vol.Range(min=1))
        ),
        vol.Optional("ssl_certificate"): cv.string,
        vol.Optional("ssl_key"): cv.string,
        vol.Optional("max_body_size", default=DEFAULT_MAX_BODY): vol.All(
            vol.Coerce(int), vol.Range(min=1024)
        ),
        vol.Optional("websocket_max_pending", default=2048): vol.All(
            vol.Coerce(int), vol.Range(min=8)
        ),
        # Seconds a connection may go without a complete request head (slow headers or an
        # idle keep-alive) before it is closed, so a slow client cannot hold sockets.
        vol.Optional("idle_timeout", default=DEFAULT_IDLE_TIMEOUT): vol.All(
            vol.Coerce(float), vol.Range(min=0.1, max=3600)
        ),
        # Open connections at once (all clients; through ngrok every one is 127.0.0.1).
        vol.Optional("max_connections", default=DEFAULT_MAX_CONNECTIONS): vol.All(
            vol.Coerce(int), vol.Range(min=4)
        ),
        vol.Optional("access_tokens", default=[]): vol.All(cv.ensure_list, [ACCESS_TOKEN_SCHEMA]),
    }
)


def validate_config(config_dir: str, config: dict[str, Any]) -> list[str]:
    """Problems a schema cannot see: a certificate without its key, missing files."""
    import os

    problems = []
    cert, key = config.get("ssl_certificate"), config.get("ssl_key")
    if bool(cert) != bool(key):
        problems.append("http: ssl_certificate and ssl_key must be given together")
    for name in ("ssl_certificate", "ssl_key"):
        path = config.get(name)
        if path and not os.path.isfile(os.path.join(config_dir, path)):
            problems.append(f"http: {name} file {path} not found")
    names = [entry["name"] for entry in config.get("access_tokens", [])]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"http: access token name {name!r} is used more than once")
    return problems


async def async_setup(orge: Orge, config: dict[str, Any]) -> bool:
    from .server import async_start_server

    await async_start_server(orge, config)
    return True


def configured_entity_ids(config: Any) -> set[str]:
    """None: states written through POST /api/states are not configuration."""
    return set()
