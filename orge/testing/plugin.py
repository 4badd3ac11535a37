"""The pytest plugin of orge.testing (entry point `pytest11` in setup.cfg).

Fixtures (async ones are pytest-asyncio fixtures: they run in the test's loop, in strict
mode too, where each async test needs `@pytest.mark.asyncio`):

- `orge_clock`: the controllable clock of the test's loop (orge.testing.clock).
- `orge`: a running hub (`CoreState.RUNNING`) whose config dir is the test's `tmp_path`,
  with a controllable clock (`orge.testing.async_fire_time_changed`); stopped afterwards.
- `config_dir`: `write(configuration_yaml, files=None, **named) -> Path`, the config dir.
- `start_station`: `start(config_dir) -> (hub, CheckResult)`, a station set up from a config
  dir and started, as `orge run` does; every hub stopped afterwards.
- `esp32_simulator`: the esp32 component's simulated controller on a pseudo-terminal
  (`.port` is the device path), loaded by name when the fixture runs.
- `ocpp_csms`: a test CSMS (orge.testing.ocpp_csms.OcppCsms) on a real WebSocket server on
  a free port; `.url(station_id)` is the address for the station.

The plugin imports the engine only; a component is imported inside the fixture that
needs it, through the loader, so that the engine never depends on a component.
"""

from __future__ import annotations

import asyncio
import importlib
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from orge import redact
from orge.core import Orge
from orge.testing.clock import CLOCK_KEY, ControlledClock

# Fast firmware for tests: a pass is 2.5 ms, a STAT every 0.3 s.
ESP32_SIM_OPTIONS: dict[str, Any] = {
    "time_scale": 0.02,
    "stat_interval": 0.3,
    "fault_report_interval": 0.02,
    "hardfault_end_passes": 5,
}


@pytest.fixture(autouse=True)
def _forget_secrets_after_the_test() -> Any:
    """Secrets registered by one test's stations (the process-wide registry of
    orge.redact) are not kept for the next test."""
    yield
    redact.forget_secrets()


@pytest_asyncio.fixture
async def orge_clock() -> AsyncIterator[ControlledClock]:
    """The test loop's controllable clock, shared by every hub of the test (`orge` and the
    stations of `start_station`); `orge_clock.advance(s)` moves it with no hub running."""
    clock = ControlledClock(asyncio.get_running_loop())
    clock.install()
    try:
        yield clock
    finally:
        clock.uninstall()


@pytest_asyncio.fixture
async def orge(tmp_path: Path, orge_clock: ControlledClock) -> AsyncIterator[Orge]:
    """A running hub in a temporary config dir (tmp_path), with a controllable clock."""
    hub = Orge(str(tmp_path))
    hub.data[CLOCK_KEY] = orge_clock
    await hub.async_start()
    yield hub
    await hub.async_stop()


@pytest.fixture
def config_dir(tmp_path: Path) -> Callable[..., Path]:
    """write(configuration_yaml, files={"sub/dir/x.yaml": text}) -> the config dir.

    Texts are dedented. Keyword arguments are files too, `__` standing for `/`
    (`automations__a.yaml=...`)."""

    def write(configuration: str, files: dict[str, str] | None = None, **named: str) -> Path:
        (tmp_path / "configuration.yaml").write_text(textwrap.dedent(configuration))
        every = {name.replace("__", "/"): text for name, text in named.items()}
        every.update(files or {})
        for name, text in every.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        return tmp_path

    return write


@pytest_asyncio.fixture
async def start_station(orge_clock: ControlledClock) -> AsyncIterator[Callable[..., Any]]:
    """start(config_dir) -> (hub, CheckResult): a station set up and started in this loop,
    on the test's controllable clock."""
    from orge.check_result import CheckResult
    from orge.setup import async_from_config_dir

    hubs: list[Orge] = []

    async def start(path: Path | str) -> tuple[Orge, CheckResult]:
        hub = Orge(str(path))
        hub.data[CLOCK_KEY] = orge_clock
        hubs.append(hub)
        result = await async_from_config_dir(hub, str(path))
        await hub.async_start()
        await hub.async_block_till_done()
        return hub, result

    yield start
    for hub in hubs:
        await hub.async_stop()


def component_submodule(domain: str, name: str) -> Any:
    """`<package of domain>.<name>`, found through the loader (built-in or custom)."""
    from orge.loader import ComponentIndex

    component = ComponentIndex().get(domain)
    if component is None:
        raise LookupError(f"component {domain!r} is not installed")
    return importlib.import_module(f"{component.package}.{name}")


@pytest_asyncio.fixture
async def esp32_simulator(tmp_path: Path) -> AsyncIterator[Any]:
    """A simulated ESP32 controller on a pty (`.port`), fast firmware timings."""
    simulator_module = component_submodule("esp32", "simulator")
    simulator = simulator_module.Esp32Simulator(**ESP32_SIM_OPTIONS)
    await simulator.start_pty(link=str(tmp_path / "ttyESP32"))
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest_asyncio.fixture
async def ocpp_csms() -> AsyncIterator[Any]:
    """A running test CSMS (orge.testing.ocpp_csms.OcppCsms) with default answers."""
    from orge.testing.ocpp_csms import OcppCsms

    async with OcppCsms() as csms:
        yield csms
