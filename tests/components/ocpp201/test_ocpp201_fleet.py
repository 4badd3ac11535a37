"""20 stations against one CSMS that restarts: reconnections are spread by the random
part of the back-off (OCPP 2.0.1 Part 4 5.3), not in lockstep."""

from __future__ import annotations

import statistics
import time

from ocpp201_helpers import station_yaml

from tests.ocpp_csms import OcppCsms

STATIONS = 20


async def test_twenty_stations_reconnect_spread(tmp_path, start_station) -> None:
    async with OcppCsms() as csms:
        hubs = []
        for n in range(STATIONS):
            path = tmp_path / f"station{n}"
            path.mkdir()
            yaml = station_yaml(
                csms.url(),
                evse=False,
                station_id=f"FLEET{n:02d}",
                password=None,
                retry_backoff_wait_minimum=0.3,
                retry_backoff_random_range=2.0,
            ).replace("station_id: CP201", f"station_id: FLEET{n:02d}", 1)
            (path / "configuration.yaml").write_text(yaml)
            hub, _ = await start_station(path)
            hub.states.async_set("sensor.charger_state", "idle", {"cp": 0})
            hubs.append(hub)
        await csms.wait_until(lambda: len(csms.stations) == STATIONS, 10, "all connected")
        before = len(csms.attempts)
        await csms.stop()
        stopped = time.monotonic()
        await csms.start()
        await csms.wait_until(
            lambda: len({a.station_id for a in csms.attempts[before:]}) == STATIONS,
            10,
            "all reconnected",
        )
        first: dict[str, float] = {}
        for attempt in csms.attempts[before:]:
            first.setdefault(attempt.station_id, attempt.mono - stopped)
        delays = sorted(first.values())
        # Each waited RetryBackOffWaitMinimum (0.3 s) plus up to 2 s of its own.
        assert delays[0] >= 0.28, delays
        assert delays[-1] <= 2.3 + 2.0, delays  # generous: a loaded machine is slow
        assert delays[-1] - delays[0] >= 1.0, delays  # spread over the random range
        assert statistics.pstdev(delays) >= 0.3, delays  # uniform over 2 s: about 0.58
        # Not in lockstep: no 100 ms window holds half the fleet (all 20 stations share
        # this test's one event loop, so a busy loop bunches a few of them).
        assert max(sum(1 for d in delays if s <= d < s + 0.1) for s in delays) < STATIONS // 2
