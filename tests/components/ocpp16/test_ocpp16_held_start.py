"""Issue 10 point 1 (shared remote-start policy) under 1.6: a remote start accepted before
the vehicle is plugged in is held until it is, within ConnectionTimeOut, as under 2.0.1
(before, 1.6 answered Rejected: the controller takes an authorization only with a cable)."""

from __future__ import annotations

import asyncio

from ocpp16_helpers import PASSWORD, STATION, FakeController, station_yaml

from tests.ocpp_csms import OcppCsms


def _connector_1(csms: OcppCsms) -> list[str]:
    return [
        m.payload["status"]
        for m in csms.received("StatusNotification")
        if m.payload["connectorId"] == 1
    ]


async def test_tc_011_1_remote_start_first(config_dir, start_station) -> None:
    """OCA TC_011_1_CS: RemoteStartTransaction.conf Accepted, StatusNotification Preparing,
    the driver plugs in, StartTransaction with the CSMS's idTag, then Charging."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        controller = FakeController(hub)
        controller.state("idle")
        await csms.wait_for("StatusNotification", 2)
        keys = await csms.call(STATION, "GetConfiguration", {"key": ["AuthorizeRemoteTxRequests"]})
        assert keys["configurationKey"][0]["key"] == "AuthorizeRemoteTxRequests"
        assert await csms.remote_start(STATION, id_tag="APP-42") == {"status": "Accepted"}
        await csms.wait_until(lambda: _connector_1(csms)[-1:] == ["Preparing"])
        await asyncio.sleep(0.2)
        assert controller.calls == []  # nothing to authorize without a cable
        assert csms.received("StartTransaction") == []
        controller.state("cable_detect")
        controller.state("ev_connected")
        start = (await csms.wait_for("StartTransaction"))[0].payload
        assert start["idTag"] == "APP-42" and start["connectorId"] == 1
        assert controller.calls[0][0] == "authorize"
        await csms.wait_until(lambda: _connector_1(csms)[-1:] == ["Charging"])
        assert _connector_1(csms) == ["Available", "Preparing", "Charging"]
        assert not csms.errors_sent()


async def test_tc_011_2_remote_start_times_out(config_dir, start_station) -> None:
    """OCA TC_011_2_CS: no vehicle within ConnectionTimeOut: the connector is Available
    again and a vehicle plugged in later does not start on the expired request."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        controller = FakeController(hub)
        controller.state("idle")
        await csms.wait_for("StatusNotification", 2)
        assert await csms.change_configuration(STATION, "ConnectionTimeOut", "1") == {
            "status": "Accepted"
        }
        assert await csms.remote_start(STATION, id_tag="APP-43") == {"status": "Accepted"}
        await csms.wait_until(lambda: _connector_1(csms)[-1:] == ["Preparing"])
        await csms.wait_until(lambda: _connector_1(csms)[-1:] == ["Available"], timeout=3)
        assert _connector_1(csms) == ["Available", "Preparing", "Available"]
        controller.state("ev_connected")
        await asyncio.sleep(0.5)
        assert controller.calls == [] and csms.received("StartTransaction") == []
