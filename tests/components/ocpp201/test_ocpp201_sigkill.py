"""A real `python -m orge run` killed with SIGKILL mid-transaction and started again:
the journal is replayed and the transaction is ended correctly (the EV left meanwhile)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
from pathlib import Path

from ocpp201_helpers import PASSWORD, STATION

from tests.ocpp_csms import SILENCE, OcppCsms

REPO = Path(__file__).resolve().parents[3]

# A stand-in controller inside the station process: it mirrors `charger.json` (written by
# the test) into sensor.charger_state and sensor.meter_energy.
FAKE_INIT = """
import asyncio
import json
import os


async def async_setup(orge, config):
    path = orge.config.path("charger.json")

    async def follow():
        last = None
        while True:
            try:
                with open(path) as handle:
                    text = handle.read()
            except OSError:
                text = None
            if text and text != last:
                last = text
                data = json.loads(text)
                orge.states.async_set("sensor.charger_state", data["state"], {"cp": data["cp"], "pb": 0})
                orge.states.async_set("sensor.meter_energy", str(data["kwh"]), {"unit_of_measurement": "kWh"})
            await asyncio.sleep(0.02)

    orge.async_create_background_task(follow(), "fake charger")
    return True
"""


def write_charger(path: Path, state: str, cp: int, kwh: float) -> None:
    tmp = path / "charger.json.tmp"
    tmp.write_text(json.dumps({"state": state, "cp": cp, "kwh": kwh}))
    os.replace(tmp, path / "charger.json")


async def start(path: Path, log: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "OCPP_STATION_PASSWORD": PASSWORD, "OCPP_STATION_NAME": STATION}
    with open(log, "ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "orge", "run", "-c", str(path),
            cwd=REPO, stdout=out, stderr=out, env=env,
        )  # fmt: skip


async def test_sigkill_mid_transaction_then_restart(config_dir, tmp_path) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        yaml = textwrap.dedent(
            f"""
            orge:
              station_id: !env_var OCPP_STATION_NAME
            fake_charger:
            ocpp201:
              url: {csms.url()}
              station_id: !env_var OCPP_STATION_NAME
              password: !env_var OCPP_STATION_PASSWORD
              response_timeout: 1
              retry_backoff_wait_minimum: 0.1
              retry_backoff_random_range: 0.1
              message_attempts: 50
              message_attempt_interval: 0.2
              sampled_interval: 0
              aligned_interval: 0
              evse:
                - id: 1
                  energy_entity: sensor.meter_energy
                  authorize_action: {{action: fake.authorize}}
                  stop_action: {{action: fake.stop}}
                  current_limit_entity: number.fake_limit
            """
        )
        path = config_dir(yaml)
        component = path / "custom_components" / "fake_charger"
        component.mkdir(parents=True)
        (component / "manifest.yaml").write_text("domain: fake_charger\nname: fake charger\n")
        (component / "__init__.py").write_text(FAKE_INIT)
        log = tmp_path / "orge.log"
        write_charger(path, "idle", 0, 1.0)
        proc = await start(path, log)
        try:
            await csms.wait_for("StatusNotification", timeout=20)
            write_charger(path, "charging", 2, 1.0)
            started = (await csms.wait_for("TransactionEvent", timeout=5))[0].payload
            tx_id = started["transactionInfo"]["transactionId"]
            await csms.wait_until(
                lambda: any(m.kind == "result" and m.direction == "out" and m.action ==
                            "TransactionEvent" for m in csms.messages),
                what="Started answered",
            )  # fmt: skip
            csms.answer("TransactionEvent", SILENCE)  # the next ones stay in the journal
            write_charger(path, "paused", 1, 2.5)
            await csms.wait_for("TransactionEvent", 2, timeout=5)
            proc.send_signal(signal.SIGKILL)
            assert await asyncio.wait_for(proc.wait(), 10) == -signal.SIGKILL
            # While ORGE was dead the driver unplugged.
            write_charger(path, "stopped", 0, 3.0)
            csms.reset_answers()
            proc = await start(path, log)
            await csms.wait_for(
                "TransactionEvent", where=lambda p: p["eventType"] == "Ended", timeout=20
            )
            await asyncio.sleep(0.3)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), 10)
        events = csms.payloads("TransactionEvent")
        assert {e["transactionInfo"]["transactionId"] for e in events} == {tx_id}
        # Started once; Updated (seq 1) sent before the kill and replayed after; Ended last.
        assert [e["seqNo"] for e in events] == [0, 1, 1, 2]
        assert events[1] == events[2]
        ended = events[-1]
        assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
        assert ended["meterValue"][0]["sampledValue"][0]["value"] == 3000
        boots = csms.payloads("BootNotification")
        assert len(boots) == 2  # a restart is a new boot
        text = log.read_text()
        assert PASSWORD not in text
        assert "Resuming transaction" in text
