"""Files only the native runtime has: postgresql-common's cluster creation options."""

from __future__ import annotations

from ..runtimes.base import initdb_args
from .text import header


def createcluster_conf(*, pg_version: int, data_checksums: bool) -> str:
    """Debian's postgresql-common reads this drop-in when the package creates the main
    cluster: new clusters get the encoding, collation and data checksums every runtime uses."""
    return header("options for clusters that postgresql-common creates") + (
        f"initdb_options = '{' '.join(initdb_args(pg_version, data_checksums))}'\n"
    )
