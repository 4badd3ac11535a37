"""modbus_meter benchmark: CPU cost of polling one meter every second.

    python benchmarks/modbus_meter.py [--seconds 60] [--model eastron_sdm630]

A station process (a hub with only modbus_meter, scan_interval 1 s) polls a meter played
by pymodbus's server in a child process, over Modbus TCP on loopback and over Modbus RTU
(9600 baud) on a socat pseudo-terminal pair. Prints, for each link, the station's process
CPU time / wall time (target: under 1 % of one core), the polls done and the entity
writes; the meter's own CPU is not counted.
"""

from __future__ import annotations

import _repo_path  # noqa: F401  (first: puts the repo on sys.path, drops this folder)

# isort: split

import argparse
import asyncio
import logging
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orge.core import EVENT_STATE_CHANGED, Orge, callback
from orge.setup import async_from_config_dir
from tests.components.modbus_meter.fake_meter import FakeMeter, free_port, pty_pair


async def serve(model: str, link: str, where: str) -> None:
    """The child process: a meter that answers until killed, its values moving as a
    charging car's do (so every poll changes every entity, as on a real station)."""
    meter = FakeMeter(model)
    if link == "tcp":
        await meter.serve_tcp(int(where))
    else:
        await meter.serve_rtu(where, baudrate=9600)
    reading = meter.reading
    while True:
        await asyncio.sleep(0.25)
        for phase in (1, 2, 3):
            reading[f"voltage_l{phase}"] = round(random.uniform(225, 235), 1)
            reading[f"current_l{phase}"] = round(random.uniform(15.5, 16.0), 2)
        reading["frequency"] = round(random.uniform(49.95, 50.05), 2)
        reading["power"] = round(random.uniform(10900, 11100), 1)
        reading["energy"] += reading["power"] * 0.25 / 3_600_000


async def measure(model: str, seconds: float, where_yaml: str) -> tuple[float, int, int]:
    with tempfile.TemporaryDirectory() as config:
        Path(config, "configuration.yaml").write_text(
            "logger:\n  default: warning\nmodbus_meter:\n"
            f"{where_yaml}  model: {model}\n  scan_interval: 1\n"
        )
        hub = Orge(config)
        await async_from_config_dir(hub, config)
        await hub.async_start()
        reader = hub.data["modbus_meter"]
        while not reader.available:
            await asyncio.sleep(0.05)
        writes = 0

        @callback
        def count(_event: object) -> None:
            nonlocal writes
            writes += 1

        hub.bus.async_listen(EVENT_STATE_CHANGED, count)
        polls = reader.polls
        cpu, wall = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        polls = reader.polls - polls
        failed = sum(reader.errors.values())
        await hub.async_stop()
    if failed:
        print(f"  warning: {failed} failed reads during the run")
    return cpu / wall, polls, writes


def child(model: str, link: str, where: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, "--serve", link, where, "--model", model],
        stdout=subprocess.DEVNULL,
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--model", default="eastron_sdm630")
    parser.add_argument("--serve", nargs=2, metavar=("LINK", "WHERE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
        await serve(args.model, *args.serve)
        return
    print(f"modbus_meter: one {args.model} polled every 1 s for {args.seconds:g} s")
    port = free_port()
    server = child(args.model, "tcp", str(port))
    try:
        await asyncio.sleep(1.5)
        share, polls, writes = await measure(
            args.model, args.seconds, f"  host: 127.0.0.1\n  tcp_port: {port}\n"
        )
        print(f"  TCP: {share * 100:.3f} % of one core ({polls} polls, {writes} state writes)")
    finally:
        server.terminate()
        server.wait(5)
    with tempfile.TemporaryDirectory() as folder:
        async with pty_pair(Path(folder)) as (meter_tty, station_tty):
            server = child(args.model, "rtu", meter_tty)
            try:
                await asyncio.sleep(1.5)
                share, polls, writes = await measure(
                    args.model, args.seconds, f"  port: {station_tty}\n  baudrate: 9600\n"
                )
                print(
                    f"  RTU 9600 baud: {share * 100:.3f} % of one core "
                    f"({polls} polls, {writes} state writes)"
                )
            finally:
                server.terminate()
                server.wait(5)


if __name__ == "__main__":
    asyncio.run(main())
