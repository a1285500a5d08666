"""The lab's certificate authority: a TLS certificate for every test host.

Production inventories name their own certificate and key (tls_cert_file, tls_key_file, files
outside git); test hosts get theirs from a CA made once per checkout in .sandbox/tls/ (outside
git), issued when the host starts, for its name, its address, localhost and 127.0.0.1, so that
clients can connect with sslmode=verify-full against lab.tls.CA_CERT.

Test hosts start in parallel (testhosts.start_many, parallel pytest): every read and write of
these files happens under one lock, and each file appears whole (written aside, renamed).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import ipaddress
import os
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = Path(__file__).resolve().parent.parent
DIR = ROOT / ".sandbox" / "tls"
CA_CERT, CA_KEY = DIR / "ca.crt", DIR / "ca.key"
CA_DAYS, HOST_DAYS = 3650, 365
RENEW_WITHIN = dt.timedelta(days=30)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tsdb-deploy lab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])  # fmt: skip


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One reader or writer of the CA and host files at a time, across threads (each open
    gets its own flock) and processes."""
    DIR.mkdir(parents=True, exist_ok=True)
    with open(DIR / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """`path` appears whole, with `mode` from the start."""
    aside = path.with_name(f".{path.name}.new")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(data)
    os.replace(aside, path)


def _write_key(path: Path, key) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )  # fmt: skip
    _write(path, pem, 0o600)


def ensure_ca() -> Path:
    """The lab CA's certificate (made on first use); its key stays in .sandbox/tls/."""
    with _locked():
        return _ensure_ca()


def _ensure_ca() -> Path:
    if CA_CERT.is_file() and CA_KEY.is_file():
        return CA_CERT
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("tsdb-deploy lab CA"))
        .issuer_name(_name("tsdb-deploy lab CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .sign(key, hashes.SHA256())
    )
    _write_key(CA_KEY, key)
    _write(CA_CERT, cert.public_bytes(serialization.Encoding.PEM))
    return CA_CERT


def host_files(name: str) -> tuple[Path, Path]:
    """Where a host's certificate and key are: what group_data/sandbox.py's
    tls_cert_file and tls_key_file (`.sandbox/tls/{host}.crt`) name."""
    return DIR / f"{name}.crt", DIR / f"{name}.key"


def issue(name: str, addresses: list[str] = ()) -> tuple[Path, Path]:
    """A certificate for host `name` valid for its name, `addresses`, localhost and loopback;
    reissued when one is missing from the current one or it expires within RENEW_WITHIN."""
    with _locked():
        return _issue(name, addresses)


def _issue(name: str, addresses: list[str]) -> tuple[Path, Path]:
    _ensure_ca()
    cert_path, key_path = host_files(name)
    wanted_dns = {name, "localhost"}
    wanted_ips = {ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", *addresses)}
    if cert_path.is_file() and key_path.is_file():
        current = x509.load_pem_x509_certificate(cert_path.read_bytes())
        san = current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        if (
            wanted_dns <= set(san.get_values_for_type(x509.DNSName))
            and wanted_ips <= set(san.get_values_for_type(x509.IPAddress))
            and current.not_valid_after_utc - dt.datetime.now(dt.UTC) > RENEW_WITHIN
        ):
            return cert_path, key_path
    ca_key = serialization.load_pem_private_key(CA_KEY.read_bytes(), password=None)
    ca = x509.load_pem_x509_certificate(CA_CERT.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    alt_names = [x509.DNSName(n) for n in sorted(wanted_dns)]
    alt_names += [x509.IPAddress(ip) for ip in sorted(wanted_ips, key=str)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=HOST_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(key_path, key)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
