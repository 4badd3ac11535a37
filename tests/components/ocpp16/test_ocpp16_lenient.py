"""ocpp16 takes CSMS answers with fields its schema does not define (issue 10 point 5).

Each message kind the station sends (BootNotification, Heartbeat, StatusNotification,
Authorize, StartTransaction, MeterValues, StopTransaction) answered with vendor fields is
taken as answered: sent once, not retried, nothing moved aside, no error shown.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from ocpp16_helpers import PASSWORD, STATION, FakeController, station_yaml, wait_state

from tests.ocpp_csms import OcppCsms

VENDOR = {"vendorExtension": {"acme": 1}, "x-trace": "abc"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _with_vendor_fields(csms: OcppCsms) -> None:
    accepted = {"status": "Accepted", "vendorGroup": "g1"}
    csms.answer(
        "BootNotification",
        lambda _: {"status": "Accepted", "currentTime": _now(), "interval": 60, **VENDOR},
    )
    csms.answer("Heartbeat", lambda _: {"currentTime": _now(), **VENDOR})
    csms.answer("StatusNotification", lambda _: dict(VENDOR))
    csms.answer("MeterValues", lambda _: dict(VENDOR))
    csms.answer("Authorize", lambda _: {"idTagInfo": dict(accepted), **VENDOR})
    csms.answer(
        "StartTransaction",
        lambda request: {**request, "transactionId": 77, "idTagInfo": dict(accepted), **VENDOR},
    )
    csms.answer("StopTransaction", lambda request: {**request, **VENDOR})


async def test_answers_with_vendor_fields_are_taken(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        _with_vendor_fields(csms)
        hub, _ = await start_station(
            config_dir(station_yaml(csms.url(), meter_values_sample_interval=0.3))
        )
        controller = FakeController(hub)
        controller.state("idle")
        controller.energy(1.0, 0)
        await csms.wait_for("StatusNotification")
        await wait_state(hub, "sensor.ocpp16_connection", "connected")
        assert (await csms.trigger_message(STATION, "Heartbeat"))["status"] == "Accepted"
        await csms.wait_for("Heartbeat")
        controller.state("ev_connected")
        answer: Any = await hub.services.async_call(
            "ocpp16", "authorize", {"id_tag": "CARD1"}, blocking=True, return_response=True
        )
        assert answer["status"] == "Accepted"
        await csms.wait_for("StartTransaction")
        controller.energy(2.0, 7.0)
        meter = await csms.wait_for("MeterValues", where=lambda p: p.get("transactionId") == 77)
        assert meter
        assert (await csms.remote_stop(STATION, 77))["status"] == "Accepted"
        stop = (await csms.wait_for("StopTransaction"))[0].payload
        assert stop["transactionId"] == 77  # the id taken from the answer with vendor fields
        await asyncio.sleep(0.5)  # a retry would come 0.2 s later
        for action in ("BootNotification", "Authorize", "StartTransaction", "StopTransaction"):
            assert len(csms.received(action)) == 1, action
        assert hub.states.get("sensor.ocpp16_queue").state == "0"
        assert not await hub.data["ocpp16"].journal.aside()
