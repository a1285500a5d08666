"""Transport security: TLS for every network client, and overrides that weaken durability or
authentication refused unless the inventory acknowledges them by name."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from .draft import Draft
from .inputs import PlanError

GROUP = "tls"
# TLS 1.0 and 1.1 are deprecated (RFC 8996); TLS 1.3's suites are not set by ssl_ciphers.
MIN_PROTOCOL = "TLSv1.2"
# Strong suites only for TLS 1.2: no anonymous, export, NULL, MD5, RC4 or 3DES
# (PostgreSQL's default is HIGH:MEDIUM:+3DES:!aNULL).
CIPHERS = "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES:@STRENGTH"

# An ssl_ciphers override may name only these OpenSSL words (alone or joined with +), or
# TLS 1.2 suites with forward secrecy and an AEAD or SHA-2 MAC; anything else (MEDIUM, ALL,
# NULL-SHA256, ADH-..., static-RSA AES128-SHA, ...) must be acknowledged. Negated words
# (! or -) only take suites away, so they are always safe.
STRONG_CIPHER_WORDS = {
    "HIGH", "ECDHE", "EECDH", "DHE", "EDH", "kECDHE", "kEECDH", "kDHE", "kEDH", "aRSA",
    "aECDSA", "ECDSA", "AESGCM", "AESCCM", "CHACHA20", "AES", "AES128", "AES256", "SHA256",
    "SHA384", "TLSv1.2", "SUITEB128", "SUITEB128ONLY", "SUITEB192",
}  # fmt: skip
STRONG_SUITE = re.compile(
    r"^(ECDHE|DHE)-(RSA|ECDSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305|"
    r"AES(128|256)-SHA(256|384))$"
)


def _weak_ciphers(value: Any) -> bool:
    words = [w for w in str(value).replace(",", ":").replace(" ", ":").split(":") if w]
    for word in words:
        if word[0] in "!-@":  # taken away, or an ordering command like @STRENGTH
            continue
        word = word.lstrip("+")  # +WORD moves suites to the end: they stay in
        if not (STRONG_SUITE.match(word) or all(p in STRONG_CIPHER_WORDS for p in word.split("+"))):
            return True
    return False


def _anonymous_log(value: Any) -> bool:
    text = str(value)
    return not ("%u" in text and "%d" in text and ("%h" in text or "%r" in text))


# parameter -> (is the value unsafe?, what it risks). An override to such a value is refused
# unless its name is in the inventory's acknowledge_unsafe list.
UNSAFE: dict[str, tuple[Callable[[Any], bool], str]] = {
    "fsync": (lambda v: v is False, "a crash can corrupt the whole cluster"),
    "full_page_writes": (lambda v: v is False, "a crash can leave torn pages behind"),
    "synchronous_commit": (lambda v: v == "off", "a crash loses recently committed transactions"),
    "password_encryption": (lambda v: v == "md5", "md5 password hashes can be replayed"),
    "ssl": (lambda v: v is False, "network clients' passwords and data travel in clear"),
    "ssl_min_protocol_version": (
        lambda v: v in ("TLSv1", "TLSv1.1"),
        "TLS 1.0 and 1.1 are deprecated (RFC 8996)",
    ),
    "ssl_ciphers": (
        _weak_ciphers,
        "names suites outside the strong set (TLS 1.2 with forward secrecy)",
    ),
    "log_line_prefix": (
        _anonymous_log,
        "log lines no longer name their user, database and client (%u, %d, %h or %r)",
    ),
    "log_connections": (lambda v: v is False, "logins leave no trace"),
    "log_disconnections": (lambda v: v is False, "sessions leave no end"),
    "log_statement": (lambda v: v == "none", "schema and privilege changes leave no trace"),
}


def check_overrides(values: dict[str, Any], acknowledged: Iterable[str]) -> None:
    """PlanError for every unsafe override not acknowledged, in one line."""
    acknowledged = set(acknowledged)
    unknown = sorted(acknowledged - set(UNSAFE))
    if unknown:
        raise PlanError(
            f"acknowledge_unsafe names {', '.join(unknown)}, which no rule covers "
            f"(it takes: {', '.join(sorted(UNSAFE))})"
        )
    refused = [
        f"{name} = {values[name]!r} ({why})"
        for name, (unsafe, why) in UNSAFE.items()
        if name in values and unsafe(values[name]) and name not in acknowledged
    ]
    if refused:
        raise PlanError(
            f"unsafe: {'; '.join(refused)}. To run like that anyway, name "
            f"{', '.join(n.split(' ')[0] for n in refused)} in acknowledge_unsafe"
        )


def plan(draft: Draft) -> None:
    workload = draft.workload
    draft.set(
        GROUP,
        "ssl",
        workload.tls,
        "TLS for every network client (pg_hba: hostssl only)"
        if workload.tls
        else "TLS off, acknowledged in the inventory",
    )
    draft.set(GROUP, "ssl_cert_file", workload.ssl_cert_file, "the inventory's tls_cert_file")
    draft.set(GROUP, "ssl_key_file", workload.ssl_key_file, "the inventory's tls_key_file")
    draft.set(GROUP, "ssl_min_protocol_version", MIN_PROTOCOL, "TLS 1.0/1.1 are deprecated")
    draft.set(GROUP, "ssl_ciphers", CIPHERS, "strong TLS 1.2 suites only")
    draft.set(GROUP, "ssl_prefer_server_ciphers", True, "the server's order, not the client's")
