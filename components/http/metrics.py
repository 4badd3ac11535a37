"""`GET /api/metrics` (bearer token): the hub's Prometheus registry in text format, and
http's own metrics in it.

- `orge_http_requests_total{status}`: answers by HTTP status code (every path, the
  refused ones too: 401 and 403 counts show token guessing and bans).
- `orge_websocket_clients`: WebSocket connections now open and authenticated.

Everything else in the answer comes from the engine (orge/metrics.py) and from the
components that added collectors there. Counts are plain integers, turned into metric
families only when scraped (orge/metrics.py says why).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiohttp import web

from orge import metrics

from .data import APP_DATA, HttpData


class HttpMetrics:
    """http's counts; a collector of the hub's metrics."""

    def __init__(self, data: HttpData) -> None:
        self._data = data
        self.by_status: dict[int, int] = {}
        metrics.add_collector(data.orge, self)

    def count(self, status: int) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + 1

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        requests = CounterMetricFamily(
            "orge_http_requests", "HTTP answers by status code", labels=["status"]
        )
        for status, count in sorted(self.by_status.items()):
            requests.add_metric([str(status)], count)
        yield requests
        yield GaugeMetricFamily(
            "orge_websocket_clients",
            "Authenticated WebSocket API connections open now",
            value=len(self._data.websockets),
        )


async def api_metrics(request: web.Request) -> web.Response:
    from prometheus_client import CONTENT_TYPE_LATEST

    response = web.Response(body=metrics.render(request.app[APP_DATA].orge))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
