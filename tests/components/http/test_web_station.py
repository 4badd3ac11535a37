"""The station page as an operator sees it, in Debian's headless chromium (Playwright).

A real station: the esp32 component on its simulator (a real pseudo-terminal), the demo
meter, the recorder on a SQLite file, OCPP 2.0.1 to the local demo CSMS, and http on a free
port. A whole session is walked at 390x844 (a phone) and then at 1280x800 (a desktop), and
the test asserts what a person would see: the state in plain words, power, session energy
and duration in the first viewport; a refused current limit with its reason readable
(computed contrast >= 4.5, WCAG AA) and in view; an earth-fault banner; a form built from
esp32's services.yaml; grey values and disabled controls once the station stops.

Screenshots of every page at both sizes go to tests/screenshots/ (ignored by git), or to
$ORGE_SCREENSHOTS.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import pytest

from components.http.auth import create_token
from orge.log import setup_logging

from .conftest import free_port
from .test_browser import ARGS, CHROMIUM, wait_for

pytestmark = [
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason="Debian's chromium is not installed (scripts/test installs it when run as root)",
    ),
]

SHOTS = Path(os.environ.get("ORGE_SCREENSHOTS") or Path(__file__).parents[2] / "screenshots")
PAGES = [
    "status",
    "sessions",
    "history",
    "logbook",
    "alerts",
    "network",
    "logs",
    "system",
    "entities",
]
SIZES = {"phone": (390, 844), "desktop": (1280, 800)}

# WCAG 2.1 contrast ratio of an element's text against the first opaque background under it.
CONTRAST_JS = """
(node) => {
  const rgb = (text) => text.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const fg = rgb(getComputedStyle(node).color);
  let bg = [255, 255, 255];
  for (let n = node; n; n = n.parentElement) {
    const value = rgb(getComputedStyle(n).backgroundColor);
    if (value.length < 4 || value[3] > 0.99) { bg = value.slice(0, 3); break; }
  }
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}
"""


# Every visible text on the page below 4.5:1 (inactive controls are exempt in WCAG 1.4.3).
LOW_CONTRAST_JS = (
    """
() => {
  const contrast = """
    + CONTRAST_JS
    + """;
  const low = [];
  for (const node of document.querySelectorAll("body *")) {
    if (node.closest("svg, option, [hidden]") || !node.getClientRects().length) continue;
    if (![...node.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim())) continue;
    if (node.closest("button:disabled") || node.matches(":disabled")) continue;
    const ratio = contrast(node);
    if (ratio < 4.5) low.push(`${node.tagName}.${node.className} ${ratio.toFixed(2)}: ${node.textContent.trim().slice(0, 40)}`);
  }
  return low;
}
"""
)


def station_yaml(port: int, csms_port: int) -> str:
    return f"""
orge:
  name: Web test station
  station_id: WEB_TEST_1
  time_zone: UTC
esp32:
  port: simulator
  status_interval: 0.2
  session_status_interval: 0.2
  simulator:
    time_scale: 0.05
    stat_interval: 0.2
    fault_report_interval: 0.05
demo:
http:
  server_host: 127.0.0.1
  server_port: {port}
recorder:
  commit_interval: 0.1
ocpp201:
  url: ws://127.0.0.1:{csms_port}/ocpp
  station_id: WEB_TEST_1
  password: demo-password
  evse:
    - id: 1
      connector_id: 1
      state_entity: sensor.charger_state
      energy_entity: sensor.meter_energy
      power_entity: sensor.meter_power
      authorize_action: {{action: esp32.authorize}}
      stop_action: {{action: esp32.stop_charging}}
      current_limit_entity: number.charger_max_current
demo_csms:
  port: {csms_port}
persistent_notification:
"""


def kwh(text: str) -> float:
    match = re.fullmatch(r"([\d.]+) kWh", text.strip())
    assert match, text
    return float(match.group(1))


async def in_view(page: Any, selector: str) -> bool:
    """Wholly on screen, and not under the sticky header or the phone's bottom tab bar."""
    box = await page.locator(selector).bounding_box()
    size = page.viewport_size
    top = (await page.locator("header.bar").bounding_box())["height"]
    tabs = await page.locator("nav.tabs").bounding_box()
    fixed = await page.locator("nav.tabs").evaluate("(n) => getComputedStyle(n).position")
    bottom = tabs["y"] if fixed == "fixed" else size["height"]
    return (
        box is not None
        and box["y"] >= top
        and box["y"] + box["height"] <= bottom
        and box["x"] + box["width"] <= size["width"]
    )


async def state_is(page: Any, word: str) -> None:
    await page.wait_for_selector(f"#state:text-is('{word}')", timeout=8000)


async def simulate(page: Any, event: str) -> None:
    form = page.locator('[data-service="esp32.simulate"]')
    await form.locator(f'button[data-choice="{event}"]').click()
    await form.locator(f".result.ok:has-text('{event.replace('_', ' ')}: done')").wait_for()


async def screenshots(page: Any, size: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name in PAGES:
        await page.click(f'.tabs button[data-tab="{name}"]')
        await page.locator(f"#tab-{name}").wait_for()
        await page.wait_for_function(
            "(name) => !document.querySelector(`#tab-${name}`).textContent.includes('Loading…')",
            arg=name,
        )
        await page.screenshot(path=str(SHOTS / f"{size}-{name}.png"), full_page=True)
        assert await page.evaluate(LOW_CONTRAST_JS) == [], (size, name)
        # nothing wider than the screen: no sideways scrolling on a phone
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= SIZES[size][0], (size, name, width)
    await page.click('.tabs button[data-tab="status"]')


async def walk_a_session(page: Any, hub: Any, size: str) -> None:
    """Plug in, start, charge, a refused limit, stop, unplug; what the page shows at each step."""
    width, height = SIZES[size]
    await state_is(page, "Available")
    # outside a session the charger takes a new limit: "pending" until its state says so
    limit = "16" if size == "phone" else "32"
    await page.locator("#limit").fill(limit)
    confirmed = page.locator(f"#limit-result.ok:has-text('The charger confirmed {limit} A.')")
    await confirmed.wait_for(timeout=8000)
    assert hub.states.get("number.charger_max_current").state == limit
    assert await page.locator("#limit-pending").is_hidden()

    await simulate(page, "plug_in")
    await state_is(page, "Preparing")
    assert await page.locator("#limit-result").is_hidden()  # a result belongs to its state
    lifetime_at_start = float(hub.states.get("sensor.meter_energy").state)

    await page.click("#btn-start")
    await page.locator("#action-result.ok").wait_for()
    await wait_for(lambda: hub.states.get("binary_sensor.charger_authorized").state == "on")
    await simulate(page, "vehicle_ready")
    await simulate(page, "vehicle_charging")
    await state_is(page, "Charging")

    # power, session energy and duration, in the first viewport, without scrolling
    await page.evaluate("window.scrollTo(0, 0)")
    await wait_for(lambda: float(hub.states.get("sensor.meter_power").state) > 0)
    watts = float(hub.states.get("sensor.meter_power").state)
    await page.wait_for_selector(f"#fig-power:text-is('{watts / 1000:.2f} kW')")
    if size == "desktop":
        # the README's figure: 230 V x 3 phases x 20 A (plug_in's cable without a rating;
        # the limit is 32 A here) = 13.80 kW
        assert watts == 230 * 3 * 20
        await page.wait_for_selector("#fig-power:text-is('13.80 kW')")
    await page.wait_for_function("() => document.querySelector('#fig-energy').textContent !== '–'")
    await wait_for(lambda: _positive(page), timeout=8)
    await page.wait_for_function(
        "() => /^\\d+ min \\d\\d s$/.test(document.querySelector('#fig-duration').textContent)"
    )
    for selector in ("#state", "#fig-power", "#fig-energy", "#fig-duration"):
        assert await in_view(page, selector), (size, selector)
    # energy of this session: the register now minus the register at plug-in, not the total
    shown = kwh(await page.inner_text("#fig-energy"))
    lifetime = float(hub.states.get("sensor.meter_energy").state)
    assert shown <= lifetime - lifetime_at_start + 0.001
    assert shown >= 0.0005
    if lifetime_at_start > 0:
        assert shown < lifetime
    # authorised here (Start), but the controller's flag does not say by whom: no "locally"
    assert await page.inner_text("#fig-who") == "Authorised"

    # the current limit is refused during a session: it springs back, with the reason
    await page.locator("#limit").fill("10")
    result = page.locator("#limit-result.bad")
    await result.wait_for()
    text = await result.inner_text()
    assert "10 A refused" in text and "session" in text, text
    assert await page.locator("#limit").input_value() == limit
    assert await page.locator("#limit-pending").is_hidden()
    assert await result.evaluate(CONTRAST_JS) >= 4.5
    assert await in_view(page, "#limit-result")

    # the same refusal from the form built from services.yaml: shown beside it, input reset
    form = page.locator('[data-service="esp32.set_max_current"]')
    field = form.locator('input[name="current"]')
    assert await field.get_attribute("type") == "number"
    assert (await field.get_attribute("min"), await field.get_attribute("max")) == ("6", "32")
    assert await field.get_attribute("required") is not None
    assert "Current limit in amperes." in await form.inner_text()
    # services.yaml's `code` spans are code on the page, not backticks
    description = page.locator('[data-service="esp32.simulate"] > p.meta')
    assert await description.locator("code").all_inner_texts() == ["port: simulator"]
    assert "`" not in await description.inner_text()
    await field.fill("12")
    await form.locator('button[type="submit"]').click()
    refusal = form.locator(".result.bad")
    await refusal.wait_for()
    assert "refused" in await refusal.inner_text()
    assert await refusal.evaluate(CONTRAST_JS) >= 4.5
    assert await in_view(page, '[data-service="esp32.set_max_current"] .result.bad')
    assert await field.input_value() == ""

    if size == "phone":
        await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(path=str(SHOTS / f"{size}-charging.png"))

    # stop, then unplug: Finishing, then Available with the last session's figures
    await page.click("#btn-stop")
    await state_is(page, "Finishing")
    await simulate(page, "unplug")
    await state_is(page, "Available")
    assert "Last session" in await page.inner_text("#state-detail")

    # a session the CSMS starts (RequestStartTransaction from the demo CSMS's form), with the
    # demo vehicle's 32 A cable; then an earth fault while charging: a banner with the reason
    # and what to do
    simulate_form = page.locator('[data-service="esp32.simulate"]')
    await simulate_form.locator('select[name="cable_rating"]').select_option("32")
    await simulate(page, "plug_in")
    # the CSMS's start once the vehicle is plugged in (README step 4)
    await state_is(page, "Preparing")
    await simulate_form.locator('select[name="cable_rating"]').select_option("")
    await page.locator("#station-forms details.forms").nth(1).evaluate("(d) => { d.open = true; }")
    # an example that is a mapping (services.yaml `example: {type: Soft}`) reads as JSON
    call_payload = page.locator('[data-service="demo_csms.call"] input[name="payload"]')
    assert await call_payload.get_attribute("placeholder") == 'e.g. {"type":"Soft"}'
    request = page.locator('[data-service="demo_csms.request_start"]')
    await request.locator('input[name="id_tag"]').fill("DEMO1234")
    await request.locator('button[type="submit"]').click()
    await request.locator(".result.ok").wait_for()
    await wait_for(lambda: hub.states.get("binary_sensor.charger_authorized").state == "on")
    await simulate(page, "vehicle_ready")
    await simulate(page, "vehicle_charging")
    await state_is(page, "Charging")
    if size == "desktop":
        # the README's figure for the demo vehicle: 230 V x 3 phases x 32 A = 22.08 kW
        await page.wait_for_selector("#fig-power:text-is('22.08 kW')", timeout=8000)
    # never "Authorised locally" for a CSMS start: the neutral word, or the CSMS's id token
    # (masked) where the station has the session entities of the OCPP library
    assert await page.inner_text("#fig-who") in ("Authorised", "•••• 1234")
    await simulate(page, "fault_earth")
    banner = page.locator('[data-alarm="fault"]')
    await banner.wait_for(timeout=8000)
    assert "Earth fault" in await banner.inner_text()
    assert "electrician" in await banner.inner_text()
    await state_is(page, "Faulted")
    assert await banner.locator("h2").evaluate(CONTRAST_JS) >= 4.5
    await page.evaluate("window.scrollTo(0, 0)")
    assert await in_view(page, '[data-alarm="fault"] h2')
    await page.screenshot(path=str(SHOTS / f"{size}-fault.png"))
    await simulate(page, "clear_fault")
    await simulate(page, "unplug")
    await state_is(page, "Available")
    assert await banner.count() == 0
    assert width == page.viewport_size["width"]
    del height


async def _positive(page: Any) -> bool:
    text = await page.inner_text("#fig-energy")
    return text != "–" and kwh(text) > 0


async def test_station_page(config_dir, start_station) -> None:
    playwright_api = pytest.importorskip(
        "playwright.async_api", reason="the playwright package is not installed"
    )
    import aiohttp

    setup_logging()  # as `orge run` does: /api/error_log keeps the last warnings and errors
    port, csms_port = free_port(), free_port()
    path = config_dir(station_yaml(port, csms_port))
    token = create_token(str(path), "tests")
    hub, result = await start_station(path)
    assert not result.problems, result.problems
    assert "http" in hub.config.components, hub.config.setup_errors
    await wait_for(lambda: _state(hub, "sensor.charger_state") == "idle", timeout=10)
    url = f"http://127.0.0.1:{port}"

    # the first screen over the wire: the page, its style and its script, under 100 KB
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        total = 0
        for asset in ("/", "/www/style.css", "/www/app.js"):
            async with session.get(url + asset, headers={"Accept-Encoding": "gzip"}) as response:
                assert response.status == 200
                total += len(await response.content.read())
        assert total < 100_000, total

    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 390, "height": 844})
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            await page.goto(url + "/")

            # sign-in for people: the real command, where scripts/run put a token, no path
            signin = page.locator("#signin")
            await signin.wait_for()
            help_text = await signin.inner_text()
            assert "orge auth create-token NAME -c <config dir>" in help_text
            assert "scripts/run" in help_text
            assert str(path) not in await page.content()
            SHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SHOTS / "phone-signin.png"), full_page=True)
            # the first screen over the wire after sign-in: files and the WebSocket snapshot
            wire: list[int] = []
            page.on("websocket", lambda ws: ws.on("framereceived", lambda f: wire.append(len(f))))
            await page.fill("#token", token)
            await page.click("#signin-form button")
            await page.wait_for_selector("body[data-ready='1']", state="attached")
            snapshot = sum(wire)
            print(f"first screen: {total} bytes of files + {snapshot} bytes over the WebSocket")
            assert total + snapshot < 100_000, (total, snapshot)

            await walk_a_session(page, hub, "phone")
            await screenshots(page, "phone")

            # the same browser remembers the token; a desktop-sized window
            await page.set_viewport_size({"width": 1280, "height": 800})
            await page.reload()
            await page.locator("#state").wait_for()
            assert await page.locator("#signin").is_hidden()
            await walk_a_session(page, hub, "desktop")
            await page.screenshot(path=str(SHOTS / "desktop-status-after.png"))

            # History marks the sessions; Sessions says whether the session log exists
            await page.click('.tabs button[data-tab="history"]')
            await page.locator("#history-chart svg.chart polyline").wait_for()
            assert await page.locator("#history-chart rect.session").count() >= 2
            assert await page.locator("#history-chart text.unit").text_content() == "W"
            await page.click('.tabs button[data-tab="sessions"]')
            await page.wait_for_function(
                "() => !document.querySelector('#sessions').textContent.includes('Loading…')"
            )
            sessions_text = await page.inner_text("#sessions")
            async with aiohttp.ClientSession() as session:
                async with session.get(
                    url + "/api/ocpp/sessions", headers={"Authorization": f"Bearer {token}"}
                ) as response:
                    if response.status == 404:
                        assert "does not keep a session log yet" in sessions_text
                    else:  # the log of point 1: every walked session, newest first
                        rows = await response.json()
                        assert rows, "the sessions just walked are in the log"
                        cards = page.locator("#sessions .session-row")
                        assert await cards.count() == len(rows)
                        first = await cards.first.inner_text()
                        ended = rows[0]["stop_reason"] or "–"
                        assert (f"ended: {ended}" if rows[0]["ended_at"] else "running") in first
                        assert ("not yet confirmed" in first) == (not rows[0]["confirmed"])
                        await page.screenshot(path=str(SHOTS / "desktop-sessions.png"))
            # Logs: the station's recent warnings and errors, filtered by level
            logging.getLogger("components.esp32").warning("web test: a warning line")
            logging.getLogger("components.esp32").error("web test: an error line")
            await page.click('.tabs button[data-tab="logs"]')
            await page.wait_for_selector("#logs:has-text('web test: a warning line')")
            await page.select_option("#log-level", "ERROR")
            await page.wait_for_selector("#logs:has-text('web test: an error line')")
            assert "web test: a warning line" not in await page.inner_text("#logs")
            await page.select_option("#log-level", "WARNING")
            async with page.expect_download() as download:
                await page.click("#logs-download")
            saved = Path(await (await download.value).path()).read_text()
            assert "web test: a warning line" in saved and "web test: an error line" in saved
            # Alerts: a persistent notification, counted on the tab, dismissed from the page
            await hub.services.async_call(
                "persistent_notification",
                "create",
                {"notification_id": "web_test", "title": "Meter check", "message": "Read it."},
                blocking=True,
            )
            await page.click('.tabs button[data-tab="alerts"]')
            alert = page.locator('[data-notification="web_test"]')
            await alert.wait_for()
            assert "Meter check" in await alert.inner_text()
            assert await page.inner_text("#alert-count") == "1"
            await alert.locator("button").click()
            await alert.wait_for(state="detached")
            assert hub.states.get("persistent_notification.web_test") is None
            # History: a custom range
            await page.click('.tabs button[data-tab="history"]')
            await page.select_option("#history-range", "custom")
            await page.fill("#history-from", "2020-01-01T00:00")
            await page.fill("#history-to", "2020-01-02T00:00")
            await page.click("#history-apply")
            await page.locator("#history-chart:has-text('No numeric values')").wait_for()
            # from ten minutes ago, in the browser's local time
            await page.evaluate(
                """() => {
                  const d = new Date(Date.now() - 600e3);
                  d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
                  document.querySelector('#history-from').value = d.toISOString().slice(0, 16);
                  document.querySelector('#history-to').value = '';
                }"""
            )
            await page.click("#history-apply")
            await page.locator("#history-chart svg.chart polyline").wait_for()
            # Logbook: what happened, the raw readings only when asked for
            await page.click('.tabs button[data-tab="logbook"]')
            await page.wait_for_selector("#logbook li:has-text('Charger state')")
            assert "Charger PWM" not in await page.inner_text("#logbook")
            await page.check("#logbook-all")
            await page.wait_for_selector("#logbook li:has-text('Charger PWM')")
            await page.uncheck("#logbook-all")
            # Entities: diagnostics apart
            await page.click('.tabs button[data-tab="entities"]')
            diagnostics = page.locator('section[data-platform="diagnostics"]')
            await diagnostics.locator('[data-entity-id="sensor.charger_cp_state"]').wait_for()
            await screenshots(page, "desktop")
            assert token not in await page.content()

            # the station stops: values grey, controls off, a banner says why
            await hub.async_stop()
            await page.locator("#stale-banner").wait_for(timeout=8000)
            assert await page.locator("#btn-start").is_disabled()
            assert await page.locator("#btn-stop").is_disabled()
            assert await page.locator("#limit").is_disabled()
            assert await page.locator('[data-service="esp32.simulate"] button').first.is_disabled()
            grey = await page.locator("#fig-power").evaluate("(n) => getComputedStyle(n).color")
            assert grey == "rgb(95, 102, 115)"
            assert await page.evaluate(LOW_CONTRAST_JS) == []
            await page.screenshot(path=str(SHOTS / "desktop-stopped.png"))
            await page.set_viewport_size({"width": 390, "height": 844})
            await page.screenshot(path=str(SHOTS / "phone-stopped.png"))
            assert errors == []
        finally:
            await browser.close()


def _state(hub: Any, entity_id: str) -> str | None:
    state = hub.states.get(entity_id)
    return state.state if state else None


async def test_status_reads_the_session_entities(make_station) -> None:
    """The session entities of the OCPP library (issue 13 point 1), when a station has them,
    drive the status card: state, masked id token, session energy, power and duration."""
    playwright_api = pytest.importorskip(
        "playwright.async_api", reason="the playwright package is not installed"
    )
    from datetime import UTC, datetime, timedelta

    station = await make_station()
    hub = station.hub
    started = datetime.now(UTC) - timedelta(seconds=125)
    hub.states.async_set("sensor.charger_state", "charging", {"code": 5, "cp": 2, "pb": 0})
    hub.states.async_set(
        "sensor.ws1_session_state",
        "charging",
        {
            "id_token": "04A1B2C3D4",
            "transaction_id": "tx-1",
            "started_at": started.isoformat(),
            "duration_s": 125,
            "session_energy_kwh": 1.234,
            "power_w": 7400,
            "stop_reason": None,
        },
    )
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844})
            await page.goto(station.url + "/")
            await page.fill("#token", station.token)
            await page.click("#signin-form button")
            await state_is(page, "Charging")
            assert await page.inner_text("#fig-who") == "•••• C3D4"
            assert await page.inner_text("#fig-energy") == "1.234 kWh"
            assert await page.inner_text("#fig-power") == "7.40 kW"
            assert re.fullmatch(r"2 min 0\d s", await page.inner_text("#fig-duration"))
            # the whole token is for API clients, never on the page
            assert "04A1B2C3D4" not in await page.inner_text("body")
            # without a charge controller's services, Start/Stop are not offered
            assert await page.locator("#btn-start").is_hidden()
            # the session ends: the page follows the session entity
            hub.states.async_set("sensor.ws1_session_state", "finishing", {"stop_reason": "Local"})
            await state_is(page, "Finishing")
        finally:
            await browser.close()
