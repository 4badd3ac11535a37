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


@cv.json_schema(lambda convert: convert(cv.string))
def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(cv.string(value), strict=False)
    except ValueError:
        raise vol.Invalid(f"invalid IP address or network {value!r}") from None


@cv.json_schema({"type": ["string", "number"], "minLength": 16})
def _token_value(value: Any) -> str:
    text = cv.string(value)
    if len(text) < 16:
        raise vol.Invalid("an access token must be at least 16 characters long")
    return text


ACCESS_TOKEN_SCHEMA = vol.Schema(
    {
        vol.Required(
            "name", description="Who the token is for (shown by `orge auth list`)."
        ): cv.string,
        vol.Required(
            "token",
            description="The token itself, at least 16 characters; keep it in secrets.yaml (!secret).",
        ): _token_value,
    }
)

CONFIG_SCHEMA = vol.Schema(
    {
        vol.Optional(
            "server_host", default="0.0.0.0", description="Address or addresses to listen on."
        ): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional(
            "server_port", default=DEFAULT_PORT, description="TCP port of the API and the web view."
        ): cv.port,
        vol.Optional(
            "cors_allowed_origins",
            default=[],
            description=cv.describe(
                "Web page origins on other hosts allowed to call the API.",
                example=["https://ops.example.com"],
            ),
        ): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional(
            "use_x_forwarded_for",
            default=False,
            description="Take the client address from X-Forwarded-For when the request comes from one of trusted_proxies (behind ngrok or a reverse proxy).",
        ): cv.boolean,
        vol.Optional(
            "trusted_proxies",
            default=[],
            description="Addresses or networks of proxies whose X-Forwarded-For is believed.",
        ): vol.All(cv.ensure_list, [_network]),
        vol.Optional(
            "ip_ban_enabled",
            default=True,
            description="Ban an address after login_attempts_threshold failed logins (bans are kept in .storage/ip_bans.yaml).",
        ): cv.boolean,
        # Home Assistant's default (-1) never bans; a station on the internet should.
        vol.Optional(
            "login_attempts_threshold",
            default=10,
            description="Failed logins before a ban; -1 never bans. An IPv6 client is counted and banned by its /64.",
        ): vol.All(vol.Coerce(int), vol.Any(-1, vol.Range(min=1))),
        vol.Optional(
            "ssl_certificate",
            description="TLS certificate file (inside the config dir); give both ssl_certificate and ssl_key, or neither.",
        ): cv.string,
        vol.Optional("ssl_key", description="TLS private key file for ssl_certificate."): cv.string,
        vol.Optional(
            "max_body_size",
            default=DEFAULT_MAX_BODY,
            description=cv.describe("Largest request body; larger ones get 413.", unit="bytes"),
        ): vol.All(vol.Coerce(int), vol.Range(min=1024)),
        vol.Optional(
            "websocket_max_pending",
            default=2048,
            description="Messages queued for one WebSocket client before it is dropped.",
        ): vol.All(vol.Coerce(int), vol.Range(min=8)),
        # Seconds a connection may go without a complete request head (slow headers or an
        # idle keep-alive) before it is closed, so a slow client cannot hold sockets.
        vol.Optional(
            "idle_timeout",
            default=DEFAULT_IDLE_TIMEOUT,
            description=cv.describe(
                "Time a connection may take to send a request head, or stay idle between keep-alive requests, before it is closed.",
                unit="s",
            ),
        ): vol.All(vol.Coerce(float), vol.Range(min=0.1, max=3600)),
        # Open connections at once (all clients; through ngrok every one is 127.0.0.1).
        vol.Optional(
            "max_connections",
            default=DEFAULT_MAX_CONNECTIONS,
            description="Open connections at once (all clients; through ngrok every one is 127.0.0.1); more are closed at once.",
        ): vol.All(vol.Coerce(int), vol.Range(min=4)),
        vol.Optional(
            "access_tokens",
            default=[],
            description="Tokens provisioned by fleet tooling, besides those of `orge auth create-token`.",
        ): vol.All(cv.ensure_list, [ACCESS_TOKEN_SCHEMA]),
    }
)


def validate_config(config_dir: str, config: dict[str, Any]) -> list[str]:
    """Problems a schema cannot see: a certificate without its key, missing files."""
    from orge.config import missing_files, option_problem

    problems = []
    cert, key = config.get("ssl_certificate"), config.get("ssl_key")
    if bool(cert) != bool(key):
        given = cert or key  # the line of the one that is there
        text = "ssl_certificate and ssl_key must be given together"
        problems.append(option_problem(DOMAIN, config_dir, given, text))
    problems += missing_files(DOMAIN, config_dir, config, ("ssl_certificate", "ssl_key"))
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
