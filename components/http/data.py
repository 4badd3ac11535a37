"""What every part of the HTTP API shares, and nothing else: the per-server data
(`HttpData`, kept at `orge.data["http"]` and `app[APP_DATA]`), the request keys the guard
fills, and the two answers every view builds (`json_message`, `token_of`).

A leaf of the component: it imports no other module of components/http but the token and
ban stores, so the REST views, the WebSocket, health and metrics all depend on it and it
on none of them.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any, Protocol

from aiohttp import web

from orge.core import EVENT_LOGIN_FAILED, Orge

from .auth import TokenEntry, TokenValidator
from .ban import BanManager

_LOGGER = logging.getLogger(__name__)
DATA_HTTP = "http"


class StatusCounter(Protocol):
    """Counts answers by HTTP status (components/http/metrics.py's HttpMetrics)."""

    def count(self, status: int) -> None: ...


KEY_CLIENT: web.RequestKey[str] = web.RequestKey("orge_client_ip", str)
KEY_TOKEN: web.RequestKey[Any] = web.RequestKey("orge_token", object)

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address


def json_message(message: str, status: int = 200, **extra: Any) -> web.Response:
    """`{"message": message, **extra}` with `status`: Home Assistant's shape for every
    REST answer that is only a sentence (and for every error)."""
    return web.Response(
        text=json.dumps({"message": message, **extra}),
        status=status,
        content_type="application/json",
    )


@dataclass
class HttpData:
    """What every handler may need; kept at `orge.data["http"]` and `app[APP_DATA]`."""

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
    metrics: StatusCounter | None = None
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


def token_of(request: web.Request) -> TokenEntry | None:
    """The access token the guard accepted for this request; None on public paths."""
    return request.get(KEY_TOKEN)
