"""Fleet over MQTT: N stations publishing into one local Mosquitto.

    python benchmarks/fleet_mqtt.py                       # 20 stations, 15 s
    python benchmarks/fleet_mqtt.py --stations 150 --seconds 30 --min-interval 5

Each station is an ORGE hub set up from its own config dir (`orge: station_id`, an
input_boolean, the `mqtt` component with its defaults but the broker), all in this one
process and loop; a 1 Hz "meter" per station writes sensor.meter_power,
sensor.meter_current and sensor.meter_energy every second, as a charging station's meter
does. Needs Debian's `mosquitto` on PATH (or /usr/sbin).

Prints:
- CPU time of this process per station in steady state (an upper bound for one station's
  mqtt cost: it includes the simulated meter and the counting subscriber);
- messages per second received by the broker from the stations in steady state (counted
  by a subscriber on `orge/#`), and per station; with `--min-interval 0` the unthrottled
  figure to compare;
- after the broker is stopped for `--outage` seconds and started again (retained messages
  lost: no persistence): seconds from the broker's return until each station is `online`
  again (min, median, p90, max) and the largest number of stations reconnecting within
  any 100 ms window (the jitter's spread), and whether every station's latest meter value
  reached the broker again.

This is the MQTT mode of the fleet benchmark (benchmarks/fleet.py runs real `orge run`
processes against a CSMS); kept as its own script until the two are folded together.
"""

from __future__ import annotations

import _repo_path  # noqa: F401  (first: puts the repo on sys.path, drops this folder)

# isort: split

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import aiomqtt

from orge.core import Orge
from orge.setup import async_from_config_dir

STATION_YAML = """\
orge:
  name: Fleet station {n}
  station_id: {station_id}
logger:
  default: error
input_boolean:
  charging_enabled:
mqtt:
  broker: 127.0.0.1
  port: {port}
  min_interval: {min_interval}
"""


def mosquitto() -> str:
    found = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.path.exists(found):
        raise SystemExit("mosquitto is not installed (apt-get install -y mosquitto)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Broker:
    def __init__(self, folder: Path, port: int) -> None:
        self.port = port
        self.conf = folder / "mosquitto.conf"
        lines = [
            f"listener {port} 127.0.0.1",
            "allow_anonymous true",
            "persistence false",
            "max_connections -1",
            "log_dest none",
        ]
        if os.getuid() == 0:
            lines.insert(0, "user root")
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([mosquitto(), "-c", str(self.conf)], stderr=subprocess.DEVNULL)
        for _ in range(400):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.025)
        raise SystemExit("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class Counter:
    """A subscriber on orge/#: messages seen, and when each station said `online`."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.count = 0
        self.online: dict[str, float] = {}
        self.last: dict[str, bytes] = {}
        self.ready = asyncio.Event()

    async def run(self) -> None:
        async with aiomqtt.Client("127.0.0.1", self.port, identifier="fleet-counter") as client:
            await client.subscribe("orge/#")
            self.ready.set()
            async for message in client.messages:
                self.count += 1
                topic = str(message.topic)
                payload = bytes(message.payload)  # type: ignore[arg-type]
                self.last[topic] = payload
                if topic.endswith("/availability") and payload == b"online":
                    self.online.setdefault(topic.split("/")[1], time.monotonic())


async def meter(hubs: list[Orge]) -> None:
    """1 Hz per station: power, current and energy, all changing every second."""
    tick = 0
    while True:
        tick += 1
        for n, hub in enumerate(hubs):
            power = 7000 + (tick * 37 + n) % 400
            hub.states.async_set("sensor.meter_power", str(power), {"unit_of_measurement": "W"})
            hub.states.async_set(
                "sensor.meter_current", f"{power / 690:.2f}", {"unit_of_measurement": "A"}
            )
            hub.states.async_set(
                "sensor.meter_energy",
                f"{tick * 7.2 / 3600:.4f}",
                {"unit_of_measurement": "kWh", "device_class": "energy"},
            )
        await asyncio.sleep(1)


async def measure(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="orge-fleet-mqtt-"))
    port = free_port()
    broker = Broker(folder, port)
    broker.start()
    hubs: list[Orge] = []
    try:
        for n in range(args.stations):
            config = folder / f"station{n:03d}"
            config.mkdir()
            (config / "configuration.yaml").write_text(
                STATION_YAML.format(
                    n=n, station_id=f"FLEET_{n:03d}", port=port, min_interval=args.min_interval
                )
            )
            hub = Orge(str(config))
            await async_from_config_dir(hub, str(config))
            await hub.async_start()
            hubs.append(hub)
        counter = Counter(port)
        counter_task = asyncio.create_task(counter.run())
        await counter.ready.wait()
        for _ in range(200):
            if len(counter.online) == args.stations:
                break
            await asyncio.sleep(0.05)
        meter_task = asyncio.create_task(meter(hubs))
        await asyncio.sleep(max(args.min_interval, 1) + 2)  # past the first burst
        start_count, start, cpu = counter.count, time.monotonic(), time.process_time()
        await asyncio.sleep(args.seconds)
        elapsed = time.monotonic() - start
        rate = (counter.count - start_count) / elapsed
        cpu_share = (time.process_time() - cpu) / elapsed / args.stations
        print(f"stations: {args.stations}, meter: 3 entities at 1 Hz each, "
              f"min_interval: {args.min_interval} s")  # fmt: skip
        print(f"broker receives: {rate:.1f} messages/s ({rate / args.stations:.2f} per station)")
        print(
            f"CPU in this process (meter + hubs + mqtt + the counting subscriber): "
            f"{cpu_share * 100:.3f} % of a core per station"
        )

        counter_task.cancel()
        broker.stop()
        await asyncio.sleep(args.outage)
        meter_task.cancel()  # the values now are the latest; each must reach the broker
        await asyncio.sleep(0)
        broker.start()
        back = time.monotonic()
        counter = Counter(port)
        counter_task = asyncio.create_task(counter.run())
        await counter.ready.wait()
        deadline = back + args.outage + 130
        while len(counter.online) < args.stations and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)
        delays = sorted(t - back for t in counter.online.values())
        window = max(
            sum(1 for d in delays if start <= d < start + 0.1) for start in delays
        ) if delays else 0  # fmt: skip
        print(
            f"after a {args.outage:g} s broker outage: {len(delays)}/{args.stations} online again;"
            f" seconds after the broker's return: min {delays[0]:.2f}, median "
            f"{statistics.median(delays):.2f}, p90 {delays[int(len(delays) * 0.9) - 1]:.2f}, "
            f"max {delays[-1]:.2f}; most in any 100 ms: {window}"
        )
        latest = sum(
            counter.last.get(f"orge/FLEET_{n:03d}/sensor/meter_power/state")
            == str(hub.states.get("sensor.meter_power").state).encode()
            for n, hub in enumerate(hubs)
        )
        print(f"latest meter value at the broker again: {latest}/{args.stations} stations")
        counter_task.cancel()
    finally:
        for hub in hubs:
            await hub.async_stop()
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--min-interval", type=float, default=5)
    parser.add_argument("--outage", type=float, default=5, help="seconds the broker is down")
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
