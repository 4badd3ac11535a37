"""OCPP 1.6 Firmware Management (UpdateFirmware, GetDiagnostics) and the security
whitepaper's SignedUpdateFirmware and GetLog, over a real WebSocket, with a real HTTPS
server holding the firmware and a real HTTP server receiving the diagnostics."""

from __future__ import annotations

import asyncio
import io
import logging
import tarfile
from datetime import UTC, datetime
from pathlib import Path

from ocpp16_helpers import PASSWORD, STATION, FakeController, station_yaml

from orge.log import RING
from tests.deploy.wheels import releases_prefix
from tests.fileservers import FileServer, FtpServer, sign, signing_pair
from tests.ocpp_csms import OcppCsms, self_signed_tls


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def _station(csms, config_dir, start_station):
    hub, _ = await start_station(config_dir(station_yaml(csms.url())))
    FakeController(hub).state("idle")
    await csms.wait_for("StatusNotification", 2)
    return hub


async def test_TC_044_2_download_failed_and_signed_update_invalid_signature(
    config_dir, start_station, tmp_path: Path, monkeypatch
) -> None:
    tls, ca_file = self_signed_tls(str(tmp_path))
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    releases_prefix(tmp_path, monkeypatch)
    (tmp_path / "www").mkdir()
    firmware = b"PK\x03\x04 a release"
    (tmp_path / "www" / "orge-9.9.9-py3-none-any.whl").write_bytes(firmware)
    key, certificate = signing_pair()
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await _station(csms, config_dir, start_station)
        with FileServer(tmp_path / "www", tls=tls) as server:
            # TC_044_2: the location's file name prefixed with does_not_exist_, retries 0
            answer = await csms.call(STATION, "UpdateFirmware", {
                "location": server.url("does_not_exist_orge-9.9.9-py3-none-any.whl"),
                "retrieveDate": _iso(datetime.now(UTC)),
                "retries": 0,
            })  # fmt: skip
            assert answer == {}
            await csms.wait_for(
                "FirmwareStatusNotification", where=lambda p: p["status"] == "DownloadFailed"
            )
            statuses = [p["status"] for p in csms.payloads("FirmwareStatusNotification")]
            assert statuses == ["Downloading", "DownloadFailed"]

            # whitepaper SignedUpdateFirmware: a signature over other bytes
            answer = await csms.call(STATION, "SignedUpdateFirmware", {
                "requestId": 5,
                "firmware": {
                    "location": server.url("orge-9.9.9-py3-none-any.whl"),
                    "retrieveDateTime": _iso(datetime.now(UTC)),
                    "signingCertificate": certificate,
                    "signature": sign(key, b"other bytes"),
                },
            })  # fmt: skip
            assert answer["status"] == "Accepted"
            await csms.wait_for(
                "SignedFirmwareStatusNotification",
                where=lambda p: p["status"] == "InvalidSignature",
                timeout=10,
            )
            sent = csms.payloads("SignedFirmwareStatusNotification")
            assert [(p["status"], p["requestId"]) for p in sent] == [
                ("Downloading", 5),
                ("Downloaded", 5),
                ("InvalidSignature", 5),
            ]
            await csms.wait_for(
                "SecurityEventNotification", where=lambda p: p["type"] != "StartupOfTheDevice"
            )
            (event,) = [
                p
                for p in csms.payloads("SecurityEventNotification")
                if p["type"] != "StartupOfTheDevice"  # every start's (test_*_security_events)
            ]
            assert event["type"] == "InvalidFirmwareSignature"


async def test_TC_045_1_get_diagnostics_TC_045_2_upload_failed_TC_079_security_log(
    config_dir, start_station, tmp_path: Path
) -> None:
    logger = logging.getLogger("tests.diagnostics16")
    logging.getLogger().addHandler(RING)  # as `orge run` does (orge.log.setup_logging)
    try:
        async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
            await _station(csms, config_dir, start_station)
            logger.warning("too early")
            start = datetime.now(UTC)
            logger.warning("wanted, with the password %s", PASSWORD)
            stop = datetime.now(UTC)
            await asyncio.sleep(0.05)
            logger.warning("too late")
            with FileServer(tmp_path) as receiver:
                answer = await csms.call(STATION, "GetDiagnostics", {
                    "location": receiver.url("diagnostics/"),
                    "startTime": _iso(start), "stopTime": _iso(stop),
                })  # fmt: skip
                assert answer["fileName"].startswith(f"{STATION}-DiagnosticsLog-")
                await csms.wait_for(
                    "DiagnosticsStatusNotification",
                    where=lambda p: p["status"] == "Uploaded",
                    timeout=15,
                )
                (upload,) = receiver.uploads()
            assert upload.method == "PUT"  # the location ends with "/": PUT <location><name>
            assert upload.path == f"/diagnostics/{answer['fileName']}"
            with tarfile.open(fileobj=io.BytesIO(upload.body)) as tar:
                log = tar.extractfile("log.txt").read().decode()
                texts = [tar.extractfile(m).read().decode() for m in tar.getmembers()]
            assert "wanted, with the password ***" in log
            assert "too early" not in log and "too late" not in log
            assert all(PASSWORD not in text for text in texts)

            # TC_045_2: nobody listens at the location
            await csms.call(STATION, "GetDiagnostics", {"location": "http://127.0.0.1:9/x/"})
            await csms.wait_for(
                "DiagnosticsStatusNotification", where=lambda p: p["status"] == "UploadFailed"
            )
            statuses = [p["status"] for p in csms.payloads("DiagnosticsStatusNotification")]
            assert statuses == ["Uploading", "Uploaded", "Uploading", "UploadFailed"]

            # TC_079_CS: whitepaper GetLog of the SecurityLog: only security events
            logging.getLogger("orge.security").warning("InvalidFirmwareSignature: x")
            with FileServer(tmp_path) as receiver:
                answer = await csms.call(STATION, "GetLog", {
                    "logType": "SecurityLog", "requestId": 8,
                    "log": {"remoteLocation": receiver.url("security/")},
                })  # fmt: skip
                assert answer["status"] == "Accepted"
                await csms.wait_for(
                    "LogStatusNotification", where=lambda p: p["status"] == "Uploaded"
                )
                (upload,) = receiver.uploads()
            with tarfile.open(fileobj=io.BytesIO(upload.body)) as tar:
                log = tar.extractfile("log.txt").read().decode()
                names = tar.getnames()
            assert "InvalidFirmwareSignature: x" in log
            assert "wanted" not in log
            assert "check.json" not in names
            sent = csms.payloads("LogStatusNotification")
            assert [(p["status"], p["requestId"]) for p in sent] == [
                ("Uploading", 8),
                ("Uploaded", 8),
            ]
    finally:
        logging.getLogger().removeHandler(RING)


async def test_TC_045_1_get_diagnostics_over_ftp(config_dir, start_station, tmp_path: Path) -> None:
    (tmp_path / "ftp" / "diag").mkdir(parents=True)
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await _station(csms, config_dir, start_station)
        with FtpServer(tmp_path / "ftp") as ftp:
            answer = await csms.call(STATION, "GetDiagnostics", {"location": ftp.url("diag/")})
            await csms.wait_for(
                "DiagnosticsStatusNotification", where=lambda p: p["status"] == "Uploaded",
                timeout=15,
            )  # fmt: skip
        stored = tmp_path / "ftp" / "diag" / answer["fileName"]
        with tarfile.open(stored) as tar:
            assert {"log.txt", "check.json", "versions.json", "journal.json"} <= set(tar.getnames())
            texts = [tar.extractfile(m).read().decode() for m in tar.getmembers()]
        assert all(PASSWORD not in text and ftp.password not in text for text in texts)
        statuses = [p["status"] for p in csms.payloads("DiagnosticsStatusNotification")]
        assert statuses == ["Uploading", "Uploaded"]
