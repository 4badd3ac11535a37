"""Fleet figures: N real `orge run` stations (simulated controllers) against one CSMS.

    python benchmarks/fleet.py                 # 20 stations
    python benchmarks/fleet.py --stations 150

The CSMS is ORGE's demo CSMS (components/demo_csms) in its own `orge run` process on
loopback; each station is the shipped station's set-up (esp32 simulator, demo meter,
ocpp201 with ocpp16 as fallback, http, recorder, persistent_notification) with its own
config dir, station id and ports. Stations are started one after the other (a station
boots alone on its own Raspberry Pi; the rest of the fleet idles meanwhile).

Prints, with the issue's targets:
- time to ready: spawn -> READY=1 on the systemd notify socket (median, max);
- resident memory per station from /proc/PID/smaps_rollup: RSS and PSS (median, max);
- CPU per idle station: utime+stime over an idle window, in % of one core (median, max);
- after the CSMS is restarted: seconds from the new CSMS being ready until all N are
  connected again, and the largest number of stations connecting within any 1 s window
  (from the CSMS's "Station X connected" log lines).
"""

from __future__ import annotations

import _repo_path  # first: puts the repo on sys.path, drops this folder

# isort: split

import argparse
import os
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

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


def notify_socket(directory: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(os.path.join(directory, "notify.sock"))
    sock.setblocking(False)
    return sock


def spawn(proc: Proc, stdout: int | None = subprocess.DEVNULL) -> None:
    env = {**os.environ, "PYTHONPATH": REPO, "NOTIFY_SOCKET": proc.notify.getsockname()}
    proc.spawned = time.monotonic()
    proc.popen = subprocess.Popen(
        [sys.executable, "-m", "orge", "run", "-c", proc.config],
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
    args = parser.parse_args()
    n = args.stations
    root = tempfile.mkdtemp(prefix="orge-fleet-")
    csms_port = free_port()
    os.makedirs(os.path.join(root, "csms"))
    csms_config = os.path.join(root, "csms", "configuration.yaml")
    with open(csms_config, "w") as out:
        out.write(CSMS_YAML.format(port=csms_port))
    csms = Csms(csms_port, csms_config)
    stations: list[Proc] = []
    try:
        start_csms(csms)
        print(f"{n} stations against one CSMS on 127.0.0.1:{csms_port} ({root})", flush=True)
        began = time.monotonic()
        for index in range(n):
            station_id = f"FLEET_{index:03d}"
            directory = os.path.join(root, station_id)
            os.makedirs(directory)
            with open(os.path.join(directory, "configuration.yaml"), "w") as out:
                out.write(
                    STATION_YAML.format(
                        index=index,
                        station_id=station_id,
                        http_port=free_port(),
                        csms_port=csms_port,
                    )
                )
            proc = Proc(station_id, directory, notify_socket(directory))
            stations.append(proc)
            spawn(proc)
            wait_ready(proc)
        ids = {p.name for p in stations}
        wait_all_connected(csms, ids, began, 120)
        print(f"all {n} started and connected in {time.monotonic() - began:.1f} s", flush=True)

        time.sleep(5)  # settle: first status lines, boot notifications, recorder commits
        pids = [p.popen.pid for p in stations if p.popen]
        cpu_before = {pid: cpu_seconds(pid) for pid in pids}
        idle_start = time.monotonic()
        time.sleep(args.idle)
        idle = time.monotonic() - idle_start
        cpu = [100 * (cpu_seconds(pid) - cpu_before[pid]) / idle for pid in pids]
        memory = [smaps(pid) for pid in pids]

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

        ready = [p.ready_s for p in stations if p.ready_s is not None]
        rss = [m[0] for m in memory]
        pss = [m[1] for m in memory]
        print()
        print(f"stations                          {n}")
        print(f"time to ready, s                  {figures(ready)}   target < 2")
        print(f"RSS per station, MiB              {figures(rss)}   target < 50")
        print(f"PSS per station, MiB              {figures(pss)}")
        print(f"CPU per idle station, % of a core {figures(cpu)}   ({idle:.0f} s window)")
        print(f"all back after CSMS restart, s    {back_s:6.1f}   target < 120")
        print(f"most reconnecting in any 1 s      {window:6d}   target <= {n / 4:g} (a quarter)")
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
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
