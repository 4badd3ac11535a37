"""Issue 10 "done means": one scenario through the shared station core under 2.0.1 and 1.6
(boot, remote start before plug-in, charge with meter values, CSMS drop, remote stop,
reset during a second session and the boot after it),
each against the test CSMS over a real WebSocket; the station must behave the same way in
both. The outcome of each run is reduced to protocol-neutral facts and compared."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from orge.core import Orge, ServiceCall
from tests.ocpp_csms import OCPP16, OCPP201, OcppCsms

STATION = "CP-BOTH"
PASSWORD = "pw-both-secret"


def _yaml(domain: str, url: str) -> str:
    sampling = "sampled_interval" if domain == "ocpp201" else "meter_values_sample_interval"
    return (
        f"orge:\n  station_id: {STATION}\n"
        f"{domain}:\n"
        f"  url: {url}\n"
        f"  password: {PASSWORD}\n"
        "  response_timeout: 1\n"
        "  retry_backoff_wait_minimum: 0.1\n"
        "  retry_backoff_random_range: 0.1\n"
        "  retry_backoff_repeat_times: 1\n"
        "  offline_threshold: 0\n"
        "  ping_interval: 0\n"
        f"  {sampling}: 1\n"
        "  evse:\n"
        "    - id: 1\n"
        "      energy_entity: sensor.meter_energy\n"
        "      authorize_action: {action: fake.authorize}\n"
        "      stop_action: {action: fake.stop_charging}\n"
        "      current_limit_entity: number.fake_limit\n"
    )


class Controller:
    """The charge controller on the bus: its state entity, its meter, its services; and
    `orge.stop` as `orge run` registers it (the station exits, systemd starts it again)."""

    def __init__(self, hub: Orge) -> None:
        self.hub = hub
        self.calls: list[str] = []
        self.stopped = asyncio.Event()
        for service in ("authorize", "stop_charging"):
            hub.services.async_register("fake", service, self._service)
        hub.services.async_register("orge", "stop", self._stop)
        hub.states.async_set("number.fake_limit", "32", {})
        self.energy(1000)

    async def _service(self, call: ServiceCall) -> None:
        self.calls.append(call.service)
        self.state("charging" if call.service == "authorize" else "stopped")

    async def _stop(self, call: ServiceCall) -> None:
        async def stop() -> None:
            await self.hub.async_stop()
            self.stopped.set()

        self.hub.async_create_background_task(stop(), "stop")

    def state(self, name: str) -> None:
        self.hub.states.async_set("sensor.charger_state", name, {"cp": 0, "pb": 0})

    def energy(self, wh: float) -> None:
        self.hub.states.async_set("sensor.meter_energy", str(wh), {"unit_of_measurement": "Wh"})


def _energy(samples: list[dict[str, Any]]) -> float:
    for sample in samples:
        if sample.get("measurand", "Energy.Active.Import.Register") == (
            "Energy.Active.Import.Register"
        ):
            return float(sample["value"])
    raise AssertionError(f"no energy sample in {samples}")


class Run:
    """The protocol's vocabulary for the same scenario."""

    def __init__(self, protocol: str, csms: OcppCsms) -> None:
        self.protocol = protocol
        self.csms = csms

    async def remote_start(self, token: str) -> str:
        if self.protocol == OCPP16:
            return (await self.csms.remote_start(STATION, id_tag=token))["status"]
        return (await self.csms.request_start(STATION, token, evse_id=1, remote_id=77))["status"]

    def tx_messages(self) -> list[Any]:
        if self.protocol == OCPP16:
            return [
                m
                for m in self.csms.received()
                if m.action in ("StartTransaction", "MeterValues", "StopTransaction")
            ]
        return self.csms.received("TransactionEvent")

    def started(self) -> dict[str, Any] | None:
        for m in self.tx_messages():
            if m.action == "StartTransaction":
                return {"token": m.payload["idTag"], "energy": float(m.payload["meterStart"])}
            if m.action == "TransactionEvent" and m.payload["eventType"] == "Started":
                return {
                    "token": m.payload["idToken"]["idToken"],
                    "energy": _energy(m.payload["meterValue"][0]["sampledValue"]),
                    "remote_start_id": m.payload["transactionInfo"].get("remoteStartId"),
                }
        return None

    def periodic_energies(self) -> list[float]:
        values = []
        for m in self.tx_messages():
            if m.action == "MeterValues":
                values.append(_energy(m.payload["meterValue"][0]["sampledValue"]))
            elif m.action == "TransactionEvent" and m.payload["triggerReason"] == (
                "MeterValuePeriodic"
            ):
                values.append(_energy(m.payload["meterValue"][0]["sampledValue"]))
        return values

    def transaction_id(self) -> Any:
        if self.protocol == OCPP16:
            results = [
                m
                for m in self.csms.messages
                if m.direction == "out" and m.kind == "result" and m.action == "StartTransaction"
            ]
            return int(results[-1].payload["transactionId"]) if results else None
        started = [m for m in self.tx_messages() if m.payload["eventType"] == "Started"]
        return started[0].payload["transactionInfo"]["transactionId"] if started else None

    async def remote_stop(self, tx_id: Any) -> str:
        if self.protocol == OCPP16:
            return (await self.csms.remote_stop(STATION, tx_id))["status"]
        return (await self.csms.request_stop(STATION, tx_id))["status"]

    def ended(self) -> dict[str, Any] | None:
        ends = self.ends()
        return ends[0] if ends else None

    def ends(self) -> list[dict[str, Any]]:
        """Every transaction end the CSMS received, in order."""
        ends = []
        for m in self.tx_messages():
            if m.action == "StopTransaction":
                ends.append(
                    {"reason": m.payload["reason"], "energy": float(m.payload["meterStop"])}
                )
            if m.action == "TransactionEvent" and m.payload["eventType"] == "Ended":
                ends.append(
                    {
                        "reason": m.payload["transactionInfo"]["stoppedReason"],
                        "energy": _energy(m.payload["meterValue"][-1]["sampledValue"]),
                    }
                )
        return ends

    def starts(self) -> int:
        return len(
            [
                m
                for m in self.tx_messages()
                if m.action == "StartTransaction"
                or (m.action == "TransactionEvent" and m.payload["eventType"] == "Started")
            ]
        )

    async def reset(self) -> str:
        """The immediate reset: 2.0.1 Reset type Immediate (B12), 1.6 Reset type Hard (5.14)."""
        kind = "Hard" if self.protocol == OCPP16 else "Immediate"
        return (await self.csms.reset(STATION, kind))["status"]

    def reset_reason_right(self, reason: str) -> bool:
        """The end of a transaction an immediate reset cut: 2.0.1 ReasonEnumType
        ImmediateReset, 1.6 Reason HardReset."""
        return reason == ("HardReset" if self.protocol == OCPP16 else "ImmediateReset")

    def boot_reason_right(self, payload: dict[str, Any]) -> bool:
        """The boot after the reset: 2.0.1 BootReasonEnumType RemoteReset; a 1.6
        BootNotification has no reason field."""
        if self.protocol == OCPP16:
            return "reason" not in payload
        return payload.get("reason") == "RemoteReset"


async def _scenario(protocol: str, config: Path, start_station) -> dict[str, Any]:
    domain = "ocpp16" if protocol == OCPP16 else "ocpp201"
    async with OcppCsms(protocols=(protocol,), passwords={STATION: PASSWORD}) as csms:
        run = Run(protocol, csms)
        config.mkdir(parents=True, exist_ok=True)
        (config / "configuration.yaml").write_text(_yaml(domain, csms.url()))
        hub, result = await start_station(config)
        assert not result.problems
        controller = Controller(hub)
        controller.state("idle")
        await csms.wait_connected(STATION, protocol)
        await csms.wait_for("StatusNotification")
        facts: dict[str, Any] = {}

        # remote start before plug-in: accepted and held
        facts["remote_start"] = await run.remote_start("APP-1")
        await asyncio.sleep(0.5)
        facts["authorized_before_plug_in"] = bool(controller.calls)
        facts["started_before_plug_in"] = run.started() is not None
        controller.state("cable_detect")
        controller.state("ev_connected")
        await csms.wait_until(lambda: run.started() is not None, 5, "a transaction start")
        started = run.started()
        assert started is not None
        facts["start_token"] = started["token"]
        facts["start_energy"] = started["energy"]

        # charging with sampled meter values
        controller.energy(1500)
        await csms.wait_until(lambda: 1500.0 in run.periodic_energies(), 5, "a 1500 Wh sample")

        # the CSMS drops; the charge goes on; the station comes back and carries on
        accepted = len([a for a in csms.attempts if a.outcome == "accepted"])
        await csms.drop()
        controller.energy(2000)
        await asyncio.sleep(1.5)
        await csms.wait_until(
            lambda: len([a for a in csms.attempts if a.outcome == "accepted"]) > accepted,
            10,
            "a reconnection",
        )
        await csms.wait_until(lambda: 2000.0 in run.periodic_energies(), 5, "a 2000 Wh sample")
        facts["reconnected"] = True

        # remote stop: answered at once, the end carries reason Remote and the meter
        controller.energy(2500)
        tx_id = run.transaction_id()
        began = time.monotonic()
        facts["remote_stop"] = await run.remote_stop(tx_id)
        facts["stop_answered_promptly"] = time.monotonic() - began < 1.0
        await csms.wait_until(lambda: run.ended() is not None, 5, "the transaction's end")
        ended = run.ended()
        assert ended is not None
        facts["stop_reason"] = ended["reason"]
        facts["stop_energy"] = ended["energy"]
        facts["authorize_calls"] = controller.calls.count("authorize")
        facts["stop_calls"] = controller.calls.count("stop_charging")

        # a second session, then an immediate reset during it: the transaction ends with
        # the reset's reason, the station exits to be restarted and boots again
        controller.state("idle")
        await asyncio.sleep(0.3)
        facts["second_remote_start"] = await run.remote_start("APP-2")
        controller.state("cable_detect")
        controller.state("ev_connected")
        await csms.wait_until(lambda: run.starts() == 2, 5, "the second transaction's start")
        boots = len(csms.received("BootNotification"))
        facts["reset"] = await run.reset()
        await csms.wait_until(lambda: len(run.ends()) == 2, 10, "the reset transaction's end")
        facts["reset_reason_right"] = run.reset_reason_right(run.ends()[1]["reason"])
        await asyncio.wait_for(controller.stopped.wait(), 20)
        facts["stopped_for_reset"] = True
        facts["authorize_calls_with_reset"] = controller.calls.count("authorize")
        facts["stop_calls_with_reset"] = controller.calls.count("stop_charging")
        hub, result = await start_station(config)  # what systemd does
        assert not result.problems
        Controller(hub).state("idle")
        await csms.wait_for("BootNotification", count=boots + 1, timeout=10)
        facts["boot_reason_right"] = run.boot_reason_right(csms.payloads("BootNotification")[-1])
        facts["errors_sent"] = len(csms.errors_sent())
        await hub.async_stop()
        return facts


async def test_same_scenario_same_behaviour_under_201_and_16(tmp_path: Path, start_station):
    outcome_201 = await _scenario(OCPP201, tmp_path / "s201", start_station)
    outcome_16 = await _scenario(OCPP16, tmp_path / "s16", start_station)
    expected = {
        "remote_start": "Accepted",
        "authorized_before_plug_in": False,
        "started_before_plug_in": False,
        "start_token": "APP-1",
        "start_energy": 1000.0,
        "reconnected": True,
        "remote_stop": "Accepted",
        "stop_answered_promptly": True,
        "stop_reason": "Remote",
        "stop_energy": 2500.0,
        "authorize_calls": 1,
        "stop_calls": 1,
        "second_remote_start": "Accepted",
        "reset": "Accepted",
        "reset_reason_right": True,
        "stopped_for_reset": True,
        "authorize_calls_with_reset": 2,
        "stop_calls_with_reset": 2,  # the reset stops the controller first
        "boot_reason_right": True,
        "errors_sent": 0,
    }
    assert outcome_201 == expected
    assert outcome_16 == expected
