"""Bans, X-Forwarded-For only through a trusted proxy, tokens never leaking, the CLI."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys

import aiohttp
import pytest
import yaml

from .conftest import Station


async def test_ban_after_threshold(make_station) -> None:
    station = await make_station(http_extra="  login_attempts_threshold: 3\n")
    bad = {"Authorization": "Bearer wrong-token"}
    for _ in range(3):
        assert (await station.get("/api/", headers=bad)).status == 401
    # now even the right token is refused from this address
    response = await station.get("/api/")
    assert response.status == 403
    assert await response.json() == {"message": "Banned"}
    assert (await station.session.get(station.url + "/")).status == 403
    bans = yaml.safe_load((station.path / ".storage" / "ip_bans.yaml").read_text())
    assert "127.0.0.1" in bans and bans["127.0.0.1"]["banned_at"]


async def test_websocket_failures_count_too(make_station) -> None:
    station = await make_station(http_extra="  login_attempts_threshold: 2\n")
    for _ in range(2):
        ws = await station.session.ws_connect(station.url + "/api/websocket")
        await ws.receive_json()
        await ws.send_json({"type": "auth", "access_token": "nope"})
        assert (await ws.receive_json())["type"] == "auth_invalid"
        await ws.close()
    assert (await station.get("/api/")).status == 403


async def test_success_resets_the_count(make_station) -> None:
    station = await make_station(http_extra="  login_attempts_threshold: 2\n")
    bad = {"Authorization": "Bearer wrong-token"}
    for _ in range(3):
        assert (await station.get("/api/", headers=bad)).status == 401
        assert (await station.get("/api/")).status == 200


async def test_bans_survive_a_restart(make_station, config_dir) -> None:
    station = await make_station(http_extra="  login_attempts_threshold: 1\n")
    assert (await station.get("/api/", headers={"Authorization": "Bearer x"})).status == 401
    assert (await station.get("/api/")).status == 403
    from ipaddress import ip_address

    from components.http.ban import BanManager

    manager = BanManager(str(station.path), True, 1)
    manager.load()
    assert manager.is_banned(ip_address("127.0.0.1"))


async def test_bans_can_be_disabled(make_station) -> None:
    station = await make_station(
        http_extra="  ip_ban_enabled: false\n  login_attempts_threshold: 1\n"
    )
    for _ in range(3):
        assert (await station.get("/api/", headers={"Authorization": "x"})).status == 401
    assert (await station.get("/api/")).status == 200


async def test_forwarded_for_ignored_without_trusted_proxy(make_station) -> None:
    # A client that forges X-Forwarded-For cannot pick the address that gets banned.
    station = await make_station(http_extra="  login_attempts_threshold: 2\n")
    for fake in ("10.9.9.1", "10.9.9.2"):
        headers = {"X-Forwarded-For": fake, "Authorization": "Bearer wrong"}
        assert (await station.get("/api/", headers=headers)).status == 401
    # both failures counted against the real peer, 127.0.0.1
    assert (await station.get("/api/")).status == 403


async def test_forwarded_for_from_trusted_proxy(make_station) -> None:
    station = await make_station(
        http_extra=(
            "  use_x_forwarded_for: true\n  trusted_proxies: [127.0.0.1]\n"
            "  login_attempts_threshold: 2\n"
        )
    )
    bad = {"X-Forwarded-For": "203.0.113.7", "Authorization": "Bearer wrong"}
    for _ in range(2):
        assert (await station.get("/api/", headers=bad)).status == 401
    banned = {"X-Forwarded-For": "203.0.113.7", **station.auth}
    assert (await station.get("/api/", headers=banned)).status == 403
    # another client behind the same proxy is not affected
    other = {"X-Forwarded-For": "198.51.100.1", **station.auth}
    assert (await station.get("/api/", headers=other)).status == 200
    # a forged left-most entry does not help the banned client
    forged = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7", **station.auth}
    assert (await station.get("/api/", headers=forged)).status == 403


async def test_forwarded_for_needs_the_option_too(make_station) -> None:
    station = await make_station(
        http_extra="  trusted_proxies: [127.0.0.1]\n  login_attempts_threshold: 1\n"
    )
    bad = {"X-Forwarded-For": "203.0.113.7", "Authorization": "Bearer wrong"}
    assert (await station.get("/api/", headers=bad)).status == 401
    assert (
        await station.get("/api/", headers={"X-Forwarded-For": "198.51.100.1", **station.auth})
    ).status == 403


async def test_token_never_logged_or_answered(
    station: Station, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await station.get("/api/", headers={"Authorization": "Bearer a-wrong-token-value"})
    await station.get("/api/config")
    ws = await station.ws()
    await ws.send_json({"id": 1, "type": "auth/current_user"})
    answer = await ws.receive_str()
    assert station.token not in answer
    assert station.token not in caplog.text
    assert "a-wrong-token-value" not in caplog.text
    config = await (await station.get("/api/config")).text()
    assert station.token not in config


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orge", "auth", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_create_list_revoke(tmp_path) -> None:
    (tmp_path / "configuration.yaml").write_text("http:\n")
    created = _cli("create-token", "laptop", "-c", str(tmp_path))
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert len(token) >= 40
    stored = (tmp_path / ".storage" / "auth_tokens.json").read_text()
    assert token not in stored
    assert json.loads(stored)["tokens"][0]["name"] == "laptop"
    assert (tmp_path / ".storage" / "auth_tokens.json").stat().st_mode & 0o077 == 0
    again = _cli("create-token", "laptop", "-c", str(tmp_path))
    assert again.returncode == 1 and "exists" in again.stderr
    listed = _cli("list", "--json", "-c", str(tmp_path))
    entries = json.loads(listed.stdout)
    assert [e["name"] for e in entries] == ["laptop"]
    assert token not in listed.stdout and "hash" not in entries[0]
    from components.http.auth import TokenValidator

    assert TokenValidator(str(tmp_path), []).validate(token) is not None
    revoked = _cli("revoke", "laptop", "-c", str(tmp_path))
    assert revoked.returncode == 0
    assert TokenValidator(str(tmp_path), []).validate(token) is None
    missing = _cli("revoke", "laptop", "-c", str(tmp_path))
    assert missing.returncode == 1


async def test_token_created_while_running_works(station: Station) -> None:
    from components.http.auth import create_token

    token = create_token(str(station.path), "second")
    station.hub.data["http"].tokens.reload()  # what the 1 s file check does
    response = await station.get("/api/", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200


def test_schema_errors() -> None:
    import voluptuous as vol

    from components.http import CONFIG_SCHEMA, validate_config

    with pytest.raises(vol.Invalid):
        CONFIG_SCHEMA({"server_port": "not_a_port"})
    with pytest.raises(vol.Invalid):
        CONFIG_SCHEMA({"trusted_proxies": ["not an address"]})
    with pytest.raises(vol.Invalid):
        CONFIG_SCHEMA({"access_tokens": [{"name": "short", "token": "abc"}]})
    config = CONFIG_SCHEMA({"ssl_certificate": "cert.pem"})
    assert any("ssl_key" in p for p in validate_config("/nonexistent", config))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
async def test_tls(make_station, tmp_path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(certs / "key.pem"),
            "-out",
            str(certs / "cert.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    station = await make_station(
        http_extra=f"  ssl_certificate: {certs / 'cert.pem'}\n  ssl_key: {certs / 'key.pem'}\n"
    )
    url = f"https://127.0.0.1:{station.port}/api/"
    response = await station.session.get(url, headers=station.auth, ssl=False)
    assert response.status == 200
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    with pytest.raises(aiohttp.ClientError):
        await station.session.get(f"http://127.0.0.1:{station.port}/api/", headers=station.auth)


async def test_only_presented_credentials_count(make_station) -> None:
    station = await make_station(http_extra="  login_attempts_threshold: 2\n")
    for path in ("/api/", "/favicon.ico", "/apple-touch-icon.png", "//api/states"):
        response = await station.session.get(station.url + path)
        assert response.status == 401, path
    assert (await station.get("/api/")).status == 200  # not banned


async def test_everything_but_the_view_needs_a_token(station: Station) -> None:
    for path in ("/api/states", "/%61pi/states", "/api//states", "/api/states/", "/other"):
        response = await station.session.get(station.url + path)
        assert response.status == 401, path
    for path in ("/", "/www/app.js", "/www/style.css"):
        assert (await station.session.get(station.url + path)).status == 200, path
    response = await station.session.get(station.url + "/www/../components/http/auth.py")
    assert response.status in (401, 403, 404)  # never the file


async def test_port_in_use_is_a_clear_setup_error(make_station, config_dir, start_station) -> None:
    first = await make_station()
    from .conftest import station_yaml

    path = config_dir(station_yaml(first.port).replace("charger_demo:\n", ""))
    hub, _ = await start_station(path)
    assert "http" not in hub.config.components
    reason = hub.config.setup_errors["http"]
    assert f"port {first.port}" in reason and "in use" in reason
    assert (await first.get("/api/")).status == 200  # the first station is unharmed


async def test_ipv6_client_is_banned_by_its_64(make_station) -> None:
    """A host holds a whole /64: new addresses in it must not buy new guesses."""
    station = await make_station(
        http_extra=(
            "  use_x_forwarded_for: true\n  trusted_proxies: [127.0.0.1]\n"
            "  login_attempts_threshold: 3\n"
        )
    )
    for host in ("2001:db8:1:2::a", "2001:db8:1:2::b", "2001:db8:1:2:ffff::c"):
        bad = {"X-Forwarded-For": host, "Authorization": "Bearer wrong"}
        assert (await station.get("/api/", headers=bad)).status == 401
    fresh = {"X-Forwarded-For": "2001:db8:1:2::1234", **station.auth}
    assert (await station.get("/api/", headers=fresh)).status == 403
    neighbour = {"X-Forwarded-For": "2001:db8:1:3::1", **station.auth}
    assert (await station.get("/api/", headers=neighbour)).status == 200
    await station.hub.async_block_till_done()
    saved = (station.path / ".storage" / "ip_bans.yaml").read_text()
    assert "2001:db8:1:2::/64" in saved


async def test_failed_login_is_an_event_on_the_bus(station) -> None:
    """Whoever reports security events (the OCPP components) learns of a wrong token from
    the bus: where it came from and what it was for, never the token."""
    from orge.core import EVENT_LOGIN_FAILED

    seen = []
    station.hub.bus.async_listen(EVENT_LOGIN_FAILED, lambda event: seen.append(event.data))
    wrong = "not-the-token-0123456789"
    response = await station.get("/api/states", headers={"Authorization": f"Bearer {wrong}"})
    assert response.status == 401
    await station.hub.async_block_till_done()
    assert seen == [{"address": "127.0.0.1", "reason": "invalid token for /api/states"}]
    assert wrong not in str(seen)
