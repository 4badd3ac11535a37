"""Recording fake services and a running station for automation tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from orge.core import Orge, ServiceCall, callback
from orge.exceptions import ServiceValidationError


class Fakes:
    """Services a test registers in place of components built elsewhere (esp32, number)."""

    def __init__(self, hub: Orge) -> None:
        self.hub = hub
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.refuse: set[str] = set()

    def add(self, domain: str, *services: str) -> None:
        for service in services:
            name = f"{domain}.{service}"

            @callback
            def handle(call: ServiceCall, name: str = name) -> None:
                self.calls.append((name, dict(call.data)))
                if name in self.refuse:
                    raise ServiceValidationError(f"{name} refused in this state")

            self.hub.services.async_register(domain, service, handle)

    def names(self) -> list[str]:
        return [name for name, _data in self.calls]


@pytest.fixture
def station(
    config_dir: Callable[..., Any], start_station: Callable[..., Any]
) -> Callable[..., Any]:
    async def start(configuration: str, **files: str) -> tuple[Orge, Fakes, Any]:
        path = config_dir(configuration, **files)
        hub, _result = await start_station(path)
        fakes = Fakes(hub)
        fakes.add("test", "record")
        return hub, fakes, path

    return start
