"""psql input for a database session several facts share (facts.batch): a converged host
answers every database question in one psql process instead of one or more per fact.

A fact with a `session` method gives its questions as a shell command that prints psql input;
the batch frames each fact's input with markers and pipes them all into one psql that stops at
the first error. A fact whose end marker is missing (an error, in it or before it) is read on
its own, by its own command, so the session only ever speeds up what the commands would
answer, and never decides how a failure is read.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from ..formats import sql_literal

if TYPE_CHECKING:
    from ..runtimes.base import Server

QUIT = "\\quit"  # psql input: end the session here


def psql_input(*lines: str) -> str:
    """A shell command printing `lines`, psql's input, one per line."""
    return "printf '%s\\n' " + " ".join(shlex.quote(line) for line in lines)


def meta_argument(text: str) -> str:
    """`text` as one argument of a psql meta-command (single quotes; C-like escapes)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def conninfo_value(text: str) -> str:
    """`text` as a value in a libpq connection string."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def connect(server: Server, database: str, options: str | None = None) -> str:
    """psql's \\connect to `database` of `server`: host and port spelled out, as a connection
    string given to \\connect takes nothing from the connection before it."""
    info = (
        f"dbname={conninfo_value(database)} host={conninfo_value(server.host)} port={server.port}"
    )
    if options:
        info += f" options={conninfo_value(options)}"
    return f"\\connect {meta_argument(info)}"


def in_database(server: Server, database: str, *lines: str) -> list[str]:
    """psql input running `lines` in `database`; nothing when it does not exist (the facts'
    commands answer the same for a database not created yet). A database that exists but
    takes no connections ends the session: the facts' own commands say what that means."""
    name = sql_literal(database)
    return [
        f"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = {name}) AS tsdb_db, "
        f"EXISTS (SELECT 1 FROM pg_database WHERE datname = {name} AND NOT datallowconn) "
        "AS tsdb_closed \\gset",
        "\\if :tsdb_closed",
        QUIT,
        "\\endif",
        "\\if :tsdb_db",
        connect(server, database),
        *lines,
        "\\endif",
    ]


def when_relation(relation: str, *lines: str) -> list[str]:
    """psql input running `lines` when `relation` exists in the current database."""
    return [
        f"SELECT to_regclass({sql_literal(relation)}) IS NOT NULL AS tsdb_rel \\gset",
        "\\if :tsdb_rel",
        *lines,
        "\\endif",
    ]


def frame(marker: str, index: int, command: str) -> str:
    """Fact `index`'s input between its markers; the end marker is reached only when psql
    ran everything before it (ON_ERROR_STOP)."""
    begin = psql_input(f"\\echo {marker}:begin:{index}")
    end = psql_input(f"\\echo {marker}:end:{index}:0")
    return f"{begin}; {command}; {end}"
