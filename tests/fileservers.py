"""Local file servers for the firmware and diagnostics tests: an HTTP(S) server that
serves files from a folder (the firmware location) and takes uploads (PUT, or POST
multipart/form-data as a CSMS's log receiver), recording every request."""

from __future__ import annotations

import base64
import datetime as dt
import ssl
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FileServer:
    """`root`: files served by GET; `received`: every request; `fail_gets`: how many GETs
    answer 503 before files are served."""

    root: Path
    tls: ssl.SSLContext | None = None
    received: list[Received] = field(default_factory=list)
    fail_gets: int = 0
    server: ThreadingHTTPServer | None = None

    def __enter__(self) -> FileServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _record(self, body: bytes = b"") -> None:
                owner.received.append(
                    Received(self.command, self.path, dict(self.headers.items()), body)
                )

            def do_GET(self) -> None:
                self._record()
                target = owner.root / urllib.parse.urlsplit(self.path).path.lstrip("/")
                if owner.fail_gets > 0:
                    owner.fail_gets -= 1
                    self.send_error(503)
                    return
                if not target.is_file():
                    self.send_error(404)
                    return
                data = target.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _upload(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._record(body)
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = _upload
            do_POST = _upload

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str = "") -> str:
        assert self.server is not None
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.server.server_address[1]}/{path}"

    def uploads(self) -> list[Received]:
        return [r for r in self.received if r.method in ("PUT", "POST")]


def multipart_file(received: Received) -> bytes:
    """The `file` part of a multipart/form-data POST."""
    boundary = received.headers["Content-Type"].split("boundary=")[1].encode()
    for part in received.body.split(b"--" + boundary):
        if b'name="file"' in part:
            return part.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
    raise AssertionError("no file part in the upload")


def signing_pair() -> tuple[Any, str]:
    """An RSA key and its self-signed certificate (PEM): the firmware signing certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ORGE firmware signing")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM).decode()


def sign(key: Any, data: bytes) -> str:
    """base64 of the RSA PKCS#1 v1.5 signature of SHA-256 over data (OCPP's signature)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return base64.b64encode(key.sign(data, padding.PKCS1v15(), hashes.SHA256())).decode()


class FtpServer:
    """A real FTP server (pyftpdlib) on a free port: user `user` / `password` may write
    into `root`. `url(path)` gives `ftp://user:password@127.0.0.1:port/path`."""

    def __init__(self, root: Path, user: str = "logs", password: str = "ftp-pw-4711") -> None:
        self.root, self.user, self.password = root, user, password

    def __enter__(self) -> FtpServer:
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler
        from pyftpdlib.servers import ThreadedFTPServer

        authorizer = DummyAuthorizer()
        authorizer.add_user(self.user, self.password, str(self.root), perm="elradfmw")
        handler = type("Handler", (FTPHandler,), {"authorizer": authorizer})
        self.server = ThreadedFTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"handle_exit": False}, daemon=True
        )
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.close_all()
        self.thread.join(5)

    def url(self, path: str = "") -> str:
        port = self.server.address[1]
        return f"ftp://{self.user}:{self.password}@127.0.0.1:{port}/{path}"
