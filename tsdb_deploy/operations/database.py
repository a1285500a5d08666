"""The application role, its database and the TimescaleDB extension."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from pyinfra import host, logger, state
from pyinfra.api import operation
from pyinfra.api.exceptions import OperationError

from .. import known_issues
from ..apt import release
from ..facts import PostgresDatabase, TimescaledbVersions, batch
from ..formats import sql_literal
from ._common import psql_command, psql_file
from .config import guarded_command

if TYPE_CHECKING:
    from ..restart_guard import RestartGuard
    from ..runtimes import Runtime


@operation(is_idempotent=True)
def database_and_role(runtime: Runtime, database: str, role: str, verifier: str):
    """The application role (login, with `verifier` as its SCRAM password) owning `database`.

    The verifier is worked out by the deploy (host_plan.verifier_for: the stored one while it
    matches the password) and sent in a file, so the plain password never reaches the host and
    PgBouncer's userlist holds the very verifier PostgreSQL checks.
    """
    current = batch.read(host, PostgresDatabase, server=runtime.server, database=database)
    if current is None:
        if state.is_executing:
            raise OperationError("PostgreSQL is not accepting connections")
        current_roles, databases = {}, ()
    else:
        current_roles, databases = current.roles, current.databases
    ident = f'"{role}"'
    statements = _login_role(role, current_roles, verifier)
    if statements:
        yield from _apply_role_statements(runtime, statements)
    if database not in databases:
        yield psql_command(runtime, "postgres", f'CREATE DATABASE "{database}" OWNER {ident}')
    if not statements and database in databases:
        host.noop(f"role {role} and database {database} exist; the password matches")


def _apply_role_statements(runtime: Runtime, statements: list[str]):
    """In a file as postgres: a SCRAM verifier never shows on a command line."""
    yield from psql_file(runtime, "postgres", "\n".join(statements) + "\n", "roles")


def _login_role(role: str, current_roles: dict, verifier: str) -> list[str]:
    """Statements that make `role` a login role whose SCRAM password is `verifier`."""
    ident = f'"{role}"'
    statements = []
    if role not in current_roles:  # a missing or NOLOGIN role: made a login role
        statements.append(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {sql_literal(role)})"
            f" THEN CREATE ROLE {ident}; END IF; END $$;"
        )
        statements.append(f"ALTER ROLE {ident} LOGIN;")
    if current_roles.get(role) != verifier:
        statements.append(f"ALTER ROLE {ident} PASSWORD '{verifier}';")
        host.log(f"Setting the password of role {role} (SCRAM)", logger.info)
    return statements


@operation(is_idempotent=True)
def monitoring_role(runtime: Runtime, database: str, role: str, verifier: str):
    """`role` logs in with `verifier` and holds pg_monitor's rights (read every statistic,
    run nothing that changes data), nothing else."""
    current = batch.read(host, PostgresDatabase, server=runtime.server, database=database)
    roles = current.roles if current else {}
    statements = _login_role(role, roles, verifier)
    if "pg_monitor" not in (current.member_of.get(role, set()) if current else set()):
        statements.append(f'GRANT pg_monitor TO "{role}";')
    if not statements:
        host.noop(f"role {role} logs in with its password and holds pg_monitor")
        return
    yield from _apply_role_statements(runtime, statements)


@operation(is_idempotent=True)
def role_settings(runtime: Runtime, database: str, wanted: dict[str, dict[str, str]]):
    """Each role's own parameters (ALTER ROLE ... SET), as `wanted` says: role -> {name:
    value}. Only what differs is set; a role that does not exist yet is an error (the
    migrations create them before this runs)."""
    current = batch.read(host, PostgresDatabase, server=runtime.server, database=database)
    have = current.role_settings if current else {}
    statements, changes = [], []
    for role, params in wanted.items():
        for name, value in params.items():
            old = have.get(role, {}).get(name)
            if old != value:
                statements.append(f'ALTER ROLE "{role}" SET {name} = {sql_literal(value)};')
                changes.append(f"{role}.{name}: {old or 'unset'} -> {value}")
    if not statements:
        listed = ", ".join(f"{r} ({len(p)})" for r, p in wanted.items())
        host.noop(f"role settings as planned: {listed}")
        return
    host.log(f"Role settings: {'; '.join(changes)}", logger.info)
    yield psql_command(runtime, "postgres", " ".join(statements))


# What the Apache-only build (e.g. Debian's postgresql-17-timescaledb) does not have.
APACHE_ONLY_LACKS = "compression, retention policies, continuous aggregates"
LOADER_STALE = "loader version out-of-date"


def _newer(a: str, b: str) -> bool:
    return (release(a) or (0,)) > (release(b) or (0,))


@operation(is_idempotent=True)
def timescaledb_extension(
    runtime: Runtime, database: str, expected: str | None, guard: RestartGuard
):
    """TimescaleDB created in `database`, and in every database that has it, at the version
    installed on disk: `ALTER EXTENSION timescaledb UPDATE` as the first command of a fresh
    `psql -X` session, as Timescale prescribes. PostgreSQL restarts only if TimescaleDB says
    its preloaded loader is too old for the new version, once no backup runs (`guard`).
    Versions before and after are
    reported; a database ahead of the installed version (a downgrade) is refused.

    `expected`: the version the deploy installs (None: whatever the distribution ships). While
    planning, the packages or image are not replaced yet, so the plan is made against it.
    """
    found = batch.read(host, TimescaledbVersions, server=runtime.server, database=database)
    if found is None:
        if state.is_executing:
            raise OperationError("PostgreSQL is not accepting connections")
        host.log(f"TimescaleDB {expected or ''} will be created in {database}".replace("  ", " "))
        yield psql_command(runtime, database, "CREATE EXTENSION IF NOT EXISTS timescaledb")
        return
    target = found.available
    if not state.is_executing and expected and (target is None or _newer(expected, target)):
        target = expected  # the install step before this one brings it
    if target is None:
        raise OperationError("the TimescaleDB extension is not installed on this host")
    if expected and found.license != "apache":  # defects of the Community build
        for issue in known_issues.release_issues(target):
            host.log(f"TimescaleDB {target}: {issue}", logger.warning)
    ahead = {db: v for db, v in found.installed.items() if _newer(v, target)}
    if ahead:
        listed = ", ".join(f"{db} has {v}" for db, v in sorted(ahead.items()))
        raise OperationError(
            f"TimescaleDB {target} is older than the extension in the databases ({listed}): "
            "downgrades are refused; set timescaledb_version to at least that version"
        )
    behind = {db: v for db, v in sorted(found.installed.items()) if v != target}
    if found.closed and behind:
        host.log(
            f"Not updated (they take no connections): {', '.join(found.closed)}", logger.warning
        )
    for db, version in behind.items():
        host.log(f"Updating TimescaleDB in {db}: {version} -> {target}", logger.warning)
        update = psql_command(runtime, db, "ALTER EXTENSION timescaledb UPDATE")
        restart = guarded_command(runtime, guard, f"TimescaleDB {version} -> {target}")
        yield (
            f'out=$({update} 2>&1) || case "$out" in *{shlex.quote(LOADER_STALE)}*) '
            "echo 'TimescaleDB: the loader is out of date, restarting PostgreSQL' >&2; "
            f"({restart}) && {update};; "
            '*) echo "$out" >&2; exit 1;; esac'
        )
    if database not in found.installed:
        yield psql_command(runtime, database, "CREATE EXTENSION IF NOT EXISTS timescaledb")
    if behind or database not in found.installed:
        return
    license_ = found.license
    lacks = f"; this build lacks {APACHE_ONLY_LACKS}" if license_ == "apache" else ""
    where = ", ".join(f"{db} {v}" for db, v in sorted(found.installed.items()))
    host.noop(
        f"timescaledb {target} installed; in the databases: {where} (license: {license_}{lacks})"
    )
