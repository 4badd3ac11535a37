"""ocpp16 boot states against the test CSMS over a real WebSocket (issue 10 points 4, 8).

OCPP 1.6 §4.2 BootNotification: after Pending / Rejected the next BootNotification waits
for the answer's interval unless requested with TriggerMessage (§5.17); until Accepted the
station sends no other request; while Pending, RemoteStartTransaction and
RemoteStopTransaction are not allowed (answered Rejected). Once the triggered boot is
Accepted, the connectors' status follows at once.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest
from ocpp16_helpers import PASSWORD, STATION, FakeController, station_yaml, wait_state

from tests.ocpp_csms import OcppCsms


async def test_pending_then_triggered_boot_reports_status_at_once(
    config_dir, start_station
) -> None:
    async with OcppCsms(
        passwords={STATION: PASSWORD}, boot_status="Pending", boot_interval=60
    ) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        FakeController(hub).state("idle")
        await csms.wait_for("BootNotification")
        await wait_state(hub, "sensor.ocpp16_connection", "pending")
        answer = await csms.remote_start(STATION, id_tag="TAG1", connector_id=1)
        assert answer["status"] == "Rejected"
        answer = await csms.remote_stop(STATION, 1)
        assert answer["status"] == "Rejected"
        await asyncio.sleep(0.3)
        assert [m.action for m in csms.received() if m.direction == "in"] == ["BootNotification"]
        csms.boot_status = "Accepted"
        trigger = await csms.trigger_message(STATION, "BootNotification")
        assert trigger["status"] == "Accepted"
        boots = await csms.wait_for("BootNotification", 2, timeout=2)
        status = (await csms.wait_for("StatusNotification", timeout=2))[0]
        assert status.mono - boots[1].mono < 1.0  # not after 60 s
        await wait_state(hub, "sensor.ocpp16_connection", "connected")
        # exactly one BootNotification per trigger, and it took the station in
        await asyncio.sleep(0.3)
        assert len(csms.received("BootNotification")) == 2
        answer = await csms.remote_start(STATION, id_tag="TAG1", connector_id=1)
        assert answer["status"] == "Accepted"


async def test_rejected_sends_nothing_but_its_boot_at_the_csms_interval(
    config_dir, start_station
) -> None:
    async with OcppCsms(
        passwords={STATION: PASSWORD}, boot_status="Rejected", boot_interval=1
    ) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        controller = FakeController(hub)
        controller.state("idle")
        boots = await csms.wait_for("BootNotification", 3, timeout=5)
        controller.state("cable_detect")
        await asyncio.sleep(1.2)
        gaps = [b.mono - a.mono for a, b in itertools.pairwise(boots)]
        assert all(0.9 <= gap < 1.6 for gap in gaps), gaps
        assert {m.action for m in csms.received() if m.direction == "in"} == {"BootNotification"}
        csms.boot_status = "Accepted"
        await csms.wait_for("StatusNotification", where=lambda p: p["status"] == "Preparing")


async def test_rejected_station_does_not_answer_the_csms(config_dir, start_station) -> None:
    """1.6 §4.2: while its boot is Rejected "the Charge Point SHALL NOT respond to any
    Central System initiated message"; once Accepted it answers again."""
    async with OcppCsms(
        passwords={STATION: PASSWORD}, boot_status="Rejected", boot_interval=1
    ) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        FakeController(hub).state("idle")
        await wait_state(hub, "sensor.ocpp16_connection", "rejected")  # the answer taken in
        with pytest.raises(TimeoutError):
            await csms.call(STATION, "GetConfiguration", {"key": ["HeartbeatInterval"]}, 1.0)
        with pytest.raises(TimeoutError):
            await csms.call(STATION, "RemoteStartTransaction", {"idTag": "TAG1"}, 1.0)
        assert not [m for m in csms.messages if m.direction == "in" and m.kind != "call"]
        csms.boot_status = "Accepted"
        await csms.wait_for("StatusNotification", timeout=5)
        answer = await csms.call(STATION, "GetConfiguration", {"key": ["HeartbeatInterval"]})
        assert answer["configurationKey"][0]["key"] == "HeartbeatInterval"
