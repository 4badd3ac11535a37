"""OCPP latency and memory: `python benchmarks/ocpp.py [--changes 500] [--period 0.02]`.

Starts a CSMS (the `ocpp` library's central-system side on a real WebSocket) in this
process and a real station (`python -m orge run`) in a subprocess with ocpp201 (primary,
connected) and ocpp16 (configured as its fallback, on standby). A small custom component
in the station flips `sensor.charger_state` between `idle` and `cable_detect` (Available /
Occupied) and logs the monotonic time of each change; this process logs the monotonic
time each StatusNotification frame arrives. CLOCK_MONOTONIC is system-wide, so the two
logs give the latency from the state change to the frame at the CSMS.

Prints p50 / p90 / p99 / max latency and the station's resident memory (VmRSS, VmHWM).
"""

from __future__ import annotations

import _repo_path  # noqa: F401  (first: puts the repo on sys.path, drops this folder)

# isort: split

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

DRIVER = """
import asyncio
import time


async def async_setup(orge, config):
    count = int(config["count"])
    period = float(config["period"])
    out = orge.config.path("changes.txt")

    async def run():
        while True:
            state = orge.states.get("sensor.ocpp201_connection")
            if state is not None and state.state == "connected":
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # let the boot-time messages settle
        stamps = []
        for i in range(count):
            name = "cable_detect" if i % 2 == 0 else "idle"
            stamps.append(time.monotonic())
            orge.states.async_set("sensor.charger_state", name, {"cp": 0, "pb": 0})
            await asyncio.sleep(period)
        with open(out, "w") as handle:
            handle.write("\\n".join(repr(s) for s in stamps))
        orge.states.async_set("sensor.bench_done", "yes")

    orge.states.async_set("sensor.charger_state", "idle", {"cp": 0, "pb": 0})
    orge.async_create_background_task(run(), "bench driver")
    return True
"""


async def run(changes: int, period: float) -> dict[str, Any]:
    from ocpp.routing import on
    from ocpp.v201 import ChargePoint
    from ocpp.v201 import call_result as result
    from websockets.asyncio.server import serve

    arrivals: list[float] = []
    now = lambda: datetime.now(UTC).isoformat().replace("+00:00", "Z")  # noqa: E731

    class Csms(ChargePoint):
        async def route_message(self, raw: str) -> None:  # type: ignore[override]
            if '"StatusNotification"' in raw and raw.startswith("[2,"):
                arrivals.append(time.monotonic())
            await super().route_message(raw)

        @on("BootNotification")
        def boot(self, **_: Any) -> Any:
            return result.BootNotification(current_time=now(), interval=300, status="Accepted")

        @on("StatusNotification")
        def status(self, **_: Any) -> Any:
            return result.StatusNotification()

        @on("Heartbeat")
        def heartbeat(self, **_: Any) -> Any:
            return result.Heartbeat(current_time=now())

    async def handler(connection: Any) -> None:
        station = connection.request.path.rsplit("/", 1)[-1]
        cp = Csms(station, connection)
        try:
            await cp.start()
        except Exception:
            pass

    server = await serve(handler, "127.0.0.1", 0, subprotocols=["ocpp2.0.1", "ocpp1.6"])
    port = server.sockets[0].getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp)
        (config / "configuration.yaml").write_text(
            textwrap.dedent(
                f"""
                orge:
                  station_id: BENCH001
                logger:
                  default: warning
                bench_driver:
                  count: {changes}
                  period: {period}
                ocpp201:
                  url: ws://127.0.0.1:{port}/ocpp
                  station_id: BENCH001
                  password: bench-password
                  heartbeat_interval: 300
                  aligned_interval: 0
                ocpp16:
                  url: ws://127.0.0.1:{port}/ocpp16
                  station_id: BENCH001
                  password: bench-password
                  fallback: true
                """
            )
        )
        driver = config / "custom_components" / "bench_driver"
        driver.mkdir(parents=True)
        (driver / "manifest.yaml").write_text("domain: bench_driver\nname: bench driver\n")
        # The driver takes a free-form block: give it a permissive schema.
        (driver / "__init__.py").write_text(
            "import voluptuous as vol\nCONFIG_SCHEMA = vol.Schema({}, extra=vol.ALLOW_EXTRA)\n"
            + DRIVER
        )
        env = {**os.environ, "OCPP_PRIMARY": "201"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "orge", "run", "-c", str(config),
            cwd=REPO, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60 + changes * period * 3
            changes_file = config / "changes.txt"
            while not changes_file.exists():
                if time.monotonic() > deadline or proc.returncode is not None:
                    raise RuntimeError("the station did not finish the run")
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            memory = _memory(proc.pid)
        finally:
            proc.terminate()
            await proc.wait()
            server.close()
        stamps = [float(line) for line in changes_file.read_text().split()]
    # The first StatusNotification is the boot-time one (idle before the run).
    arrivals = arrivals[1:]
    if len(arrivals) != len(stamps):
        raise RuntimeError(f"{len(stamps)} changes but {len(arrivals)} StatusNotifications")
    latencies = sorted((a - s) * 1000 for a, s in zip(arrivals, stamps, strict=True))
    return {
        "changes": len(latencies),
        "period_ms": period * 1000,
        "latency_ms": {
            "p50": round(statistics.median(latencies), 3),
            "p90": round(latencies[int(len(latencies) * 0.9) - 1], 3),
            "p99": round(latencies[int(len(latencies) * 0.99) - 1], 3),
            "max": round(latencies[-1], 3),
            "mean": round(statistics.fmean(latencies), 3),
        },
        "memory_kib": memory,
    }


def _memory(pid: int) -> dict[str, int]:
    values = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=500)
    parser.add_argument("--period", type=float, default=0.02, help="seconds between changes")
    args = parser.parse_args()
    figures = asyncio.run(run(args.changes, args.period))
    lat = figures["latency_ms"]
    mem = figures["memory_kib"]
    print(
        f"sensor.charger_state change -> StatusNotification at the CSMS, "
        f"{figures['changes']} changes every {figures['period_ms']:g} ms:"
    )
    print(
        f"  p50 {lat['p50']:.2f} ms  p90 {lat['p90']:.2f} ms  p99 {lat['p99']:.2f} ms  "
        f"max {lat['max']:.2f} ms  (target p99 < 10 ms)"
    )
    print(
        f"station RSS with ocpp201 + ocpp16: {mem.get('VmRSS', 0) / 1024:.1f} MiB "
        f"(peak {mem.get('VmHWM', 0) / 1024:.1f} MiB)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
