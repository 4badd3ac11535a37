"""The web entity view in Debian's headless chromium, driven through Playwright.

Skipped (with the reason) only when chromium or the playwright package is missing.
Set ORGE_SCREENSHOTS=DIR to keep desktop and phone screenshots for a look.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason="Debian's chromium is not installed (scripts/test installs it when run as root)",
    ),
]


async def wait_for(predicate, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def _equals(value, expected) -> bool:
    return (await value) == expected


async def trace_count(hub) -> int:
    response = await hub.services.async_call(
        "automation", "get_traces", {}, blocking=True, return_response=True
    )
    return len(response["traces"].get("automation.cap_current", []))


async def test_web_view(make_station) -> None:
    playwright_api = pytest.importorskip(
        "playwright.async_api", reason="the playwright package is not installed"
    )
    from .test_websocket import AUTOMATION

    station = await make_station(extra="recorder:\n  commit_interval: 0.1\n" + AUTOMATION)
    hub = station.hub
    entities = hub.data["charger_demo"]
    power = entities["sensor.charger_power"]
    for value in (1200, 3400, 2300):
        power._attr_state = value
        power.async_write_state()
    shots = os.environ.get("ORGE_SCREENSHOTS")

    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            await page.goto(station.url + "/")

            # sign in
            await page.fill("#token", "wrong-token-value")
            await page.click("#signin-form button")
            await page.wait_for_selector("#signin-error:has-text('not accepted')")
            await page.fill("#token", station.token)
            await page.click("#signin-form button")
            await page.locator("#state").wait_for()
            await page.click('.tabs button[data-tab="entities"]')
            card = page.locator('[data-entity-id="sensor.charger_power"]')
            await card.wait_for()
            assert "2300 W" in await card.locator(".value").inner_text()
            group = page.locator('section[data-platform="charger_demo"]')
            assert await group.locator("article").count() == 5

            # a state change arrives without a reload
            power._attr_state = 7400
            power.async_write_state()
            await page.wait_for_selector(
                '[data-entity-id="sensor.charger_power"] .value:has-text("7400 W")'
            )

            # controls call services
            switch = page.locator('[data-entity-id="switch.charging_enabled"]')
            await switch.locator('button[data-action="toggle"]').click()
            await wait_for(lambda: hub.states.get("switch.charging_enabled").state == "on")
            await switch.locator('.value:has-text("on")').wait_for()
            # the automation it triggered set the current; its change arrives live too
            await page.wait_for_selector(
                '[data-entity-id="number.max_current"] .value:has-text("10 A")'
            )

            # automations: trigger by hand, disable
            auto = page.locator('[data-entity-id="automation.cap_current"]')
            await auto.locator('button[data-action="trigger"]').click()
            await wait_for(lambda: _equals(trace_count(hub), 2))
            await auto.locator('button[data-action="toggle"]').click()
            await wait_for(lambda: hub.states.get("automation.cap_current").state == "off")

            number = page.locator('[data-entity-id="number.max_current"]')
            await number.locator("input").fill("20")
            await number.locator('button[data-action="set"]').click()
            await wait_for(lambda: hub.states.get("number.max_current").state == "20")

            select = page.locator('[data-entity-id="select.charge_mode"] select')
            await select.select_option("solar")
            await wait_for(lambda: hub.states.get("select.charge_mode").state == "solar")

            await page.locator('[data-entity-id="button.reset_meter"] button').click()
            await wait_for(lambda: hub.data.get("charger_demo_presses") == 1)

            # the component's own services, with their fields
            await group.locator("details.forms > summary").click()
            service = page.locator('[data-service="charger_demo.authorize"]')
            await service.locator('input[name="id_tag"]').fill("TAG42")
            await service.locator('button[type="submit"]').click()
            await service.locator(".result.ok").wait_for()
            await page.wait_for_selector(
                '[data-entity-id="sensor.charger_authorized_tag"] .value:has-text("TAG42")'
            )

            # history chart from the recorder
            await card.locator('button[data-action="history"]').click()
            await card.locator("svg.chart polyline").wait_for()
            points = await card.locator("svg.chart polyline").get_attribute("points")
            assert len(points.split()) >= 6

            # automation traces
            await page.click('.tabs button[data-tab="system"]')
            traces = page.locator('details.trace[data-item="automation.cap_current"]')
            await traces.first.wait_for()
            assert await traces.count() == 2
            if shots:
                await traces.first.locator("summary").click()
                await page.screenshot(path=os.path.join(shots, "traces.png"), full_page=True)

            # configuration check
            await page.click("#check-config")
            await page.wait_for_selector("#check-result:has-text('Configuration valid')")
            if shots:
                await page.click('.tabs button[data-tab="entities"]')
                await page.screenshot(path=os.path.join(shots, "desktop.png"), full_page=True)

            # the token is kept across a reload; a phone-sized screen works
            await page.set_viewport_size({"width": 390, "height": 844})
            await page.reload()
            await page.locator("#state").wait_for()
            await page.click('.tabs button[data-tab="entities"]')
            await card.wait_for()
            assert await page.locator("#signin").is_hidden()
            box = await card.bounding_box()
            assert box is not None and box["width"] <= 390
            if shots:
                await page.screenshot(path=os.path.join(shots, "phone.png"), full_page=True)
            assert errors == []
        finally:
            await browser.close()
