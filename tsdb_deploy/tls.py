"""The server's TLS certificate and key, read and checked on the machine running pyinfra.

They come from files outside git (tls_cert_file, tls_key_file; `{host}` in a path is the
inventory host's name, so one group setting serves every host). Before any host changes, the
pair is loaded the way a TLS server loads it (Python's ssl: PEM, the key matching the
certificate). The key's text is kept out of every log and diff.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path

from .secrets import local_path

# The certificate's own file (and chain) for clients, the key readable by PostgreSQL alone.
CERT_NAME = "server.crt"
KEY_NAME = "server.key"


class TLSError(ValueError):
    """The certificate or key cannot serve; the message names the file and why."""


@dataclass(frozen=True)
class ServerTLS:
    cert_text: str
    key_text: str = field(repr=False)


def host_path(template: str, host_name: str) -> Path:
    """The file for one host: `{host}` is its name without pyinfra's connector prefix."""
    return local_path(template.replace("{host}", host_name.rsplit("/", 1)[-1]))


def load(cert_template: str, key_template: str, host_name: str) -> ServerTLS:
    cert, key = host_path(cert_template, host_name), host_path(key_template, host_name)
    for label, path in (("tls_cert_file", cert), ("tls_key_file", key)):
        if not path.is_file():
            raise TLSError(f"{label} {path}: no such file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(cert), str(key))
    except ssl.SSLError as exc:
        raise TLSError(
            f"{cert} and {key} are not a PEM certificate and its private key ({exc.reason})"
        ) from None
    return ServerTLS(cert.read_text(), key.read_text())
