"""How the web page shows the station's messages, in Debian's headless chromium: a
configuration problem is one alert (its notification), times in the banner and in messages
are local times, and `code` spans in problems and notifications are <code>, with any HTML in
them shown as text."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import pytest

from orge.recovery import MODE_LAST_GOOD, RecoveryStatus, async_publish

from .test_browser import ARGS, CHROMIUM, wait_for
from .test_web_station import LOW_CONTRAST_JS, SHOTS

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason="Debian's chromium is not installed (scripts/test installs it when run as root)",
)

UNKNOWN = (
    "automations.yaml, line 12: unknown action `esp32.simulat` (did you mean `esp32.simulate`?)"
)
MARKUP = "automations.yaml, line 20: <b>not bold</b> & `sensor.charger_stat` is not an entity"
# 08:29:27 UTC is 09:29:27 in Paris (CET, UTC+1, in January).
SAVED = datetime(2026, 1, 15, 8, 29, 27, 358363, tzinfo=UTC)


async def _signed_in(browser: Any, station: Any) -> Any:
    # A browser in Paris with British English: the page must show its local time in its
    # language, whatever the station's time zone.
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, locale="en-GB", timezone_id="Europe/Paris"
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.errors = errors
    await page.goto(station.url + "/")
    await page.fill("#token", station.token)
    await page.click("#signin-form button")
    await page.wait_for_selector("body[data-ready='1']", state="attached")
    return page


async def test_problems_are_one_alert_each_with_code_and_local_time(make_station) -> None:
    playwright_api = pytest.importorskip(
        "playwright.async_api", reason="the playwright package is not installed"
    )
    # a top-level block after http's: the notifications' own services (dismiss, create)
    station = await make_station(http_extra="persistent_notification:\n")
    hub = station.hub
    # as orge.setup publishes a start on the last good copy: the binary sensor with the
    # problems, and one persistent notification per problem
    async_publish(
        hub,
        RecoveryStatus(
            mode=MODE_LAST_GOOD, problems=[UNKNOWN, MARKUP], last_good_saved_at=SAVED.timestamp()
        ),
    )
    notifications = [s for s in hub.states.async_all() if s.domain == "persistent_notification"]
    assert len(notifications) == 2
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = await _signed_in(browser, station)

            # the banner: when the copy was saved, as a local time, not an ISO 8601 text
            title = await page.inner_text("#config-banner-title")
            assert "saved 15/01/2026, 09:29:27." in title, title
            assert SAVED.isoformat() not in title and "T08:29" not in title
            items = page.locator("#config-banner-problems li")
            assert await items.count() == 2
            assert await items.nth(0).locator("code").all_inner_texts() == [
                "esp32.simulat",
                "esp32.simulate",
            ]
            assert await items.nth(0).inner_text() == UNKNOWN.replace("`", "")
            # HTML in a message is text: shown as typed, never an element
            assert await items.nth(1).locator("b").count() == 0
            assert await items.nth(1).locator("code").all_inner_texts() == ["sensor.charger_stat"]
            assert "<b>not bold</b> & sensor.charger_stat" in await items.nth(1).inner_text()

            # two problems: two alerts, each once (its notification), and counted once
            assert await page.inner_text("#alert-count") == "2"
            assert "Problems: 2 alert(s)" in await page.inner_text("#indicators")
            await page.click('.tabs button[data-tab="alerts"]')
            cards = page.locator("#alerts article.alert")
            await cards.first.wait_for()
            assert await cards.count() == 2
            assert await page.locator("#alerts [data-problem]").count() == 0
            first = page.locator('[data-notification="config_problem_1"] p.message')
            assert await first.locator("code").all_inner_texts() == [
                "esp32.simulat",
                "esp32.simulate",
            ]
            assert "`" not in await first.inner_text()
            second = page.locator('[data-notification="config_problem_2"] p.message')
            assert await second.locator("b").count() == 0
            assert "<b>not bold</b>" in await second.inner_text()
            # the notification's own sentence names the copy's time (orge/recovery.py): local
            saved = second.locator("time")
            assert await saved.get_attribute("datetime") == SAVED.isoformat()
            assert await saved.inner_text() == "15/01/2026, 09:29:27"
            assert "+00:00" not in await second.inner_text()

            # the operator dismisses a notification; the problem is still there, once
            await page.locator('[data-notification="config_problem_1"] button').click()
            await page.locator('[data-notification="config_problem_1"]').wait_for(state="detached")
            assert hub.states.get("persistent_notification.config_problem_1") is None
            problem = page.locator("#alerts [data-problem]")
            await problem.wait_for()
            assert await problem.count() == 1
            assert await problem.locator("code").all_inner_texts() == [
                "esp32.simulat",
                "esp32.simulate",
            ]
            assert await cards.count() == 2
            await wait_for(lambda: _text(page, "#alert-count", "2"))

            # a notification of an automation: its title's and message's code spans too
            await hub.services.async_call(
                "persistent_notification",
                "create",
                {
                    "notification_id": "meter",
                    "title": "Check `sensor.meter_energy`",
                    "message": "It went back: `12.5` kWh, then `3.1` kWh. <i>Not italic</i>",
                },
                blocking=True,
            )
            meter = page.locator('[data-notification="meter"]')
            await meter.wait_for()
            assert await meter.locator("h3 code").all_inner_texts() == ["sensor.meter_energy"]
            assert await meter.locator("p.message code").all_inner_texts() == ["12.5", "3.1"]
            assert await meter.locator("i").count() == 0
            assert "<i>Not italic</i>" in await meter.inner_text()
            assert await page.inner_text("#alert-count") == "3"
            # code on the banner and the cards is readable (WCAG AA), for a reviewer to see
            assert await page.evaluate(LOW_CONTRAST_JS) == []
            SHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SHOTS / "phone-alerts-problems.png"), full_page=True)
            assert page.errors == []
        finally:
            await browser.close()


async def _text(page: Any, selector: str, expected: str) -> bool:
    return await page.inner_text(selector) == expected
