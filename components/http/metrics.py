"""`GET /api/metrics` (bearer token): the hub's Prometheus registry in text format, and
http's own metrics in it.

- `orge_http_requests_total{status}`: answers by HTTP status code (every path, the
  refused ones too: 401 and 403 counts show token guessing and bans).
- `orge_websocket_clients`: WebSocket connections now open and authenticated.

Everything else in the answer comes from the engine (orge/metrics.py) and from the
components that registered metrics with `orge.metrics.registry(orge)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from orge import metrics

if TYPE_CHECKING:
    from .server import HttpData


class HttpMetrics:
    """http's counters, created at setup in the hub's registry."""

    def __init__(self, data: HttpData) -> None:
        from prometheus_client import Counter, Gauge

        registry = metrics.registry(data.orge)
        self.requests = Counter(
            "orge_http_requests",
            "HTTP answers by status code",
            ["status"],
            registry=registry,
        )
        self.websocket_clients = Gauge(
            "orge_websocket_clients",
            "Authenticated WebSocket API connections open now",
            registry=registry,
        )
        self.websocket_clients.set_function(lambda: len(data.websockets))
        # One child per status, made once: labels() costs more than inc().
        self._by_status: dict[int, object] = {}

    def count(self, status: int) -> None:
        child = self._by_status.get(status)
        if child is None:
            child = self._by_status[status] = self.requests.labels(str(status))
        child.inc()  # type: ignore[attr-defined]


async def api_metrics(request: web.Request) -> web.Response:
    from prometheus_client import CONTENT_TYPE_LATEST

    from .server import APP_DATA

    response = web.Response(body=metrics.render(request.app[APP_DATA].orge))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
