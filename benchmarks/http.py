"""HTTP and WebSocket API throughput and latency: ORGE against Home Assistant 2024.3.3.

    python benchmarks/http.py [--ha-python PATH] [--seconds 5] [--clients 50] [--events 200]

For each system, in its own process on a free local port, with the same 200 entities
(created through `POST /api/states`):

- `GET /api/states` requests per second, from `--concurrency` keep-alive connections;
- WebSocket event latency: `--clients` connections subscribe to one event type, a separate
  connection fires `--events` events (`fire_event`), and the time from sending each one to
  its arrival at every subscriber is recorded (p50, p99 over all arrivals).

Both servers get the identical load from this one client process, one after the other.
Home Assistant runs from its own virtualenv (`--ha-python`, or $ORGE_HA_PYTHON, or
`.venv-ha/bin/python` in the repo, or /work/.venv-ha/bin/python) with only its `http`,
`api` and `websocket_api` integrations set up programmatically (its default integrations
need packages the benchmark has no use for). Its long-lived token is created through its
own auth API in that process. Without that virtualenv the HA rows print "HA not available".
"""

from __future__ import annotations

import _repo_path  # noqa: F401  (first: puts the repo on sys.path, drops this folder)

# isort: split

import argparse
import asyncio
import base64
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent

HA_RUNNER = textwrap.dedent(
    """
    import asyncio, json, signal, sys
    from datetime import timedelta
    # Nabu Casa's cloud client does not import with this virtualenv's josepy; HA's forwarded
    # middleware treats a failing import as "no cloud", which is what a local install is.
    sys.modules["hass_nabucasa"] = None
    from homeassistant import config_entries, core, loader
    from homeassistant.auth import auth_manager_from_config
    from homeassistant.auth.models import TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN
    from homeassistant.bootstrap import async_load_base_functionality
    from homeassistant.setup import async_setup_component

    async def main(config_dir, port):
        hass = core.HomeAssistant(config_dir)
        loader.async_setup(hass)
        hass.config_entries = config_entries.ConfigEntries(hass, {})
        await async_load_base_functionality(hass)
        hass.auth = await auth_manager_from_config(hass, [{"type": "homeassistant"}], [])
        user = await hass.auth.async_create_user("bench", group_ids=["system-admin"])
        refresh = await hass.auth.async_create_refresh_token(
            user, client_name="bench", token_type=TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN,
            access_token_expiration=timedelta(days=30))
        token = hass.auth.async_create_access_token(refresh)
        conf = {"http": {"server_host": ["127.0.0.1"], "server_port": port}}
        for domain in ("http", "api", "websocket_api"):
            if not await async_setup_component(hass, domain, conf):
                raise SystemExit(f"setup of {domain} failed")
        await hass.async_start()
        print(json.dumps({"token": token, "version": core.__version__}), flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await hass.async_stop()

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


SEQ = re.compile(r'"seq":\s*(\d+)')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_ha_python(option: str | None) -> str | None:
    for candidate in (
        option,
        os.environ.get("ORGE_HA_PYTHON"),
        str(REPO / ".venv-ha" / "bin" / "python"),
        "/work/.venv-ha/bin/python",
    ):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


class Server:
    def __init__(self, name: str, process: subprocess.Popen[bytes], port: int, token: str) -> None:
        self.name = name
        self.process = process
        self.port = port
        self.token = token

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


async def wait_up(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {server.token}"}
    async with aiohttp.ClientSession() as session:
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.name} exited with {server.process.returncode}")
            try:
                async with session.get(server.url + "/api/", headers=headers) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} did not answer within {timeout:.0f} s")
            await asyncio.sleep(0.2)


def start_orge(workdir: Path) -> Server:
    from components.http.auth import create_token

    port = free_port()
    (workdir / "configuration.yaml").write_text(
        f"logger:\n  default: warning\nhttp:\n  server_host: 127.0.0.1\n  server_port: {port}\n"
    )
    token = create_token(str(workdir), "bench")
    process = subprocess.Popen(
        [sys.executable, "-m", "orge", "run", "-c", str(workdir)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return Server("ORGE", process, port, token)


def start_ha(python: str, workdir: Path) -> Server:
    port = free_port()
    runner = workdir / "run_ha.py"
    runner.write_text(HA_RUNNER)
    config = workdir / "config"
    config.mkdir()
    (config / "configuration.yaml").write_text("homeassistant:\n  time_zone: UTC\n")
    with open(workdir / "ha.log", "wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [python, str(runner), str(config), str(port)], stdout=subprocess.PIPE, stderr=log
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(10)
        raise RuntimeError(f"Home Assistant did not start; see {workdir / 'ha.log'}")
    info = json.loads(line)
    server = Server(f"Home Assistant {info['version']}", process, port, info["token"])
    return server


async def create_entities(server: Server, count: int) -> None:
    headers = {"Authorization": f"Bearer {server.token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for i in range(count):
            body = {
                "state": str(1000 + i),
                "attributes": {
                    "unit_of_measurement": "W",
                    "device_class": "power",
                    "state_class": "measurement",
                    "friendly_name": f"Bench sensor {i}",
                },
            }
            async with session.post(f"{server.url}/api/states/sensor.bench_{i}", json=body) as r:
                assert r.status in (200, 201), await r.text()


async def _raw_get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    """One keep-alive HTTP/1.1 GET; only the status line and Content-Length are parsed."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    if b"transfer-encoding: chunked" in head.lower():
        raise RuntimeError("chunked answers are not handled by this client")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length)
    return status, body


async def states_rps(
    server: Server, seconds: float, concurrency: int, gzip: bool = True
) -> tuple[float, int]:
    """Requests per second of GET /api/states over `seconds`, after a short warm-up.

    A minimal HTTP/1.1 client on raw streams (what wrk does in C): an aiohttp client
    parsing every answer would measure itself more than the servers. With `gzip` it sends
    the Accept-Encoding that browsers and aiohttp clients send; without, none.
    """
    encoding = "Accept-Encoding: gzip, deflate\r\n" if gzip else ""
    request = (
        f"GET /api/states HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Bearer {server.token}\r\n{encoding}"
        "Accept: application/json\r\n\r\n"
    ).encode()
    entities = 0
    async with aiohttp.ClientSession() as session:  # count entities once, decoded
        async with session.get(
            server.url + "/api/states", headers={"Authorization": f"Bearer {server.token}"}
        ) as response:
            entities = len(await response.json())
    connections = [
        await asyncio.open_connection("127.0.0.1", server.port) for _ in range(concurrency)
    ]
    for reader, writer in connections:  # warm-up
        for _ in range(10):
            status, body = await _raw_get(reader, writer, request)
            if status != 200:
                raise RuntimeError(f"{server.name}: {status} {body[:200]!r}")
    done = 0
    stop_at = time.perf_counter() + seconds

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            status, _body = await _raw_get(reader, writer, request)
            if status != 200:
                raise RuntimeError(f"{server.name}: status {status}")
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(r, w) for r, w in connections))
    elapsed = time.perf_counter() - started
    for _reader, writer in connections:
        writer.close()
    return done / elapsed, entities


class RawWebSocket:
    """A minimal WebSocket client on raw streams (RFC 6455): the handshake, masked text
    frames out, unmasked frames in. With 50 subscribers in one process, a full client
    library's per-message work would be most of the latency measured."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> RawWebSocket:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /api/websocket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"WebSocket upgrade refused: {head[:100]!r}")
        return cls(reader, writer)

    def send(self, value: Any) -> None:
        payload = json.dumps(value).encode()
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = bytes((0x81, 0x80 | length))
        elif length < 65536:
            header = bytes((0x81, 0x80 | 126)) + length.to_bytes(2, "big")
        else:
            header = bytes((0x81, 0x80 | 127)) + length.to_bytes(8, "big")
        key = int.from_bytes((mask * (length // 4 + 1))[:length], "big") if length else 0
        masked = (int.from_bytes(payload, "big") ^ key).to_bytes(length, "big")
        self.writer.write(header + mask + masked)

    async def receive(self) -> str:
        """The next text (or close) frame's payload; pings are ignored."""
        while True:
            first, second = await self.reader.readexactly(2)
            length = second & 0x7F
            if length == 126:
                length = int.from_bytes(await self.reader.readexactly(2), "big")
            elif length == 127:
                length = int.from_bytes(await self.reader.readexactly(8), "big")
            payload = await self.reader.readexactly(length)
            opcode = first & 0x0F
            if opcode == 0x8:
                raise ConnectionError("closed by the server")
            if opcode in (0x1, 0x0):
                return payload.decode()

    async def receive_json(self) -> Any:
        return json.loads(await self.receive())

    def close(self) -> None:
        self.writer.close()


async def ws_latency(server: Server, clients: int, events: int) -> list[float]:
    """Milliseconds from fire_event to arrival, for every subscriber and event."""
    latencies: list[float] = []
    sockets: list[RawWebSocket] = []
    sent_at: dict[int, float] = {}
    arrived: dict[int, int] = {}
    all_arrived: dict[int, asyncio.Event] = {}

    async def connect() -> RawWebSocket:
        ws = await RawWebSocket.connect(server.port)
        assert (await ws.receive_json())["type"] == "auth_required"
        ws.send({"type": "auth", "access_token": server.token})
        answer = await ws.receive_json()
        assert answer["type"] == "auth_ok", answer
        return ws

    async def subscriber(ws: RawWebSocket) -> None:
        while True:
            text = await ws.receive()
            now = time.perf_counter()
            # Only the sequence number is looked for: no JSON decoding per message.
            for match in SEQ.finditer(text):
                seq = int(match.group(1))
                latencies.append((now - sent_at[seq]) * 1000)
                arrived[seq] = arrived.get(seq, 0) + 1
                if arrived[seq] == clients:
                    all_arrived[seq].set()

    try:
        for _ in range(clients):
            ws = await connect()
            ws.send({"id": 1, "type": "subscribe_events", "event_type": "bench_event"})
            assert (await ws.receive_json())["success"] is True
            sockets.append(ws)
        readers = [asyncio.create_task(subscriber(ws)) for ws in sockets]
        control = await connect()
        sockets.append(control)
        payload = {"entity_id": "sensor.bench_1", "state": "1234", "unit": "W", "note": "x" * 200}
        for seq in range(events):
            all_arrived[seq] = asyncio.Event()
            sent_at[seq] = time.perf_counter()
            control.send(
                {
                    "id": seq + 1,
                    "type": "fire_event",
                    "event_type": "bench_event",
                    "event_data": {"seq": seq, **payload},
                }
            )
            await asyncio.wait_for(all_arrived[seq].wait(), 10)
            await control.receive()  # the fire_event result
            await asyncio.sleep(0.01)
        for task in readers:
            task.cancel()
    finally:
        for ws in sockets:
            ws.close()
    return latencies


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


async def measure(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    """One round on one server: requests/s (with and without gzip), then WebSocket latency."""
    rps, entities = await states_rps(server, args.seconds, args.concurrency)
    rps_plain, _ = await states_rps(server, args.seconds, args.concurrency, gzip=False)
    latencies = await ws_latency(server, args.clients, args.events)
    return {
        "rps": rps,
        "rps_identity": rps_plain,
        "entities": entities,
        "p50": statistics.median(latencies),
        "p99": percentile(latencies, 99),
        "max": max(latencies),
        "samples": len(latencies),
    }


async def run_rounds(servers: list[Server], args: argparse.Namespace) -> dict[str, list[dict]]:
    """Both servers up at once; rounds alternate between them so that load from anything
    else on the machine falls on both alike."""
    for server in servers:
        await wait_up(server)
        await create_entities(server, args.entities)
    rounds: dict[str, list[dict]] = {server.name: [] for server in servers}
    for _ in range(args.rounds):
        for server in servers:
            rounds[server.name].append(await measure(server, args))
    return rounds


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over the rounds."""
    return {
        key: statistics.median(row[key] for row in rows)
        for key in ("rps", "rps_identity", "p50", "p99", "max")
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ha-python", help="python of a virtualenv with homeassistant==2024.3.3")
    parser.add_argument("--seconds", type=float, default=4.0, help="GET /api/states duration")
    parser.add_argument("--concurrency", type=int, default=16, help="parallel connections")
    parser.add_argument("--entities", type=int, default=200)
    parser.add_argument("--clients", type=int, default=50, help="WebSocket subscribers")
    parser.add_argument("--events", type=int, default=200, help="events fired per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per server")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    load_before = f"{os.getloadavg()[0]:.2f}"
    ha_error = None
    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="orge-bench-") as tmp:
        try:
            orge_dir = Path(tmp) / "orge"
            orge_dir.mkdir()
            servers.append(start_orge(orge_dir))
            ha_python = find_ha_python(args.ha_python)
            if ha_python is None:
                ha_error = "no Home Assistant virtualenv found (--ha-python, $ORGE_HA_PYTHON)"
            else:
                ha_dir = Path(tmp) / "ha"
                ha_dir.mkdir()
                try:
                    servers.append(start_ha(ha_python, ha_dir))
                except (RuntimeError, OSError, ValueError) as err:
                    ha_error = f"{type(err).__name__}: {err}"
            try:
                rounds = asyncio.run(run_rounds(servers, args))
            except (RuntimeError, OSError) as err:
                if len(servers) < 2:
                    raise
                # Home Assistant failed mid-run: measure ORGE alone rather than nothing.
                ha_error = f"{type(err).__name__}: {err}"
                servers[1].stop()
                rounds = asyncio.run(run_rounds(servers[:1], args))
        finally:
            for server in servers:
                server.stop()
    names = list(rounds)
    orge_name = names[0]
    ha_name = names[1] if len(names) > 1 else None
    if args.json:
        print(json.dumps({"rounds": rounds, "ha_error": ha_error}, indent=2))
        return 0
    print(f"load average before: {load_before}; after: {os.getloadavg()[0]:.2f} (2 cores)")
    print(
        f"GET /api/states with {args.entities} entities, {args.concurrency} connections, "
        f"{args.seconds:g} s; WebSocket: {args.clients} subscribers, {args.events} events; "
        f"{args.rounds} alternating rounds, medians"
    )
    print(
        f"{'':24} {'req/s':>9} {'(no gzip)':>9} {'WS p50 ms':>10} {'WS p99 ms':>10} "
        f"{'WS max ms':>10}"
    )
    medians = {name: summary(rows) for name, rows in rounds.items()}
    for name in names:
        row = medians[name]
        print(
            f"{name:24} {row['rps']:9.0f} {row['rps_identity']:9.0f} "
            f"{row['p50']:10.2f} {row['p99']:10.2f} {row['max']:10.2f}"
        )
    if ha_name is None:
        print(f"{'Home Assistant':24} HA not available ({ha_error})")
    for name in names:
        per_round = ", ".join(f"{r['rps']:.0f} req/s p99 {r['p99']:.1f} ms" for r in rounds[name])
        print(f"  rounds of {name}: {per_round}")
    orge = medians[orge_name]
    print(
        f"targets: > 2000 req/s: {'met' if orge['rps'] > 2000 else 'NOT met'}; "
        f"p99 < 20 ms: {'met' if orge['p99'] < 20 else 'NOT met'}"
    )
    if ha_name is not None:
        ha = medians[ha_name]
        print(
            f"ORGE vs HA: {orge['rps'] / ha['rps']:.2f}x the requests/s "
            f"({orge['rps_identity'] / ha['rps_identity']:.2f}x without gzip); "
            f"p99 {orge['p99']:.2f} ms vs {ha['p99']:.2f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
