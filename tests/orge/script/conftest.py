"""A running station with recording services, for driving YAML automations in tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from orge.core import Orge, ServiceCall, SupportsResponse, callback
from orge.exceptions import OrgeError


class Recorder:
    """`test.record` appends its data; `test.fail` raises; `test.answer` returns data."""

    def __init__(self, hub: Orge) -> None:
        self.hub = hub
        self.calls: list[dict[str, Any]] = []
        hub.services.async_register("test", "record", callback(lambda c: self.record(c)))
        hub.services.async_register("test", "fail", callback(lambda c: self.fail(c)))
        hub.services.async_register(
            "test",
            "answer",
            callback(lambda c: self.answer(c)),
            supports_response=SupportsResponse.OPTIONAL,
        )

    def record(self, call: ServiceCall) -> None:
        self.calls.append(dict(call.data))

    def fail(self, call: ServiceCall) -> None:
        raise OrgeError("the device refused")

    def answer(self, call: ServiceCall) -> dict[str, Any]:
        return {"value": 42, "echo": dict(call.data)}

    def values(self, key: str = "value") -> list[Any]:
        return [call.get(key) for call in self.calls]


@pytest.fixture
def station(
    config_dir: Callable[..., Any], start_station: Callable[..., Any]
) -> Callable[..., Any]:
    async def start(configuration: str, **files: str) -> tuple[Orge, Recorder]:
        hub, _result = await start_station(config_dir(configuration, **files))
        return hub, Recorder(hub)

    return start


async def settle(hub: Orge, seconds: float = 0.0) -> None:
    """Let timers run for `seconds`, then wait for every task they started."""
    import asyncio

    if seconds:
        await asyncio.sleep(seconds)
    await hub.async_block_till_done(timeout=10)
