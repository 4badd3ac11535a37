"""Issue 13 point 1 and issue 11's OCPP part: one charging session on the esp32 simulator
with the energy meter on pymodbus's own Modbus TCP server, under OCPP 2.0.1 and under 1.6,
each against the test CSMS over a real WebSocket and with the REST API on a real port.

Checked, the same under both protocols:
- the session entity `sensor.<domain>_session_state` through the session (state words,
  id token, transaction id as the CSMS knows it, energy = meter register now - register
  at start, power now, stop reason) and the session log (`<domain>.get_sessions` and
  GET /api/ocpp/sessions) with the CSMS's confirmation of the end message;
- the per-phase measurands: Current.Import on L1..L3 and Voltage on L1-N..L3-N from the
  meter's registers in sampled, clock-aligned and transaction-ended meter values, as the
  CSMS selected them (SampledDataCtrlr / AlignedDataCtrlr under 2.0.1, OCPP 2.0.1 Part 2
  §2.11 and OCA TC_J_01_CS / TC_J_02_CS's messages; MeterValuesSampledData /
  MeterValuesAlignedData / StopTxnSampledData under 1.6, §9.1), and absent where the CSMS
  did not select them (TxStartedMeasurands is energy only).
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from components.http.auth import create_token
from orge.core import Orge, callback
from tests.components.modbus_meter.fake_meter import READING, FakeMeter, free_port
from tests.ocpp_csms import OcppCsms

STATION = "CP-SESSION"
PASSWORD = "pw-session-secret"
TOKEN = "RFID-4711"
ENERGY = "Energy.Active.Import.Register"
CURRENTS = {"L1": READING["current_l1"], "L2": READING["current_l2"], "L3": READING["current_l3"]}
VOLTAGES = {
    "L1-N": READING["voltage_l1"],
    "L2-N": READING["voltage_l2"],
    "L3-N": READING["voltage_l3"],
}
PER_PHASE = "Current.Import,Voltage"


@pytest.fixture
async def meter() -> AsyncIterator[tuple[FakeMeter, int]]:
    fake = FakeMeter("eastron_sdm630")
    port = free_port()
    await fake.serve_tcp(port)
    yield fake, port
    await fake.stop()


def _yaml(domain: str, csms_url: str, meter_port: int, http_port: int) -> str:
    if domain == "ocpp201":
        intervals = "sampled_interval: 1\n  aligned_interval: 1\n"
    else:
        intervals = "meter_values_sample_interval: 1\n  clock_aligned_data_interval: 1\n"
    return textwrap.dedent(
        f"""
        orge:
          station_id: {STATION}
        http:
          server_host: 127.0.0.1
          server_port: {http_port}
        esp32:
          port: simulator
          status_interval: 0.2
          session_status_interval: 0.2
          simulator:
            time_scale: 0.05
            stat_interval: 0.2
        modbus_meter:
          host: 127.0.0.1
          tcp_port: {meter_port}
          model: eastron_sdm630
          scan_interval: 1
          timeout: 0.5
        """
    ) + (
        f"{domain}:\n"
        f"  url: {csms_url}\n"
        f"  password: {PASSWORD}\n"
        "  response_timeout: 2\n"
        f"  {intervals}"
        "  evse:\n"
        "    - id: 1\n"
        "      energy_entity: sensor.meter_energy\n"
        "      power_entity: sensor.meter_power\n"
        "      current_entities:\n"
        "        L1: sensor.meter_current_l1\n"
        "        L2: sensor.meter_current_l2\n"
        "        L3: sensor.meter_current_l3\n"
        "      voltage_entities:\n"
        "        L1: sensor.meter_voltage_l1\n"  # shorthand for L1-N
        "        L2-N: sensor.meter_voltage_l2\n"
        "        L3-N: sensor.meter_voltage_l3\n"
    )


async def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := predicate()):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"not reached within {timeout} s: {what}")
        await asyncio.sleep(0.02)
    return value


def sampled_values(payload: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [sv for mv in payload.get(key, []) for sv in mv["sampledValue"]]


def per_phase(samples: list[dict[str, Any]], measurand: str) -> dict[str, float]:
    """phase -> value of one measurand in a list of sampled values (1.6 strings too)."""
    found: dict[str, float] = {}
    for sample in samples:
        if sample.get("measurand") == measurand:
            assert "phase" in sample, sample
            assert sample["phase"] not in found, samples  # one value per phase
            found[sample["phase"]] = float(sample["value"])
    return found


def unit_of(sample: dict[str, Any]) -> str:
    return sample.get("unitOfMeasure", {}).get("unit") or sample.get("unit")


class Run:
    """One session under one protocol: what the station showed and what the CSMS got."""

    def __init__(self, domain: str, hub: Orge, csms: OcppCsms | None) -> None:
        self.domain = domain
        self.hub = hub
        self.csms = csms
        self.entity = f"sensor.{domain}_session_state"

    def session(self) -> Any:
        return self.hub.states.get(self.entity)

    async def wait_session(self, state: str, what: str = "", **attributes: Any) -> Any:
        def matches() -> Any:
            current = self.session()
            if current is None or current.state != state:
                return None
            for key, value in attributes.items():
                if current.attributes.get(key) != value:
                    return None
            return current

        return await wait_until(
            matches, what=f"{self.entity} {state} {attributes} {what} (is {self.session()})"
        )

    async def simulate(self, event: str) -> None:
        await self.hub.services.async_call("esp32", "simulate", {"event": event}, blocking=True)

    async def log(self) -> list[dict[str, Any]]:
        answer = await self.hub.services.async_call(
            self.domain, "get_sessions", {}, blocking=True, return_response=True
        )
        return answer["sessions"]


async def _one_session(
    domain: str,
    config_dir: Callable[..., Path],
    start_station: Callable[..., Awaitable[tuple[Orge, Any]]],
    meter: tuple[FakeMeter, int],
) -> dict[str, Any]:
    fake, meter_port = meter
    fake.reading["energy"] = READING["energy"]
    start_kwh = READING["energy"]
    http_port = free_port()
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        path = config_dir(_yaml(domain, csms.url(), meter_port, http_port))
        token = create_token(str(path), "tests")
        hub, result = await start_station(path)
        assert not result.problems, result.problems
        run = Run(domain, hub, csms)
        facts: dict[str, Any] = {}

        await wait_until(
            lambda: (s := hub.states.get("sensor.meter_energy")) and s.state == str(start_kwh)
        )
        await run.wait_session("idle", id_token=None, transaction_id=None)
        await csms.wait_connected(STATION)
        # The CSMS selects the per-phase measurands for aligned and ended meter values
        # (sampled ones include them by default: every measurand the station supplies).
        if domain == "ocpp201":
            answer = await csms.set_variables(
                STATION,
                ("AlignedDataCtrlr", "Measurands", f"{ENERGY},{PER_PHASE}"),
                ("SampledDataCtrlr", "TxEndedMeasurands", f"{ENERGY},{PER_PHASE}"),
            )
            assert [r["attributeStatus"] for r in answer["setVariableResult"]] == [
                "Accepted",
                "Accepted",
            ]
        else:
            for key in ("MeterValuesAlignedData", "StopTxnSampledData"):
                answer = await csms.change_configuration(STATION, key, f"{ENERGY},{PER_PHASE}")
                assert answer == {"status": "Accepted"}

        await run.simulate("plug_in")
        await run.simulate("vehicle_ready")
        await wait_until(lambda: hub.states.get("sensor.charger_state").state == "ev_connected")
        await run.wait_session("preparing")
        if domain == "ocpp201":
            assert (await csms.request_start(STATION, TOKEN, evse_id=1, remote_id=7))[
                "status"
            ] == "Accepted"
            started = await csms.wait_for(
                "TransactionEvent", where=lambda p: p["eventType"] == "Started", timeout=10
            )
            tx_id = started[0].payload["transactionInfo"]["transactionId"]
            start_samples = sampled_values(started[0].payload, "meterValue")
        else:
            assert (await csms.remote_start(STATION, TOKEN, connector_id=1))["status"] == (
                "Accepted"
            )
            started = await csms.wait_for("StartTransaction", timeout=10)
            assert float(started[0].payload["meterStart"]) == pytest.approx(start_kwh * 1000)
            # the CSMS's transactionId, once it answered StartTransaction
            session = await wait_until(
                lambda: (s := run.session()) and s.attributes.get("transaction_id") and s,
                what="the CSMS's transactionId",
            )
            tx_id = session.attributes["transaction_id"]
            assert tx_id == str(csms.last_transaction_id)
            start_samples = []
        # TxStartedMeasurands (2.0.1) is energy only: no per-phase values were selected.
        assert per_phase(start_samples, "Current.Import") == {}

        await run.simulate("vehicle_charging")
        await wait_until(lambda: hub.states.get("sensor.charger_state").state == "charging")
        charging = await run.wait_session("charging", id_token=TOKEN, transaction_id=tx_id)
        started_at = charging.attributes["started_at"]
        assert datetime.fromisoformat(started_at).tzinfo is not None
        assert charging.attributes["session_energy_kwh"] == 0.0  # not the lifetime 1234.56
        assert charging.attributes["power_w"] == READING["power"]

        # The meter counts 0.02 kWh: the session took 0.02 kWh, whatever the register says.
        fake.reading["energy"] = start_kwh + 0.02
        await run.wait_session("charging", session_energy_kwh=0.02)

        # sampled meter values carry Current.Import per phase and Voltage per phase
        if domain == "ocpp201":
            periodic = await csms.wait_for(
                "TransactionEvent",
                where=lambda p: p["triggerReason"] == "MeterValuePeriodic",
                timeout=10,
            )
            aligned = await csms.wait_for(
                "TransactionEvent",
                where=lambda p: p["triggerReason"] == "MeterValueClock",
                timeout=10,
            )
            sampled = sampled_values(periodic[-1].payload, "meterValue")
            clock = sampled_values(aligned[-1].payload, "meterValue")
        else:

            def meter_values(context: str) -> Any:
                return lambda p: any(
                    s.get("context") == context for s in sampled_values(p, "meterValue")
                )

            periodic = await csms.wait_for(
                "MeterValues", where=meter_values("Sample.Periodic"), timeout=10
            )
            aligned = await csms.wait_for(
                "MeterValues", where=meter_values("Sample.Clock"), timeout=10
            )
            sampled = sampled_values(periodic[-1].payload, "meterValue")
            clock = sampled_values(aligned[-1].payload, "meterValue")
        for samples in (sampled, clock):
            assert per_phase(samples, "Current.Import") == CURRENTS
            assert per_phase(samples, "Voltage") == VOLTAGES
            assert {unit_of(s) for s in samples if s["measurand"] == "Current.Import"} == {"A"}
            assert {unit_of(s) for s in samples if s["measurand"] == "Voltage"} == {"V"}
        facts["sampled_measurands"] = sorted({s["measurand"] for s in sampled})

        # the CSMS stops it
        if domain == "ocpp201":
            assert (await csms.request_stop(STATION, tx_id))["status"] == "Accepted"
            ended = await csms.wait_for(
                "TransactionEvent", where=lambda p: p["eventType"] == "Ended", timeout=10
            )
            end_samples = sampled_values(ended[0].payload, "meterValue")
        else:
            assert (await csms.remote_stop(STATION, int(tx_id)))["status"] == "Accepted"
            ended = await csms.wait_for("StopTransaction", timeout=10)
            assert float(ended[0].payload["meterStop"]) == pytest.approx((start_kwh + 0.02) * 1000)
            end_samples = sampled_values(ended[0].payload, "transactionData")
        # the end message may also carry the TxEndedInterval samples (OCA TC_J_03/TC_J_10,
        # StopTxnSampledData); the Transaction.End value is there once per phase
        assert {s.get("context") for s in end_samples} <= {
            "Transaction.End",
            "Sample.Periodic",
            "Sample.Clock",
        }
        end_samples = [s for s in end_samples if s.get("context") == "Transaction.End"]
        assert per_phase(end_samples, "Current.Import") == CURRENTS
        assert per_phase(end_samples, "Voltage") == VOLTAGES

        # The vehicle is still plugged in: the session has ended; its values stay.
        done = await run.wait_session("ended", stop_reason="Remote")
        # after the end the register moves on (another load): the session's energy stays
        fake.reading["energy"] = start_kwh + 0.021
        await wait_until(
            lambda: hub.states.get("sensor.meter_energy").state == str(round(start_kwh + 0.021, 3))
        )
        done = await run.wait_session("ended", stop_reason="Remote")
        attributes = dict(done.attributes)
        assert attributes["session_energy_kwh"] == 0.02
        ended_at = datetime.fromisoformat(attributes["ended_at"])
        # whole seconds, rounded from the same start and end the timestamps show (ms)
        exact = (ended_at - datetime.fromisoformat(started_at)).total_seconds()
        assert exact > 0 and abs(attributes["duration_s"] - exact) <= 0.501

        log = await wait_until_log(run)
        row = log[0]
        assert row == {
            "transaction_id": tx_id,
            "id_token": TOKEN,
            "started_at": started_at,
            "ended_at": attributes["ended_at"],
            "energy_kwh": 0.02,
            "duration_s": attributes["duration_s"],
            "stop_reason": "Remote",
            "confirmed": True,
            "evse_id": 1,
        }

        # GET /api/ocpp/sessions: the same row, served by the http component
        async with aiohttp.ClientSession() as client:
            response = await client.get(
                f"http://127.0.0.1:{http_port}/api/ocpp/sessions",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status == 200
            assert await response.json() == [{**row, "protocol": domain}]
            response = await client.get(f"http://127.0.0.1:{http_port}/api/ocpp/sessions")
            assert response.status == 401

        await run.simulate("unplug")
        await run.wait_session("idle", stop_reason="Remote", id_token=TOKEN)
        assert not csms.errors_sent()
        facts.update(
            {
                key: attributes[key]
                for key in ("id_token", "session_energy_kwh", "power_w", "stop_reason")
            }
        )
        # the log row without what differs by nature (ids and times of two runs)
        facts["log"] = {
            key: value
            for key, value in row.items()
            if key not in ("transaction_id", "started_at", "ended_at", "duration_s")
        }
        await hub.async_stop()
        return facts


async def wait_until_log(run: Run) -> list[dict[str, Any]]:
    """The log once its newest session is ended and confirmed by the CSMS."""
    log: list[dict[str, Any]] = []

    async def confirmed() -> bool:
        nonlocal log
        log = await run.log()
        return bool(log) and log[0]["ended_at"] is not None and log[0]["confirmed"]

    deadline = asyncio.get_running_loop().time() + 10
    while not await confirmed():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"session log not confirmed: {log}")
        await asyncio.sleep(0.05)
    return log


async def test_the_same_session_under_201_and_16(
    config_dir: Callable[..., Path],
    start_station: Callable[..., Awaitable[tuple[Orge, Any]]],
    meter: tuple[FakeMeter, int],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    facts = {}
    for domain in ("ocpp201", "ocpp16"):
        base = tmp_path_factory.mktemp(domain)

        def write(text: str, base: Path = base) -> Path:
            (base / "configuration.yaml").write_text(text)
            return base

        facts[domain] = await _one_session(domain, write, start_station, meter)
    assert facts["ocpp201"] == facts["ocpp16"]
    assert facts["ocpp201"]["session_energy_kwh"] == 0.02


@pytest.mark.parametrize("domain", ["ocpp201", "ocpp16"])
async def test_a_session_without_any_csms(
    domain: str,
    config_dir: Callable[..., Path],
    start_station: Callable[..., Awaitable[tuple[Orge, Any]]],
    meter: tuple[FakeMeter, int],
) -> None:
    """Nobody listens at the CSMS URL: the session entity and the log work all the same;
    the log says the CSMS has not confirmed the session."""
    fake, meter_port = meter
    start_kwh = READING["energy"]
    path = config_dir(_yaml(domain, f"ws://127.0.0.1:{free_port()}/ocpp", meter_port, free_port()))
    hub, result = await start_station(path)
    assert not result.problems, result.problems
    run = Run(domain, hub, None)
    events: list[Any] = []

    @callback
    def record(event: Any) -> None:
        events.append(event)

    for event_type in ("ocpp_session_started", "ocpp_session_ended"):
        hub.bus.async_listen(event_type, record)
    await wait_until(
        lambda: (s := hub.states.get("sensor.meter_energy")) and s.state == str(start_kwh)
    )
    await run.wait_session("idle")
    await run.simulate("plug_in")
    await run.simulate("vehicle_ready")
    await wait_until(lambda: hub.states.get("sensor.charger_state").state == "ev_connected")
    # started at the station (the controller authorised locally), no CSMS to ask
    await hub.services.async_call("esp32", "authorize", {}, blocking=True)
    await run.simulate("vehicle_charging")
    charging = await run.wait_session("charging", session_energy_kwh=0.0)
    # 2.0.1: the station makes the transactionId; 1.6: only the CSMS gives one
    tx_id = charging.attributes["transaction_id"]
    assert (tx_id is not None) if domain == "ocpp201" else (tx_id is None)
    # 1.6's StartTransaction always carries an idTag: local_id_tag; 2.0.1 has no token
    token = None if domain == "ocpp201" else "ORGE-LOCAL"
    assert charging.attributes["id_token"] == token
    fake.reading["energy"] = start_kwh + 0.02
    await run.wait_session("charging", session_energy_kwh=0.02)
    await hub.services.async_call("esp32", "stop_charging", {}, blocking=True)
    done = await run.wait_session("ended", stop_reason="Local", session_energy_kwh=0.02)
    log = await wait_until_ended(run)
    assert log[0] == {
        "transaction_id": tx_id,
        "id_token": token,
        "started_at": charging.attributes["started_at"],
        "ended_at": done.attributes["ended_at"],
        "energy_kwh": 0.02,
        "duration_s": done.attributes["duration_s"],
        "stop_reason": "Local",
        "confirmed": False,
        "evse_id": 1,
    }
    # the bus tells the same session, without its id token (events travel to MQTT)
    session = {"domain": domain, "evse_id": 1, "transaction_id": tx_id}
    started = {**session, "started_at": charging.attributes["started_at"]}
    assert [(e.event_type, e.data) for e in events] == [
        ("ocpp_session_started", started),
        (
            "ocpp_session_ended",
            {
                **started,
                "ended_at": done.attributes["ended_at"],
                "energy_kwh": 0.02,
                "duration_s": done.attributes["duration_s"],
                "stop_reason": "Local",
            },
        ),
    ]
    assert hub.states.get(f"sensor.{domain}_connection").state != "connected"


async def wait_until_ended(run: Run) -> list[dict[str, Any]]:
    deadline = asyncio.get_running_loop().time() + 10
    while not ((log := await run.log()) and log[0]["ended_at"] is not None):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"session log without an end: {log}")
        await asyncio.sleep(0.05)
    return log
