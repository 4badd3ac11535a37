"""`orge once -c DIR` as a real subprocess against the test CSMS: one JSON object on
stdout, exit code 0 only for a full success, no secret in the output."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

from ocpp201_helpers import PASSWORD, STATION, station_yaml

from tests.ocpp_csms import OcppCsms

REPO = Path(__file__).resolve().parents[3]


async def run_once(path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orge", "once", "-c", str(path), "--timeout", "5", *args,
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    text = stdout.decode()
    assert text.count("\n") == 1, (text, stderr.decode())  # exactly one JSON object
    assert PASSWORD not in text and PASSWORD not in stderr.decode()
    return proc.returncode, json.loads(text)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_once_success(config_dir) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        url = csms.url().replace("ws://", f"ws://{STATION}:{PASSWORD}@")
        code, out = await run_once(config_dir(station_yaml(url)))
        assert code == 0, out
        assert out["ok"] is True and out["protocol"] == "ocpp2.0.1"
        assert out["station_id"] == STATION
        assert out["url"] == f"{csms.url()}/{STATION}"  # no credentials
        assert [m["action"] for m in out["messages"]] == [
            "BootNotification",
            "StatusNotification",
            "Heartbeat",
        ]
        assert out["messages"][0]["response"]["status"] == "Accepted"
        assert out["elapsed_ms"] > 0 and "error" not in out
        assert [m.action for m in csms.received()] == [
            "BootNotification",
            "StatusNotification",
            "Heartbeat",
        ]


async def test_once_unreachable(config_dir) -> None:
    url = f"ws://127.0.0.1:{free_port()}/ocpp"
    code, out = await run_once(config_dir(station_yaml(url)))
    assert code == 1
    assert out["ok"] is False and "cannot connect" in out["error"]
    assert out["messages"] == []


async def test_once_rejected_boot(config_dir) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}, boot_status="Rejected") as csms:
        code, out = await run_once(config_dir(station_yaml(csms.url())))
        assert code == 1
        assert out["ok"] is False and out["error"] == "BootNotification Rejected"
        assert [m["action"] for m in out["messages"]] == ["BootNotification"]
        assert not csms.received("StatusNotification")


async def test_once_bad_password(config_dir) -> None:
    async with OcppCsms(passwords={STATION: "the-right-one"}) as csms:
        code, out = await run_once(config_dir(station_yaml(csms.url())))
        assert code == 1
        assert "HTTP 401" in out["error"] and out["ok"] is False


async def test_once_falls_back_to_ocpp16(config_dir) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}, protocols=("ocpp1.6",)) as csms16:
        dead = f"ws://127.0.0.1:{free_port()}/ocpp"
        yaml = station_yaml(dead) + (
            f"ocpp16:\n  url: {csms16.url()}\n  station_id: {STATION}\n"
            f"  password: {PASSWORD}\n  fallback: true\n"
        )
        code, out = await run_once(config_dir(yaml), env={"OCPP_PRIMARY": "201"})
        assert code == 0, out
        assert out["protocol"] == "ocpp1.6"
        assert out["tried"][0]["protocol"] == "ocpp2.0.1"
        assert "cannot connect" in out["tried"][0]["error"]


async def test_once_uses_the_password_the_csms_set(config_dir) -> None:
    """A SecurityCtrlr.BasicAuthPassword the CSMS set (SetVariables, stored in the
    journal) wins over the configured password for `orge once` as for `orge run`
    (TC_A_09_CS: the station connects with the new password); never printed."""
    from components.ocpp_station.journal import Journal

    new_password = "rotated-by-csms-0123456789"
    async with OcppCsms(passwords={STATION: new_password}) as csms:
        path = config_dir(station_yaml(csms.url()))  # configured: the old PASSWORD
        (path / ".storage").mkdir()
        journal = Journal(str(path / ".storage" / "ocpp201.db"))
        journal.set_setting("dm/SecurityCtrlr/BasicAuthPassword", new_password)
        journal.close()
        code, out = await run_once(path)
        assert code == 0, out
        assert out["ok"] is True
        assert new_password not in json.dumps(out)
        assert [a.outcome for a in csms.attempts] == ["accepted"]
