"""Automation engine figures: trigger-to-first-action latency, and the cost of 200 automations.

    python benchmarks/automation.py [--automations 200] [--triggers 10000]

Latency: a state write (`states.async_set`) to the first action (a service call) of the
matching automation, with N automations loaded (each watching its own sensor, half with a
template condition, each action rendering a template). Start-up: setting up the
automation component with N automations from YAML on disk, minus the same with none;
memory: Python allocations (tracemalloc) held after that setup.
"""

from __future__ import annotations

import _repo_path  # noqa: F401  (first: puts the repo on sys.path, drops this folder)

# isort: split

import argparse
import asyncio
import gc
import logging
import os
import statistics
import tempfile
import time
import tracemalloc

from orge import config as conf_util
from orge.core import Orge, ServiceCall, callback
from orge.setup import async_setup_components, check_configuration


def write_config(directory: str, count: int) -> None:
    lines = ["automation:"]
    for i in range(count):
        lines += [
            f"  - id: bench_{i}",
            f"    alias: Bench {i}",
            "    triggers:",
            "      - trigger: state",
            f"        entity_id: sensor.bench_{i}",
            '        to: "on"',
        ]
        if i % 2:
            lines += [
                "    conditions:",
                f"      - \"{{{{ trigger.to_state.state == 'on' and {i} >= 0 }}}}\"",
            ]
        lines += [
            "    actions:",
            "      - action: bench.hit",
            "        data:",
            f'          value: "{{{{ trigger.entity_id }}}} #{i}"',
            "      - event: bench_done",
        ]
    with open(os.path.join(directory, "configuration.yaml"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


async def setup_seconds(directory: str) -> tuple[float, float, Orge]:
    """(seconds loading and checking the YAML, seconds setting components up, hub)."""
    hub = Orge(directory)
    start = time.perf_counter()
    result = check_configuration(directory, deep=False)
    loaded = time.perf_counter()
    conf_util.async_apply_core_config(hub, result.core)
    await async_setup_components(hub, result)
    return loaded - start, time.perf_counter() - loaded, hub


async def main(count: int, triggers: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as empty, tempfile.TemporaryDirectory() as full:
        write_config(empty, 0)
        write_config(full, count)
        # warm imports and the template cache's code paths once, in a throwaway hub
        _load, warm, hub = await setup_seconds(full)
        await hub.async_stop()
        base_load, base_setup, full_load, full_setup = [], [], [], []
        for _ in range(5):
            load, setup, hub = await setup_seconds(empty)
            base_load.append(load)
            base_setup.append(setup)
            await hub.async_stop()
            load, setup, hub = await setup_seconds(full)
            full_load.append(load)
            full_setup.append(setup)
            await hub.async_stop()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        _load, _setup, hub = await setup_seconds(full)
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        held = sum(stat.size_diff for stat in after.compare_to(before, "filename"))

        await hub.async_start()
        hits: list[float] = []
        done = asyncio.Event()

        @callback
        def hit(call: ServiceCall) -> None:
            hits.append(time.perf_counter())
            done.set()

        hub.services.async_register("bench", "hit", hit)
        await asyncio.sleep(2)  # steady state: the template warm-up task has finished
        latencies = []
        for n in range(triggers):
            entity_id = f"sensor.bench_{n % count}"
            hub.states.async_set(entity_id, "off")
            done.clear()
            start = time.perf_counter()
            hub.states.async_set(entity_id, "on")
            await done.wait()
            latencies.append(hits[-1] - start)
            await hub.async_block_till_done()
        await hub.async_stop()

    latencies.sort()
    p50 = statistics.median(latencies) * 1e3
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1e3
    print(f"automations loaded:            {count}")
    print(f"triggers measured:             {triggers}")
    print(
        f"state write -> first action:   p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {latencies[-1] * 1e3:.3f} ms"
    )
    med = statistics.median
    setup_ms = (med(full_setup) - med(base_setup)) * 1e3
    load_ms = (med(full_load) - med(base_load)) * 1e3
    cost = setup_ms
    print(
        f"start-up cost of {count} automations (component setup): {setup_ms:.1f} ms "
        f"(median of 5; first cold run {warm * 1e3:.1f} ms)"
    )
    print(
        f"  plus loading their YAML (orge.yaml loader): {load_ms:.1f} ms; "
        f"total {setup_ms + load_ms:.1f} ms"
    )
    print(
        f"memory held by {count} automations: {held / 1024:.0f} KiB ({held / count / 1024:.1f} KiB each)"
    )
    print(
        f"targets: p99 < 1 ms -> {'met' if p99 < 1 else 'MISSED'}; start-up < 300 ms -> {'met' if cost < 300 else 'MISSED'}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--automations", type=int, default=200)
    parser.add_argument("--triggers", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(main(args.automations, args.triggers))
