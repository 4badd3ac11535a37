"""OCPP 1.6 status latency: `python benchmarks/ocpp16.py [--changes 500]`.

One process, one event loop: a station hub with `ocpp16` (primary, connected) and the test
CSMS (the `ocpp` library's central-system side) on a real WebSocket on 127.0.0.1. Flips
`sensor.charger_state` between `idle` and `cable_detect` (Available / Preparing) and
measures, on the monotonic clock, the time until the CSMS has received the matching
StatusNotification. Both sides share the loop, so a figure includes the CSMS's own
parsing and schema validation of the frame: it is an upper bound of the station's part.

Prints p50 / p90 / p99 / max and the process's resident memory (station + CSMS).
"""

from __future__ import annotations

import _repo_path  # noqa: F401  (first: puts the repo on sys.path, drops this folder)

# isort: split

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def main(changes: int) -> None:
    from orge.core import Orge
    from orge.setup import async_from_config_dir
    from tests.ocpp_csms import OcppCsms

    logging.disable(logging.WARNING)
    async with OcppCsms(passwords={"BENCH16": "pw"}) as csms:
        with tempfile.TemporaryDirectory() as directory:
            Path(directory, "configuration.yaml").write_text(
                "orge:\n  station_id: BENCH16\nlogger:\n  default: error\n"
                f"ocpp16:\n  url: {csms.url()}\n  password: pw\n  offline_threshold: 0\n"
            )
            hub = Orge(directory)
            await async_from_config_dir(hub, directory)
            await hub.async_start()
            logging.getLogger("ocpp").setLevel(logging.ERROR)
            hub.states.async_set("sensor.charger_state", "idle")
            await csms.wait_for(
                "StatusNotification",
                where=lambda p: p["connectorId"] == 1 and p["status"] == "Available",
            )
            await asyncio.sleep(0.5)
            latencies = []
            for i in range(changes):
                seen = len(csms.received("StatusNotification"))
                name = "cable_detect" if i % 2 == 0 else "idle"
                started = time.monotonic()
                hub.states.async_set("sensor.charger_state", name)
                message = (await csms.wait_for("StatusNotification", seen + 1))[-1]
                latencies.append((message.mono - started) * 1000)
            await hub.async_stop()
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    print(f"ocpp16 StatusNotification latency over {changes} changes (state set -> frame at CSMS):")
    print(
        f"  p50 {p(0.5):.2f} ms  p90 {p(0.9):.2f} ms  p99 {p(0.99):.2f} ms  "
        f"max {latencies[-1]:.2f} ms  mean {statistics.mean(latencies):.2f} ms"
    )
    print(f"process RSS (station with ocpp16 + test CSMS): {_rss_mib():.1f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=500)
    asyncio.run(main(parser.parse_args().changes))
