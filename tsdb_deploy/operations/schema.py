"""The schema: migrations, the chunk interval, the optional properties index, the scheduled
maintenance."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyinfra import host, logger, state
from pyinfra.api import operation
from pyinfra.api.exceptions import OperationError

from .. import known_issues
from .. import migrations as migrations_module
from ..facts import (
    FailingJobs,
    HypertableDimensions,
    MigrationLedger,
    PostgresDatabase,
    TableIndexes,
    batch,
)
from ..units import parse_interval
from ._common import psql_command, psql_file, sha256
from .files import file_states, install_file

if TYPE_CHECKING:
    from ..render import HostFile
    from ..runtimes import Runtime


@operation(is_idempotent=True)
def schema_migrations(
    runtime: Runtime, database: str, migrations: list, variables: dict, applied_by: str
):
    """Apply the pending migrations of sql/, each in its own transaction, in order.

    The ledger is read first: a changed applied migration is refused before anything runs. A
    failing migration rolls back, stops the deploy with psql's error, and leaves later
    migrations unapplied and the ledger as it was.
    """
    applied = batch.read(host, MigrationLedger, server=runtime.server, database=database)
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
        yield from psql_file(
            runtime,
            database,
            migrations_module.script(migration, applied_by),
            migration.name,
            args,
        )


@operation(is_idempotent=True)
def chunk_time_interval(runtime: Runtime, database: str, table: str, interval: str):
    """New chunks of `table` get the planned interval (existing chunks keep theirs)."""
    dimensions = batch.read(host, HypertableDimensions, server=runtime.server, database=database)
    current = (dimensions or {}).get(table, {}).get("interval")
    wanted = parse_interval(interval)
    if current is None:
        host.noop(f"{table} is not a hypertable yet: its migration creates it with {interval}")
        return
    if current == wanted:
        host.noop(f"{table} chunks span {interval}")
        return
    host.log(f"{table}: chunk interval {current}s -> {interval} for new chunks", logger.info)
    sql = f"SELECT set_chunk_time_interval('{table}', INTERVAL '{interval}')"
    yield psql_command(runtime, database, sql)


# sql/0003's GIN index on the events' properties, as it creates it. Built again chunk by chunk
# (TimescaleDB's transaction_per_chunk): each chunk blocks writes only while its own index
# builds, not the whole table for the whole build. The lock timeout keeps a DROP or CREATE
# that waits behind a long query from queueing every other query of the table behind it.
PROPERTIES_INDEX = "idx_klaviyo_events_properties_gin"
PROPERTIES_INDEX_DEFINITION = "USING GIN (properties jsonb_path_ops)"
INDEX_LOCK_TIMEOUT = "10s"


@operation(is_idempotent=True)
def properties_index(runtime: Runtime, database: str, table: str, present: bool):
    """`table`'s GIN index on properties present or not, as the setting says: dropped, or
    built again when wanted and missing or left invalid by an interrupted build."""
    indexes = batch.read(host, TableIndexes, server=runtime.server, database=database, table=table)
    if indexes is None:  # planning a fresh host: the table's migration creates the index
        if present:
            host.noop(f"{PROPERTIES_INDEX}: created with {table} by its migration")
            return
        indexes = {PROPERTIES_INDEX: True}
    valid = indexes.get(PROPERTIES_INDEX)
    if present and valid:
        host.noop(f"{PROPERTIES_INDEX} present")
        return
    if not present and valid is None:
        host.noop(f"{PROPERTIES_INDEX} absent (events_properties_index = False)")
        return
    statements = [f"SET lock_timeout = '{INDEX_LOCK_TIMEOUT}'"]
    if valid is not None:  # unwanted, or invalid after an interrupted build
        host.log(f"{table}: dropping {PROPERTIES_INDEX}", logger.info)
        statements.append(f"DROP INDEX {PROPERTIES_INDEX}")
    if present:
        host.log(f"{table}: building {PROPERTIES_INDEX} chunk by chunk", logger.info)
        statements.append(
            f"CREATE INDEX {PROPERTIES_INDEX} ON {table} {PROPERTIES_INDEX_DEFINITION} "
            "WITH (timescaledb.transaction_per_chunk)"
        )
    # each statement its own transaction (CREATE INDEX with transaction_per_chunk requires it),
    # one session: the lock timeout holds for all
    yield psql_command(runtime, database, *statements)


@operation(is_idempotent=True)
def maintenance_schedule(runtime: Runtime, database: str, cron: HostFile, known: list[str] = ()):
    """Where TimescaleDB cannot schedule (Apache build), `cron` runs the maintenance hourly;
    where it can (Community build, its own policies), no cron job."""
    current = batch.read(host, PostgresDatabase, server=runtime.server, database=database)
    license_ = current.timescaledb_license if current else None
    if license_ is None:
        host.noop("decided once TimescaleDB is installed (by its license)")
        return
    present = file_states(host, [cron.path], known)[cron.path]
    if license_ == "apache":
        if present is not None and present.sha256 == sha256(cron.text):
            host.noop("apache build: cron runs the aggregate refresh and retention hourly")
            return
        host.log("apache build: no compression; retention and aggregates by cron", logger.info)
        yield from install_file(cron.path, cron.text, cron.owner, cron.mode)
    elif present:
        host.log("timescale build: its own policies run; removing the cron job", logger.info)
        yield f"rm -f {cron.path}"
    else:
        host.noop("timescale build: compression, retention and aggregates run as its jobs")
    if license_ == "timescale":
        by_cause: dict[str, list[str]] = {}
        for job, _, error in batch.read(
            host, FailingJobs, server=runtime.server, database=database
        ):
            by_cause.setdefault(known_issues.diagnose(error) or error, []).append(job)
        for why, jobs in by_cause.items():
            host.log(f"TimescaleDB jobs {', '.join(jobs)} failed their last run: {why}",
                     logger.warning)  # fmt: skip
