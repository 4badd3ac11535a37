"""A real `python -m orge run` station for crash and reset tests, with a controller that
outlives it.

The controller is a file: `charger.json` in the config dir holds its state (`state`,
`cp`, `kwh`), as the ESP32 holds its own while the Raspberry Pi reboots. A small custom
component (`fake_charger`) mirrors the file into `sensor.charger_state` /
`sensor.meter_energy` and serves the station's `fake.authorize` / `fake.stop` actions:
each call is appended to `calls.log` (fsync'd) and, unless the file says `"hold": true`,
moves the controller as the ESP32 would (authorize with a vehicle -> charging, stop ->
stopped). With `hold`, the test moves the controller itself (e.g. while the station is
dead). `kill -9` of the station leaves the controller as it is.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

FAKE_CHARGER = """
import asyncio
import json
import os


async def async_setup(orge, config):
    path = orge.config.path("charger.json")
    calls = orge.config.path("calls.log")

    def read():
        with open(path) as handle:
            return json.load(handle)

    def write(data):
        tmp = path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def log(name):
        with open(calls, "a") as handle:
            handle.write(name + "\\n")
            handle.flush()
            os.fsync(handle.fileno())

    async def authorize(call):
        log("authorize")
        data = read()
        if not data.get("hold") and data["state"] in ("cable_detect", "ev_connected"):
            data.update(state="charging", cp=2)
            write(data)

    async def stop(call):
        log("stop")
        data = read()
        if not data.get("hold") and data["state"] in ("ready", "charging", "paused"):
            data.update(state="stopped", cp=1)
            write(data)

    orge.services.async_register("fake", "authorize", authorize)
    orge.services.async_register("fake", "stop", stop)
    orge.services.async_register("number", "set_value", lambda call: None)
    orge.states.async_set("number.fake_limit", "32", {})

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
                orge.states.async_set(
                    "sensor.charger_state", data["state"], {"cp": data["cp"], "pb": 0}
                )
                orge.states.async_set(
                    "sensor.meter_energy", str(data["kwh"]), {"unit_of_measurement": "kWh"}
                )
            await asyncio.sleep(0.02)

    orge.async_create_background_task(follow(), "fake charger")
    return True
"""

EVSE_YAML = """
  evse:
    - id: 1
      energy_entity: sensor.meter_energy
      authorize_action: {action: fake.authorize}
      stop_action: {action: fake.stop}
      current_limit_entity: number.fake_limit
"""


class Controller:
    """The file-backed controller of a config dir."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def set(self, state: str, cp: int, kwh: float | None = None, hold: bool | None = None) -> None:
        data = self.read() if (self.path / "charger.json").exists() else {"kwh": 0.0}
        data.update(state=state, cp=cp)
        if kwh is not None:
            data["kwh"] = kwh
        if hold is not None:
            data["hold"] = hold
        tmp = self.path / "charger.json.tmp"
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.path / "charger.json")

    def read(self) -> dict:
        return json.loads((self.path / "charger.json").read_text())

    def calls(self) -> list[str]:
        log = self.path / "calls.log"
        return log.read_text().split() if log.exists() else []


def write_station(path: Path, protocol_block: str) -> Controller:
    """configuration.yaml (fake_charger + the protocol block, which ends with `evse:`
    from EVSE_YAML) and the fake_charger component; returns the controller."""
    (path / "configuration.yaml").write_text(
        "orge:\n  station_id: !env_var OCPP_STATION_NAME\nfake_charger:\n" + protocol_block
    )
    component = path / "custom_components" / "fake_charger"
    component.mkdir(parents=True, exist_ok=True)
    (component / "manifest.yaml").write_text("domain: fake_charger\nname: fake charger\n")
    (component / "__init__.py").write_text(FAKE_CHARGER)
    return Controller(path)


async def start(path: Path, station: str, password: str) -> asyncio.subprocess.Process:
    """`python -m orge run -c path` with the station name and password in its
    environment; output appended to path/orge.log."""
    env = {**os.environ, "OCPP_STATION_PASSWORD": password, "OCPP_STATION_NAME": station}
    with open(path / "orge.log", "ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "orge", "run", "-c", str(path),
            cwd=REPO, stdout=out, stderr=out, env=env,
        )  # fmt: skip


async def kill9(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGKILL)
    assert await asyncio.wait_for(proc.wait(), 10) == -signal.SIGKILL


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def wait_for_file(predicate, timeout: float = 10.0, what: str = "") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"not reached within {timeout} s: {what}")
        await asyncio.sleep(0.005)
