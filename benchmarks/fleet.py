"""Fleet figures: N real `orge run` stations (simulated controllers) against one CSMS.

    python benchmarks/fleet.py                 # 20 stations
    python benchmarks/fleet.py --stations 150
    python benchmarks/fleet.py --mqtt          # and every station on one Mosquitto

The CSMS is ORGE's demo CSMS (components/demo_csms) in its own `orge run` process on
loopback; each station is the shipped station's set-up (esp32 simulator, demo meter,
ocpp201 with ocpp16 as fallback, http, recorder, persistent_notification) with its own
config dir, station id and ports. Stations are started one after the other (a station
boots alone on its own Raspberry Pi; the rest of the fleet idles meanwhile).

Prints, with the issue's targets:
- time to ready: spawn -> READY=1 on the systemd notify socket (median, max);
- resident memory per station from /proc/PID/smaps_rollup: RSS and PSS (median, max);
- CPU per idle station: utime+stime over an idle window, in % of one core (median, max);
- with `--history-days D`, each station starts with D days of recorder history (a meter
  power state and its state_changed event every 10 s, as the recorder writes them): the
  resident memory of a station that has run for a while, not only of a new one;
- with `--breakdown`, the first station's resident memory by mapping (Python's objects
  in [anon] and [heap], then the libraries), to see where it goes;
- after the CSMS is restarted: seconds from the new CSMS being ready until all N are
  connected again, and the largest number of stations connecting within any 1 s window
  (from the CSMS's "Station X connected" log lines).

With `--mqtt`, one Mosquitto (orge.testing.mosquitto: a password file with one user per
station) runs on a free loopback port and every station gets an `mqtt:`
block (client_id and username = its station id, password from its secrets.yaml, the
default rate limits). A subscriber on `orge/#` and `homeassistant/#` (as a fleet's Home
Assistant would be) counts what the stations publish. It also prints:
- messages per second the broker receives from the stations over the idle window (all
  of it, as the subscriber gets every station message once), and per station. Mosquitto
  2.0's $SYS/broker/publish/messages/received is no use here: it counted 2 of the 216
  messages two stations published (it appears to leave the retained ones out). With
  `--meter` each station also has three entities changing every second (an automation on
  a 1 s time pattern sets three input_numbers, as a charging meter's power, current and
  energy change): with the default `min_interval` of 5 s each costs 0.2 messages/s, and
  the automation's own `last_triggered` attribute another 0.2;
- messages per station at start-up (availability, discovery, every state);
- after the broker is killed (SIGKILL: no clean goodbye) and started again on the same
  port, with no persistence (its retained messages are lost): seconds from the broker's
  return until all N stations have published `online` on their availability topic, the
  largest number coming back within any 1 s window, and the messages per station they
  publish again (availability, discovery, every state: the broker forgot them).
"""

from __future__ import annotations

import _repo_path  # first: puts the repo on sys.path, drops this folder

# isort: split

import argparse
import os
import re
import secrets
import select
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho

from orge.testing.mosquitto import Broker

REPO = _repo_path.REPO
TICKS = os.sysconf("SC_CLK_TCK")
CONNECTED = re.compile(r"Station (\S+) connected")

CSMS_YAML = """
orge:
  name: Fleet CSMS
logger:
  default: warning
  logs:
    components.demo_csms.server: info
demo_csms:
  host: 127.0.0.1
  port: {port}
  heartbeat_interval: 60
"""

# The shipped config/ without its demo parts (demo CSMS, demo vehicle); keep the OCPP
# options in step with it.
STATION_YAML = """
orge:
  name: Fleet station {index}
  station_id: {station_id}
  time_zone: UTC
logger:
  default: warning
esp32:
  port: simulator
demo:
http:
  server_host: 127.0.0.1
  server_port: {http_port}
recorder:
ocpp201:
  url: ws://127.0.0.1:{csms_port}/ocpp
  station_id: {station_id}
  password: fleet-password
  heartbeat_interval: 60
  retry_backoff_random_range: 30
  evse: &evse
    - id: 1
      connector_id: 1
      state_entity: sensor.charger_state
      energy_entity: sensor.meter_energy
      power_entity: sensor.meter_power
      authorize_action: {{action: esp32.authorize}}
      stop_action: {{action: esp32.stop_charging}}
      current_limit_entity: number.charger_max_current
ocpp16:
  url: ws://127.0.0.1:{csms_port}/ocpp
  station_id: {station_id}
  password: fleet-password
  heartbeat_interval: 60
  fallback: true
  retry_backoff_random_range: 30
  evse: *evse
persistent_notification:
"""

# Appended to STATION_YAML with --mqtt: the default rate limits, one broker user per station.
MQTT_YAML = """mqtt:
  broker: 127.0.0.1
  port: {mqtt_port}
  client_id: {station_id}
  username: {station_id}
  password: !secret mqtt_password
"""

# Appended with --mqtt --meter: three entities changing every second, as a charging
# station's meter does (power, current, energy), to see the rate limit at work.
METER_YAML = """input_number:
  fleet_power: {min: 0, max: 100000, step: 1, unit_of_measurement: W}
  fleet_current: {min: 0, max: 100, step: 0.01, unit_of_measurement: A}
  fleet_energy: {min: 0, max: 1000000, step: 0.001, unit_of_measurement: kWh}
automation:
  - id: fleet_meter
    alias: Fleet meter at 1 Hz
    trigger:
      - trigger: time_pattern
        seconds: "/1"
    action:
      - action: input_number.set_value
        target: {entity_id: input_number.fleet_power}
        data: {value: "{{ 7000 + (now().second * 37) % 400 }}"}
      - action: input_number.set_value
        target: {entity_id: input_number.fleet_current}
        data: {value: "{{ ((7000 + (now().second * 37) % 400) / 690) | round(2) }}"}
      - action: input_number.set_value
        target: {entity_id: input_number.fleet_energy}
        data: {value: "{{ (as_timestamp(now()) % 100000 * 0.002) | round(3) }}"}
"""

COUNTER_USER = "fleet-observer"
# deploy/orge.service's Environment= lines and the interpreter options of its ExecStart=
# (`.../bin/python -OO -m orge run ...`): a station runs as provisioned. Its compiled
# modules go to a cache folder of this run (the unit's is /var/cache/orge/pycache).
_UNIT = Path(REPO, "deploy", "orge.service").read_text().splitlines()
SERVICE_ENV = dict(
    line.removeprefix("Environment=").split("=", 1)
    for line in _UNIT
    if line.startswith("Environment=")
)
_EXEC = next(line for line in _UNIT if line.startswith("ExecStart=")).split()
SERVICE_OPTIONS = _EXEC[1 : _EXEC.index("-m")]


PYCACHE = ""  # the stations' compiled-module cache (PYTHONPYCACHEPREFIX), set in main()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Proc:
    name: str
    config: str
    notify: socket.socket
    popen: subprocess.Popen[str] | None = None
    spawned: float = 0.0
    ready_s: float | None = None


@dataclass
class Csms:
    port: int
    config: str
    proc: Proc | None = None
    connects: list[tuple[float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Counter:
    """A subscriber on the broker, as a fleet's Home Assistant would be: counts the
    stations' messages (`orge/#`, `homeassistant/#`), notes when each station said
    `online` (first time since this subscriber connected). Runs in paho's own network thread."""

    def __init__(self, port: int, password: str) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.online: dict[str, float] = {}
        self.subscribed = threading.Event()
        self.port = port
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=COUNTER_USER)
        self.client.username_pw_set(COUNTER_USER, password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message

    def _on_connect(self, client: paho.Client, *_: object) -> None:
        topics = ("orge/#", "homeassistant/#")
        client.subscribe([(topic, 0) for topic in topics])

    def _on_message(self, _client: paho.Client, _userdata: object, message: object) -> None:
        now = time.monotonic()
        topic: str = message.topic  # type: ignore[attr-defined]
        payload: bytes = message.payload  # type: ignore[attr-defined]
        with self.lock:
            self.count += 1
            if topic.endswith("/availability") and payload == b"online":
                self.online.setdefault(topic.split("/")[1], now)

    def start(self) -> None:
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise TimeoutError("the counting subscriber did not subscribe within 10 s")

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def messages(self) -> int:
        """How many station messages this subscriber has received."""
        with self.lock:
            return self.count

    def wait_online(self, ids: set[str], since: float, timeout: float) -> dict[str, float]:
        """station id -> when it said `online`, once all of `ids` have; TimeoutError."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if ids <= set(self.online):
                    return {i: self.online[i] - since for i in ids}
            time.sleep(0.05)
        with self.lock:
            missing = ids - set(self.online)
        raise TimeoutError(f"{len(missing)} stations not online at the broker within {timeout} s")


def notify_socket(directory: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(os.path.join(directory, "notify.sock"))
    sock.setblocking(False)
    return sock


def spawn(proc: Proc, stdout: int | None = subprocess.DEVNULL) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": REPO,
        "NOTIFY_SOCKET": proc.notify.getsockname(),
        **SERVICE_ENV,
        "PYTHONPYCACHEPREFIX": PYCACHE,
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the unit writes its compiled modules
    proc.spawned = time.monotonic()
    proc.popen = subprocess.Popen(
        [sys.executable, *SERVICE_OPTIONS, "-m", "orge", "run", "-c", proc.config],
        stdout=stdout,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )


def wait_ready(proc: Proc, timeout: float = 60.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        readable, _, _ = select.select([proc.notify], [], [], 0.05)
        if readable:
            for line in proc.notify.recv(4096).split(b"\n"):
                if line == b"READY=1":
                    proc.ready_s = time.monotonic() - proc.spawned
                    return proc.ready_s
        assert proc.popen is not None
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}")
    raise TimeoutError(f"{proc.name} not ready within {timeout} s")


def start_csms(csms: Csms) -> None:
    directory = os.path.dirname(csms.config)
    if csms.proc is not None:
        csms.proc.notify.close()
        os.unlink(os.path.join(directory, "notify.sock"))
    csms.proc = Proc("csms", directory, notify_socket(directory))
    spawn(csms.proc, stdout=subprocess.PIPE)
    popen = csms.proc.popen
    assert popen is not None and popen.stdout is not None

    def read(stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            match = CONNECTED.search(line)
            if match:
                with csms.lock:
                    csms.connects.append((time.monotonic(), match.group(1)))

    threading.Thread(target=read, args=(popen.stdout,), daemon=True).start()
    wait_ready(csms.proc)


def connected_ids(csms: Csms, since: float) -> dict[str, float]:
    """station id -> first connect time after `since`."""
    with csms.lock:
        found: dict[str, float] = {}
        for at, station_id in csms.connects:
            if at >= since and station_id not in found:
                found[station_id] = at
        return found


def wait_all_connected(csms: Csms, ids: set[str], since: float, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ids <= set(connected_ids(csms, since)):
            return max(connected_ids(csms, since)[i] for i in ids) - since
        time.sleep(0.1)
    missing = ids - set(connected_ids(csms, since))
    raise TimeoutError(f"{len(missing)} stations not connected within {timeout} s")


def smaps(pid: int) -> tuple[float, float]:
    """(RSS, PSS) in MiB from /proc/PID/smaps_rollup."""
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            parts = line.split()
            if parts and parts[0] in ("Rss:", "Pss:"):
                values[parts[0]] = int(parts[1]) / 1024
    return values["Rss:"], values["Pss:"]


def breakdown(pid: int, top: int = 12) -> list[tuple[float, str]]:
    """(MiB resident, mapping) of a process from /proc/PID/smaps, largest first."""
    resident: dict[str, float] = {}
    name = ""
    with open(f"/proc/{pid}/smaps") as maps:
        for line in maps:
            parts = line.split()
            if parts and not parts[0].endswith(":"):  # a mapping's header line
                name = parts[5] if len(parts) > 5 else "[anon]"
            elif parts and parts[0] == "Rss:":
                resident[name] = resident.get(name, 0.0) + int(parts[1]) / 1024
    return sorted(((mib, name) for name, mib in resident.items()), reverse=True)[:top]


def seed_history(directory: str, days: float) -> None:
    """A recorder database with `days` of history of one meter power sensor (a state
    and its state_changed event every 10 s), in the recorder's own schema."""
    sys.path.insert(0, REPO)
    from components.recorder.db import SCHEMA

    os.makedirs(os.path.join(directory, ".storage"), mode=0o700, exist_ok=True)
    db = sqlite3.connect(os.path.join(directory, ".storage", "orge.db"))
    db.executescript(SCHEMA)
    start = time.time() - days * 86400
    count = int(days * 8640)
    db.executemany(
        "INSERT INTO states (entity_id, state, last_changed_ts, last_updated_ts, context_id)"
        " VALUES ('sensor.meter_power', ?, ?, ?, ?)",
        ((str(7000 + i % 400), start + 10 * i, start + 10 * i, f"{i:026d}") for i in range(count)),
    )
    db.executemany(
        "INSERT INTO events (event_type, event_data, origin, time_fired_ts, context_id)"
        " VALUES ('state_changed', ?, 'LOCAL', ?, ?)",
        (('{"entity_id":"sensor.meter_power"}', start + 10 * i, f"{i:026d}") for i in range(count)),
    )
    db.commit()
    db.close()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def largest_window(times: list[float], width: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] > width:
            start += 1
        best = max(best, end - start + 1)
    return best


def figures(values: list[float]) -> str:
    return f"median {statistics.median(values):6.2f}  max {max(values):6.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stations", type=int, default=20)
    parser.add_argument("--idle", type=float, default=30.0, help="idle window for CPU, s")
    parser.add_argument("--csms-down", type=float, default=2.0, help="s the CSMS stays down")
    parser.add_argument("--mqtt", action="store_true", help="every station on one Mosquitto")
    parser.add_argument(
        "--meter", action="store_true", help="3 entities changing at 1 Hz per station (--mqtt)"
    )
    parser.add_argument(
        "--history-days", type=float, default=0.0, help="days of recorder history per station"
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="the first station's memory by mapping"
    )
    parser.add_argument(
        "--broker-down", type=float, default=2.0, help="s the broker stays down (--mqtt)"
    )
    args = parser.parse_args()
    n = args.stations
    root = tempfile.mkdtemp(prefix="orge-fleet-")
    global PYCACHE
    PYCACHE = os.path.join(root, "pycache")
    csms_port = free_port()
    os.makedirs(os.path.join(root, "csms"))
    csms_config = os.path.join(root, "csms", "configuration.yaml")
    with open(csms_config, "w") as out:
        out.write(CSMS_YAML.format(port=csms_port))
    csms = Csms(csms_port, csms_config)
    stations: list[Proc] = []
    station_ids = [f"FLEET_{index:03d}" for index in range(n)]
    broker: Broker | None = None
    counter: Counter | None = None
    # One password per station, as on a real fleet's broker; printed nowhere.
    passwords = {sid: secrets.token_urlsafe(12) for sid in [*station_ids, COUNTER_USER]}
    try:
        start_csms(csms)
        # The first start of a release compiles what a station imports into the unit's
        # cache (~0.3 s and ~0.6 MiB of garbage more); every later start, and every
        # station measured here, reads it: a warm-up station is started and stopped.
        warm = os.path.join(root, "warm-up")
        os.makedirs(warm)
        with open(os.path.join(warm, "configuration.yaml"), "w") as out:
            out.write(
                STATION_YAML.format(
                    index=0, station_id="WARM_UP", http_port=free_port(), csms_port=csms_port
                )
            )
        warm_up = Proc("warm-up", warm, notify_socket(warm))
        spawn(warm_up)
        wait_ready(warm_up)
        time.sleep(3)
        assert warm_up.popen is not None
        warm_up.popen.send_signal(signal.SIGTERM)
        warm_up.popen.wait(timeout=30)
        warm_up.notify.close()
        print(f"{n} stations against one CSMS on 127.0.0.1:{csms_port} ({root})", flush=True)
        if args.mqtt:
            broker = Broker(Path(root, "broker"), passwords)
            broker.start()
            counter = Counter(broker.port, passwords[COUNTER_USER])
            counter.start()
            print(f"and one Mosquitto on 127.0.0.1:{broker.port}", flush=True)
        began = time.monotonic()
        for index, station_id in enumerate(station_ids):
            directory = os.path.join(root, station_id)
            os.makedirs(directory)
            config = STATION_YAML.format(
                index=index, station_id=station_id, http_port=free_port(), csms_port=csms_port
            )
            if broker is not None:
                config += MQTT_YAML.format(mqtt_port=broker.port, station_id=station_id)
                if args.meter:
                    config += METER_YAML
                with open(os.path.join(directory, "secrets.yaml"), "w") as out:
                    out.write(f"mqtt_password: {passwords[station_id]}\n")
            with open(os.path.join(directory, "configuration.yaml"), "w") as out:
                out.write(config)
            if args.history_days:
                seed_history(directory, args.history_days)
            proc = Proc(station_id, directory, notify_socket(directory))
            stations.append(proc)
            spawn(proc)
            wait_ready(proc)
        ids = {p.name for p in stations}
        wait_all_connected(csms, ids, began, 120)
        print(f"all {n} started and connected in {time.monotonic() - began:.1f} s", flush=True)
        if counter is not None:
            counter.wait_online(ids, began, 120)
            print(f"all {n} online at the broker", flush=True)

        time.sleep(5)  # settle: first status lines, boot notifications, recorder commits
        pids = [p.popen.pid for p in stations if p.popen]
        cpu_before = {pid: cpu_seconds(pid) for pid in pids}
        if counter is not None:
            startup_count = counter.messages()
        idle_start = time.monotonic()
        time.sleep(args.idle)
        idle = time.monotonic() - idle_start
        if counter is not None:
            idle_count = counter.messages() - startup_count
        cpu = [100 * (cpu_seconds(pid) - cpu_before[pid]) / idle for pid in pids]
        memory = [smaps(pid) for pid in pids]
        mappings = breakdown(pids[0]) if args.breakdown and pids else []

        # The CSMS restarts: every station loses its link and comes back with back-off.
        assert csms.proc is not None and csms.proc.popen is not None
        csms.proc.popen.send_signal(signal.SIGTERM)
        csms.proc.popen.wait(timeout=30)
        time.sleep(args.csms_down)
        start_csms(csms)
        back_from = time.monotonic()
        back_s = wait_all_connected(csms, ids, back_from, 300)
        times = list(connected_ids(csms, back_from).values())
        window = largest_window(times)

        if broker is not None and counter is not None:
            # The broker dies (SIGKILL) and comes back on the same port without its
            # retained messages; a fresh subscriber sees each station's `online` again.
            counter.stop()
            broker.stop(kill=True)
            time.sleep(args.broker_down)
            broker.start()
            broker_back = time.monotonic()
            counter = Counter(broker.port, passwords[COUNTER_USER])
            counter.start()
            online = counter.wait_online(ids, broker_back, 300)
            time.sleep(5)  # what each station publishes again after its `online`
            republished = counter.messages()

        ready = [p.ready_s for p in stations if p.ready_s is not None]
        rss = [m[0] for m in memory]
        pss = [m[1] for m in memory]
        print()
        print(f"stations                          {n}")
        print(f"time to ready, s                  {figures(ready)}   target < 2")
        print(f"RSS per station, MiB              {figures(rss)}   target < 50")
        print(f"PSS per station, MiB              {figures(pss)}")
        if args.history_days:
            print(f"  (each with {args.history_days:g} days of recorder history)")
        for mib, mapping in mappings:
            print(f"  first station: {mib:6.2f} MiB  {mapping}")
        print(f"CPU per idle station, % of a core {figures(cpu)}   ({idle:.0f} s window)")
        print(f"all back after CSMS restart, s    {back_s:6.1f}   target < 120")
        print(f"most reconnecting in any 1 s      {window:6d}   target <= {n / 4:g} (a quarter)")
        if broker is not None:
            rate = idle_count / idle
            spread = largest_window(list(online.values()))
            meter = "3 entities at 1 Hz" if args.meter else "idle"
            print(f"MQTT messages/s at the broker     {rate:8.2f}   ({meter}, {idle:.0f} s window)")
            print(f"  per station                     {rate / n:8.3f}")
            print(f"MQTT messages per station at start{startup_count / n:8.0f}")
            print(f"all online after broker restart, s{max(online.values()):8.1f}   target < 120")
            print(
                f"most back online in any 1 s       {spread:8d}   target <= {n / 4:g} (a quarter)"
            )
            print(f"MQTT messages per station again   {republished / n:8.0f}")
    finally:
        for proc in [*stations, csms.proc]:
            if proc is not None and proc.popen is not None and proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGTERM)
        for proc in [*stations, csms.proc]:
            if proc is not None and proc.popen is not None:
                try:
                    proc.popen.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.popen.kill()
                proc.notify.close()
        if counter is not None:
            counter.stop()
        if broker is not None:
            broker.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
