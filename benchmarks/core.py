"""Microseconds per operation of the hub's hot paths; with --vs-ha, Home Assistant's too.

    python benchmarks/core.py            # ORGE only
    python benchmarks/core.py --vs-ha    # ORGE and Home Assistant 2024.3.3 side by side

Home Assistant runs in its own venv (it pins other versions of our dependencies):
`benchmarks/ha_venv.sh` creates `.venv-ha`; `ORGE_HA_PYTHON` may point elsewhere.
The same workload code drives both: both hubs expose the same core API names.
"""

from __future__ import annotations

import _repo_path  # noqa: F401  (first: puts the repo on sys.path, drops this folder)

# isort: split

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRES = 100_000
ENTITIES = 1_000
WRITE_ROUNDS = 20
CALLS = 50_000
REPEATS = 5


def _engine(name: str) -> tuple[Callable[[], Any], Callable[..., Any], Callable[..., Any]]:
    """(hub factory, callback decorator, track_state_change_event) for 'orge' or 'ha'."""
    if name == "ha":
        from homeassistant.core import HomeAssistant, callback
        from homeassistant.helpers.event import async_track_state_change_event

        def make() -> Any:
            hub = HomeAssistant("/tmp")
            return hub

        return make, callback, async_track_state_change_event
    from orge.core import Orge, callback
    from orge.helpers.event import async_track_state_change_event

    return Orge, callback, async_track_state_change_event


async def _fire(make: Callable[[], Any], callback: Callable[..., Any], _track: Any) -> float:
    hub = make()
    count = 0

    @callback
    def listener(event: Any) -> None:
        nonlocal count
        count += 1

    hub.bus.async_listen("bench_event", listener)
    fire = hub.bus.async_fire
    start = time.perf_counter()
    for index in range(FIRES):
        fire("bench_event", {"n": index})
        if index % 1000 == 999:
            await hub.async_block_till_done()
    await hub.async_block_till_done()
    elapsed = time.perf_counter() - start
    assert count == FIRES, count
    return elapsed / FIRES * 1e6


async def _write(make: Callable[[], Any], callback: Callable[..., Any], track: Any) -> float:
    hub = make()
    entity_ids = [f"sensor.bench_{index}" for index in range(ENTITIES)]
    count = 0

    @callback
    def listener(event: Any) -> None:
        nonlocal count
        count += 1

    track(hub, entity_ids, listener)
    for entity_id in entity_ids:
        hub.states.async_set(entity_id, "0")
    await hub.async_block_till_done()
    count = 0
    set_state = hub.states.async_set
    start = time.perf_counter()
    for round_number in range(1, WRITE_ROUNDS + 1):
        value = str(round_number)
        for entity_id in entity_ids:
            set_state(entity_id, value, {"unit_of_measurement": "W"})
        await hub.async_block_till_done()
    elapsed = time.perf_counter() - start
    assert count == ENTITIES * WRITE_ROUNDS, count
    return elapsed / (ENTITIES * WRITE_ROUNDS) * 1e6


async def _call(make: Callable[[], Any], callback: Callable[..., Any], _track: Any) -> float:
    hub = make()
    count = 0

    @callback
    def handler(call: Any) -> None:
        nonlocal count
        count += 1

    hub.services.async_register("bench", "noop", handler)
    call = hub.services.async_call
    start = time.perf_counter()
    for _ in range(CALLS):
        await call("bench", "noop", {"value": 1}, blocking=True)
    elapsed = time.perf_counter() - start
    assert count == CALLS, count
    return elapsed / CALLS * 1e6


WORKLOADS = {
    "event fired to one @callback listener": _fire,
    "state write, 1,000 tracked entities": _write,
    "blocking service call to @callback": _call,
}


def measure(engine: str) -> dict[str, float]:
    """Median over REPEATS runs of each workload, in microseconds per operation."""
    make, callback, track = _engine(engine)
    results = {}
    for name, workload in WORKLOADS.items():
        runs = [asyncio.run(workload(make, callback, track)) for _ in range(REPEATS)]
        results[name] = statistics.median(runs)
    return results


def ha_python() -> str | None:
    for candidate in (
        os.environ.get("ORGE_HA_PYTHON"),
        os.path.join(REPO, ".venv-ha", "bin", "python"),
        "/work/.venv-ha/bin/python",
    ):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--vs-ha", action="store_true", help="also run Home Assistant 2024.3.3")
    parser.add_argument("--engine", choices=["orge", "ha"], default="orge", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.engine)))
        return 0
    orge = measure("orge")
    ha: dict[str, float] | None = None
    if args.vs_ha:
        python = ha_python()
        if python is None:
            print("Home Assistant venv not found: run benchmarks/ha_venv.sh", file=sys.stderr)
            return 1
        out = subprocess.run(
            [python, __file__, "--engine", "ha", "--json"],
            capture_output=True,
            text=True,
            check=True,
        )
        ha = json.loads(out.stdout.strip().splitlines()[-1])
    width = max(map(len, WORKLOADS))
    title = f"µs per operation (median of {REPEATS} runs)"
    header = f"{title:<{width}}  {'ORGE':>8}"
    if ha:
        header += f"  {'HA 2024.3.3':>11}  {'HA/ORGE':>7}"
    print(header)
    for name in WORKLOADS:
        line = f"{name:<{width}}  {orge[name]:8.2f}"
        if ha:
            line += f"  {ha[name]:11.2f}  {ha[name] / orge[name]:6.1f}x"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
