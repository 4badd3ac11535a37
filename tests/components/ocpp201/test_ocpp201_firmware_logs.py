"""OCPP 2.0.1 blocks L (UpdateFirmware) and N (GetLog) over a real WebSocket, with a real
HTTPS server holding the firmware and a real HTTP server receiving the log bundle.

The full install (two ORGE wheels, restart, rollback) runs in
tests/components/ocpp_station/test_firmware_release.py."""

from __future__ import annotations

import io
import logging
import os
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ocpp201_helpers import PASSWORD, STATION, FakeController, station_yaml

from orge.log import RING
from tests.deploy.wheels import releases_prefix
from tests.fileservers import FileServer, multipart_file, sign, signing_pair
from tests.ocpp_csms import OcppCsms, self_signed_tls


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def _station(csms, config_dir, start_station):
    hub, _ = await start_station(config_dir(station_yaml(csms.url())))
    FakeController(hub).state("idle", cp=0)
    await csms.wait_for("StatusNotification")
    return hub


async def _statuses(csms, action: str, last: str, count: int = 1) -> list[dict]:
    await csms.wait_for(action, where=lambda p: p["status"] == last, timeout=15)
    return csms.payloads(action)


async def test_TC_L_06_invalid_signature_and_TC_L_07_download_failed(
    config_dir, start_station, tmp_path: Path, monkeypatch
) -> None:
    tls, ca_file = self_signed_tls(str(tmp_path))
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)  # the station trusts the test server
    releases_prefix(tmp_path, monkeypatch)
    (tmp_path / "www").mkdir()
    firmware = b"PK\x03\x04 not really a wheel"
    (tmp_path / "www" / "orge-9.9.9-py3-none-any.whl").write_bytes(firmware)
    key, certificate = signing_pair()
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await _station(csms, config_dir, start_station)
        with FileServer(tmp_path / "www", tls=tls) as server:
            # signed over other bytes: the station must refuse it (L01.FR.03/.04)
            answer = await csms.call(STATION, "UpdateFirmware", {
                "requestId": 11,
                "firmware": {
                    "location": server.url("orge-9.9.9-py3-none-any.whl"),
                    "retrieveDateTime": _iso(datetime.now(UTC)),
                    "signingCertificate": certificate,
                    "signature": sign(key, firmware + b"tampered"),
                },
            })  # fmt: skip
            assert answer["status"] == "Accepted"
            sent = await _statuses(csms, "FirmwareStatusNotification", "InvalidSignature")
            assert [(p["status"], p["requestId"]) for p in sent] == [
                ("Downloading", 11),
                ("Downloaded", 11),
                ("InvalidSignature", 11),
            ]
            assert [r.method for r in server.received] == ["GET"]
            await csms.wait_for(
                "SecurityEventNotification", where=lambda p: p["type"] != "StartupOfTheDevice"
            )
            (event,) = [
                p
                for p in csms.payloads("SecurityEventNotification")
                if p["type"] != "StartupOfTheDevice"  # every start's (test_*_security_events)
            ]
            assert event["type"] == "InvalidFirmwareSignature"

            # TC_L_07: the file is not there: one attempt plus `retries`, then DownloadFailed
            answer = await csms.call(STATION, "UpdateFirmware", {
                "requestId": 12,
                "retries": 2,
                "retryInterval": 0,
                "firmware": {
                    "location": server.url("orge-missing-py3-none-any.whl"),
                    "retrieveDateTime": _iso(datetime.now(UTC)),
                },
            })  # fmt: skip
            assert answer["status"] == "Accepted"
            await _statuses(csms, "FirmwareStatusNotification", "DownloadFailed")
            sent = [p for p in csms.payloads("FirmwareStatusNotification") if p["requestId"] == 12]
            assert [p["status"] for p in sent] == ["Downloading", "DownloadFailed"]
            assert len([r for r in server.received if "missing" in r.path]) == 3


async def test_TC_L_10_second_update_firmware_cancels_the_first(
    config_dir, start_station, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("ORGE_PREFIX", str(tmp_path / "nothing"))
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await _station(csms, config_dir, start_station)
        later = _iso(datetime.now(UTC) + timedelta(hours=1))
        first = await csms.call(STATION, "UpdateFirmware", {
            "requestId": 21,
            "firmware": {"location": "https://127.0.0.1:9/orge-2.0.0-py3-none-any.whl",
                         "retrieveDateTime": later},
        })  # fmt: skip
        # not installed as releases (a development checkout): refused
        assert first["status"] == "Rejected"
        releases_prefix(tmp_path, monkeypatch)
        first = await csms.call(STATION, "UpdateFirmware", {
            "requestId": 21,
            "firmware": {"location": "https://127.0.0.1:9/orge-2.0.0-py3-none-any.whl",
                         "retrieveDateTime": later},
        })  # fmt: skip
        assert first["status"] == "Accepted"
        second = await csms.call(STATION, "UpdateFirmware", {
            "requestId": 22,
            "firmware": {"location": "https://127.0.0.1:9/orge-2.0.1-py3-none-any.whl",
                         "retrieveDateTime": later},
        })  # fmt: skip
        assert second["status"] == "AcceptedCanceled"  # L01.FR.24
        # retrieveDateTime an hour ahead: DownloadScheduled until then
        await csms.wait_for("FirmwareStatusNotification", where=lambda p: p["requestId"] == 22)
        sent = [(p["status"], p["requestId"]) for p in csms.payloads("FirmwareStatusNotification")]
        assert sent == [("DownloadScheduled", 21), ("DownloadScheduled", 22)]
        ftp = await csms.call(STATION, "UpdateFirmware", {
            "requestId": 23,
            "firmware": {"location": "file:///tmp/orge.whl", "retrieveDateTime": later},
        })  # fmt: skip
        assert ftp["status"] == "Rejected"


async def test_TC_N_25_diagnostics_log_window_no_secret_TC_N_26_upload_failed(
    config_dir, start_station, tmp_path: Path
) -> None:
    logger = logging.getLogger("tests.diagnostics")
    # `orge run` puts the ring on the root logger (orge.log.setup_logging); here by hand
    logging.getLogger().addHandler(RING)
    try:
        await _get_logs(logger, config_dir, start_station, tmp_path)
    finally:
        logging.getLogger().removeHandler(RING)


async def _get_logs(logger, config_dir, start_station, tmp_path: Path) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await _station(csms, config_dir, start_station)
        logger.warning("before the window")
        oldest = datetime.now(UTC)
        logger.warning("inside the window, password %s", PASSWORD)
        latest = datetime.now(UTC)
        await __import__("asyncio").sleep(0.05)
        logger.warning("after the window")
        with FileServer(tmp_path) as receiver:
            answer = await csms.call(STATION, "GetLog", {
                "requestId": 31,
                "logType": "DiagnosticsLog",
                "log": {"remoteLocation": receiver.url("logs"),
                        "oldestTimestamp": _iso(oldest), "latestTimestamp": _iso(latest)},
            })  # fmt: skip
            assert answer["status"] == "Accepted"
            assert answer["filename"].startswith(f"{STATION}-DiagnosticsLog-")
            sent = await _statuses(csms, "LogStatusNotification", "Uploaded")
            assert [(p["status"], p["requestId"]) for p in sent] == [
                ("Uploading", 31),
                ("Uploaded", 31),
            ]
            (upload,) = receiver.uploads()
            assert upload.method == "POST"
            bundle = multipart_file(upload)
        with tarfile.open(fileobj=io.BytesIO(bundle)) as tar:
            files = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}
        assert set(files) == {"log.txt", "check.json", "versions.json", "journal.json",
                              "window.json"}  # fmt: skip
        log = files["log.txt"]
        assert "inside the window, password ***" in log
        assert "before the window" not in log and "after the window" not in log
        assert all(PASSWORD not in text for text in files.values())
        assert '"orge"' in files["versions.json"]

        # SecurityLog: only the security events; an unreachable location: UploadFailure
        logging.getLogger("orge.security").warning("InvalidFirmwareSignature: test event")
        answer = await csms.call(STATION, "GetLog", {
            "requestId": 32, "logType": "SecurityLog", "retries": 1, "retryInterval": 0,
            "log": {"remoteLocation": "http://127.0.0.1:9/logs/"},
        })  # fmt: skip
        assert answer["status"] == "Accepted"
        await _statuses(csms, "LogStatusNotification", "UploadFailure")
        sent = [p for p in csms.payloads("LogStatusNotification") if p["requestId"] == 32]
        assert [p["status"] for p in sent] == ["Uploading", "UploadFailure"]


FAKE_JOURNALCTL = """#!/bin/sh
# journalctl stand-in: records its arguments, prints journald's short-iso format
printf '%s\\n' "$@" > "$(dirname "$0")/journalctl.args"
cat <<'LINES'
2026-11-30T04:10:00+00:00 station orge[812]: INFO [components.ocpp201.station] BootNotification accepted
2026-11-30T04:10:01+00:00 station orge[812]: WARNING [tests] password {password} seen
LINES
"""


async def test_TC_N_25_get_log_from_journald_under_systemd(
    config_dir, start_station, tmp_path: Path, monkeypatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "journalctl"
    fake.write_text(FAKE_JOURNALCTL.format(password=PASSWORD))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("INVOCATION_ID", "0123456789abcdef")  # as systemd sets for a unit
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await _station(csms, config_dir, start_station)
        with FileServer(tmp_path) as receiver:
            answer = await csms.call(STATION, "GetLog", {
                "requestId": 41,
                "logType": "DiagnosticsLog",
                "log": {"remoteLocation": receiver.url("logs/"),
                        "oldestTimestamp": "2026-11-30T04:00:00Z",
                        "latestTimestamp": "2026-11-30T04:30:00Z"},
            })  # fmt: skip
            assert answer["status"] == "Accepted"
            await _statuses(csms, "LogStatusNotification", "Uploaded")
            (upload,) = receiver.uploads()
        with tarfile.open(fileobj=io.BytesIO(upload.body)) as tar:
            log = tar.extractfile("log.txt").read().decode()
            window = tar.extractfile("window.json").read().decode()
        args = (bin_dir / "journalctl.args").read_text().splitlines()
        assert args == [
            "-u", "orge", "-o", "short-iso", "--no-pager",
            "--since", "2026-11-30 04:00:00 UTC", "--until", "2026-11-30 04:30:00 UTC",
        ]  # fmt: skip
        assert "orge[812]: INFO [components.ocpp201.station] BootNotification accepted" in log
        assert "password *** seen" in log and PASSWORD not in log
        assert '"source": "journald"' in window


async def test_TC_N_36_second_get_log_cancels_the_first(
    config_dir, start_station, tmp_path: Path
) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await _station(csms, config_dir, start_station)
        # the first waits between attempts at a location nobody serves
        first = await csms.call(STATION, "GetLog", {
            "requestId": 51, "logType": "DiagnosticsLog", "retries": 5, "retryInterval": 30,
            "log": {"remoteLocation": "http://127.0.0.1:9/logs/"},
        })  # fmt: skip
        assert first["status"] == "Accepted"
        await csms.wait_for("LogStatusNotification", where=lambda p: p["requestId"] == 51)
        with FileServer(tmp_path) as receiver:
            second = await csms.call(STATION, "GetLog", {
                "requestId": 52, "logType": "DiagnosticsLog",
                "log": {"remoteLocation": receiver.url("logs/")},
            })  # fmt: skip
            assert second["status"] == "AcceptedCanceled"  # N01.FR.12
            await _statuses(csms, "LogStatusNotification", "Uploaded")
            assert len(receiver.uploads()) == 1
        sent = [(p["status"], p["requestId"]) for p in csms.payloads("LogStatusNotification")]
        assert sent == [
            ("Uploading", 51),
            ("AcceptedCanceled", 51),
            ("Uploading", 52),
            ("Uploaded", 52),
        ]
