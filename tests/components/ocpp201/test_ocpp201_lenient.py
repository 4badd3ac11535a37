"""ocpp201 takes CSMS answers with fields its schema does not define (issue 10 point 5).

Vendor extensions are common (and CitrineOS echoes the request's fields in its
TransactionEvent answer): the answer is taken as it is, each message is sent once, nothing
is retried or moved aside. Only what the station sends is held to the schema.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ocpp201_helpers import PASSWORD, STATION, FakeController, station_yaml, wait_state

from tests.ocpp_csms import OcppCsms

VENDOR = {"vendorExtension": {"acme": 1}, "x-trace": "abc"}


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _with_vendor_fields(csms: OcppCsms) -> None:
    csms.answer(
        "BootNotification",
        lambda _: {"status": "Accepted", "currentTime": _now(), "interval": 60, **VENDOR},
    )
    csms.answer("Heartbeat", lambda _: {"currentTime": _now(), **VENDOR})
    csms.answer("StatusNotification", lambda _: dict(VENDOR))
    csms.answer("MeterValues", lambda _: dict(VENDOR))
    csms.answer(
        "Authorize",
        lambda _: {"idTokenInfo": {"status": "Accepted", "vendorGroup": "g1"}, **VENDOR},
    )
    # the request echoed back, plus an idTokenInfo with a field of its own
    csms.answer(
        "TransactionEvent",
        lambda request: {
            **request,
            "idTokenInfo": {"status": "Accepted", "vendorTariff": "T1"},
            **VENDOR,
        },
    )


async def test_answers_with_vendor_fields_are_taken(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        _with_vendor_fields(csms)
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), sampled_interval=0.3)))
        controller = FakeController(hub)
        controller.state("idle", cp=0)
        await csms.wait_for("StatusNotification")
        await wait_state(hub, "sensor.ocpp201_connection", "connected")
        beat = await csms.trigger_message(STATION, "Heartbeat")
        assert beat["status"] == "Accepted"
        await csms.wait_for("Heartbeat")
        controller.energy(2.0, 7.0)
        assert (await csms.trigger_message(STATION, "MeterValues"))["status"] == "Accepted"
        await csms.wait_for("MeterValues")
        controller.state("cable_detect", cp=0)
        controller.state("ev_connected", cp=1)
        answer: Any = await hub.services.async_call(
            "ocpp201",
            "authorize",
            {"id_token": "CARD1"},
            blocking=True,
            return_response=True,
        )
        assert answer["status"] == "Accepted"
        started = await csms.wait_for("TransactionEvent", where=lambda p: p["seqNo"] == 0)
        tx_id = started[0].payload["transactionInfo"]["transactionId"]
        await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Updated")
        assert (await csms.request_stop(STATION, tx_id))["status"] == "Accepted"
        await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended")
        await asyncio.sleep(0.5)  # a retry would come 0.2 s later
        seq = [p["seqNo"] for p in csms.payloads("TransactionEvent")]
        assert seq == list(range(len(seq)))  # each seqNo once: none was taken as failed
        assert len(csms.received("BootNotification")) == 1
        assert len(csms.received("Authorize")) == 1
        assert hub.states.get("sensor.ocpp201_queue").state == "0"
        assert hub.states.get("sensor.ocpp201_last_error").state == "none"
        assert not await hub.data["ocpp201"].journal.aside()
