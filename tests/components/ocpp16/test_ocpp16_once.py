"""`orge once -c DIR` with ocpp16: the real command in a subprocess, the test CSMS here."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from ocpp16_helpers import PASSWORD, STATION

from tests.ocpp_csms import OCPP16, OCPP201, OcppCsms

REPO = Path(__file__).resolve().parents[3]


def _yaml(url: str, password: str = PASSWORD, with_201: str | None = None) -> str:
    text = f"orge:\n  station_id: {STATION}\n"
    if with_201:
        text += f"ocpp201:\n  url: {with_201}\n  station_id: {STATION}\n  password: {PASSWORD}\n"
    return text + (
        f"ocpp16:\n  url: {url}\n  station_id: {STATION}\n  password: {password}\n"
        "  response_timeout: 2\n"
    )


async def _once(path: Path) -> tuple[int, dict[str, Any], str]:
    env = {k: v for k, v in os.environ.items() if k != "OCPP_PRIMARY"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orge", "once", "-c", str(path), "--timeout", "5",
        cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    lines = out.decode().strip().splitlines()
    assert len(lines) == 1, out  # exactly one JSON object on stdout
    return process.returncode or 0, json.loads(lines[0]), err.decode()


async def test_once_success(config_dir) -> None:
    async with OcppCsms(protocols=(OCPP16,), passwords={STATION: PASSWORD}) as csms:
        code, result, stderr = await _once(config_dir(_yaml(csms.url())))
        assert code == 0, result
        assert result["ok"] is True and result["protocol"] == "ocpp1.6"
        assert result["station_id"] == STATION
        assert result["url"] == csms.url(STATION)
        assert [m["action"] for m in result["messages"]] == [
            "BootNotification",
            "StatusNotification",
            "Heartbeat",
        ]
        assert result["messages"][0]["response"]["status"] == "Accepted"
        assert result["elapsed_ms"] > 0
        assert PASSWORD not in json.dumps(result) and PASSWORD not in stderr
        assert [m.action for m in csms.received()] == [
            "BootNotification",
            "StatusNotification",
            "Heartbeat",
        ]
        assert not csms.errors_sent()


async def test_once_bad_password(config_dir) -> None:
    async with OcppCsms(protocols=(OCPP16,), passwords={STATION: PASSWORD}) as csms:
        code, result, stderr = await _once(config_dir(_yaml(csms.url(), password="wrong-pass")))
        assert code == 1 and result["ok"] is False
        assert "401" in result["error"]
        assert "wrong-pass" not in json.dumps(result) and "wrong-pass" not in stderr


async def test_once_rejected_boot(config_dir) -> None:
    async with OcppCsms(
        protocols=(OCPP16,), passwords={STATION: PASSWORD}, boot_status="Rejected"
    ) as csms:
        code, result, _ = await _once(config_dir(_yaml(csms.url())))
        assert code == 1 and result["ok"] is False
        assert "Rejected" in result["error"]
        assert [m["action"] for m in result["messages"]] == ["BootNotification"]


async def test_once_unreachable(config_dir) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, result, _ = await _once(config_dir(_yaml(f"ws://127.0.0.1:{port}/ocpp")))
    assert code == 1 and result["ok"] is False
    assert "cannot connect" in result["error"]


async def test_once_falls_back_from_201_to_16(config_dir) -> None:
    async with (
        OcppCsms(protocols=(OCPP201,), passwords="other") as csms201,
        OcppCsms(protocols=(OCPP16,), passwords={STATION: PASSWORD}) as csms16,
    ):
        code, result, _ = await _once(config_dir(_yaml(csms16.url(), with_201=csms201.url())))
        assert code == 0, result
        assert result["protocol"] == "ocpp1.6"
        assert result["tried"][0]["protocol"] in ("ocpp2.0.1", "ocpp201")
        assert csms201.attempts and csms201.attempts[0].outcome == "unauthorized"
