"""The connection sensor of both OCPP components (`sensor.<domain>_connection`) carries the
URL the station dials as its `url` attribute, in every state (the web page's Network view
shows it): without the credentials a URL may hold (`ws://station:password@host/...`),
with the station id appended as OCPP-J wants it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.ocpp_csms import OCPP16, OCPP201, OcppCsms

STATION = "CP-URL"
PASSWORD = "pw-url-secret"


def _yaml(domain: str, url: str) -> str:
    return (
        f"orge:\n  station_id: {STATION}\n"
        f"{domain}:\n"
        f"  url: {url}\n"
        "  response_timeout: 1\n"
        "  retry_backoff_wait_minimum: 0.1\n"
        "  retry_backoff_random_range: 0.1\n"
        "  offline_threshold: 0\n"
        "  ping_interval: 0\n"
    )


async def _wait_connection(hub: Any, entity_id: str, state: str) -> Any:
    deadline = time.monotonic() + 10
    while (found := hub.states.get(entity_id)) is None or found.state != state:
        assert time.monotonic() < deadline, f"{entity_id}: {found}"
        await asyncio.sleep(0.02)
    return found


@pytest.mark.parametrize(("domain", "protocol"), [("ocpp201", OCPP201), ("ocpp16", OCPP16)])
async def test_connection_sensor_shows_the_url_without_credentials(
    config_dir: Any, start_station: Any, domain: str, protocol: str
) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        base = csms.url()  # ws://127.0.0.1:<port>/ocpp
        with_password = base.replace("ws://", f"ws://{STATION}:{PASSWORD}@")
        hub, result = await start_station(Path(config_dir(_yaml(domain, with_password))))
        assert not result.problems
        await csms.wait_connected(STATION, protocol)
        connected = await _wait_connection(hub, f"sensor.{domain}_connection", "connected")
        assert connected.attributes["url"] == f"{base}/{STATION}"
        assert PASSWORD not in str(connected.attributes)
    # the CSMS is gone: the state changes, the URL stays
    left = hub.states.get(f"sensor.{domain}_connection")
    deadline = time.monotonic() + 10
    while left.state == "connected":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
        left = hub.states.get(f"sensor.{domain}_connection")
    assert left.attributes["url"] == f"{base}/{STATION}"
