"""power_monitor and ngrok benchmark: CPU time of one poll, and the share of a core at the
default scan intervals.

    python benchmarks/surroundings.py [--polls 500]

Prints, for each case, the process CPU time (user + system, this process and its children)
per poll through the real components, and that cost as a share of one core at the default
interval (power_monitor 5 s, ngrok 30 s):
- power_monitor, sysfs source: a fake sysfs tree (get_throttled, thermal zone) and a fake
  /dev/kmsg file read incrementally; no subprocess;
- power_monitor, vcgencmd source: a stand-in `vcgencmd` shell script, three runs per poll
  (get_throttled, measure_temp, measure_volts core), the cost of a station without the
  firmware's sysfs file;
- ngrok: `GET /api/tunnels` to a local aiohttp server with two tunnels (server included).
"""

from __future__ import annotations

import _repo_path  # noqa: F401  (first: puts the repo on sys.path, drops this folder)

# isort: split

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path

from aiohttp import web

from orge.core import Orge
from orge.setup import async_from_config_dir

VCGENCMD = """#!/bin/sh
case "$1" in
  get_throttled) echo "throttled=0x0" ;;
  measure_temp) echo "temp=47.2'C" ;;
  measure_volts) echo "volt=0.8563V" ;;
esac
"""


def cpu() -> float:
    """User + system seconds of this process (all threads) and its finished children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


async def measure(config: str, domain: str, polls: int) -> float:
    """CPU seconds per `async_refresh` of the component set up from `config`."""
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "configuration.yaml").write_text("logger:\n  default: error\n" + config)
        orge = Orge(directory)
        await async_from_config_dir(orge, directory)
        await orge.async_start()
        await orge.async_block_till_done()
        component = orge.data[domain]
        for _ in range(5):  # warm up
            await component.async_refresh()
        start = cpu()
        for _ in range(polls):
            await component.async_refresh()
        used = (cpu() - start) / polls
        await orge.async_stop()
    return used


async def power_monitor(polls: int, work: Path) -> tuple[float, float]:
    sysfs = work / "root"
    throttled = sysfs / "sys/devices/platform/soc/soc:firmware/get_throttled"
    throttled.parent.mkdir(parents=True)
    throttled.write_text("0\n")
    thermal = sysfs / "sys/class/thermal/thermal_zone0/temp"
    thermal.parent.mkdir(parents=True)
    thermal.write_text("47236\n")
    kmsg = work / "kmsg"
    kmsg.write_text("2,812,5130412,-;hwmon hwmon1: Undervoltage detected!\n")
    tool = work / "bin" / "vcgencmd"
    tool.parent.mkdir()
    tool.write_text(VCGENCMD)
    tool.chmod(0o755)
    common = f"  sysfs_root: {sysfs}\n  kernel_log: {kmsg}\n  scan_interval: 3600\n"
    with_sysfs = await measure(
        f"power_monitor:\n{common}  vcgencmd: {work}/none/vcgencmd\n", "power_monitor", polls
    )
    throttled.unlink()
    thermal.unlink()
    with_tool = await measure(
        f"power_monitor:\n{common}  vcgencmd: {tool}\n", "power_monitor", max(polls // 4, 10)
    )
    return with_sysfs, with_tool


async def ngrok(polls: int) -> float:
    answer = {
        "tunnels": [
            {
                "name": name,
                "public_url": url,
                "proto": proto,
                "config": {"addr": addr, "inspect": False},
                "metrics": {"conns": {"count": 1, "gauge": 0}, "http": {"count": 4}},
            }
            for name, url, proto, addr in (
                ("https", "https://5d3b.ngrok-free.app", "https", "http://localhost:8000"),
                ("ssh", "tcp://4.tcp.eu.ngrok.io:15723", "tcp", "localhost:22"),
            )
        ],
        "uri": "/api/tunnels",
    }

    async def tunnels(_request: web.Request) -> web.Response:
        return web.json_response(answer)

    app = web.Application()
    app.router.add_get("/api/tunnels", tunnels)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        return await measure(
            f"ngrok:\n  api_url: http://127.0.0.1:{port}\n  scan_interval: 3600\n",
            "ngrok",
            polls,
        )
    finally:
        await runner.cleanup()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--polls", type=int, default=500)
    polls = parser.parse_args().polls
    with tempfile.TemporaryDirectory() as work:
        with_sysfs, with_tool = await power_monitor(polls, Path(work))
    per_ngrok = await ngrok(polls)
    for label, seconds, interval in (
        ("power_monitor, sysfs + kmsg", with_sysfs, 5),
        ("power_monitor, vcgencmd x3 + kmsg", with_tool, 5),
        ("ngrok, GET /api/tunnels (2 tunnels)", per_ngrok, 30),
    ):
        print(
            f"{label:38s} {seconds * 1000:7.3f} ms CPU per poll"
            f"  -> {seconds / interval * 100:6.3f} % of one core every {interval} s"
        )


if __name__ == "__main__":
    started = time.perf_counter()
    asyncio.run(main())
    print(f"(ran in {time.perf_counter() - started:.1f} s)")
