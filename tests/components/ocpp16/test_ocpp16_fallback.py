"""ocpp201 and ocpp16 in one station: fallback over the bus, OCPP_PRIMARY=16."""

from __future__ import annotations

import asyncio

import pytest
from ocpp16_helpers import PASSWORD, STATION, FakeController, wait_state

from tests.ocpp_csms import OCPP16, OCPP201, OcppCsms


def _yaml(url201: str, url16: str, fallback: bool = True, password16: str = PASSWORD) -> str:
    common = (
        f"  station_id: {STATION}\n"
        "  response_timeout: 1\n"
        "  retry_backoff_wait_minimum: 0.1\n"
        "  retry_backoff_random_range: 0.05\n"
        "  retry_backoff_repeat_times: 1\n"
        "  boot_retry_interval: 0.2\n"
        "  offline_threshold: 0\n"
        "  evse:\n"
        "    - id: 1\n"
        "      authorize_action: {action: fake.authorize}\n"
        "      stop_action: {action: fake.stop_charging}\n"
        "      current_limit_entity: number.fake_limit\n"
    )
    return (
        f"orge:\n  station_id: {STATION}\n"
        f"ocpp201:\n  url: {url201}\n  password: {PASSWORD}\n  fallback_after: 2\n"
        + common
        + f"ocpp16:\n  url: {url16}\n  password: {password16}\n  fallback_after: 2\n"
        + f"  fallback: {'true' if fallback else 'false'}\n"
        + common
    )


async def test_fallback_to_16_and_back_to_201(config_dir, start_station, monkeypatch) -> None:
    monkeypatch.delenv("OCPP_PRIMARY", raising=False)
    async with (
        OcppCsms(protocols=(OCPP201,), passwords=PASSWORD) as csms201,
        OcppCsms(protocols=(OCPP16,), passwords=PASSWORD) as csms16,
    ):
        csms201.refuse_status = 503  # the 2.0.1 endpoint is down
        hub, result = await start_station(config_dir(_yaml(csms201.url(), csms16.url())))
        assert not result.problems
        FakeController(hub).state("idle")
        await csms16.wait_connected(STATION, OCPP16, timeout=8)
        assert len(csms201.attempts) >= 2  # it tried 2.0.1 first, fallback_after times
        assert csms201.attempts[0].mono < csms16.attempts[0].mono
        await csms16.wait_for("StatusNotification", 2)
        await wait_state(hub, "sensor.ocpp_active_protocol", "ocpp1.6")
        await wait_state(hub, "sensor.ocpp16_connection", "connected")

        csms201.refuse_status = None  # 2.0.1 is back: the primary retries and wins
        await csms201.wait_connected(STATION, OCPP201, timeout=8)
        await csms201.wait_for("BootNotification")
        await wait_state(hub, "sensor.ocpp_active_protocol", "ocpp2.0.1", timeout=8)
        await csms16.wait_until(lambda: STATION not in csms16.stations, timeout=5)
        await wait_state(hub, "sensor.ocpp16_connection", "standby")
        attempts16 = len(csms16.attempts)
        await asyncio.sleep(0.5)
        assert len(csms16.attempts) == attempts16  # stays down while 2.0.1 works


async def test_fallback_disabled_stays_down(config_dir, start_station, monkeypatch) -> None:
    monkeypatch.delenv("OCPP_PRIMARY", raising=False)
    async with (
        OcppCsms(protocols=(OCPP201,), passwords="wrong") as csms201,
        OcppCsms(protocols=(OCPP16,), passwords=PASSWORD) as csms16,
    ):
        hub, _ = await start_station(config_dir(_yaml(csms201.url(), csms16.url(), fallback=False)))
        await csms201.wait_until(lambda: len(csms201.attempts) >= 2, timeout=5)
        await asyncio.sleep(0.4)
        assert csms16.attempts == []
        assert hub.states.get("sensor.ocpp16_connection").state == "standby"


async def test_primary_16_hands_over_to_201_when_refused(
    config_dir, start_station, monkeypatch
) -> None:
    monkeypatch.setenv("OCPP_PRIMARY", "16")
    async with (
        OcppCsms(protocols=(OCPP201,), passwords=PASSWORD) as csms201,
        OcppCsms(protocols=(OCPP16,), passwords=PASSWORD) as csms16,
    ):
        hub, _ = await start_station(
            config_dir(_yaml(csms201.url(), csms16.url(), password16="not-it"))
        )
        await csms201.wait_connected(STATION, OCPP201, timeout=8)
        assert csms16.attempts[0].outcome == "unauthorized"  # 1.6 was tried first
        assert csms16.attempts[0].mono < csms201.attempts[0].mono
        assert "HTTP 401" in hub.states.get("sensor.ocpp16_last_error").state
        await wait_state(hub, "sensor.ocpp_active_protocol", "ocpp2.0.1", timeout=5)


@pytest.mark.parametrize("primary", ["16", "201"])
async def test_16_alone_is_active_whatever_the_primary(
    config_dir, start_station, monkeypatch, primary: str
) -> None:
    monkeypatch.setenv("OCPP_PRIMARY", primary)
    async with OcppCsms(protocols=(OCPP16,), passwords=PASSWORD) as csms16:
        yaml = _yaml("ws://unused", csms16.url())
        yaml = yaml[: yaml.index("ocpp201:")] + yaml[yaml.index("ocpp16:") :]
        hub, _ = await start_station(config_dir(yaml))
        FakeController(hub).state("idle")
        await csms16.wait_connected(STATION, OCPP16, timeout=5)
        await wait_state(hub, "sensor.ocpp_active_protocol", "ocpp1.6")


async def test_shared_url_csms_picks_16(config_dir, start_station, monkeypatch) -> None:
    """Both components on one URL; the CSMS speaks only 1.6: ocpp201 offers both, is
    answered with ocpp1.6, hands over, and ocpp16 takes the link."""
    monkeypatch.delenv("OCPP_PRIMARY", raising=False)
    async with OcppCsms(protocols=(OCPP16,), passwords=PASSWORD) as csms:
        hub, _ = await start_station(config_dir(_yaml(csms.url(), csms.url())))
        FakeController(hub).state("idle")
        await csms.wait_until(lambda: any(a.offered == (OCPP201, OCPP16) for a in csms.attempts))
        await wait_state(hub, "sensor.ocpp_active_protocol", "ocpp1.6", timeout=8)
        assert csms.stations[STATION].protocol == OCPP16
        await csms.wait_for("BootNotification", where=lambda p: "chargePointVendor" in p)
