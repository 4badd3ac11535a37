"""Fixtures: a meter on pymodbus's server over TCP on loopback or RTU over a pty pair."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from orge.core import Orge

from .fake_meter import FakeMeter, free_port, pty_pair


@pytest.fixture
async def tcp_meter() -> AsyncIterator[Callable[..., Awaitable[tuple[FakeMeter, int]]]]:
    """start(model, **options) -> (meter, port): served by ModbusTcpServer on 127.0.0.1."""
    meters: list[FakeMeter] = []

    async def start(model: str, **options: Any) -> tuple[FakeMeter, int]:
        meter = FakeMeter(model, **options)
        meters.append(meter)
        port = free_port()
        await meter.serve_tcp(port)
        return meter, port

    yield start
    for meter in meters:
        await meter.stop()


@pytest.fixture
async def rtu_line(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """(meter side, station side) of a socat pseudo-terminal pair."""
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed (scripts/test installs it)")
    async with pty_pair(tmp_path) as pair:
        yield pair


async def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := predicate()):
        if loop.time() > deadline:
            raise TimeoutError(f"not reached within {timeout} s: {what}")
        await asyncio.sleep(0.02)
    return value


async def wait_state(hub: Orge, entity_id: str, value: str, timeout: float = 10.0) -> None:
    await wait_until(
        lambda: (s := hub.states.get(entity_id)) is not None and s.state == value,
        timeout,
        f"{entity_id} == {value} (is {getattr(hub.states.get(entity_id), 'state', None)})",
    )
