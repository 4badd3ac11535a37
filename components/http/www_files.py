"""The web view's files (`www/`), gzipped once for a browser that accepts it.

A station is often reached through a slow tunnel: the page, its style and its script are
~77 KB as written and ~23 KB gzipped, so the first screen stays well under 100 KB with the
WebSocket snapshot (issue 13, point 6). Files are written by hand (no build step); each is
compressed on its first request and kept until its modification time changes.

Only regular files named plainly directly in `www/` are served (no sub-folders, no `..`,
no symlinks): anything else is a 404.
"""

from __future__ import annotations

import gzip
import mimetypes
import os
import re
from stat import S_ISREG

from aiohttp import web

WWW_DIR = os.path.join(os.path.dirname(__file__), "www")
_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")
_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}

# name -> (mtime_ns, raw bytes, gzipped bytes)
_cache: dict[str, tuple[int, bytes, bytes]] = {}


def _load(name: str) -> tuple[bytes, bytes] | None:
    """(raw, gzipped) bytes of www/<name>, or None when there is no such file."""
    if not _NAME.match(name):
        return None
    path = os.path.join(WWW_DIR, name)
    try:
        stat = os.lstat(path)  # a symlink is not followed out of the folder
    except OSError:
        return None
    if not S_ISREG(stat.st_mode):
        return None
    cached = _cache.get(name)
    if cached is None or cached[0] != stat.st_mtime_ns:
        with open(path, "rb") as file:
            raw = file.read()
        cached = (stat.st_mtime_ns, raw, gzip.compress(raw, compresslevel=9, mtime=0))
        _cache[name] = cached
    return cached[1], cached[2]


def file_response(request: web.Request, name: str) -> web.Response:
    """www/<name> with its content type; gzipped when the request's Accept-Encoding allows.

    Raises `web.HTTPNotFound` for a name that is not a file directly in www/.
    """
    loaded = _load(name)
    if loaded is None:
        raise web.HTTPNotFound()
    raw, packed = loaded
    extension = os.path.splitext(name)[1]
    content_type = (
        _TYPES.get(extension) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    )
    accepts = request.headers.get("Accept-Encoding", "")
    response = web.Response(
        body=raw,
        content_type=content_type,
        charset="utf-8" if content_type.startswith("text/") else None,
    )
    if "gzip" in accepts.lower():
        response.body = packed
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    return response


async def index(request: web.Request) -> web.Response:
    """GET /: the page."""
    return file_response(request, "index.html")


async def www(request: web.Request) -> web.Response:
    """GET /www/{name}: the page's style, script and other files."""
    return file_response(request, request.match_info["name"])
