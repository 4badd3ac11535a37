"""Fixtures shared by every test: a running hub, and a station config dir on disk."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from orge.core import Orge
from orge.setup import CheckResult, async_from_config_dir

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
async def orge() -> AsyncIterator[Orge]:
    """A bare hub in the test's loop; stopped afterwards."""
    hub = Orge()
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


@pytest.fixture
async def start_station() -> AsyncIterator[Callable[..., object]]:
    """start(config_dir) -> (hub, CheckResult): a station set up and started in this loop."""
    hubs: list[Orge] = []

    async def start(path: Path | str) -> tuple[Orge, CheckResult]:
        hub = Orge(str(path))
        hubs.append(hub)
        result = await async_from_config_dir(hub, str(path))
        await hub.async_start()
        await hub.async_block_till_done()
        return hub, result

    yield start
    for hub in hubs:
        await hub.async_stop()
