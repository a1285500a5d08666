"""SCRAM-SHA-256 verifiers: PostgreSQL's stored format, RFC 5802/7677 keys, verification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest

from tsdb_deploy.scram import ITERATIONS, PasswordError, make_verifier, verify

B64 = r"[A-Za-z0-9+/]+={0,2}"
VERIFIER = re.compile(rf"^SCRAM-SHA-256\$(\d+):({B64})\$({B64}):({B64})$")

# RFC 7677 section 3: user "user", password "pencil", this salt, 4096 iterations.
RFC_SALT = "W22ZaJ0SNY7soEsUEjb6gQ=="
RFC_AUTH_MESSAGE = (
    b"n=user,r=rOprNGfwEbeRWgbNEkqO,"
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
)
RFC_CLIENT_PROOF = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
RFC_SERVER_SIGNATURE = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def _parts(verifier: str):
    match = VERIFIER.match(verifier)
    assert match, verifier
    iterations, salt, stored, server = match.groups()
    return int(iterations), *(base64.b64decode(x) for x in (salt, stored, server))


def _expected_keys(password: bytes, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    """RFC 5802: SaltedPassword = Hi(password, salt, i); StoredKey = H(HMAC(SP, "Client Key"));
    ServerKey = HMAC(SP, "Server Key")."""
    salted = hashlib.pbkdf2_hmac("sha256", password, salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return (
        hashlib.sha256(client_key).digest(),
        hmac.new(salted, b"Server Key", "sha256").digest(),
    )


def test_verifier_has_postgresql_format():
    verifier = make_verifier("correct horse battery staple")
    iterations, salt, stored, server = _parts(verifier)
    assert verifier.startswith("SCRAM-SHA-256$4096:")
    assert iterations == ITERATIONS == 4096
    assert len(salt) == 16
    assert len(stored) == len(server) == 32
    assert stored != server


def test_each_verifier_gets_a_fresh_salt():
    first, second = make_verifier("same password"), make_verifier("same password")
    assert _parts(first)[1] != _parts(second)[1]
    assert first != second
    assert verify("same password", first) and verify("same password", second)


@pytest.mark.parametrize(
    "password, salt, iterations",
    [
        ("pencil", b"\x00" * 16, 4096),
        ("s3cr3t!", bytes(range(16)), 4096),
        ("with space and $:", b"saltsaltsaltsalt", 4096),
        ("x", b"0123456789abcdef", 1000),
    ],
    ids=["pencil-zero-salt", "symbols", "separators-in-password", "1000-iterations"],
)
def test_keys_match_rfc5802_computed_independently(password, salt, iterations):
    verifier = make_verifier(password, salt=salt, iterations=iterations)
    got_iterations, got_salt, stored, server = _parts(verifier)
    assert (got_iterations, got_salt) == (iterations, salt)
    assert (stored, server) == _expected_keys(password.encode(), salt, iterations)
    assert verify(password, verifier)


def test_rfc7677_vector_authenticates_against_our_verifier():
    """A verifier we compute lets the RFC 7677 exchange succeed on both sides."""
    verifier = make_verifier("pencil", salt=base64.b64decode(RFC_SALT))
    _, _, stored_key, server_key = _parts(verifier)
    # the server proves itself with ServerSignature = HMAC(ServerKey, AuthMessage)
    server_signature = hmac.new(server_key, RFC_AUTH_MESSAGE, "sha256").digest()
    assert base64.b64encode(server_signature).decode() == RFC_SERVER_SIGNATURE
    # the client's proof checks out: H(ClientProof XOR HMAC(StoredKey, AuthMessage)) = StoredKey
    client_signature = hmac.new(stored_key, RFC_AUTH_MESSAGE, "sha256").digest()
    proof = base64.b64decode(RFC_CLIENT_PROOF)
    client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
    assert hashlib.sha256(client_key).digest() == stored_key


def test_verify_accepts_the_right_password():
    verifier = make_verifier("hunter2hunter2")
    assert verify("hunter2hunter2", verifier) is True


def _tampered(verifier: str) -> str:
    method, params, keys = verifier.split("$")
    stored, server = keys.split(":")
    flipped = bytearray(base64.b64decode(stored))
    flipped[0] ^= 1
    return f"{method}${params}${base64.b64encode(bytes(flipped)).decode()}:{server}"


GOOD = make_verifier("hunter2hunter2", salt=b"fixed-salt-16byt")


@pytest.mark.parametrize(
    "password, verifier",
    [
        pytest.param("hunter2", GOOD, id="wrong-password"),
        pytest.param("Hunter2hunter2", GOOD, id="case-differs"),
        pytest.param("hunter2hunter2 ", GOOD, id="trailing-space"),
        pytest.param("", GOOD, id="empty-password"),
        pytest.param("hunter2hunter2", "garbage", id="garbage"),
        pytest.param("hunter2hunter2", "", id="empty-verifier"),
        pytest.param("hunter2hunter2", "md5" + "0" * 32, id="md5"),
        pytest.param(
            "hunter2hunter2",
            "md5" + hashlib.md5(b"hunter2hunter2dashboard").hexdigest(),
            id="md5-of-this-password",
        ),
        pytest.param("hunter2hunter2", GOOD.replace("SCRAM-SHA-256", "SCRAM-SHA-1"), id="sha1"),
        pytest.param("hunter2hunter2", GOOD.rsplit(":", 1)[0], id="truncated"),
        pytest.param("hunter2hunter2", GOOD + "$extra", id="extra-field"),
        pytest.param("hunter2hunter2", _tampered(GOOD), id="tampered-stored-key"),
        pytest.param("hunter2hunter2", GOOD.replace("$4096:", "$4095:"), id="other-iterations"),
        pytest.param("hunter2hunter2", GOOD.replace("$4096:", "$many:"), id="bad-iterations"),
        pytest.param("hunter2hunter2", GOOD.replace("$4096:", "$0:"), id="zero-iterations"),
        pytest.param(
            "hunter2hunter2",
            "SCRAM-SHA-256$4096:abcde$" + GOOD.split("$")[2],
            id="bad-base64-salt",
        ),
        pytest.param("hunter2hunter2", GOOD[:-8] + "AAAA", id="short-server-key"),
        pytest.param("hünter2", GOOD, id="non-ascii-password"),
    ],
)
def test_verify_rejects(password, verifier):
    assert verify(password, verifier) is False


@pytest.mark.parametrize(
    "password",
    ["pässwörd", "пароль", "密码", "tab\there", "new\nline", "nul\x00byte"],
    ids=["latin1", "cyrillic", "cjk", "tab", "newline", "nul"],
)
def test_non_ascii_or_unprintable_password_raises(password):
    with pytest.raises(PasswordError, match="printable ASCII"):
        make_verifier(password)


@pytest.mark.parametrize(
    "verifier",
    [
        "SCRAM-SHA-256$4096:c2FsdA==$a:b",
        GOOD.rsplit(":", 1)[0] + ":not-base64!",
    ],
    ids=["one-char-keys", "bad-server-key"],
)
def test_verify_rejects_keys_that_are_not_base64(verifier):
    assert verify("hunter2hunter2", verifier) is False


def test_password_error_is_a_value_error():
    assert issubclass(PasswordError, ValueError)
