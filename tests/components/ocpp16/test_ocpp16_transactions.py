"""ocpp16 transactions through the durable journal, against the test CSMS."""

from __future__ import annotations

import asyncio
import itertools
import threading

import pytest
from ocpp16_helpers import PASSWORD, STATION, FakeController, station_yaml, wait_state

from orge.core import Orge
from orge.setup import async_from_config_dir
from tests.ocpp_csms import SILENCE, CallErrorAnswer, OcppCsms


async def _session_started(csms: OcppCsms, controller: FakeController, tag: str = "TAG1") -> int:
    controller.state("ev_connected")
    preparing = len(csms.received("StatusNotification"))
    await csms.wait_until(
        lambda: any(
            m.payload["status"] == "Preparing"
            for m in csms.received("StatusNotification")[preparing - 1 :]
        )
    )
    count = len(csms.received("StartTransaction"))
    assert await csms.remote_start(STATION, id_tag=tag) == {"status": "Accepted"}
    await csms.wait_for("StartTransaction", count=count + 1)

    def answered() -> list:
        return [
            m
            for m in csms.messages
            if m.direction == "out" and m.kind == "result" and m.action == "StartTransaction"
        ]

    results = await csms.wait_until(lambda: len(answered()) > 0 and answered())
    return int(results[-1].payload["transactionId"])


def _tx_messages(csms: OcppCsms) -> list:
    return [
        m
        for m in csms.received()
        if m.action in ("StartTransaction", "MeterValues", "StopTransaction")
    ]


async def test_whole_transaction(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(
            config_dir(station_yaml(csms.url(), meter_values_sample_interval=0.2))
        )
        controller = FakeController(hub)
        controller.state("idle")
        controller.energy(1000, 0)
        await csms.wait_for("StatusNotification", 2)
        tx_id = await _session_started(csms, controller)
        assert ("authorize", {}) in controller.calls
        start = csms.payloads("StartTransaction")[0]
        assert start["idTag"] == "TAG1" and start["meterStart"] == 1000
        assert start["connectorId"] == 1
        await csms.wait_for("StatusNotification", where=lambda p: p["status"] == "Charging")
        controller.energy(1500, 7200)
        meter = await csms.wait_for(
            "MeterValues",
            where=lambda p: p["meterValue"][0]["sampledValue"][0]["value"] == "1500",
        )
        sampled = meter[0].payload
        assert sampled["transactionId"] == tx_id
        values = {s["measurand"]: s for s in sampled["meterValue"][0]["sampledValue"]}
        assert values["Power.Active.Import"]["value"] == "7200" or values["Power.Active.Import"][
            "value"
        ].startswith("7200")
        assert values["Energy.Active.Import.Register"]["unit"] == "Wh"

        controller.energy(2.25, 0)  # the meter switches to kWh: still Wh on the wire
        hub.states.async_set("sensor.meter_energy", "2.25", {"unit_of_measurement": "kWh"})
        assert await csms.remote_stop(STATION, tx_id) == {"status": "Accepted"}
        stop = (await csms.wait_for("StopTransaction"))[0].payload
        assert stop["transactionId"] == tx_id and stop["reason"] == "Remote"
        assert stop["meterStop"] == 2250 and stop["idTag"] == "TAG1"
        await csms.wait_for("StatusNotification", where=lambda p: p["status"] == "Finishing")
        controller.state("idle")
        statuses = await csms.wait_for(
            "StatusNotification", where=lambda p: p["connectorId"] == 1, count=5
        )
        assert [s.payload["status"] for s in statuses] == [
            "Available",
            "Preparing",
            "Charging",
            "Finishing",
            "Available",
        ]
        await wait_state(hub, "sensor.ocpp16_queue", "0")
        assert not csms.errors_sent()
        journal = hub.data["ocpp16"].journal
        assert await journal.settings("txid16:") == {}  # id mapping gone with the stop
        assert await journal.transactions() == []
        # a stop for a transaction the station does not run is refused
        assert await csms.remote_stop(STATION, tx_id) == {"status": "Rejected"}


async def test_csms_drop_mid_transaction_delivers_everything_once_in_order(
    config_dir, start_station
) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(
            config_dir(station_yaml(csms.url(), meter_values_sample_interval=0.3))
        )
        controller = FakeController(hub)
        controller.state("idle")
        await csms.wait_for("StatusNotification", 2)
        tx_id = await _session_started(csms, controller)
        await csms.wait_for("MeterValues")
        # Drop while nothing is in flight (OCPP itself is at-least-once: a CALL the CSMS
        # got but could not answer is sent again). The next sample is 0.3 s away.
        await csms.wait_until(lambda: csms.messages[-1].direction == "out")
        await csms.stop(abrupt=False)
        down_at = asyncio.get_running_loop().time()
        for wh in (100, 200, 300):
            controller.energy(wh)
            await asyncio.sleep(0.31)
        await wait_state(hub, "sensor.ocpp16_connection", "disconnected")
        controller.state("stopped")  # the driver stops locally while offline
        await asyncio.sleep(0.1)
        queued = int(hub.states.get("sensor.ocpp16_queue").state)
        assert queued >= 4  # meter values and the StopTransaction wait in the journal
        await csms.restart(down_for=0)
        stop = (await csms.wait_for("StopTransaction", timeout=5))[0]
        assert stop.payload["transactionId"] == tx_id and stop.payload["reason"] == "Local"
        messages = _tx_messages(csms)
        keys = [(m.action, repr(m.payload)) for m in messages]
        assert len(keys) == len(set(keys)), [
            (m.mono, m.action, m.payload.get("meterValue")) for m in messages
        ]
        assert messages[0].action == "StartTransaction" and messages[-1].action == "StopTransaction"
        assert all(m.payload.get("transactionId", tx_id) == tx_id for m in messages)
        stamps = [
            m.payload["meterValue"][0]["timestamp"] if m.action == "MeterValues" else None
            for m in messages
        ]
        stamps = [s for s in stamps if s]
        assert stamps == sorted(stamps)  # delivered in creation order
        # the offline messages keep their original timestamps, not the delivery time
        offline = [m for m in messages if m.mono > down_at and m.action == "MeterValues"]
        assert len(offline) >= 3
        delivery = offline[-1].wall
        first_stamp = offline[0].payload["meterValue"][0]["timestamp"]
        from components.ocpp_station.clock import parse_time

        assert delivery - parse_time(first_stamp).timestamp() > 0.2
        await wait_state(hub, "sensor.ocpp16_queue", "0")


async def test_link_cut_while_the_answer_is_stored_sends_nothing_twice(
    config_dir, start_station
) -> None:
    """The CSMS answers StartTransaction and the link drops before the station's journal
    has stored that answer (its thread is busy, so the write and the delete are still
    queued when the session ends): the answer is stored all the same, and the next
    connection neither re-sends the StartTransaction nor loses the CSMS's transactionId."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        station = hub.data["ocpp16"]
        controller = FakeController(hub)
        controller.state("idle")
        await csms.wait_for("StatusNotification", 2)
        gate = threading.Event()
        drops: list[asyncio.Task] = []
        loop = asyncio.get_running_loop()

        def answer_then_cut(payload: dict) -> dict:
            station.journal._run(gate.wait, 5)  # the journal thread is busy for now
            loop.call_later(0.05, lambda: drops.append(loop.create_task(csms.drop(False))))
            return {"transactionId": 4242, "idTagInfo": {"status": "Accepted"}}

        csms.answer("StartTransaction", answer_then_cut, times=1)
        try:
            controller.state("ev_connected")
            controller.state("charging")
            await csms.wait_for("StartTransaction")
            await csms.wait_until(lambda: len(csms.attempts) >= 2)  # cut and reconnected
        finally:
            gate.set()
        await asyncio.gather(*drops)
        await wait_state(hub, "sensor.ocpp16_queue", "0")
        local_id = station.txs[1].local_id
        assert await station.journal.get_setting("txid16:" + local_id) == 4242
        controller.state("stopped")
        stop = (await csms.wait_for("StopTransaction"))[0].payload
        assert stop["transactionId"] == 4242
        assert len(csms.payloads("StartTransaction")) == 1
        await wait_state(hub, "sensor.ocpp16_queue", "0")
        assert await station.journal.settings("txid16:") == {}  # forgotten once stopped


async def test_unconfirmed_start_gives_transaction_id_minus_one(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        csms.answer("StartTransaction", SILENCE)
        hub, _ = await start_station(
            config_dir(
                station_yaml(
                    csms.url(),
                    response_timeout=0.3,
                    transaction_message_attempts=2,
                    transaction_message_retry_interval=0.1,
                    meter_values_sample_interval=0.2,
                )
            )
        )
        aside = []
        hub.bus.async_listen("ocpp16_message_aside", lambda e: aside.append(e.data))
        controller = FakeController(hub)
        controller.state("idle")
        await csms.wait_for("StatusNotification", 2)
        controller.state("ev_connected")
        await csms.remote_start(STATION, id_tag="T")
        await csms.wait_for("StartTransaction", 2, timeout=3)
        meter = await csms.wait_for("MeterValues", timeout=3)
        assert meter[0].payload["transactionId"] == -1
        controller.state("stopped")
        stop = (await csms.wait_for("StopTransaction"))[0].payload
        assert stop["transactionId"] == -1
        assert len(csms.received("StartTransaction")) == 2
        assert aside and aside[0]["action"] == "StartTransaction"


@pytest.mark.parametrize("failure", ["callerror", "silence"])
async def test_stop_transaction_retried_then_moved_aside(
    config_dir, start_station, failure: str
) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        answer = CallErrorAnswer("InternalError") if failure == "callerror" else SILENCE
        csms.answer("StopTransaction", answer)
        hub, _ = await start_station(
            config_dir(
                station_yaml(
                    csms.url(),
                    response_timeout=0.3,
                    transaction_message_attempts=3,
                    transaction_message_retry_interval=0.2,
                )
            )
        )
        controller = FakeController(hub)
        controller.state("idle")
        await csms.wait_for("StatusNotification", 2)
        await _session_started(csms, controller)
        controller.state("stopped")
        stops = await csms.wait_for("StopTransaction", 3, timeout=5)
        await wait_state(hub, "sensor.ocpp16_queue", "0")
        await asyncio.sleep(0.8)
        assert len(csms.received("StopTransaction")) == 3  # exactly the configured attempts
        gaps = [b.mono - a.mono for a, b in itertools.pairwise(stops)]
        wait = 0.3 if failure == "silence" else 0.0  # the response timeout comes first
        # TransactionMessageRetryInterval x attempts so far: 0.2 then 0.4
        assert 0.2 + wait <= gaps[0] < 0.2 + wait + 0.25, gaps
        assert 0.4 + wait <= gaps[1] < 0.4 + wait + 0.25, gaps
        assert "StopTransaction moved aside" in hub.states.get("sensor.ocpp16_last_error").state
        assert hub.states.get("sensor.ocpp16_connection").state == "connected"
        # the next transaction still goes through
        csms.reset_answers()
        controller.state("idle")
        await _session_started(csms, controller, tag="TAG2")
        controller.state("stopped")
        await csms.wait_for("StopTransaction", 4)


async def test_restart_replays_journal_and_ends_left_session(config_dir, start_station) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        path = config_dir(station_yaml(csms.url(), meter_values_sample_interval=0.1))
        hub, _ = await start_station(path)
        controller = FakeController(hub)
        controller.state("idle")
        await csms.wait_for("StatusNotification", 2)
        tx_id = await _session_started(csms, controller)
        await wait_state(hub, "sensor.ocpp16_queue", "0")  # StartTransaction confirmed
        await csms.stop(abrupt=False)
        controller.energy(400)
        await asyncio.sleep(0.35)  # meter values journaled while offline
        await hub.async_stop()  # ORGE goes down mid-transaction

        hub2 = Orge(str(path))
        await async_from_config_dir(hub2, str(path))
        await hub2.async_start()
        try:
            await csms.restart()
            await csms.wait_connected(STATION)
            controller2 = FakeController(hub2)
            controller2.energy(450)
            controller2.state("idle")  # the vehicle left while ORGE was down
            stop = (await csms.wait_for("StopTransaction", timeout=5))[0].payload
            assert stop["transactionId"] == tx_id  # the CSMS id survived the restart
            assert stop["meterStop"] == 450 and stop["reason"] == "EVDisconnected"
            assert len(csms.received("StartTransaction")) == 1
            meters = csms.payloads("MeterValues")
            assert any(m["meterValue"][0]["sampledValue"][0]["value"] == "400" for m in meters)
            assert all(m["transactionId"] == tx_id for m in meters)
            assert len(csms.received("BootNotification")) == 2  # a restart is a boot
            await wait_state(hub2, "sensor.ocpp16_queue", "0")
        finally:
            await hub2.async_stop()


async def test_queue_pressure_drops_meter_values_never_start_or_stop(
    config_dir, start_station
) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await csms.stop()  # offline from the start
        hub, _ = await start_station(
            config_dir(station_yaml(csms.url(), queue_size=10, meter_values_sample_interval=0.05))
        )
        controller = FakeController(hub)
        controller.state("charging")  # a local session while offline
        for wh in range(1, 16):
            controller.energy(wh * 10)
            await asyncio.sleep(0.05)
        controller.state("stopped")
        await asyncio.sleep(0.1)
        assert int(hub.states.get("sensor.ocpp16_queue").state) <= 11
        await csms.start()
        await csms.wait_for("StopTransaction", timeout=5)
        actions = [m.action for m in _tx_messages(csms)]
        assert actions[0] == "StartTransaction" and actions[-1] == "StopTransaction"
        assert 0 < actions.count("MeterValues") <= 9  # the oldest meter values were dropped


async def test_clock_aligned_meter_values(config_dir, start_station) -> None:
    from components.ocpp_station.clock import parse_time

    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(
            config_dir(station_yaml(csms.url(), clock_aligned_data_interval=0.5))
        )
        controller = FakeController(hub)
        controller.state("idle")
        controller.energy(777)
        meters = await csms.wait_for("MeterValues", 2, timeout=5)
        for meter in meters:
            sample = meter.payload["meterValue"][0]
            assert sample["sampledValue"][0]["context"] == "Sample.Clock"
            assert "transactionId" not in meter.payload  # no transaction running
            stamp = parse_time(sample["timestamp"]).timestamp()
            assert min(stamp % 0.5, 0.5 - stamp % 0.5) < 0.1  # on the boundary


async def test_a_message_breaking_the_schema_is_moved_aside_not_wedging(
    config_dir, start_station
) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        controller = FakeController(hub)
        controller.state("idle")
        await csms.wait_for("StatusNotification", 2)
        station = hub.data["ocpp16"]
        # a journaled message the 1.6 schema refuses (idTag longer than 20 characters)
        await station.journal.append(
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "X" * 40,
                "meterStart": 0,
                "timestamp": "2026-01-01T00:00:00Z",
            },
            "start",
            tx_id="broken",
        )
        station.sender.wake()
        await wait_state(hub, "sensor.ocpp16_queue", "0")
        assert "StartTransaction moved aside" in hub.states.get("sensor.ocpp16_last_error").state
        assert csms.received("StartTransaction") == []  # never sent
        assert len(csms.attempts) == 1  # the session survived
        await _session_started(csms, controller)  # and the next transaction goes through
