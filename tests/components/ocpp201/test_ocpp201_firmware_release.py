"""OCPP 2.0.1 UpdateFirmware end to end (TC_L_01_CS, TC_L_06_CS, TC_L_08_CS): three wheels of
ORGE (1.0.0; 1.1.0; 1.2.0 which cannot start, tests/deploy/wheels.py) served by a local
HTTPS server, a real station running from `<prefix>/current` (restarted by the stand-in
for systemctl, tests/deploy/restart_station.py), talking to the test CSMS over a real
WebSocket. The station downloads, checks the signature, installs beside the live
release, and a detached `orge update` switches, restarts, watches and rolls back.

Firmware statuses from OCPP 2.0.1 L01: Downloading, Downloaded, SignatureVerified,
Installing, InstallRebooting, then (after the restart) Installed or InstallationFailed;
a signature that does not match: InvalidSignature; an update asked for during a
session waits for its end (L01.FR.06)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ocpp201_helpers import PASSWORD, STATION
from test_ocpp201_sigkill import FAKE_INIT, write_charger

from orge.update import Options, install_only
from tests.deploy.wheels import SITE_PACKAGES, build_wheels
from tests.fileservers import FileServer, sign, signing_pair
from tests.ocpp_csms import OcppCsms, self_signed_tls

RESTART = Path(__file__).resolve().parents[2] / "deploy" / "restart_station.py"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _health(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
            return json.loads(r.read())
    except OSError:
        return {}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("fw-wheels")
    return build_wheels(tmp, {"1.0.0": False, "1.1.0": False, "1.2.0": True})


async def test_TC_L_01_installed_TC_L_06_invalid_signature_TC_L_08_rolled_back_after_session(
    wheels: dict[str, Path], tmp_path: Path, monkeypatch
) -> None:
    prefix = tmp_path / "opt" / "orge"
    config = tmp_path / "config"
    component = config / "custom_components" / "fake_charger"
    component.mkdir(parents=True)
    (component / "manifest.yaml").write_text("domain: fake_charger\nname: fake charger\n")
    (component / "__init__.py").write_text(FAKE_INIT)
    write_charger(config, "idle", 0, 1.0)
    port = _free_port()
    pidfile, log = tmp_path / "orge.pid", tmp_path / "orge.log"
    restart = " ".join(
        [sys.executable, str(RESTART), str(prefix), str(config), str(pidfile), str(log)]
    )
    tls, ca_file = self_signed_tls(str(tmp_path))
    for name, value in {
        "SSL_CERT_FILE": ca_file,
        "ORGE_PREFIX": str(prefix),
        "ORGE_RESTART_COMMAND": restart,
        "ORGE_HEALTH_URL": f"http://127.0.0.1:{port}/api/health",
        "ORGE_DEPS_FROM": SITE_PACKAGES,
        "ORGE_UPDATE_DEADLINE": "20",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("INVOCATION_ID", raising=False)  # not under systemd here
    options = Options(prefix=str(prefix), config=str(config), deps_from=SITE_PACKAGES)
    await asyncio.to_thread(install_only, str(wheels["1.0.0"]), options, say=lambda _l: None)
    key, certificate = signing_pair()
    signatures = {v: sign(key, w.read_bytes()) for v, w in wheels.items()}

    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        (config / "configuration.yaml").write_text(
            f"orge:\n  station_id: {STATION}\nhttp:\n  server_port: {port}\n"
            "persistent_notification:\nfake_charger:\n"
            f"ocpp201:\n  url: {csms.url()}\n  station_id: {STATION}\n  password: {PASSWORD}\n"
            "  response_timeout: 2\n  retry_backoff_wait_minimum: 0.2\n"
            "  retry_backoff_random_range: 0.1\n  message_attempts: 50\n"
            "  message_attempt_interval: 0.3\n  sampled_interval: 0\n  aligned_interval: 0\n"
            "  evse:\n    - id: 1\n      energy_entity: sensor.meter_energy\n"
            "      authorize_action: {action: fake.authorize}\n"
            "      stop_action: {action: fake.stop}\n"
            "      current_limit_entity: number.fake_limit\n"
        )
        subprocess.run(restart.split(), check=True)
        try:
            with FileServer(wheels["1.0.0"].parent, tls=tls) as server:
                await _scenarios(csms, server, wheels, certificate, signatures, config, port)
                await _handoff(csms, server, wheels, config, port, restart, monkeypatch)
        finally:
            subprocess.run([sys.executable, "-c", (
                "import sys; sys.path.insert(0, sys.argv[1]);"
                "import restart_station; restart_station.stop(sys.argv[2])"
            ), str(RESTART.parent), str(pidfile)], check=False)  # fmt: skip
        assert PASSWORD not in log.read_text()


async def _firmware(csms: OcppCsms, request_id: int, last: set[str], timeout: float) -> list:
    await csms.wait_for(
        "FirmwareStatusNotification",
        where=lambda p: p.get("requestId") == request_id and p["status"] in last,
        timeout=timeout,
    )
    return [
        p["status"]
        for p in csms.payloads("FirmwareStatusNotification")
        if p.get("requestId") == request_id
    ]


async def _scenarios(csms, server, wheels, certificate, signatures, config, port) -> None:
    await csms.wait_for("StatusNotification", timeout=60)
    assert _health(port)["version"] == "1.0.0"

    def request(request_id: int, version: str, signature: str) -> dict:
        return {
            "requestId": request_id,
            "retries": 1,
            "retryInterval": 1,
            "firmware": {
                "location": server.url(wheels[version].name),
                "retrieveDateTime": _now(),
                "signingCertificate": certificate,
                "signature": signature,
            },
        }

    # 1. a signed release: downloaded, verified, installed beside 1.0.0, switched, Installed
    answer = await csms.call(STATION, "UpdateFirmware", request(1, "1.1.0", signatures["1.1.0"]))
    assert answer["status"] == "Accepted"
    statuses = await _firmware(csms, 1, {"Installed", "InstallationFailed"}, 180)
    assert statuses == [
        "Downloading",
        "Downloaded",
        "SignatureVerified",
        "Installing",
        "InstallRebooting",
        "Installed",
    ]
    assert _health(port)["version"] == "1.1.0"
    boots = csms.payloads("BootNotification")
    assert boots[-1]["reason"] == "FirmwareUpdate"
    assert boots[-1]["chargingStation"]["firmwareVersion"] == "ORGE 1.1.0"

    # 2. the signature of another file: InvalidSignature, nothing installed
    answer = await csms.call(STATION, "UpdateFirmware", request(2, "1.2.0", signatures["1.0.0"]))
    assert answer["status"] == "Accepted"
    statuses = await _firmware(csms, 2, {"InvalidSignature"}, 30)
    assert statuses == ["Downloading", "Downloaded", "InvalidSignature"]

    # 3. during a session: verified, then held until the session ends; the release cannot
    #    start, so `orge update` switches back to 1.1.0: InstallationFailed
    write_charger(config, "charging", 2, 1.0)
    await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Started", timeout=20)
    answer = await csms.call(STATION, "UpdateFirmware", request(3, "1.2.0", signatures["1.2.0"]))
    assert answer["status"] == "Accepted"
    await _firmware(csms, 3, {"SignatureVerified"}, 30)
    await asyncio.sleep(3)  # a session runs: no install yet
    held = [p["status"] for p in csms.payloads("FirmwareStatusNotification")
            if p.get("requestId") == 3]  # fmt: skip
    assert held == ["Downloading", "Downloaded", "SignatureVerified"]
    write_charger(config, "idle", 0, 2.0)
    await csms.wait_for("TransactionEvent", where=lambda p: p["eventType"] == "Ended", timeout=20)
    statuses = await _firmware(csms, 3, {"Installed", "InstallationFailed"}, 240)
    assert statuses == [
        "Downloading",
        "Downloaded",
        "SignatureVerified",
        "Installing",
        "InstallRebooting",
        "InstallationFailed",
    ]
    assert os.readlink(Path(os.environ["ORGE_PREFIX"]) / "current") == "releases/1.1.0"
    assert _health(port)["version"] == "1.1.0"
    ended = [p for p in csms.payloads("TransactionEvent") if p["eventType"] == "Ended"]
    started = [p for p in csms.payloads("TransactionEvent") if p["eventType"] == "Started"]
    assert len(ended) == 1 and len(started) == 1
    # the transaction ended before the install began
    ended_at = next(m.wall for m in csms.received("TransactionEvent")
                    if m.payload["eventType"] == "Ended")  # fmt: skip
    installing_at = next(m.wall for m in csms.received("FirmwareStatusNotification")
                         if m.payload == {"status": "Installing", "requestId": 3})  # fmt: skip
    assert ended_at < installing_at


async def _handoff(csms, server, wheels, config, port, restart, monkeypatch) -> None:
    """4. As under the hardened orge.service: the station writes its request and the root
    unit orge-update.service (started by orge-update.path; played here by the test) runs
    `orge update --from-request`. Back to 1.0.0, which is installed already."""
    monkeypatch.setenv("ORGE_UPDATE_HANDOFF", "1")
    boots = len(csms.payloads("BootNotification"))
    subprocess.run(restart.split(), check=True)  # the station starts with the new setting
    await csms.wait_until(lambda: len(csms.payloads("BootNotification")) > boots, timeout=60)
    answer = await csms.call(STATION, "UpdateFirmware", {
        "requestId": 4,
        "firmware": {"location": server.url(wheels["1.0.0"].name), "retrieveDateTime": _now()},
    })  # fmt: skip
    assert answer["status"] == "Accepted"
    request = config / ".storage" / "firmware" / "request.json"
    await _firmware(csms, 4, {"InstallRebooting"}, 60)
    assert request.exists()
    assert json.loads(request.read_text())["to"].endswith(wheels["1.0.0"].name)
    prefix = Path(os.environ["ORGE_PREFIX"])
    ran = await asyncio.to_thread(subprocess.run, [
        str(prefix / "current" / "bin" / "python"), "-m", "orge.update",
        "--from-request", str(request), "-c", str(config),
    ], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert not request.exists()  # taken once: orge-update.path does not start it again
    statuses = await _firmware(csms, 4, {"Installed", "InstallationFailed"}, 60)
    assert statuses == ["Downloading", "Downloaded", "Installing", "InstallRebooting", "Installed"]
    assert _health(port)["version"] == "1.0.0"
    # every download and result file is gone once its update ended; the state file too
    assert sorted(p.name for p in (config / ".storage" / "firmware").iterdir()) == []
    assert not (config / ".storage" / "ocpp_firmware.json").exists()
