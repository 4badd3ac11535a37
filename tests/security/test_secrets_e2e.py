"""Secrets end to end: a real `orge run` subprocess whose configuration holds passwords and
tokens (`!secret`, `!env_var`, a password inside the CSMS URL), exercised over its HTTP and
WebSocket APIs and next to a test CSMS that refuses its password; then `check-config`,
`check-config --json` and `once`. No secret may appear in any output, answer or file
other than the ones the operator wrote them into."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from tests.ocpp_csms import OcppCsms

REPO = Path(__file__).resolve().parents[2]
STATION = "CP-SECRET-1"
FLEET_TOKEN = "fleet-TOKEN-a1b2c3d4e5f6g7h8"
NGROK_TOKEN = "ngrok-AUTHTOKEN-q9w8e7r6t5"
ENV_PASSWORD = "envPASSWORD-z1x2c3v4"
URL_PASSWORD = "urlPASSWORD-m5n6b7v8"
SECRETS = [FLEET_TOKEN, NGROK_TOKEN, ENV_PASSWORD, URL_PASSWORD]


def forbidden() -> list[str]:
    """Every secret and the encodings it travels in (HTTP Basic, percent-encoding)."""
    found = list(SECRETS)
    for password in (ENV_PASSWORD, URL_PASSWORD):
        found.append(base64.b64encode(f"{STATION}:{password}".encode()).decode())
    return found


def assert_clean(where: str, text: str) -> None:
    for secret in forbidden():
        assert secret not in text, f"{secret!r} leaked in {where}: ...{_around(text, secret)}..."


def _around(text: str, secret: str) -> str:
    at = text.find(secret)
    return text[max(0, at - 150) : at + 80]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


FAKE_NGROK = """#!/bin/sh
# Stands in for the ngrok agent: complains about its token the way a real agent might.
echo "ERROR: authentication failed: authtoken $NGROK_AUTHTOKEN is invalid" >&2
exit 1
"""


def write_config(path: Path, http_port: int, extra: str = "") -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "secrets.yaml").write_text(
        f"fleet_api_token: {FLEET_TOKEN}\nngrok_authtoken: {NGROK_TOKEN}\n"
    )
    ngrok = path / "fake-ngrok"
    ngrok.write_text(FAKE_NGROK)
    ngrok.chmod(0o755)
    (path / "configuration.yaml").write_text(
        "orge:\n  name: Secret station\n"
        "http:\n"
        "  server_host: 127.0.0.1\n"
        f"  server_port: {http_port}\n"
        "  access_tokens:\n"
        "    - name: fleet\n"
        "      token: !secret fleet_api_token\n"
        "recorder:\n"
        "  commit_interval: 0.1\n"
        "ngrok:\n"
        "  api_url: http://127.0.0.1:9\n"
        "  scan_interval: 1\n"
        "  agent:\n"
        f"    command: {ngrok}\n"
        "    authtoken: !secret ngrok_authtoken\n"
        "    restart_delay: 0.2\n"
        "ocpp201:\n"
        "  url: !env_var OCPP_201_URL\n"
        f"  station_id: {STATION}\n"
        "  password: !env_var OCPP_STATION_PASSWORD\n"
        "  fallback: false\n"
        "  boot_retry_interval: 1\n"
        "  retry_backoff_wait_minimum: 1\n"
        "  retry_backoff_random_range: 0\n" + extra
    )


def station_env(csms: OcppCsms) -> dict[str, str]:
    url = csms.url().replace("ws://", f"ws://{STATION}:{URL_PASSWORD}@")
    return {
        **os.environ,
        "OCPP_201_URL": url,
        "OCPP_STATION_PASSWORD": ENV_PASSWORD,
        "PYTHONUNBUFFERED": "1",
    }


async def run_command(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orge", *args, cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def wait_for_port(port: int, proc: asyncio.subprocess.Process, log: Path) -> None:
    for _ in range(300):
        if proc.returncode is not None:
            raise AssertionError(f"orge run exited: {log.read_text()[-3000:]}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"orge run never listened: {log.read_text()[-3000:]}")


async def exercise_api(port: int) -> list[tuple[str, str]]:
    """Every read-only answer a token holder can get; (what, text) pairs."""
    answers = []
    auth = {"Authorization": f"Bearer {FLEET_TOKEN}"}
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession(headers=auth) as session:
        for path in (
            "/api/",
            "/api/config",
            "/api/components",
            "/api/states",
            "/api/services",
            "/api/events",
            "/api/error_log",
            "/api/openapi.json",
            "/api/history/period",
            "/api/logbook",
        ):
            async with session.get(base + path) as response:
                answers.append((path, f"{response.status} {await response.text()}"))
        for path, body in (
            ("/api/config/core/check_config", None),
            ("/api/template", {"template": "{{ states | map(attribute='attributes') | list }}"}),
        ):
            async with session.post(base + path, json=body) as response:
                answers.append((path, f"{response.status} {await response.text()}"))
        async with session.ws_connect(base + "/api/websocket") as ws:
            await ws.receive_json()
            await ws.send_json({"type": "auth", "access_token": FLEET_TOKEN})
            assert (await ws.receive_json())["type"] == "auth_ok"
            commands = ["get_states", "get_config", "get_services", "get_panels", "ping"]
            for number, command in enumerate(commands, start=1):
                await ws.send_json({"id": number, "type": command})
                answers.append((f"ws {command}", await ws.receive_str()))
    # The bad-token path logs the attempt: with a near-miss of the real token.
    async with aiohttp.ClientSession() as session:
        near = {"Authorization": f"Bearer {FLEET_TOKEN}x"}
        async with session.get(base + "/api/states", headers=near) as response:
            assert response.status == 401
    return answers


async def test_no_secret_leaves_a_running_station(tmp_path: Path) -> None:
    async with OcppCsms(passwords={STATION: "the-right-password-0000"}) as csms:
        path = tmp_path / "config"
        port = free_port()
        write_config(path, port)
        log = tmp_path / "run.log"
        env = station_env(csms)
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "orge", "run", "-c", str(path), "-v",
                cwd=REPO, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        try:
            await wait_for_port(port, proc, log)
            for _ in range(200):  # the CSMS refused the password at least twice
                if sum(1 for a in csms.attempts if a.outcome != "accepted") >= 2:
                    break
                await asyncio.sleep(0.05)
            answers = await exercise_api(port)
            await asyncio.sleep(0.5)  # the recorder commits
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), 20)
    text = log.read_text(errors="replace")
    assert "401" in text or "password" in text.lower(), text[-2000:]  # the refusal was logged
    assert_clean("orge run logs", text)
    for what, answer in answers:
        assert_clean(what, answer)
    for file in path.rglob("*"):
        if file.is_file() and file.name not in ("secrets.yaml",):
            assert_clean(str(file.relative_to(path)), file.read_bytes().decode(errors="replace"))


async def test_no_secret_in_check_config_or_once(tmp_path: Path) -> None:
    async with OcppCsms(passwords={STATION: "the-right-password-0000"}) as csms:
        env = station_env(csms)
        good = tmp_path / "good"
        write_config(good, free_port())
        # Secret values where the schema refuses them: the error must not quote them.
        bad = tmp_path / "bad"
        write_config(bad, free_port())
        text = (bad / "configuration.yaml").read_text()
        text = text.replace(f"station_id: {STATION}", "station_id: !secret fleet_api_token")
        text = text.replace("  fallback: false\n", "  fallback: !env_var OCPP_STATION_PASSWORD\n")
        text = text.replace(
            "  server_port:", "  server_host: [!secret ngrok_authtoken]\n  server_port:"
        ).replace("  server_host: 127.0.0.1\n", "")
        text += "input_number:\n  limit:\n    min: !secret ngrok_authtoken\n    max: 10\n"
        (bad / "configuration.yaml").write_text(text)
        outputs = []
        for args in (
            ("check-config", "-c", str(good)),
            ("check-config", "-c", str(good), "--json"),
            ("check-config", "-c", str(bad)),
            ("check-config", "-c", str(bad), "--json"),
            ("once", "-c", str(good), "--timeout", "3"),
            ("once", "-c", str(good), "--timeout", "3", "-v"),
        ):
            code, out, err = await run_command(*args, env=env)
            outputs.append((args, code, out, err))
    for args, _code, out, err in outputs:
        assert_clean(f"{' '.join(args[:1])} stdout", out)
        assert_clean(f"{' '.join(args)} stderr", err)
    bad_json = json.loads(outputs[3][2])
    assert outputs[3][1] != 0 and bad_json, outputs[3]


async def test_url_password_never_shown_by_check_config(tmp_path: Path) -> None:
    """The URL comes from an env var whose name does not look secret, so only its shape
    tells that it holds a password: an error quoting the URL must mask it."""
    path = tmp_path / "config"
    path.mkdir()
    (path / "configuration.yaml").write_text(
        "ocpp201:\n  url: !env_var OCPP_201_URL\n  station_id: CP1\n"
        "ocpp16:\n  url: !env_var OCPP_16_URL\n  station_id: CP1\n"
    )
    env = {
        **os.environ,
        "OCPP_201_URL": f"http://{STATION}:{URL_PASSWORD}@127.0.0.1/ocpp",
        "OCPP_16_URL": f"wss://{STATION}:{ENV_PASSWORD}@[::1/ocpp",
    }
    for args in (("check-config", "-c", str(path)), ("check-config", "-c", str(path), "--json")):
        code, out, err = await run_command(*args, env=env)
        assert code != 0
        assert "url" in out and "127.0.0.1" in out, out  # the problem is still explained
        assert_clean(" ".join(args) + " stdout", out)
        assert_clean(" ".join(args) + " stderr", err)
