"""The web view's banner when the configuration has problems (docs/recovery.md), in
Debian's headless chromium: visible in recovery mode with each problem's file and line,
hidden on a clean start."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.http.auth import create_token

from .conftest import free_port
from .test_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed"
)


async def _banner(url: str, token: str) -> tuple[bool, str, list[str]]:
    playwright_api = pytest.importorskip(
        "playwright.async_api", reason="the playwright package is not installed"
    )
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            await page.goto(url + "/")
            await page.fill("#token", token)
            await page.click("#signin-form button")
            await page.wait_for_selector("#status[data-state='online']")
            await page.wait_for_selector("body[data-ready='1']", state="attached")
            visible = await page.locator("#config-banner").is_visible()
            title = await page.locator("#config-banner-title").inner_text()
            items = await page.locator("#config-banner-problems li").all_inner_texts()
        finally:
            await browser.close()
    assert not errors, errors
    return visible, title, items


async def test_banner_lists_problems_in_recovery_mode(
    config_dir: Callable[..., Path], start_station: Callable[..., Any]
) -> None:
    port = free_port()
    path = config_dir(
        "orge:\n  time_zone: Mars/Olympus\n"
        f"http:\n  server_host: 127.0.0.1\n  server_port: {port}\n"
        "esp32:\n  baudrate: fast\n"
    )
    token = create_token(str(path), "operator")
    hub, _result = await start_station(path)
    assert sorted(hub.config.components) == ["http", "persistent_notification"]
    visible, title, items = await _banner(f"http://127.0.0.1:{port}", token)
    assert visible
    assert title.startswith("Recovery mode")
    assert any(
        i.startswith("Invalid config for 'esp32' at configuration.yaml, line 7:") for i in items
    ), items
    assert any("configuration.yaml, line 2: invalid time zone" in i for i in items), items


async def test_banner_hidden_on_a_clean_start(
    config_dir: Callable[..., Path], start_station: Callable[..., Any]
) -> None:
    port = free_port()
    path = config_dir(f"http:\n  server_host: 127.0.0.1\n  server_port: {port}\n")
    token = create_token(str(path), "operator")
    await start_station(path)
    visible, _title, items = await _banner(f"http://127.0.0.1:{port}", token)
    assert not visible and items == []
