"""SCRAM-SHA-256 password verifiers, computed and checked locally (RFC 5802, RFC 7677).

PostgreSQL stores `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` and accepts a
verifier in that form in ALTER ROLE ... PASSWORD. Computing it here means the plain password
never leaves the machine running the deploy, and checking it here means an unchanged password
is recognised without rotating the salt on every run.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

ITERATIONS = 4096  # PostgreSQL's scram_iterations default


class PasswordError(ValueError):
    pass


def _keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    if not password.isascii() or not password.isprintable():
        # PostgreSQL applies SASLprep to non-ASCII passwords; rather than approximate it, we
        # only accept printable ASCII, for which SASLprep changes nothing.
        raise PasswordError("the password must be printable ASCII")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return stored_key, server_key


def make_verifier(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = os.urandom(16) if salt is None else salt
    if not salt:
        raise PasswordError("the SCRAM salt must not be empty")
    stored_key, server_key = _keys(password, salt, iterations)
    b64 = base64.b64encode
    return (
        f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}"
        f"${b64(stored_key).decode()}:{b64(server_key).decode()}"
    )


def verify(password: str, verifier: str) -> bool:
    """True when `verifier` (as stored in pg_authid.rolpassword) belongs to `password`."""
    try:
        method, params, keys = verifier.split("$")
        iterations, salt = params.split(":")
        stored_key, server_key = (base64.b64decode(k, validate=True) for k in keys.split(":"))
        if method != "SCRAM-SHA-256":
            return False
        expected = _keys(password, base64.b64decode(salt, validate=True), int(iterations))
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(expected[0], stored_key) and hmac.compare_digest(
        expected[1], server_key
    )
