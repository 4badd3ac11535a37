"""The station's certificate store (protocol-neutral; `cryptography`).

What OCPP 2.0.1 blocks A (security) and M (certificate management) and the OCPP 1.6
security whitepaper ask of a charging station, in one place for both protocols:

- root certificates by use (2.0.1 InstallCertificateUseEnumType / 1.6 CertificateUse):
  `CSMSRootCertificate` (trusted for the CSMS's TLS certificate, security profiles 2/3),
  `ManufacturerRootCertificate` (firmware signatures), `V2GRootCertificate`,
  `MORootCertificate`; each stored once as PEM under `<directory>/roots/<use>/`;
- the charging station certificate and its private key (security profile 3's TLS client
  certificate): the key pair is made on the station (`create_csr`, A02 / 1.6 whitepaper
  "SignCertificate"), the private key is written with file mode 0600 and never leaves the
  store (never logged, never reported); `accept_signed` installs the chain the CSMS sends
  (CertificateSigned) only when its leaf holds the public key of that pending key pair
  (A02 / A03: a certificate that does not belong to the key is Rejected);
- certificate hash data (2.0.1 CertificateHashDataType, 1.6 CertificateHashDataType):
  SHA256 of the issuer's distinguished name (DER), SHA256 of the issuer's public key
  (the subjectPublicKey BIT STRING contents, as OCSP, RFC 6960 §4.1.1) and the serial
  number in hexadecimal;
- expiry: `station_not_after()` for the renewal watch (A04).

Every method is synchronous file work on small files (a few KB); the OCPP handlers call
them directly. Errors: `CertificateError` (its message names the cause, never key
material).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

# `cryptography` (about 16 MiB resident) is imported inside the functions that use it:
# a station without certificates (security profiles 1 and 2, no roots installed) never
# loads it.

ROOT_USES = (
    "CSMSRootCertificate",
    "ManufacturerRootCertificate",
    "V2GRootCertificate",
    "MORootCertificate",
)
STATION_CERTIFICATE = "ChargingStationCertificate"
_KEY_MODE = 0o600
_DIR_MODE = 0o700


class CertificateError(ValueError):
    """A certificate or chain the store will not take (message says why)."""


@dataclass(frozen=True)
class HashData:
    """2.0.1 / 1.6 CertificateHashDataType (hex strings, lower case; serial without
    leading zeros)."""

    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str
    hash_algorithm: str = "SHA256"

    def as_payload(self) -> dict[str, str]:
        """The camelCase JSON object both protocols use."""
        return {
            "hashAlgorithm": self.hash_algorithm,
            "issuerNameHash": self.issuer_name_hash,
            "issuerKeyHash": self.issuer_key_hash,
            "serialNumber": self.serial_number,
        }

    def matches(self, payload: dict[str, str]) -> bool:
        """Whether a CSMS's CertificateHashData names this certificate (hex compared
        case-insensitively, the serial without leading zeros)."""
        return (
            str(payload.get("issuerNameHash", "")).lower() == self.issuer_name_hash
            and str(payload.get("issuerKeyHash", "")).lower() == self.issuer_key_hash
            and str(payload.get("serialNumber", "")).lower().lstrip("0")
            == self.serial_number.lstrip("0")
        )


@dataclass(frozen=True)
class Installed:
    """One stored root certificate: its use, hash data and file."""

    use: str
    hash_data: HashData
    path: Path


def _key_bits(key: object) -> bytes:
    """The subjectPublicKey BIT STRING contents of a public key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    raise CertificateError(f"unsupported key type {type(key).__name__}")


def hash_data(cert: x509.Certificate, issuer: x509.Certificate | None = None) -> HashData:
    """The hash data of `cert`; `issuer` is the certificate that signed it (itself for a
    self-signed root, the default)."""
    signer = issuer if issuer is not None else cert
    return HashData(
        hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
        hashlib.sha256(_key_bits(signer.public_key())).hexdigest(),
        format(cert.serial_number, "x"),
    )


def load_chain(pem: str) -> list[x509.Certificate]:
    """The certificates of a PEM text, in order. Raises CertificateError."""
    from cryptography import x509

    try:
        chain = x509.load_pem_x509_certificates(pem.encode())
    except ValueError as err:
        raise CertificateError(f"not a PEM certificate: {err}") from None
    if not chain:
        raise CertificateError("no certificate in the PEM text")
    return chain


def _valid_now(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (0600 from the start, never wider)."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _KEY_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, _KEY_MODE)
    os.replace(tmp, path)


class CertificateStore:
    """The store under `directory` (the config's `.storage/<component>_certificates`).

    `max_entries` is the most root certificates kept (2.0.1 CertificateEntries' limit,
    1.6 CertificateStoreMaxLength); `max_chain_size` the largest CertificateSigned chain
    in bytes (1.6 CertificateSignedMaxChainSize, 2.0.1 MaxCertificateChainSize).
    """

    def __init__(self, directory: str, max_entries: int = 20, max_chain_size: int = 10000):
        self.directory = Path(directory)
        self.max_entries = max_entries
        self.max_chain_size = max_chain_size
        self._station = self.directory / "station"

    # --- files ---------------------------------------------------------------------

    def _dir(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True, mode=_DIR_MODE)
        return path

    @property
    def certificate_file(self) -> Path:
        return self._station / "certificate.pem"

    @property
    def key_file(self) -> Path:
        return self._station / "key.pem"

    @property
    def _pending_key_file(self) -> Path:
        return self._station / "pending-key.pem"

    # --- roots ---------------------------------------------------------------------

    def installed(self, uses: list[str] | None = None) -> list[Installed]:
        """The stored root certificates of the given uses (all when None), in use order."""
        found = []
        for use in ROOT_USES:
            if uses and use not in uses:
                continue
            folder = self.directory / "roots" / use
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.pem")):
                cert = load_chain(path.read_text())[0]
                found.append(Installed(use, hash_data(cert, self._issuer_of(cert)), path))
        return found

    def _issuer_of(self, cert: x509.Certificate) -> x509.Certificate | None:
        """The stored certificate that signed `cert` (None: self-signed or unknown)."""
        if cert.issuer == cert.subject:
            return None
        for use in ROOT_USES:
            for path in (self.directory / "roots" / use).glob("*.pem"):
                other = load_chain(path.read_text())[0]
                if other.subject == cert.issuer and _issued_by(cert, other):
                    return other
        return None

    def install(self, use: str, pem: str, now: dt.datetime | None = None) -> str:
        """InstallCertificate (2.0.1 M05, 1.6 whitepaper): "Accepted", "Rejected" (not a
        certificate, not valid now, not a CA certificate, an unknown use) or "Failed"
        (the store is full). Installing a certificate already there is Accepted."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        now = now or dt.datetime.now(dt.UTC)
        if use not in ROOT_USES:
            return "Rejected"
        try:
            cert = load_chain(pem)[0]
        except CertificateError:
            return "Rejected"
        if not _valid_now(cert, now):
            return "Rejected"
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            return "Rejected"
        if not constraints.ca:
            return "Rejected"
        der = cert.public_bytes(serialization.Encoding.DER)
        path = self._dir(self.directory / "roots" / use) / f"{hashlib.sha256(der).hexdigest()}.pem"
        if path.exists():
            return "Accepted"
        if len(self.installed()) >= self.max_entries:
            return "Failed"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return "Accepted"

    def delete(self, wanted: dict[str, str]) -> str:
        """DeleteCertificate (2.0.1 M04, 1.6 whitepaper): "Accepted", "NotFound", or
        "Failed" for the charging station certificate (M04.FR.06: it cannot be deleted)."""
        station = self.station_certificate()
        if station is not None:
            chain = load_chain(self.certificate_file.read_text())
            issuer = chain[1] if len(chain) > 1 else None
            if hash_data(station, issuer).matches(wanted):
                return "Failed"
        for entry in self.installed():
            if entry.hash_data.matches(wanted):
                entry.path.unlink()
                return "Accepted"
        return "NotFound"

    def issued_by_root(self, pem: str, use: str, now: dt.datetime | None = None) -> bool | None:
        """Whether the (leaf) certificate of `pem` is valid now and signed by a stored
        root of `use` (None: no root of that use is stored, nothing to check against).
        A text that is not a certificate is False."""
        roots = self.installed([use])
        if not roots:
            return None
        try:
            cert = load_chain(pem)[0]
        except CertificateError:
            return False
        if not _valid_now(cert, now or dt.datetime.now(dt.UTC)):
            return False
        return any(_issued_by(cert, load_chain(r.path.read_text())[0]) for r in roots)

    def trusted_roots(self) -> list[Path]:
        """The CSMSRootCertificate files (trusted for the CSMS's TLS certificate)."""
        return [entry.path for entry in self.installed(["CSMSRootCertificate"])]

    # --- the station certificate ---------------------------------------------------

    def create_csr(self, organization: str, common_name: str) -> str:
        """A new key pair (EC P-256, kept pending with mode 0600) and its PKCS#10
        certificate signing request in PEM, subject O=<organization>, CN=<station id>
        (2.0.1 A02.FR.02 / 1.6 whitepaper: the CSMS checks CN against the station)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        _write_private(
            self._dir(self._station) / self._pending_key_file.name,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )
        csr = (
            x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
        )
        return csr.public_bytes(serialization.Encoding.PEM).decode()

    def accept_signed(self, chain_pem: str, now: dt.datetime | None = None) -> None:
        """CertificateSigned (2.0.1 A02/A03, 1.6 whitepaper): install the chain (leaf
        first) as the station certificate with the pending key, used from the next
        connection. Raises CertificateError when there is no pending key, the chain is
        too long or not a chain, the leaf is not valid now or does not hold the pending
        key's public key (A02: Rejected); the current certificate stays then."""
        from cryptography.hazmat.primitives import serialization

        now = now or dt.datetime.now(dt.UTC)
        if len(chain_pem.encode()) > self.max_chain_size:
            raise CertificateError(f"the chain is larger than {self.max_chain_size} bytes")
        if not self._pending_key_file.exists():
            raise CertificateError("no certificate signing request is pending")
        chain = load_chain(chain_pem)
        leaf = chain[0]
        if not _valid_now(leaf, now):
            raise CertificateError("the certificate is not valid now")
        for cert, issuer in itertools.pairwise(chain):
            if not _issued_by(cert, issuer):
                raise CertificateError("the chain is broken (a certificate not signed by the next)")
        key_pem = self._pending_key_file.read_bytes()
        key = serialization.load_pem_private_key(key_pem, None)
        if _key_bits(leaf.public_key()) != _key_bits(key.public_key()):
            raise CertificateError("the certificate does not hold the station's public key")
        self.certificate_file.write_bytes(
            b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
        )
        _write_private(self.key_file, key_pem)
        self._pending_key_file.unlink()

    def station_certificate(self) -> x509.Certificate | None:
        """The installed charging station certificate (the leaf), if any."""
        if not self.certificate_file.exists():
            return None
        return load_chain(self.certificate_file.read_text())[0]

    def client_certificate(self) -> tuple[str, str] | None:
        """(certificate chain file, key file) for TLS (security profile 3), if installed."""
        if self.certificate_file.exists() and self.key_file.exists():
            return str(self.certificate_file), str(self.key_file)
        return None

    def station_not_after(self) -> dt.datetime | None:
        """When the station certificate expires (UTC), None without one."""
        cert = self.station_certificate()
        return cert.not_valid_after_utc if cert is not None else None

    def renewal_due(self, margin: dt.timedelta, now: dt.datetime | None = None) -> bool:
        """Whether the station certificate expires within `margin` (A04: renew before)."""
        not_after = self.station_not_after()
        now = now or dt.datetime.now(dt.UTC)
        return not_after is not None and not_after - now <= margin

    def count(self) -> int:
        """Stored root certificates (2.0.1 SecurityCtrlr.CertificateEntries)."""
        return len(self.installed())
