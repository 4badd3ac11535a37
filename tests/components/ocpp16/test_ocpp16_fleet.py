"""20 ocpp16 stations and one CSMS restart: they come back spread out, not in lockstep."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

from orge.core import Orge
from orge.setup import async_from_config_dir
from tests.ocpp_csms import OCPP16, OcppCsms, accepted_attempts

STATIONS = 20


def _write(directory: Path, station_id: str, url: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "configuration.yaml").write_text(
        textwrap.dedent(
            f"""
            orge:
              station_id: {station_id}
            logger:
              default: warning
            ocpp16:
              url: {url}
              password: pw
              retry_backoff_wait_minimum: 0.2
              retry_backoff_random_range: 1.0
              retry_backoff_repeat_times: 1
              ping_interval: 0
            """
        )
    )
    return directory


async def test_reconnects_after_a_csms_restart_are_spread(tmp_path: Path) -> None:
    hubs: list[Orge] = []
    async with OcppCsms(protocols=(OCPP16,), passwords="pw") as csms:
        try:
            for number in range(STATIONS):
                path = _write(tmp_path / f"s{number}", f"ST{number:02d}", csms.url())
                hub = Orge(str(path))
                hubs.append(hub)
                await async_from_config_dir(hub, str(path))
                await hub.async_start()
            await csms.wait_until(lambda: len(csms.stations) == STATIONS, timeout=20)
            await asyncio.sleep(0.2)
            before = len(csms.attempts)
            restart = asyncio.get_running_loop().time()
            await csms.restart(down_for=0.1)
            await csms.wait_until(lambda: len(csms.stations) == STATIONS, timeout=20)
            back = [a.mono - restart for a in accepted_attempts(csms)[STATIONS:]]
            assert len(back) == STATIONS and len(csms.attempts) >= before + STATIONS
            # each waited RetryBackOffWaitMinimum (0.2 s) plus its own random part (< 1 s)
            assert min(back) >= 0.2
            assert max(back) - min(back) > 0.4, back
            buckets = {int(t / 0.1) for t in back}
            assert len(buckets) >= 5, sorted(back)  # not in lockstep
        finally:
            for hub in hubs:
                await hub.async_stop()
