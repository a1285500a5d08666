"""Versioned, forward-only schema migrations from sql/, and the ledger that records them.

Each file `sql/NNNN_name.sql` runs once per database, in order, in its own transaction, under
an advisory lock so that two deploys racing on one database serialise. The ledger
(tsdb_deploy.schema_migrations) records version, name, sha256 of the file, when, by whom and
how long. An applied file whose checksum changed is refused: no silent drift. A file that
cannot run in a transaction says so with a `-- tsdb:no-transaction` line near its top; it
runs statement by statement and must be idempotent (the lock still serialises it).
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from .formats import sql_literal

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
LEDGER = "tsdb_deploy.schema_migrations"
EVENTS = "klaviyo_events"  # the hypertable whose chunk interval is planned
NO_TRANSACTION = "-- tsdb:no-transaction"
# pg_advisory_lock key: the bytes "tsdbmigr" as a bigint, the same on every deploy
LOCK_KEY = int.from_bytes(b"tsdbmigr", "big") - 2**63
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(ValueError):
    """A migration set that must not be applied; the message names the file."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str  # e.g. 0003_events_hypertable
    sha256: str
    text: str
    transactional: bool

    @property
    def filename(self) -> str:
        return f"{self.name}.sql"


@dataclass(frozen=True)
class Applied:
    version: int
    name: str
    sha256: str


def discover(directory: Path = SQL_DIR) -> list[Migration]:
    """Every migration file in order; numbering must run 1, 2, 3... without gaps."""
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: not named NNNN_lower_case_name.sql")
        data = path.read_bytes()
        text = data.decode()
        head = text.splitlines()[:10]
        migrations.append(
            Migration(
                version=int(match.group(1)),
                name=path.stem,
                sha256=hashlib.sha256(data).hexdigest(),
                text=text,
                transactional=NO_TRANSACTION not in (line.strip() for line in head),
            )
        )
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"{migration.filename}: expected version {expected:04d} (no gaps or repeats)"
            )
    return migrations


def pending(migrations: list[Migration], applied: list[Applied]) -> list[Migration]:
    """What to apply, after checking the ledger against the files (or MigrationError)."""
    files = {m.version: m for m in migrations}
    for row in applied:
        migration = files.get(row.version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {row.name} applied, but sql/ has no version "
                f"{row.version:04d}: this checkout is older than the database"
            )
        if migration.sha256 != row.sha256:
            raise MigrationError(
                f"{migration.filename} was applied with sha256 {row.sha256} but the file now "
                f"has sha256 {migration.sha256}: an applied migration must not change; add a "
                "new migration instead"
            )
    done = {row.version for row in applied}
    return [m for m in migrations if m.version not in done]


def script(migration: Migration, applied_by: str) -> str:
    """The psql script that applies one migration and records it, or skips it if a racing
    deploy applied it first. Runs with ON_ERROR_STOP: any error rolls back and exits non-zero.
    """
    tx = migration.transactional
    lock = (
        f"SELECT pg_advisory_xact_lock({LOCK_KEY});"
        if tx
        else f"SELECT pg_advisory_lock({LOCK_KEY});"
    )
    record = (
        f"INSERT INTO {LEDGER} (version, name, sha256, applied_by, duration_ms) VALUES "
        f"({migration.version}, '{migration.name}', '{migration.sha256}', "
        f"{sql_literal(applied_by)}, "
        "(extract(epoch FROM clock_timestamp() - :'tsdb_started'::timestamptz) * 1000)::int);"
    )
    return "\n".join(
        [
            "\\set ON_ERROR_STOP 1",
            "SET client_min_messages = warning;",
            "BEGIN;" if tx else "",
            lock,
            "CREATE SCHEMA IF NOT EXISTS tsdb_deploy;",
            f"CREATE TABLE IF NOT EXISTS {LEDGER} ("
            "version integer PRIMARY KEY, name text NOT NULL, sha256 text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now(), "
            "applied_by text NOT NULL, db_user text NOT NULL DEFAULT session_user, "
            "duration_ms integer NOT NULL);",
            f"SELECT NOT EXISTS (SELECT 1 FROM {LEDGER} WHERE version = {migration.version})"
            " AS tsdb_pending, clock_timestamp() AS tsdb_started \\gset",
            "\\if :tsdb_pending",
            "RESET client_min_messages;",
            f"-- {migration.filename}, sha256 {migration.sha256}",
            migration.text,
            "RESET ROLE;",
            record,
            "\\endif",
            "COMMIT;" if tx else f"SELECT pg_advisory_unlock({LOCK_KEY});",
            "",
        ]
    )


def psql_variables(variables: dict[str, str | int]) -> str:
    return " ".join(f"-v {name}={shlex.quote(str(value))}" for name, value in variables.items())
