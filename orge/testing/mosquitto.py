"""A real Mosquitto broker on loopback, for tests and benchmarks.

`Broker(folder, users)` writes its own mosquitto.conf into `folder`, a password file made
by `mosquitto_passwd -b` (one line per user of `users`, `{name: password}`), a plain
listener on a free loopback port and, with `tls=True`, a TLS listener needing a client
certificate whose CA, server and client certificates are made here with `cryptography`.
`stop()` then `start()` restarts the broker on the same ports (no persistence: retained
messages are lost, as after a broker crash).

Needs Debian's `mosquitto` package (`mosquitto`, `mosquitto_passwd`); `MOSQUITTO` is None
without it. Imports only the standard library (and `cryptography` when `tls=True`).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

MOSQUITTO: str | None = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_certificates(folder: Path) -> dict[str, Path]:
    """ca.pem, server.pem/server.key (for 127.0.0.1), client.pem/client.key in `folder`.

    Keys: `ca`, `server`, `server_key`, `client`, `client_key`. EC P-256, valid one day.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def key_pem(key: Any) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def builder(subject: str, issuer: x509.Name, public_key: Any) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test fleet CA")])
    ca = (
        builder("Test fleet CA", ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    files = {"ca": folder / "ca.pem"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for name, usage, san in (
        ("server", ExtendedKeyUsageOID.SERVER_AUTH, True),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH, False),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = builder(f"test {name}", ca_name, key.public_key()).add_extension(
            x509.ExtendedKeyUsage([usage]), critical=False
        )
        if san:
            cert = cert.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        signed = cert.sign(ca_key, hashes.SHA256())
        files[name] = folder / f"{name}.pem"
        files[name].write_bytes(signed.public_bytes(serialization.Encoding.PEM))
        files[f"{name}_key"] = folder / f"{name}.key"
        files[f"{name}_key"].write_bytes(key_pem(key))
    return files


class Broker:
    """Mosquitto with a password file: `port` plain; `tls_port` TLS with a client cert.

    `users`: `{username: password}`, the only clients allowed (no anonymous access).
    `max_connections -1`: no limit (a fleet of 150 plus observers). Log lines (errors,
    warnings, notices) go to `log`, appended across restarts.
    Raises RuntimeError when Mosquitto is missing, exits or does not listen within 5 s.
    """

    def __init__(self, folder: Path, users: dict[str, str], *, tls: bool = False) -> None:
        if MOSQUITTO is None:
            raise RuntimeError("mosquitto is not installed (apt-get install -y mosquitto)")
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tls_port: int | None = free_port() if tls else None
        self.certs: dict[str, Path] = make_certificates(folder) if tls else {}
        passwords = folder / "passwords"
        passwords.touch()
        for user, password in users.items():
            subprocess.run(
                ["mosquitto_passwd", "-b", str(passwords), user, password],
                check=True,
                capture_output=True,
            )
        passwords.chmod(0o600)
        lines = [
            "per_listener_settings false",
            "allow_anonymous false",
            f"password_file {passwords}",
            "persistence false",
            "max_connections -1",
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
            f"listener {self.port} 127.0.0.1",
        ]
        if self.tls_port is not None:
            lines += [
                f"listener {self.tls_port} 127.0.0.1",
                f"cafile {self.certs['ca']}",
                f"certfile {self.certs['server']}",
                f"keyfile {self.certs['server_key']}",
                "require_certificate true",
            ]
        if os.getuid() == 0:
            lines.insert(0, "user root")  # else it drops to `mosquitto`, who cannot read tmp
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.log = folder / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start Mosquitto and return once its plain listener accepts connections."""
        assert MOSQUITTO is not None
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.conf)], stdout=out, stderr=subprocess.STDOUT
            )
        for _ in range(200):
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.025)
        raise RuntimeError(f"mosquitto did not listen: {self.log.read_text()}")

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL with `kill`: a crash, no clean goodbye) and wait."""
        if self.proc is not None and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            self.proc.wait(10)
        self.proc = None
