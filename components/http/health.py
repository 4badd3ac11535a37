"""`GET /api/health`: what a monitor (or `orge update`) needs to know, without a token.

The answer holds only these keys, and nothing that identifies or locates the station (no
station id, URL, path, address or secret), because anyone who reaches the port may ask:

    {"status": "ok" | "degraded" | "recovery",
     "version": "0.1.0",                # ORGE's version
     "uptime_s": 1234.5,                # seconds since this ORGE process started
     "failed_components": ["esp32"],    # domains that did not set up, sorted
     "csms_connected": true | false | null,  # null: no OCPP component configured
     "last_good_config": false}         # true: running on .storage/last_good (docs/recovery.md)

`status` is `recovery` in recovery mode (docs/recovery.md); `degraded` while the station
is not fully up: still starting, a component failed, or it runs on the last good copy of
its configuration; `ok` otherwise. A CSMS that is away does not make the station degraded
(the whole fleet would be, whenever the CSMS restarts): `csms_connected` says it apart.
The HTTP status is 200 for all three, so a monitor reads the body (as Kubernetes-style
probes that want 503 would get it wrong for a station that serves in recovery mode).
"""

from __future__ import annotations

import os
import time
from typing import Any

from aiohttp import web

from orge import __version__
from orge.core import CoreState, Orge
from orge.recovery import recovery_status

from .data import APP_DATA
from .jsonutil import dumps

STATUS_OK = "ok"
STATUS_DEGRADED = "degraded"
STATUS_RECOVERY = "recovery"
# The OCPP components' link sensors (components/ocpp201/entities.py, ocpp16/entities.py):
# `connected` while their WebSocket to the CSMS is up and the boot was accepted.
OCPP_DOMAINS = ("ocpp201", "ocpp16")
CONNECTED = "connected"


def _process_start_monotonic() -> float:
    """When this process started, on the monotonic clock (Linux: /proc/self/stat field 22,
    in clock ticks since boot; CLOCK_BOOTTIME counts from boot too). Elsewhere: now."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        started_since_boot = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - started_since_boot
        return time.monotonic() - max(age, 0.0)
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic()


_STARTED = _process_start_monotonic()


def csms_connected(orge: Orge) -> bool | None:
    """True if any OCPP link is connected, False if one is configured but none is, None if
    no OCPP component is configured (set up or failed)."""
    configured = False
    for domain in OCPP_DOMAINS:
        state = orge.states.get(f"sensor.{domain}_connection")
        if state is not None:
            configured = True
            if state.state == CONNECTED:
                return True
        elif domain in orge.config.components or domain in orge.config.setup_errors:
            configured = True
    return False if configured else None


def health(orge: Orge) -> dict[str, Any]:
    """The answer of `GET /api/health` (shape in the module docstring)."""
    recovery = recovery_status(orge)
    failed = sorted(orge.config.setup_errors)
    if recovery.recovery_mode:
        status = STATUS_RECOVERY
    elif failed or recovery.using_last_good or orge.state is not CoreState.RUNNING:
        status = STATUS_DEGRADED
    else:
        status = STATUS_OK
    return {
        "status": status,
        "version": __version__,
        "uptime_s": round(time.monotonic() - _STARTED, 1),
        "failed_components": failed,
        "csms_connected": csms_connected(orge),
        "last_good_config": recovery.using_last_good,
    }


async def api_health(request: web.Request) -> web.Response:
    return web.Response(
        text=dumps(health(request.app[APP_DATA].orge)), content_type="application/json"
    )
