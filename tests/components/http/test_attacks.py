"""A hostile internet client against a running station: raw bytes on a real socket, so
no client library tidies the path before it reaches the server."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from .conftest import Station


async def raw_request(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        chunks = []
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), timeout)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        writer.close()


async def raw_get(port: int, target: str, method: str = "GET", headers: str = "") -> bytes:
    request = f"{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n"
    return await raw_request(port, request.encode("latin-1"))


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


TRICKS = [
    "/api/states",
    "/api/../api/states",
    "/www/../api/states",
    "/www/%2e%2e/api/states",
    "/www/..%2fapi/states",
    "//api/states",
    "///api/states",
    "/API/states",
    "/Api/States",
    "/api%2fstates",
    "/api%2Fstates",
    "/%61pi/states",
    "/api/states/",
    "/api/./states",
    "/api/states?x=/www/",
    "/api/states#/www/",
    "/./api/states",
    "/api/states%00",
    "/api/states;.js",
    "http://x/api/states",
    "/api/config",
    "/api/error_log",
    "/api/services",
    "/api/openapi.json",
    "/api/",
    "/api",
    "/www/../api/config",
    "/www/%2e%2e%2fapi%2fconfig",
    "/api/websocket/../states",
    "/api/websocket/%2e%2e/states",
    "/api/websocket%2f..%2fstates",
    "/api/websocket/../config",
]


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "OPTIONS", "DELETE", "PUT", "PATCH"])
async def test_path_tricks_never_reach_data(station: Station, method: str) -> None:
    for target in TRICKS:
        answer = await raw_get(station.port, target, method)
        status = status_of(answer)
        # 401 (no token), or the request is refused before any handler: never a 2xx/3xx.
        assert status >= 400, (method, target, answer[:300])
        assert b"charger" not in answer.lower(), (method, target, answer[:300])
        assert b"Test station" not in answer, (method, target)


async def test_options_preflight_from_hostile_origin(station: Station) -> None:
    answer = await raw_get(
        station.port,
        "/api/states",
        "OPTIONS",
        "Origin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\n",
    )
    assert status_of(answer) == 403
    assert b"access-control-allow-origin" not in answer.lower()
    # A hostile Origin with a valid token (a CSRF-style read) gets no CORS grant either.
    response = await station.get(
        "/api/states", headers={**station.auth, "Origin": "https://evil.example"}
    )
    assert response.status == 200
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize(
    "target",
    [
        "/www/../../../../etc/passwd",
        "/www/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/www/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/www/%252e%252e/%252e%252e/etc/passwd",
        "/www//etc/passwd",
        "/www/../configuration.yaml",
        "/www/../../configuration.yaml",
        "/www/..%2f..%2fconfiguration.yaml",
        "/www/../../../secrets.yaml",
        "/www/../.storage/auth_tokens.json",
        "/www/%2e%2e/%2e%2e/%2e%2e/.storage/auth_tokens.json",
        "/www/../server.py",
        "/www/..\\server.py",
        "/www/..%5cserver.py",
        "/www/%c0%ae%c0%ae/server.py",
    ],
)
async def test_static_route_never_leaves_its_folder(station: Station, target: str) -> None:
    (station.path / "secrets.yaml").write_text("db_password: s3cr3t-never-served\n")
    answer = await raw_get(station.port, target)
    assert status_of(answer) >= 400, (target, answer[:300])
    assert b"root:" not in answer
    assert b"s3cr3t-never-served" not in answer
    assert b"http:" not in answer.split(b"\r\n\r\n", 1)[-1]
    assert b'"salt"' not in answer
    assert b"import" not in answer


async def test_static_symlink_out_of_the_folder_is_not_followed(station: Station) -> None:
    # add_static would follow a symlink only with follow_symlinks=True; prove it stays off.
    import os

    from components.http.server import WWW_DIR

    link = os.path.join(WWW_DIR, "zz-test-link")
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink("/etc", link)
    try:
        answer = await raw_get(station.port, "/www/zz-test-link/passwd")
        assert status_of(answer) >= 400
        assert b"root:" not in answer
    finally:
        os.unlink(link)


async def test_websocket_commands_before_auth_are_refused(station: Station) -> None:
    ws = await station.ws(authenticate=False)
    assert (await ws.receive_json())["type"] == "auth_required"
    await ws.send_json({"id": 1, "type": "get_states"})
    answer = await ws.receive_json()
    assert answer["type"] == "auth_invalid"
    closing = await ws.receive()
    assert ws.closed or closing.type.name in ("CLOSE", "CLOSED", "CLOSING")
    text = str(answer)
    assert "charger" not in text


async def test_websocket_batched_auth_and_command_is_refused(station: Station) -> None:
    ws = await station.ws(authenticate=False)
    await ws.receive_json()
    await ws.send_json(
        [{"type": "auth", "access_token": station.token}, {"id": 1, "type": "get_states"}]
    )
    answer = await ws.receive_json()
    assert answer["type"] == "auth_invalid"


@pytest.mark.parametrize(
    "token_message",
    [
        {"type": "auth", "access_token": ["x"]},
        {"type": "auth", "access_token": {"$ne": ""}},
        {"type": "auth", "access_token": True},
        {"type": "auth", "access_token": ""},
        {"type": "auth", "api_password": "x"},
        {"type": "auth"},
    ],
)
async def test_websocket_odd_auth_values_are_refused(station: Station, token_message) -> None:
    ws = await station.ws(authenticate=False)
    await ws.receive_json()
    await ws.send_json(token_message)
    assert (await ws.receive_json())["type"] == "auth_invalid"


@pytest.mark.parametrize(
    "header",
    [
        "Authorization: Bearer",
        "Authorization: Bearer ",
        "Authorization: Basic dGVzdHM6dGVzdHM=",
        "Authorization: bearer x",
        "Authorization: Bearer {token}x",
        "Authorization: Bearer {short}",
    ],
)
async def test_malformed_credentials_are_refused(station: Station, header: str) -> None:
    header = header.format(token=station.token, short=station.token[:-1])
    answer = await raw_get(station.port, "/api/states", headers=header + "\r\n")
    assert status_of(answer) == 401, answer[:200]


async def test_access_token_in_query_string_is_not_accepted(station: Station) -> None:
    answer = await raw_get(station.port, f"/api/states?access_token={station.token}")
    assert status_of(answer) == 401


async def test_deeply_nested_json_is_a_clear_400(station: Station) -> None:
    bomb = "[" * 200_000 + "]" * 200_000
    response = await station.post(
        "/api/template", data=bomb, headers={**station.auth, "Content-Type": "application/json"}
    )
    assert response.status == 400
    response = await station.post("/api/events/x", data='{"a":' * 100_000 + "1" + "}" * 100_000)
    assert response.status == 400
    assert (await station.get("/api/")).status == 200


async def test_deeply_nested_json_on_the_websocket(station: Station) -> None:
    ws = await station.ws(authenticate=False)
    await ws.receive_json()
    await ws.send_str("[" * 200_000 + "]" * 200_000)  # before auth
    assert (await ws.receive_json())["type"] == "auth_invalid"
    ws = await station.ws()
    await ws.send_str('{"id": 1, "type": "ping", "x": ' + "[" * 200_000 + "]" * 200_000 + "}")
    answer = await ws.receive_json()
    assert answer["success"] is False and answer["error"]["code"] == "invalid_format"
    await ws.send_json({"id": 2, "type": "ping"})
    assert (await ws.receive_json())["type"] == "pong"


async def test_slow_request_head_is_cut_off(make_station) -> None:
    station = await make_station(http_extra="  idle_timeout: 0.5\n")
    reader, writer = await asyncio.open_connection("127.0.0.1", station.port)
    loop = asyncio.get_running_loop()
    started = loop.time()
    writer.write(b"GET /api/ HTTP/1.1\r\nHost: x\r\n")
    closed_after = None
    try:
        for _ in range(40):  # a header line every 0.1 s, never the blank line
            await asyncio.sleep(0.1)
            writer.write(b"X-Slow: 1\r\n")
            await writer.drain()
            if reader.at_eof() or writer.is_closing():
                break
            try:
                if await asyncio.wait_for(reader.read(100), 0.01) == b"":
                    break
            except TimeoutError:
                continue
        closed_after = loop.time() - started
    except ConnectionError:
        closed_after = loop.time() - started
    finally:
        writer.close()
    assert closed_after is not None and closed_after < 2.0, closed_after
    assert (await station.get("/api/")).status == 200


async def test_connection_flood_is_capped(make_station) -> None:
    station = await make_station(http_extra="  max_connections: 8\n")
    sockets = [await asyncio.open_connection("127.0.0.1", station.port) for _ in range(20)]
    await asyncio.sleep(0.2)
    open_count = 0
    for reader, _writer in sockets:
        try:
            data = await asyncio.wait_for(reader.read(1), 0.05)
            if data:
                open_count += 1
        except TimeoutError:
            open_count += 1  # still open, waiting
        except ConnectionError:
            pass
    assert open_count <= 8
    for _, writer in sockets:
        writer.close()
    await asyncio.sleep(0.1)
    assert (await station.get("/api/")).status == 200  # room again once they are gone


async def test_a_client_cannot_get_the_trusted_proxy_banned(make_station) -> None:
    # Behind ngrok every client arrives from 127.0.0.1. A request that reaches us from the
    # proxy without X-Forwarded-For (a tunnel that adds none, a local process) must not get
    # 127.0.0.1 banned: that would lock every client out, the owner too.
    station = await make_station(
        http_extra=(
            "  use_x_forwarded_for: true\n  trusted_proxies: [127.0.0.1, '::1']\n"
            "  login_attempts_threshold: 2\n"
        )
    )
    bad = {"Authorization": "Bearer wrong"}
    for _ in range(4):
        assert (await station.get("/api/", headers=bad)).status == 401
    ws = await station.ws(authenticate=False)
    await ws.receive_json()
    await ws.send_json({"type": "auth", "access_token": "wrong"})
    assert (await ws.receive_json())["type"] == "auth_invalid"
    assert (await station.get("/api/")).status == 200
    assert (
        await station.get("/api/", headers={"X-Forwarded-For": "198.51.100.1", **station.auth})
    ).status == 200
    # A client named by the proxy is still banned.
    forwarded = {"X-Forwarded-For": "203.0.113.7", "Authorization": "Bearer wrong"}
    for _ in range(2):
        assert (await station.get("/api/", headers=forwarded)).status == 401
    assert (
        await station.get("/api/", headers={"X-Forwarded-For": "203.0.113.7", **station.auth})
    ).status == 403


async def test_one_client_cannot_take_every_authentication_slot(make_station) -> None:
    # Sockets that never send their token each hold a slot for AUTH_TIMEOUT: one address
    # gets a few, so the web view of everyone else can still connect.
    from components.http.websocket import MAX_AUTHENTICATING_PER_CLIENT

    station = await make_station(
        http_extra="  use_x_forwarded_for: true\n  trusted_proxies: [127.0.0.1]\n"
    )
    hostile = {"X-Forwarded-For": "203.0.113.66"}
    idle = []
    for _ in range(MAX_AUTHENTICATING_PER_CLIENT):
        ws = await station.session.ws_connect(station.url + "/api/websocket", headers=hostile)
        await ws.receive_json()
        idle.append(ws)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await station.session.ws_connect(station.url + "/api/websocket", headers=hostile)
    assert refused.value.status == 503
    ws = await station.session.ws_connect(
        station.url + "/api/websocket", headers={"X-Forwarded-For": "198.51.100.1"}
    )
    assert (await ws.receive_json())["type"] == "auth_required"
    await ws.send_json({"type": "auth", "access_token": station.token})
    assert (await ws.receive_json())["type"] == "auth_ok"
    for socket in idle:
        await socket.close()


async def test_oversized_websocket_message_closes_only_that_socket(station: Station) -> None:
    for authenticate in (False, True):
        ws = await station.ws(authenticate=authenticate)
        if not authenticate:
            await ws.receive_json()
        await ws.send_str('{"id": 1, "type": "ping", "pad": "' + "x" * 2_000_000 + '"}')
        message = await ws.receive()
        while message.type == aiohttp.WSMsgType.TEXT:  # auth_invalid first, pre-auth
            message = await ws.receive()
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code in (1009, 4001, 1006), ws.close_code
    ws = await station.ws()
    await ws.send_json({"id": 1, "type": "ping"})
    assert (await ws.receive_json())["type"] == "pong"


async def test_token_that_is_not_valid_utf8_is_a_plain_401(station: Station, caplog) -> None:
    # Header bytes that are not UTF-8 reach the token check as lone surrogates.
    answer = await raw_request(
        station.port,
        b"GET /api/states HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Authorization: Bearer \xff\xfe\xc3\x28token\r\n\r\n",
    )
    assert status_of(answer) == 401, answer[:300]
    ws = await station.ws(authenticate=False)
    await ws.receive_json()
    await ws.send_str('{"type": "auth", "access_token": "\\ud800abc"}')
    assert (await ws.receive_json())["type"] == "auth_invalid"
    assert "Traceback" not in caplog.text and "Error handling" not in caplog.text


async def test_an_error_during_websocket_auth_closes_it_cleanly(
    station: Station, monkeypatch
) -> None:
    # Whatever goes wrong after the upgrade, the client gets a WebSocket close, not an HTTP
    # 500 written into the WebSocket stream.
    def broken(token):
        raise RuntimeError("injected")

    monkeypatch.setattr(station.hub.data["http"].tokens, "validate", broken)
    ws = await station.ws(authenticate=False)
    await ws.receive_json()
    await ws.send_json({"type": "auth", "access_token": "x"})
    message = await ws.receive()
    assert message.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 1011, message
    monkeypatch.undo()
    assert (await station.get("/api/")).status == 200
    assert (
        await station.session.get(station.url + "/api/websocket", headers=station.auth)
    ).status == 400
