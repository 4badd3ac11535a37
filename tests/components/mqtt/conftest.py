"""A real Mosquitto broker for the mqtt tests: its own mosquitto.conf on free loopback
ports, a password file made by `mosquitto_passwd -b`, a plain listener and a TLS listener
whose CA, server and client certificates are made here with `cryptography`."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
)
USER = "station"
PASSWORD = "s3cret-broker-pw"
HA_USER = "homeassistant"
HA_PASSWORD = "ha-broker-pw"

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="Debian's mosquitto is not installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_certificates(folder: Path) -> dict[str, Path]:
    """ca.pem, server.pem/server.key (for 127.0.0.1), client.pem/client.key."""
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
    """Mosquitto with a password file; `port` plain, `tls_port` TLS needing a client cert."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tls_port = free_port()
        self.certs = make_certificates(folder)
        passwords = folder / "passwords"
        passwords.touch()
        for user, password in ((USER, PASSWORD), (HA_USER, HA_PASSWORD)):
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
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
            f"listener {self.port} 127.0.0.1",
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
                import time

                time.sleep(0.025)
        raise RuntimeError(f"mosquitto did not listen: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    server = Broker(tmp_path / "broker")
    server.start()
    yield server
    server.stop()


class Watcher:
    """A subscriber on the broker (as Home Assistant would be): every message it saw,
    and the last payload per topic."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.messages: list[tuple[str, bytes, bool]] = []
        self.last: dict[str, bytes] = {}
        self._task: asyncio.Task[None] | None = None
        self._client: Any = None
        self._ready = asyncio.Event()

    async def start(self, *topics: str) -> None:
        self._task = asyncio.create_task(self._run(topics))
        await asyncio.wait_for(self._ready.wait(), 10)

    async def _run(self, topics: tuple[str, ...]) -> None:
        import aiomqtt

        async with aiomqtt.Client(
            "127.0.0.1", self.broker.port, username=HA_USER, password=HA_PASSWORD
        ) as client:
            self._client = client
            for topic in topics:
                await client.subscribe(topic, qos=1)
            self._ready.set()
            async for message in client.messages:
                payload = bytes(message.payload)  # type: ignore[arg-type]
                self.messages.append((str(message.topic), payload, message.retain))
                self.last[str(message.topic)] = payload

    async def publish(self, topic: str, payload: bytes | str) -> None:
        await self._client.publish(topic, payload, qos=1)

    async def until(self, topic: str, payload: bytes | None = None, timeout: float = 10) -> bytes:
        """The last payload on `topic` once there is one (equal to `payload` if given)."""
        for _ in range(int(timeout / 0.02)):
            found = self.last.get(topic)
            if found is not None and (payload is None or found == payload):
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"{topic}: {self.last.get(topic)!r}, expected {payload!r}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass


@pytest.fixture
async def watcher(broker: Broker) -> AsyncIterator[Watcher]:
    seen = Watcher(broker)
    await seen.start("orge/#", "homeassistant/#")
    yield seen
    await seen.stop()
