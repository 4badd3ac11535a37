"""esp32 benchmark: STAT line written to a pty -> entity state_changed, and parse rate.

    python benchmarks/esp32.py [--lines 10000]

Prints:
- latency from `os.write` of a STAT line on the pty master until the `state_changed`
  event of sensor.charger_cp_voltage fires (p50, p99, max over N lines, one at a time),
  through the real component: pyserial-asyncio on the slave, line buffer, parser, entities;
- lines parsed per second by the pure parser (LineBuffer + parse_line);
- lines handled per second by the component (parser + 14 entities + events), fed directly.
For scale: a ~100-byte STAT line takes ~8.7 ms on the wire at 115200 baud 8N1.
"""

from __future__ import annotations

import _repo_path  # noqa: F401  (first: puts the repo on sys.path, drops this folder)

# isort: split

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import tty
from pathlib import Path

from components.esp32 import protocol as p
from orge.core import Event, Orge, callback
from orge.helpers.event import async_track_state_change_event
from orge.setup import async_from_config_dir

BASE = {
    "CP": 2, "CPV": 1847, "PP": 1, "PPV": 1520, "RL": 1, "LOCK": 1, "MOTOR": 0, "PWM": 84,
    "MAX": 32, "CABLE": 20, "AUTH": 1, "STATE": 5, "PB": 0, "STOP": 0,
}  # fmt: skip


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def latency(count: int) -> list[tuple[float, float]]:
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    with tempfile.TemporaryDirectory() as config:
        Path(config, "configuration.yaml").write_text(
            f"logger:\n  default: warning\nesp32:\n  port: {path}\n"
            "  status_interval: 3600\n  session_status_interval: 3600\n"
        )
        orge = Orge(config)
        await async_from_config_dir(orge, config)
        await orge.async_start()
        charger = orge.data["esp32"]["charger"]
        while not charger.link.connected:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[int] | None = None
        received: list[int] = []
        original = charger.link.data_received

        def timed(data: bytes) -> None:
            received.append(time.perf_counter_ns())
            original(data)

        charger.link.data_received = timed  # when the loop hands the bytes to the component

        @callback
        def changed(event: Event) -> None:
            if waiter is not None and not waiter.done():
                waiter.set_result(time.perf_counter_ns())

        async_track_state_change_event(orge, "sensor.charger_cp_voltage", changed)
        lines = [p.stat_line({**BASE, "CPV": 1800 + (i % 100)}) for i in range(count + 1)]
        samples: list[tuple[float, float]] = []
        for i, line in enumerate(lines):
            waiter = loop.create_future()
            received.clear()
            start = time.perf_counter_ns()
            os.write(master, line)
            end = await asyncio.wait_for(waiter, 5)
            if i:  # the first line also makes the entities available
                # (total, component's share: first byte handed over -> state_changed)
                samples.append(((end - start) / 1e6, (end - received[0]) / 1e6))
        await orge.async_stop()
    os.close(master)
    os.close(slave)
    return samples


def parse_rate(count: int) -> float:
    blob = b"".join(p.stat_line({**BASE, "CPV": 1800 + (i % 100)}) for i in range(count))
    chunks = [blob[i : i + 4096] for i in range(0, len(blob), 4096)]
    start = time.perf_counter()
    buffer = p.LineBuffer()
    parsed = 0
    for chunk in chunks:
        for raw in buffer.feed(chunk):
            p.parse_line(raw)
            parsed += 1
    return parsed / (time.perf_counter() - start)


async def component_rate(count: int) -> float:
    orge = Orge()
    with tempfile.TemporaryDirectory() as config:
        Path(config, "configuration.yaml").write_text(
            "logger:\n  default: warning\nesp32:\n  port: /nonexistent/tty\n"
            "  status_interval: 3600\n"
        )
        await async_from_config_dir(orge, config)
        charger = orge.data["esp32"]["charger"]
        charger.link.connected = True  # feed the reader directly, no port
        blob = b"".join(p.stat_line({**BASE, "CPV": 1800 + (i % 100)}) for i in range(count))
        chunks = [blob[i : i + 1024] for i in range(0, len(blob), 1024)]
        start = time.perf_counter()
        for chunk in chunks:
            charger.link.data_received(chunk)
        elapsed = time.perf_counter() - start
        charger.link.connected = False
        await orge.async_stop()
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000)
    args = parser.parse_args()
    pairs = asyncio.run(latency(args.lines))
    wire_ms = len(p.stat_line(BASE)) * 10 / 115200 * 1000
    print(f"STAT written to pty -> state_changed, {len(pairs)} lines:")
    for label, samples in (
        ("end to end", [total for total, _ in pairs]),
        ("component only (bytes handed to the reader -> state_changed)", [c for _, c in pairs]),
    ):
        print(f"  {label}:")
        print(
            f"    p50 {statistics.median(samples):.3f} ms  p99 {pct(samples, 0.99):.3f} ms  "
            f"max {max(samples):.3f} ms  mean {statistics.fmean(samples):.3f} ms"
        )
    print(f"  (the same line on the wire at 115200 baud: {wire_ms:.1f} ms)")
    print(f"parser (LineBuffer + parse_line): {parse_rate(100_000):,.0f} lines/s")
    rate = asyncio.run(component_rate(20_000))
    print(f"component (parse + 14 entities + events): {rate:,.0f} STAT lines/s")


if __name__ == "__main__":
    main()
