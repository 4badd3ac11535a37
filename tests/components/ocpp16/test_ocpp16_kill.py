"""SIGKILL of a real `orge run` mid-transaction: the journal is replayed after restart."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from ocpp16_helpers import PASSWORD, STATION

from tests.ocpp_csms import OCPP16, OcppCsms

REPO = Path(__file__).resolve().parents[3]

# A stand-in controller for the subprocess: its state comes from the environment, its
# services move it as the esp32 component would.
FAKECTL = """
import os


async def async_setup(orge, config):
    def write(state):
        orge.states.async_set("sensor.charger_state", state)

    write(os.environ.get("FAKECTL_STATE", "idle"))
    orge.states.async_set(
        "sensor.meter_energy", os.environ.get("FAKECTL_WH", "0"), {"unit_of_measurement": "Wh"}
    )

    async def authorize(call):
        write("charging")

    async def stop(call):
        write("stopped")

    orge.services.async_register("fakectl", "authorize", authorize)
    orge.services.async_register("fakectl", "stop_charging", stop)
    return True
"""


def _config(config_dir, url: str) -> Path:
    return config_dir(
        f"""
        orge:
          station_id: {STATION}
        logger:
          default: warning
        fakectl:
        ocpp16:
          url: {url}
          password: {PASSWORD}
          retry_backoff_wait_minimum: 0.1
          retry_backoff_random_range: 0.1
          meter_values_sample_interval: 0.2
          evse:
            - id: 1
              energy_entity: sensor.meter_energy
              authorize_action: {{action: fakectl.authorize}}
              stop_action: {{action: fakectl.stop_charging}}
        """
    )


async def _start(path: Path, state: str, wh: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if k != "OCPP_PRIMARY"}
    env.update(FAKECTL_STATE=state, FAKECTL_WH=wh)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orge", "run", "-c", str(path),
        cwd=REPO, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def test_sigkill_mid_transaction_loses_nothing(config_dir) -> None:
    async with OcppCsms(protocols=(OCPP16,), passwords={STATION: PASSWORD}) as csms:
        path = _config(config_dir, csms.url())
        custom = path / "custom_components" / "fakectl"
        custom.mkdir(parents=True)
        (custom / "manifest.yaml").write_text("domain: fakectl\nname: Fake controller\n")
        (custom / "__init__.py").write_text(FAKECTL)

        first = await _start(path, "ev_connected", "1000")
        try:
            await csms.wait_connected(STATION, OCPP16, timeout=15)
            await csms.wait_for(
                "StatusNotification", where=lambda p: p["status"] == "Preparing", timeout=5
            )
            assert (await csms.remote_start(STATION, id_tag="KILL"))["status"] == "Accepted"
            await csms.wait_for("MeterValues", timeout=5)  # so StartTransaction was confirmed
            tx_id = csms.last_transaction_id
            await csms.stop()
            await asyncio.sleep(0.7)  # meter values are journaled while the CSMS is away
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        assert first.returncode == -signal.SIGKILL

        before = len(csms.received("MeterValues"))
        await csms.start()
        second = await _start(path, "idle", "1500")  # the EV left while ORGE was dead
        try:
            stop = (await csms.wait_for("StopTransaction", timeout=15))[0].payload
        finally:
            second.terminate()
            await second.wait()
        assert stop["transactionId"] == tx_id
        assert stop["meterStop"] == 1500 and stop["reason"] == "EVDisconnected"
        assert len(csms.received("StartTransaction")) == 1
        replayed = csms.payloads("MeterValues")[before:]
        assert len(replayed) >= 2  # made before the kill, delivered after the restart
        assert all(m["transactionId"] == tx_id for m in replayed)
        order = [
            m.action for m in csms.received() if m.mono > csms.received("BootNotification")[-1].mono
        ]
        assert order.index("StopTransaction") > max(
            i for i, action in enumerate(order) if action == "MeterValues"
        )
        assert second.returncode == 0
