"""The server's certificate and key, checked on the machine running pyinfra before any host
changes; the lab CA that issues the test hosts' pairs."""

from __future__ import annotations

import contextlib
import ssl
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography import x509

from lab import tls as lab_tls
from tsdb_deploy import tls
from tsdb_deploy.secrets import PROJECT_ROOT


def test_a_lab_pair_loads_and_its_key_stays_out_of_repr(lab_ca):
    cert, key = lab_tls.issue("db1", ["10.0.0.5"])
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    pair = tls.load(str(lab_ca / "{host}.crt"), str(lab_ca / "{host}.key"), "@docker/db1")
    assert "BEGIN CERTIFICATE" in pair.cert_text
    assert "PRIVATE KEY" not in repr(pair)


def test_hosts_started_at_once_get_certificates_of_one_ca(lab_ca):
    """Test hosts start in parallel: on a fresh checkout each start makes or reads the CA, and
    none may read a half-written file or sign with a CA another start replaced."""
    names = [f"db{i}" for i in range(8)]
    with ThreadPoolExecutor(len(names)) as pool:
        pairs = list(pool.map(lambda n: lab_tls.issue(n, ["10.0.0.5"]), names))
    ca = x509.load_pem_x509_certificate(lab_tls.CA_CERT.read_bytes())
    for cert_path, _key in pairs:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        cert.verify_directly_issued_by(ca)


def test_the_lab_certificate_verifies_for_the_hosts_name_and_address(lab_ca):
    cert, key = lab_tls.issue("db1", ["10.0.0.5"])
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(lab_tls.CA_CERT))
    for name in ("db1", "10.0.0.5", "127.0.0.1", "localhost"):
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        c = client.wrap_bio(incoming, outgoing, server_hostname=name)
        s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        s = server.wrap_bio(s_in, s_out, server_side=True)
        for _ in range(10):  # drive the handshake through memory
            for side in (c, s):
                with contextlib.suppress(ssl.SSLWantReadError):
                    side.do_handshake()
            s_in.write(outgoing.read())
            incoming.write(s_out.read())
        assert c.version() in ("TLSv1.2", "TLSv1.3"), name


def test_reissued_only_when_an_address_is_missing(lab_ca):
    cert, _ = lab_tls.issue("db1", ["10.0.0.5"])
    first = cert.read_bytes()
    assert lab_tls.issue("db1", ["10.0.0.5"])[0].read_bytes() == first
    assert lab_tls.issue("db1", ["10.0.0.6"])[0].read_bytes() != first


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(tls.TLSError, match=r"tls_cert_file .*db1\.crt: no such file"):
        tls.load(str(tmp_path / "{host}.crt"), str(tmp_path / "{host}.key"), "db1")


def test_a_key_of_another_certificate_is_refused(lab_ca):
    cert, _ = lab_tls.issue("db1")
    _, other_key = lab_tls.issue("db2")
    with pytest.raises(tls.TLSError, match="are not a PEM certificate and its private key"):
        tls.load(str(cert), str(other_key), "db1")


def test_relative_paths_are_the_projects():
    assert tls.host_path(".sandbox/tls/{host}.crt", "@docker/x") == (
        PROJECT_ROOT / ".sandbox/tls/x.crt"
    )
