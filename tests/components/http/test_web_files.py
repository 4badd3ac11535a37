"""The web view's files: gzipped for a browser that accepts it, plain otherwise, and nothing
outside www/ (issue 13 point 6: the first screen under 100 KB through a slow tunnel)."""

from __future__ import annotations

import gzip
import os

import aiohttp

from components.http.www_files import WWW_DIR

from .conftest import Station


async def _get(station: Station, path: str, encoding: str) -> tuple[int, dict, bytes]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        async with session.get(station.url + path, headers={"Accept-Encoding": encoding}) as r:
            return r.status, dict(r.headers), await r.content.read()


async def test_files_are_gzipped_when_accepted(station: Station) -> None:
    for path, name, content_type in (
        ("/", "index.html", "text/html"),
        ("/www/app.js", "app.js", "text/javascript"),
        ("/www/style.css", "style.css", "text/css"),
    ):
        with open(os.path.join(WWW_DIR, name), "rb") as file:
            raw = file.read()
        status, headers, body = await _get(station, path, "gzip, deflate, br")
        assert status == 200
        assert headers["Content-Encoding"] == "gzip"
        assert headers["Content-Type"].startswith(content_type)
        assert gzip.decompress(body) == raw
        assert len(body) < len(raw) / 2
        assert "Content-Security-Policy" in headers  # the guard's headers are kept
        status, headers, body = await _get(station, path, "identity")
        assert status == 200 and body == raw and "Content-Encoding" not in headers


async def test_only_plain_files_of_the_folder(station: Station) -> None:
    for path in ("/www/", "/www/..%2Fserver.py", "/www/.%2E/auth.py", "/www/missing.js"):
        status, _headers, body = await _get(station, path, "gzip")
        # 404, or 401 where the path normalises to outside /www/ (the guard asks for a token)
        assert status in (401, 404), path
        assert b"import" not in body
    link = os.path.join(WWW_DIR, "zz-test-file-link")
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink("/etc/passwd", link)
    try:
        status, _headers, body = await _get(station, "/www/zz-test-file-link", "identity")
        assert status == 404
        assert b"root:" not in body
    finally:
        os.unlink(link)
