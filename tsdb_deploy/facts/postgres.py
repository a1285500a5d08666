"""The live PostgreSQL server: settings, databases and roles, schema ledger, hypertables,
pgBackRest."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field

from pyinfra.api import FactBase

from ..formats import sql_literal
from ..migrations import LEDGER
from ..restart_guard import RestartGuard
from ..runtimes.base import NOT_RUNNING, Server
from .session import QUIT, connect, conninfo_value, in_database, psql_input, when_relation

# --- the live PostgreSQL server ----------------------------------------------------------

# every query a fact runs: no psqlrc, rows only, unaligned, fields split by the unit separator
# (a byte no name or value holds), stop at the first error
QUERY_FLAGS = "-X -A -t -q -v ON_ERROR_STOP=1 -F $'\\x1f'"


@dataclass(frozen=True)
class LiveSetting:
    setting: str
    unit: str | None
    context: str
    pending_restart: bool


@dataclass(frozen=True)
class LiveServer:
    parameters: dict[str, LiveSetting]  # pg_settings, by name
    started_at: str
    auto_conf: tuple[str, ...]  # parameters set by ALTER SYSTEM
    file_errors: tuple[str, ...]  # postgresql.conf lines the server rejected
    archive_failure: str | None = None  # the WAL archiver's last failure, if no success since

    @property
    def pending_restart(self) -> list[str]:
        return sorted(n for n, s in self.parameters.items() if s.pending_restart)


LIVE_SERVER_SQL = """
SELECT 'S', name, setting, coalesce(unit, ''), context, pending_restart FROM pg_settings
UNION ALL SELECT 'T', pg_postmaster_start_time()::text, '', '', '', false
UNION ALL SELECT 'A', name, '', '', '', false FROM pg_file_settings
  WHERE applied AND sourcefile LIKE '%postgresql.auto.conf'
UNION ALL SELECT 'E', name, coalesce(sourcefile, '') || ':' || sourceline || ': ' || error,
  '', '', false FROM pg_file_settings WHERE error IS NOT NULL
UNION ALL SELECT 'W', coalesce(last_failed_wal, ''), coalesce(last_failed_time::text, ''), '', '',
  coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false)
  FROM pg_stat_archiver
"""


def parse_live_server(lines: list[str]) -> LiveServer | None:
    if not lines or any(line.strip() == NOT_RUNNING for line in lines):
        return None
    parameters, started, auto, errors, archive_failure = {}, "", [], [], None
    for line in lines:
        parts = line.split("\x1f")
        kind = parts[0]
        if kind == "S" and len(parts) == 6:
            _, name, setting, unit, context, pending = parts
            parameters[name] = LiveSetting(setting, unit or None, context, pending == "t")
        elif kind == "T":
            started = parts[1]
        elif kind == "A":
            auto.append(parts[1])
        elif kind == "E":
            errors.append(f"{parts[1]}: {parts[2]}")
        elif kind == "W" and len(parts) == 6 and parts[5] == "t":
            archive_failure = f"{parts[1]} at {parts[2]}"
    return LiveServer(parameters, started, tuple(sorted(auto)), tuple(errors), archive_failure)


class PostgresServer(FactBase):
    """pg_settings, postmaster start time and config-file state; None when not running."""

    def command(self, server: Server) -> str:
        sql = shlex.quote(LIVE_SERVER_SQL)
        return server.query(f"{server.psql} {QUERY_FLAGS} -d postgres -c {sql}")

    def session(self, server: Server) -> str:
        return psql_input(connect(server, "postgres"), f"{LIVE_SERVER_SQL.strip()};")

    shell_executable = "bash"  # $'..' quoting

    def process(self, output):
        return parse_live_server(list(output))


class RunningBackups(FactBase):
    """What a restart of PostgreSQL would wait for now (restart_guard): tsdb-backup's lock
    when held, the backup tools' sessions; one line each, none when nothing runs."""

    def command(self, psql: str, backup_lock: str) -> str:
        return RestartGuard(backup_lock, 0).running_command(psql)

    def process(self, output):
        return [line for line in output if line.strip()]


@dataclass(frozen=True)
class DatabaseState:
    databases: tuple[str, ...]
    roles: dict[str, str | None]  # role -> stored password verifier (SCRAM), None if no login
    extensions: dict[str, str]  # in the application database: name -> version
    timescaledb_license: str | None
    role_settings: dict[str, dict[str, str]] = field(default_factory=dict)  # ALTER ROLE SET
    member_of: dict[str, set[str]] = field(default_factory=dict)  # login role -> its groups


def parse_database_state(lines: list[str]) -> DatabaseState | None:
    if not lines or any(line.strip() == NOT_RUNNING for line in lines):
        return None
    databases, roles, extensions, license_, per_role, member_of = [], {}, {}, None, {}, {}
    for line in lines:
        parts = line.split("\x1f")
        if parts[0] == "D":
            databases.append(parts[1])
        elif parts[0] == "R":
            roles[parts[1]] = parts[2] or None
        elif parts[0] == "X":
            extensions[parts[1]] = parts[2]
        elif parts[0] == "L":
            license_ = parts[1] or None
        elif parts[0] == "S":  # role, then name=value pairs (pg_db_role_setting.setconfig)
            pairs = (item.partition("=") for item in parts[2].split("\x1e") if item)
            per_role[parts[1]] = {name: value for name, _, value in pairs}
        elif parts[0] == "M":
            member_of.setdefault(parts[1], set()).add(parts[2])
    return DatabaseState(tuple(databases), roles, extensions, license_, per_role, member_of)


CLUSTER_SQL = (
    "SELECT 'D', datname, '' FROM pg_database WHERE NOT datistemplate "
    "UNION ALL SELECT 'R', rolname, coalesce(rolpassword, '') FROM pg_authid "
    "WHERE rolcanlogin UNION ALL SELECT 'S', r.rolname, array_to_string(s.setconfig, "
    "chr(30)) FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
    "WHERE s.setdatabase = 0 UNION ALL SELECT 'M', r.rolname, g.rolname FROM "
    "pg_auth_members m JOIN pg_roles r ON r.oid = m.member JOIN pg_roles g "
    "ON g.oid = m.roleid WHERE r.rolcanlogin"
)
# the license setting exists only in a database where timescaledb is loaded
DATABASE_SQL = (
    "SELECT 'X', extname, extversion FROM pg_extension "
    "UNION ALL SELECT 'L', current_setting('timescaledb.license', true), ''"
)


class PostgresDatabase(FactBase):
    """Databases, login roles with their password verifiers, every role's own settings, and
    extensions in `database`."""

    shell_executable = "bash"

    def command(self, server: Server, database: str) -> str:
        psql = server.psql
        cluster_sql, db_sql = shlex.quote(CLUSTER_SQL), shlex.quote(DATABASE_SQL)
        db = shlex.quote(database)
        # before its database is created, the cluster's part alone
        return server.query(
            f"{psql} {QUERY_FLAGS} -d postgres -c {cluster_sql} &&"
            f" {{ {psql} {QUERY_FLAGS} -d {db} -c {db_sql} 2>/dev/null || true; }}"
        )

    def session(self, server: Server, database: str) -> str:
        return psql_input(
            connect(server, "postgres"),
            f"{CLUSTER_SQL};",
            *in_database(server, database, f"{DATABASE_SQL};"),
        )

    def process(self, output):
        return parse_database_state(list(output))


@dataclass(frozen=True)
class TimescaledbState:
    available: str | None  # the version installed on disk (the control file's default_version)
    installed: dict[str, str]  # database -> extension version, where it is created
    closed: tuple[str, ...]  # databases that take no connections (e.g. kept pre-restore copies)
    license: str | None  # timescaledb.license as the application database loads it
    owners: dict[str, str] = field(default_factory=dict)  # database -> its owner role


def parse_timescaledb_state(lines: list[str]) -> TimescaledbState | None:
    if not lines or any(line.strip() == NOT_RUNNING for line in lines):
        return None
    available, installed, closed, license_, owners = None, {}, [], None, {}
    for line in lines:
        parts = line.split("\x1f")
        if parts[0] == "O" and len(parts) == 3:
            owners[parts[1]] = parts[2]
        elif parts[0] == "A" and len(parts) == 2:
            available = parts[1] or None
        elif parts[0] == "L" and len(parts) == 2:
            license_ = parts[1] or None
        elif parts[0] == "X" and len(parts) == 3:
            installed[parts[1]] = parts[2]
        elif parts[0] == "C" and len(parts) == 2:
            closed.append(parts[1])
    return TimescaledbState(available, installed, tuple(closed), license_, owners)


TSDB_CLUSTER_SQL = (
    "SELECT 'A', coalesce(default_version, '') FROM pg_available_extensions "
    "WHERE name = 'timescaledb' UNION ALL SELECT 'C', datname FROM pg_database "
    "WHERE NOT datallowconn AND NOT datistemplate UNION ALL SELECT 'O', datname || "
    "chr(31) || pg_get_userbyid(datdba) FROM pg_database WHERE NOT datistemplate"
)
TSDB_EXTENSION_SQL = (
    "SELECT 'X', current_database(), extversion FROM pg_extension WHERE extname = 'timescaledb'"
)
TSDB_LICENSE_SQL = "SELECT 'L', current_setting('timescaledb.license', true)"


def _sql_quoted(expression: str, quote: str) -> str:
    """SQL giving `expression` in single quotes, each quote in it written `quote` and each
    backslash doubled: how a libpq connection string and a psql meta-command argument quote."""
    doubled = r"replace(" + expression + r", '\', '\\')"
    return "'''' || replace(" + doubled + ", '''', " + sql_literal(quote) + ") || ''''"


DISABLE_LOAD = "-c timescaledb.disable_load=on"
EACH_DATABASE = "FROM pg_database WHERE datallowconn AND NOT datistemplate"


def _each_conninfo(server: Server) -> str:
    """SQL: each database's connection string (session.connect's, spelled in SQL), with the
    extension not loaded: a library the packages no longer ship would refuse the connection."""
    rest = (
        f" host={conninfo_value(server.host)} port={server.port}"
        f" options={conninfo_value(DISABLE_LOAD)}"
    )
    return "'dbname=' || " + _sql_quoted("datname", r"\'") + " || " + sql_literal(rest)


def _each_database_input(server: Server) -> str:
    """SQL: psql input per database that takes connections: its \\connect, then the question."""
    return (
        r"SELECT '\connect ' || "
        + _sql_quoted(_each_conninfo(server), "''")
        + " || chr(10) || "
        + sql_literal(TSDB_EXTENSION_SQL + ";")
        + f" {EACH_DATABASE}"
    )


class TimescaledbVersions(FactBase):
    """The TimescaleDB version on disk and in every database that has the extension, and
    every database's owner.

    Each database is read with timescaledb.disable_load, so a database whose extension's
    library the packages no longer ship (after an upgrade, before ALTER EXTENSION) still
    answers. The license is read where the extension loads: in `database`. None when the
    server is not running.
    """

    shell_executable = "bash"

    def command(self, server: Server, database: str) -> str:
        psql = server.psql
        infos = shlex.quote(f"SELECT {_each_conninfo(server)} {EACH_DATABASE}")
        cluster, extension = shlex.quote(TSDB_CLUSTER_SQL), shlex.quote(TSDB_EXTENSION_SQL)
        license_ = shlex.quote(TSDB_LICENSE_SQL)
        # every psql reads /dev/null: `docker exec -i` would swallow the loop's input
        return server.query(
            f"infos=$({psql} {QUERY_FLAGS} -d postgres -c {infos} </dev/null) || exit 1; "
            f"{psql} {QUERY_FLAGS} -d postgres -c {cluster} </dev/null || exit 1; "
            'while IFS= read -r info; do [ -n "$info" ] || continue; '
            f'{psql} {QUERY_FLAGS} -d "$info" -c {extension} </dev/null || exit 1; '
            'done <<< "$infos"; '
            f"{psql} {QUERY_FLAGS} -d {shlex.quote(database)} -c {license_} </dev/null "
            "2>/dev/null || true"
        )

    def session(self, server: Server, database: str) -> str:
        # each database's connect line and question, psql input as the server lists them; if
        # the listing fails, the session ends there (what follows is read on its own)
        listing = shlex.quote(_each_database_input(server))
        return (
            f"{psql_input(connect(server, 'postgres'), TSDB_CLUSTER_SQL + ';')}; "
            f"{server.psql} {QUERY_FLAGS} -d postgres -c {listing} </dev/null 2>/dev/null"
            f" || {psql_input(QUIT)}; "
            f"{psql_input(*in_database(server, database, TSDB_LICENSE_SQL + ';'))}"
        )

    def process(self, output):
        return parse_timescaledb_state(list(output))


FAILING_JOBS_SQL = (
    "SELECT j.job_id, j.application_name, coalesce((SELECT e.err_message FROM "
    "timescaledb_information.job_errors e WHERE e.job_id = j.job_id ORDER BY "
    "e.start_time DESC LIMIT 1), '') FROM timescaledb_information.jobs j JOIN "
    "timescaledb_information.job_stats s USING (job_id) WHERE j.scheduled AND "
    "s.last_run_status = 'Failed' ORDER BY 1"
)


class FailingJobs(FactBase):
    """Scheduled TimescaleDB jobs whose last run failed: (job_id, name, its last error)."""

    shell_executable = "bash"

    @staticmethod
    def default():
        return []

    def command(self, server: Server, database: str) -> str:
        psql = server.psql
        sql = shlex.quote(FAILING_JOBS_SQL)
        return f"{psql} {QUERY_FLAGS} -d {shlex.quote(database)} -c {sql} 2>/dev/null || true"

    def session(self, server: Server, database: str) -> str:
        stats = "timescaledb_information.job_stats"
        asks = when_relation(stats, FAILING_JOBS_SQL + ";")
        return psql_input(*in_database(server, database, *asks))

    def process(self, output):
        return [tuple(line.split("\x1f", 2)) for line in output if line.count("\x1f") == 2]


# --- the schema ----------------------------------------------------------------------------


def parse_ledger(lines: list[str]):
    from ..migrations import Applied

    if any(line.strip() == NOT_RUNNING for line in lines):
        return None
    rows = []
    for line in lines:
        parts = line.split("\x1f")
        if len(parts) == 3:
            rows.append(Applied(int(parts[0]), parts[1], parts[2]))
    return rows


LEDGER_SQL = f"SELECT version, name, sha256 FROM {LEDGER} ORDER BY version"


class MigrationLedger(FactBase):
    """Migrations applied to `database` (empty before the first, or before the database
    exists), None while the server does not run."""

    shell_executable = "bash"

    @staticmethod
    def default():  # pyinfra's value for no output: an empty ledger
        return []

    def command(self, server: Server, database: str) -> str:
        psql = server.psql
        sql = shlex.quote(LEDGER_SQL)
        exists = shlex.quote(f"SELECT to_regclass('{LEDGER}') IS NOT NULL")
        db = shlex.quote(database)
        # a ledger that could not be read is an error, never an empty one: an empty ledger
        # would apply every migration again
        return server.query(
            f"e=$({psql} {QUERY_FLAGS} -d {db} -c {exists}) || exit 1; "
            f'if [ "$e" = t ]; then {psql} {QUERY_FLAGS} -d {db} -c {sql}; fi',
            database,
        )

    def session(self, server: Server, database: str) -> str:
        asks = when_relation(LEDGER, LEDGER_SQL + ";")
        return psql_input(*in_database(server, database, *asks))

    def process(self, output):
        return parse_ledger(list(output))


def parse_dimensions(lines: list[str]) -> dict[str, dict]:
    """hypertable -> {"interval": seconds or None, "partitions": n or 0}."""
    out: dict[str, dict] = {}
    for line in lines:
        parts = line.split("\x1f")
        if len(parts) != 4:
            continue
        table, kind, seconds, partitions = parts
        entry = out.setdefault(table, {"interval": None, "partitions": 0})
        if kind == "Time":
            entry["interval"] = int(float(seconds))
        else:
            entry["partitions"] = int(partitions)
    return out


DIMENSIONS_SQL = (
    "SELECT hypertable_name, dimension_type, "
    "coalesce(extract(epoch FROM time_interval), 0), coalesce(num_partitions, 0) "
    "FROM timescaledb_information.dimensions"
)


class HypertableDimensions(FactBase):
    """The time and space dimensions of every hypertable in `database`."""

    shell_executable = "bash"

    def command(self, server: Server, database: str) -> str:
        psql = server.psql
        sql = shlex.quote(DIMENSIONS_SQL)
        return f"{psql} {QUERY_FLAGS} -d {shlex.quote(database)} -c {sql} 2>/dev/null || true"

    def session(self, server: Server, database: str) -> str:
        view = "timescaledb_information.dimensions"
        asks = when_relation(view, DIMENSIONS_SQL + ";")
        return psql_input(*in_database(server, database, *asks))

    def process(self, output):
        return parse_dimensions(list(output))


def parse_table_indexes(lines: list[str]) -> dict[str, bool] | None:
    """index name -> valid (False: left by an interrupted build), or None: no such table."""
    indexes: dict[str, bool] = {}
    exists = False
    for line in lines:
        parts = line.split("\x1f")
        if len(parts) != 3:
            continue
        kind, name, valid = parts
        if kind == "table":
            exists = name == "true"
        else:
            indexes[name] = valid == "true"
    return indexes if exists else None


def table_indexes_sql(table: str) -> str:
    relation = f"to_regclass({sql_literal(table)})"
    return (
        f"SELECT 'table', ({relation} IS NOT NULL)::text, '' UNION ALL "
        "SELECT 'index', i.relname::text, x.indisvalid::text FROM pg_index x "
        f"JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = {relation}"
    )


class TableIndexes(FactBase):
    """The indexes of `table` in `database` (a hypertable's own, which its chunks' follow),
    None while the database or the table does not exist."""

    shell_executable = "bash"

    def command(self, server: Server, database: str, table: str) -> str:
        psql = server.psql
        sql = shlex.quote(table_indexes_sql(table))
        return f"{psql} {QUERY_FLAGS} -d {shlex.quote(database)} -c {sql} 2>/dev/null || true"

    def session(self, server: Server, database: str, table: str) -> str:
        return psql_input(*in_database(server, database, table_indexes_sql(table) + ";"))

    def process(self, output):
        return parse_table_indexes(list(output))


# --- pgBackRest --------------------------------------------------------------------------


@dataclass(frozen=True)
class BackrestStanza:
    status_code: int  # 0 ok, 1 missing stanza path, 2 no valid backups, ... (pgBackRest info)
    message: str
    backups: int


def parse_backrest_info(text: str) -> BackrestStanza | None:

    try:
        (stanza,) = json.loads(text)
    except (ValueError, TypeError):
        return None
    status = stanza.get("status", {})
    return BackrestStanza(status.get("code", -1), status.get("message", ""),
                          len(stanza.get("backup", [])))  # fmt: skip


class PgbackrestInfo(FactBase):
    """`pgbackrest info` for one stanza, run where PostgreSQL runs; None if not available."""

    def command(self, run_as_postgres: str, stanza: str) -> str:
        return (
            f"{run_as_postgres} pgbackrest --stanza={shlex.quote(stanza)} --output=json info "
            "2>/dev/null || true"
        )

    def process(self, output):
        return parse_backrest_info("\n".join(output))
