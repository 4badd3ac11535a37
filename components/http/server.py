"""The aiohttp application: one guard middleware, routes, and the listening sites.

The guard does, in order: find the client address (X-Forwarded-For only from a trusted
proxy), refuse banned clients, answer CORS preflights, refuse bodies over the limit,
check the bearer token on `/api/`, run the handler, turn any error into JSON with the
right status, and add the security headers. One middleware instead of five keeps the
per-request overhead low on a Raspberry Pi.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import json
import logging
import os
import ssl
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any

from aiohttp import web
from aiohttp.web_exceptions import HTTPException

from orge.core import EVENT_LOGIN_FAILED, EVENT_ORGE_STOP, Orge, callback
from orge.exceptions import OrgeError

from .auth import TokenEntry, TokenValidator
from .ban import BanManager
from .metrics import HttpMetrics
from .www_files import WWW_DIR  # noqa: F401  (the web view's folder, named where it is served)

_LOGGER = logging.getLogger(__name__)
DATA_HTTP = "http"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}
HSTS = "max-age=31536000"
_CORS_METHODS = "GET, POST, DELETE, OPTIONS"
_CORS_HEADERS = "Authorization, Content-Type"
KEY_CLIENT: web.RequestKey[str] = web.RequestKey("orge_client_ip", str)
KEY_TOKEN: web.RequestKey[Any] = web.RequestKey("orge_token", object)

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address


def json_message(message: str, status: int = 200, **extra: Any) -> web.Response:
    return web.Response(
        text=json.dumps({"message": message, **extra}),
        status=status,
        content_type="application/json",
    )


@dataclass
class HttpData:
    """What every handler may need; kept at `orge.data["http"]` and `app["orge_http"]`."""

    orge: Orge
    config: dict[str, Any]
    tokens: TokenValidator
    bans: BanManager
    trusted_proxies: list[Network]
    use_x_forwarded_for: bool
    cors_origins: frozenset[str]
    max_body: int
    ssl: bool
    websockets: set[Any] = field(default_factory=set)
    websockets_authenticating: int = 0
    authenticating_by_client: dict[Any, int] = field(default_factory=dict)
    runner: web.AppRunner | None = None
    port: int = 0
    metrics: HttpMetrics | None = None
    _warned_xff: bool = False

    def is_trusted_proxy(self, address: Address) -> bool:
        return any(address in network for network in self.trusted_proxies)

    def client_address(self, request: web.Request) -> Address | None:
        """The client's address; X-Forwarded-For counts only from a trusted proxy.

        Walks the header from the right (the hop nearest to us), skipping trusted proxies,
        so a client cannot pick its own address by sending a forged first entry.
        """
        peer = request.transport.get_extra_info("peername") if request.transport else None
        address = _peer_address(peer[0]) if peer else None
        forwarded = request.headers.getall("X-Forwarded-For", None)
        if not forwarded or address is None:
            return address
        if not (self.use_x_forwarded_for and self.is_trusted_proxy(address)):
            if not self._warned_xff:
                self._warned_xff = True
                _LOGGER.warning(
                    "Ignoring X-Forwarded-For from %s: not a trusted proxy "
                    "(set http: use_x_forwarded_for and trusted_proxies)",
                    address,
                )
            return address
        hops = [h.strip() for value in forwarded for h in value.split(",")]
        for hop in reversed(hops):
            try:
                hop_address = ip_address(hop)
            except ValueError:
                return address  # a malformed header: trust only what we saw
            if not self.is_trusted_proxy(hop_address):
                return hop_address
            address = hop_address
        return address

    async def async_auth_failed(self, address: Address | None, reason: str) -> None:
        # on the bus for whoever reports security events (the OCPP components); never
        # the credential itself, only where it came from and what it was for
        self.orge.bus.async_fire(
            EVENT_LOGIN_FAILED, {"address": str(address) if address else None, "reason": reason}
        )
        if address is not None and self.use_x_forwarded_for and self.is_trusted_proxy(address):
            # The proxy itself (no X-Forwarded-For): banning it would lock out every client
            # behind it, the owner too, on the word of whoever failed. Log, never ban.
            _LOGGER.warning(
                "Login attempt failed from trusted proxy %s (no client address): %s",
                address,
                reason,
            )
            return
        if self.bans.record_failure(address, reason):
            await self.orge.async_add_executor_job(self.bans.save)


APP_DATA: web.AppKey[HttpData] = web.AppKey("orge_http", HttpData)


@functools.lru_cache(maxsize=256)
def _peer_address(host: str) -> Address | None:
    # Parsing an address costs more than the rest of the guard; peers repeat.
    try:
        return ip_address(host)
    except ValueError:
        return None


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


# Answered without a token and without touching the bans: a monitor's probe is no login
# attempt, whatever headers it sends (components/http/health.py: nothing secret in it).
PUBLIC_API = frozenset({"/api/websocket", "/api/health"})


def _needs_auth(path: str) -> bool:
    # Deny by default. Public: the web view's files (they hold no data), the WebSocket
    # (it authenticates inside its protocol) and the health answer.
    return not (path == "/" or path.startswith("/www/") or path in PUBLIC_API)


def _error_response(err: HTTPException) -> web.StreamResponse:
    if err.content_type == "application/json" or err.status < 400:
        return err
    reason = err.text if err.text and not err.text.startswith(f"{err.status}:") else err.reason
    response = json_message(reason, err.status)
    for name in ("Allow", "Location", "WWW-Authenticate"):
        if name in err.headers:
            response.headers[name] = err.headers[name]
    return response


def _add_headers(data: HttpData, request: web.Request, response: web.StreamResponse) -> None:
    if response.prepared:
        return
    response.headers.update(SECURITY_HEADERS)
    if data.ssl:
        response.headers["Strict-Transport-Security"] = HSTS
    if request.path.startswith("/api"):
        response.headers["Cache-Control"] = "no-store"
    origin = request.headers.get("Origin")
    if origin and origin in data.cors_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers.add("Vary", "Origin")


@web.middleware
async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
    data: HttpData = request.app[APP_DATA]
    address = data.client_address(request)
    request[KEY_CLIENT] = address
    try:
        if data.bans.is_banned(address):
            raise web.HTTPForbidden(text="Banned")
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response = _preflight(data, request)
        else:
            length = request.content_length
            if length is not None and length > data.max_body:
                raise web.HTTPRequestEntityTooLarge(
                    max_size=data.max_body,
                    actual_size=length,
                    text=f"Request body too large ({length} > {data.max_body} bytes)",
                )
            if _needs_auth(request.path):
                entry = data.tokens.validate(bearer_token(request))
                if entry is None:
                    # Only a presented credential counts towards a ban: a phone asking for
                    # an icon without one is not guessing tokens.
                    if "Authorization" in request.headers:
                        await data.async_auth_failed(address, f"invalid token for {request.path}")
                    raise web.HTTPUnauthorized(text="Unauthorized")
                data.bans.record_success(address)
                request[KEY_TOKEN] = entry
            response = await handler(request)
    except HTTPException as err:
        response = _error_response(err)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        _LOGGER.exception("Error handling %s %s", request.method, request.path)
        response = json_message("Internal error; see the error log", 500)
    _add_headers(data, request, response)
    if data.metrics is not None:
        data.metrics.count(response.status)
    return response


def _preflight(data: HttpData, request: web.Request) -> web.Response:
    origin = request.headers.get("Origin")
    if not origin or origin not in data.cors_origins:
        raise web.HTTPForbidden(text="Origin not allowed")
    response = web.Response(status=200)
    response.headers["Access-Control-Allow-Methods"] = _CORS_METHODS
    response.headers["Access-Control-Allow-Headers"] = _CORS_HEADERS
    response.headers["Access-Control-Max-Age"] = "600"
    return response


def token_of(request: web.Request) -> TokenEntry | None:
    return request.get(KEY_TOKEN)


def build_app(data: HttpData) -> web.Application:
    from . import rest, websocket, www_files

    app = web.Application(middlewares=[guard], client_max_size=data.max_body)
    app[APP_DATA] = data
    app.router.add_get("/", www_files.index)
    app.router.add_get("/www/{name}", www_files.www)
    rest.add_routes(app)
    app.router.add_get("/api/websocket", websocket.handle)
    return app


def _limit_connections(runner: web.AppRunner, limit: int) -> None:
    """Close connections beyond `limit` as soon as they open, so a flood of sockets cannot
    use up the process's file descriptors (the serial port and OCPP need some too)."""
    server = runner.server
    assert server is not None
    original = server.connection_made
    refused = 0

    def connection_made(handler: Any, transport: asyncio.Transport) -> None:
        nonlocal refused
        original(handler, transport)
        if len(server.connections) > limit:
            refused += 1
            if refused % 1000 == 1:
                _LOGGER.warning(
                    "Over %d open HTTP connections: refusing new ones (%d so far)", limit, refused
                )
            transport.abort()

    server.connection_made = connection_made  # type: ignore[method-assign]


def _ssl_context(config_dir: str, cert: str, key: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(os.path.join(config_dir, cert), os.path.join(config_dir, key))
    return context


def listen_error(host: str, port: int, err: OSError) -> str:
    """One line saying which port could not be opened, why, and how to move it."""
    move = (
        "move it with `http: server_port` in configuration.yaml (the shipped configuration "
        "reads it from the ORGE_HTTP_PORT variable)"
    )
    if err.errno == errno.EADDRINUSE:
        cause = f"port {port} on {host} is in use by another program"
    elif err.errno == errno.EACCES:
        cause = f"port {port} on {host} needs privileges ORGE does not have"
    else:
        cause = f"cannot listen on {host} port {port}: {err.strerror or err}"
        move = "check `http: server_host` and `http: server_port` in configuration.yaml"
    return f"HTTP API and web view off: {cause}; {move}. The rest of the station runs."


async def async_start_server(orge: Orge, config: dict[str, Any]) -> HttpData:
    config_dir = orge.config.config_dir or os.getcwd()
    tokens = await orge.async_add_executor_job(
        TokenValidator, config_dir, config.get("access_tokens", [])
    )
    bans = BanManager(config_dir, config["ip_ban_enabled"], config["login_attempts_threshold"])
    await orge.async_add_executor_job(bans.load)
    ssl_context = None
    if config.get("ssl_certificate"):
        ssl_context = await orge.async_add_executor_job(
            _ssl_context, config_dir, config["ssl_certificate"], config["ssl_key"]
        )
    data = HttpData(
        orge=orge,
        config=config,
        tokens=tokens,
        bans=bans,
        trusted_proxies=list(config.get("trusted_proxies", [])),
        use_x_forwarded_for=config["use_x_forwarded_for"],
        cors_origins=frozenset(config.get("cors_allowed_origins", [])),
        max_body=config["max_body_size"],
        ssl=ssl_context is not None,
    )
    if not tokens.entries():
        _LOGGER.warning(
            "No access tokens yet: create one with `orge auth create-token NAME -c %s`",
            config_dir,
        )
    data.metrics = HttpMetrics(data)
    orge.data[DATA_HTTP] = data
    app = build_app(data)
    # keepalive_timeout also bounds the time to send a request head: aiohttp arms it when
    # a connection opens and after each answer, and closes a connection still waiting for a
    # complete head when it fires (its own default is an hour, a gift to slow-header floods).
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=1.0,
        keepalive_timeout=config["idle_timeout"],
    )
    await runner.setup()
    _limit_connections(runner, config["max_connections"])
    data.runner = runner
    for host in config["server_host"]:
        site = web.TCPSite(
            runner, host, config["server_port"], ssl_context=ssl_context, reuse_address=True
        )
        try:
            await site.start()
        except OSError as err:
            await runner.cleanup()
            raise OrgeError(listen_error(host, config["server_port"], err)) from None
    sockets = [s for site in runner.sites for s in (site._server.sockets or [])]  # type: ignore[union-attr]
    data.port = sockets[0].getsockname()[1] if sockets else config["server_port"]
    _LOGGER.info(
        "Serving the API and web view on %s port %d%s",
        ", ".join(config["server_host"]),
        data.port,
        " (TLS)" if ssl_context else "",
    )

    @callback
    def stop(_event: Any) -> None:
        orge.async_create_task(async_stop_server(data), name="http stop")

    orge.bus.async_listen_once(EVENT_ORGE_STOP, stop)
    return data


async def async_stop_server(data: HttpData) -> None:
    for connection in list(data.websockets):
        connection.close_soon("ORGE is stopping")
    if data.runner is not None:
        await data.runner.cleanup()
        data.runner = None
