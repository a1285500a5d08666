"""Custom pyinfra operations: each reads facts, compares with the plan, yields only what is needed.

They run twice per deploy, as every pyinfra operation does: once while planning (for
`--dry`/change counts) and again at execution time with fresh facts, so a decision such as
reload-or-restart is taken against the server as it is when the step runs.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from io import StringIO
from typing import TYPE_CHECKING

from pyinfra import host, logger, state
from pyinfra.api import FileUploadCommand, operation
from pyinfra.api.exceptions import OperationError
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import FileContents, Sha256File
from pyinfra.facts.server import Command
from pyinfra.operations import apt
from pyinfra.operations.util.files import generate_color_diff

from . import migrations as migrations_module
from . import scram
from .facts import (
    HypertableDimensions,
    MigrationLedger,
    PgbackrestInfo,
    PostgresDatabase,
    PostgresServer,
)
from .planner.chunks import interval_seconds
from .planner.parameters import PARAMETERS
from .render import cron_file

if TYPE_CHECKING:  # runtimes use these operations; import the type only for checkers
    from .runtimes import Runtime


@operation(is_idempotent=True)
def packages_installed(packages: list[str]):
    """apt packages present; the package lists are refreshed only when one must be installed,
    so a converged host stays unchanged however long ago apt last updated."""
    installed = host.get_fact(DebPackages) or {}
    missing = [name for name in packages if name not in installed]
    if not missing:
        host.noop(f"installed: {', '.join(packages)}")
        return
    yield from apt.packages._inner(packages=missing, update=True)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _show_diff(path: str, text: str) -> None:
    if not state.config.DIFF:
        return
    current = host.get_fact(FileContents, path=path) or []
    host.log(f"Will modify {path}", logger.info)
    for line in generate_color_diff([line + "\n" for line in current], text.splitlines(True)):
        logger.info("  %s", line)


def _install_file(path: str, text: str, owner: str, validate: str | None = None):
    """Upload next to `path`, set owner and mode 0640, validate, then rename into place."""
    candidate = f"{path}.tsdb-new"
    yield FileUploadCommand(StringIO(text), candidate)
    yield f"chown {owner} {candidate} && chmod 640 {candidate}"
    if validate:
        # On a bad file: leave the running config alone, remove the candidate, fail loudly.
        yield f"{validate.format(candidate=candidate)} || {{ rm -f {candidate}; exit 1; }}"
    yield f"mv -f {candidate} {path}"


def differing_parameters(planned: dict[str, str], live) -> dict[str, tuple[str, str]]:
    """Planned parameters whose live value differs: name -> (live SHOW-style, planned)."""
    out = {}
    for name, text in planned.items():
        row = live.settings.get(name)
        param = PARAMETERS[name]
        if row is None:  # e.g. a library's parameter before the library is loaded
            out[name] = ("(not loaded)", text)
            continue
        if param.from_pg_settings(row.setting, row.unit) != param.parse(text):
            out[name] = (row.setting + (row.unit or ""), text)
    return out


@operation(is_idempotent=True)
def postgres_config(runtime: Runtime, conf_text: str, hba_text: str, planned: dict[str, str]):
    """postgresql.conf and pg_hba.conf as planned; reload if enough, restart only if needed.

    Restart when a parameter whose pg_settings.context is `postmaster` differs from the live
    server, or the server reports pending_restart; reload when other parameters or pg_hba
    change; nothing when the files and the live values already match the plan.
    """
    live = host.get_fact(PostgresServer, psql=runtime.psql)
    if live is not None:
        drifted = sorted(set(live.auto_conf) & set(planned))
        if drifted:
            raise OperationError(
                f"ALTER SYSTEM overrides planned parameters ({', '.join(drifted)}) in "
                f"postgresql.auto.conf: run ALTER SYSTEM RESET for them, or set them as "
                "postgres_overrides in the inventory"
            )

    hba_changed = host.get_fact(Sha256File, path=runtime.hba_path) != _sha256(hba_text)
    conf_changed = host.get_fact(Sha256File, path=runtime.conf_path) != _sha256(conf_text)
    if hba_changed:
        _show_diff(runtime.hba_path, hba_text)
        yield from _install_file(runtime.hba_path, hba_text, runtime.config_owner)
    if conf_changed:
        _show_diff(runtime.conf_path, conf_text)
        yield from _install_file(
            runtime.conf_path,
            conf_text,
            runtime.config_owner,
            validate=runtime.validate_config("{candidate}"),
        )

    if live is None:
        host.log("PostgreSQL is not running: starting it with the planned config", logger.info)
        yield runtime.restart()
        yield runtime.wait_ready()
        return

    differing = differing_parameters(planned, live)
    needs_restart = sorted(
        name
        for name in differing
        if (live.settings[name].context if name in live.settings else PARAMETERS[name].context)
        == "postmaster"
    )
    pending = live.pending_restart
    if needs_restart or pending:
        reasons = (
            ", ".join(f"{n}: {differing[n][0]} -> {differing[n][1]}" for n in needs_restart)
            or f"pending restart for {', '.join(pending)}"
        )
        host.log(f"Restarting PostgreSQL: {reasons}", logger.warning)
        yield runtime.restart()
        yield runtime.wait_ready()
    elif differing or hba_changed:
        what = ", ".join(f"{n}: {old} -> {new}" for n, (old, new) in differing.items())
        host.log(f"Reloading PostgreSQL: {what or 'pg_hba.conf changed'}", logger.info)
        yield runtime.reload()
    elif not conf_changed:
        host.noop(f"{len(planned)} planned parameters match the live server")


def _psql_file(runtime: Runtime, database: str, sql: str, remote_path: str, args: str = ""):
    """Run SQL from an uploaded 0600 file, so no value appears in a process list."""
    yield FileUploadCommand(StringIO(sql), remote_path)
    yield f"chmod 600 {remote_path}"
    # root opens the file and hands it to psql on stdin: it stays readable by root only
    yield (
        f"{runtime.psql} -X -q -v ON_ERROR_STOP=1 {args} -d {shlex.quote(database)} "
        f"< {remote_path}; rc=$?; rm -f {remote_path}; exit $rc"
    )


@operation(is_idempotent=True)
def database_and_role(runtime: Runtime, database: str, role: str, password: str):
    """The application role (login, SCRAM password from the secret) owning `database`.

    The password is compared with the stored SCRAM verifier locally; a new verifier is
    computed here and sent in a file, so the plain password never reaches the host.
    """
    current = host.get_fact(PostgresDatabase, psql=runtime.psql, database=database)
    if current is None:
        if state.is_executing:
            raise OperationError("PostgreSQL is not accepting connections")
        current_roles, databases = {}, ()
    else:
        current_roles, databases = current.roles, current.databases
    statements = []
    ident = f'"{role}"'
    if role not in current_roles:
        statements.append(f"CREATE ROLE {ident} LOGIN;")
    verifier = current_roles.get(role)
    if not (verifier and scram.verify(password, verifier)):
        statements.append(f"ALTER ROLE {ident} PASSWORD '{scram.make_verifier(password)}';")
        host.log(f"Setting the password of role {role} (SCRAM)", logger.info)
    if statements:
        yield from _psql_file(
            runtime, "postgres", "\n".join(statements) + "\n", "/root/.tsdb-deploy-role.sql"
        )
    if database not in databases:
        yield (
            f"{runtime.psql} -X -q -v ON_ERROR_STOP=1 -d postgres -c "
            + shlex.quote(f'CREATE DATABASE "{database}" OWNER {ident}')
        )
    if not statements and database in databases:
        host.noop(f"role {role} and database {database} exist; the password matches")


# What the Apache-only build (e.g. Debian's postgresql-17-timescaledb) does not have.
APACHE_ONLY_LACKS = "compression, retention policies, continuous aggregates"


@operation(is_idempotent=True)
def timescaledb_extension(runtime: Runtime, database: str):
    """CREATE EXTENSION timescaledb in `database`; reports the build's license."""
    current = host.get_fact(PostgresDatabase, psql=runtime.psql, database=database)
    if current is not None and "timescaledb" in current.extensions:
        license_ = current.timescaledb_license
        lacks = f"; this build lacks {APACHE_ONLY_LACKS}" if license_ == "apache" else ""
        host.noop(
            f"timescaledb {current.extensions['timescaledb']} is installed in {database} "
            f"(license: {license_}{lacks})"
        )
        return
    yield (
        f"{runtime.psql} -X -q -v ON_ERROR_STOP=1 -d {shlex.quote(database)} -c "
        + shlex.quote("CREATE EXTENSION IF NOT EXISTS timescaledb")
    )


@operation(is_idempotent=True)
def schema_migrations(
    runtime: Runtime, database: str, migrations: list, variables: dict, applied_by: str
):
    """Apply the pending migrations of sql/, each in its own transaction, in order.

    The ledger is read first: a changed applied migration is refused before anything runs. A
    failing migration rolls back, stops the deploy with psql's error, and leaves later
    migrations unapplied and the ledger as it was.
    """
    applied = host.get_fact(MigrationLedger, psql=runtime.psql, database=database)
    if applied is None:
        if state.is_executing:
            raise OperationError(f"cannot read the migration ledger of {database}")
        applied = []  # planning a host whose database does not exist yet
    try:
        todo = migrations_module.pending(migrations, applied)
    except migrations_module.MigrationError as exc:
        raise OperationError(str(exc)) from None
    if not todo:
        host.noop(f"all {len(migrations)} migrations applied, checksums match the files")
        return
    host.log(f"Applying migrations: {', '.join(m.name for m in todo)}", logger.info)
    args = migrations_module.psql_variables(variables)
    for migration in todo:
        yield from _psql_file(
            runtime,
            database,
            migrations_module.script(migration, applied_by),
            f"/root/.tsdb-deploy-{migration.name}.sql",
            args,
        )


@operation(is_idempotent=True)
def chunk_time_interval(runtime: Runtime, database: str, table: str, interval: str):
    """New chunks of `table` get the planned interval (existing chunks keep theirs)."""
    dimensions = host.get_fact(HypertableDimensions, psql=runtime.psql, database=database)
    current = (dimensions or {}).get(table, {}).get("interval")
    wanted = interval_seconds(interval)
    if current is None:
        host.noop(f"{table} is not a hypertable yet: its migration creates it with {interval}")
        return
    if current == wanted:
        host.noop(f"{table} chunks span {interval}")
        return
    host.log(f"{table}: chunk interval {current}s -> {interval} for new chunks", logger.info)
    sql = f"SELECT set_chunk_time_interval('{table}', INTERVAL '{interval}')"
    yield (
        f"{runtime.psql} -X -q -v ON_ERROR_STOP=1 -d {shlex.quote(database)} -c " + shlex.quote(sql)
    )


MAINTENANCE_CRON = "/etc/cron.d/tsdb-maintenance"


def maintenance_cron_text(minute: int = 7) -> str:
    job = (
        f"{minute} * * * * postgres tsdb-psql -X -q -At -c 'SELECT klaviyo_run_maintenance()' "
        "2>&1 | logger -t tsdb-maintenance"
    )
    return cron_file(
        "the Apache-only TimescaleDB build cannot schedule jobs, so cron runs the aggregate "
        "refresh and retention (klaviyo_run_maintenance) hourly",
        [job],
    )


@operation(is_idempotent=True)
def maintenance_schedule(runtime: Runtime, database: str):
    """Where TimescaleDB cannot schedule (Apache build), cron runs the maintenance hourly;
    where it can (Community build, its own policies), no cron job."""
    current = host.get_fact(PostgresDatabase, psql=runtime.psql, database=database)
    license_ = current.timescaledb_license if current else None
    if license_ is None:
        host.noop("decided once TimescaleDB is installed (by its license)")
        return
    text = maintenance_cron_text()
    present = host.get_fact(Sha256File, path=MAINTENANCE_CRON)
    if license_ == "apache":
        if present == _sha256(text):
            host.noop("apache build: cron runs the aggregate refresh and retention hourly")
            return
        host.log("apache build: no compression; retention and aggregates by cron", logger.info)
        yield FileUploadCommand(StringIO(text), MAINTENANCE_CRON)
        yield f"chmod 644 {MAINTENANCE_CRON}"
    elif present:
        host.log("timescale build: its own policies run; removing the cron job", logger.info)
        yield f"rm -f {MAINTENANCE_CRON}"
    else:
        host.noop("timescale build: compression, retention and aggregates run as its jobs")


@operation(is_idempotent=True)
def pgbackrest_ready(runtime: Runtime, stanza: str):
    """The stanza exists, has a full backup to recover from, and `pgbackrest check` passes
    (archiving works end to end). A check that fails stops the deploy with its message."""
    run = f"{runtime.run_as_postgres} pgbackrest --stanza={stanza}"
    info = host.get_fact(PgbackrestInfo, run_as_postgres=runtime.run_as_postgres, stanza=stanza)
    if info is None and state.is_executing:
        raise OperationError("pgbackrest info gave no answer: is pgBackRest installed?")
    if info is None or info.status_code == 1:  # missing stanza
        host.log(f"pgBackRest: creating stanza {stanza}", logger.info)
        yield f"{run} stanza-create"
        yield f"{run} check"
    if info is None or info.backups == 0:
        host.log("pgBackRest: first full backup (point-in-time recovery starts here)")
        yield f"{run} --type=full backup"
        return
    check = host.get_fact(Command, command=f"{run} check 2>&1 && echo TSDB_CHECK_OK || true")
    if not (check or "").endswith("TSDB_CHECK_OK"):
        raise OperationError(f"pgbackrest check failed: {(check or '').strip()[-500:]}")
    host.noop(f"pgBackRest: {info.backups} backups, check passed")


@operation(is_idempotent=True)
def first_backup(tier: str = "daily"):
    """A new host gets a verified logical backup now, not at the first cron run."""
    status = host.get_fact(Command, command="tsdb-backup --status --json 2>/dev/null || true")
    try:
        tiers = json.loads(status or "")["tiers"]
    except (ValueError, KeyError):
        tiers = None  # tsdb-backup not installed yet (planning a new host)
    if tiers and any(t["verified"] for t in tiers.values()):
        host.noop("a verified logical backup exists")
        return
    host.log(f"Taking the first logical backup ({tier})", logger.info)
    yield f"runuser -u postgres -- tsdb-backup {tier}"
