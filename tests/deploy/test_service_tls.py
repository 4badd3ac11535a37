"""deploy/orge.service trusts the system's CAs through their hashed folder
(`SSL_CERT_FILE=/dev/null`, `SSL_CERT_DIR=...`): a TLS client in that environment verifies
a server whose CA is in the folder and refuses one whose CA is not (it fails closed, as
with the bundle file). The folder here is a temporary one holding the test CA under its
OpenSSL subject hash, as update-ca-certificates links /etc/ssl/certs."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from orge.testing.ocpp_csms import self_signed_tls
from tests.deploy.unit import unit_environment

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")

CLIENT = """
import socket, ssl, sys
context = ssl.create_default_context()
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as raw:
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"x")
        print(tls.version())
"""


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """(port, CA file) of a TLS server on loopback answering every handshake."""
    context, ca_file = self_signed_tls(str(tmp_path))
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(client, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass  # the client refused the certificate

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], ca_file
    stop.set()
    server.close()
    thread.join(5)


def client(port: int, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLIENT, str(port)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_units_ca_folder_is_trusted_and_nothing_else(
    tls_server: tuple[int, str], tmp_path: Path
) -> None:
    port, ca_file = tls_server
    env = unit_environment()
    assert env["SSL_CERT_FILE"] == "/dev/null"
    assert env["SSL_CERT_DIR"] == "/etc/ssl/certs"
    subject_hash = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", ca_file],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    folder = tmp_path / "certs"
    folder.mkdir()
    (folder / f"{subject_hash}.0").symlink_to(ca_file)

    trusted = client(port, {**env, "SSL_CERT_DIR": str(folder)})
    assert trusted.returncode == 0, trusted.stderr
    assert trusted.stdout.strip().startswith("TLSv1.")

    refused = client(port, env)  # the system's CAs: the test CA is not one of them
    assert refused.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stderr
