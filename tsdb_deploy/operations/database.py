"""The application role, its database and the TimescaleDB extension."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyinfra import host, logger, state
from pyinfra.api import operation
from pyinfra.api.exceptions import OperationError

from .. import scram
from ..facts import (
    PostgresDatabase,
)
from ._common import psql_command, psql_file

if TYPE_CHECKING:  # runtimes use these operations; import the type only for checkers
    from ..runtimes import Runtime


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
        yield from psql_file(
            runtime, "postgres", "\n".join(statements) + "\n", "/root/.tsdb-deploy-role.sql"
        )
    if database not in databases:
        yield psql_command(runtime, "postgres", f'CREATE DATABASE "{database}" OWNER {ident}')
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
    yield psql_command(runtime, database, "CREATE EXTENSION IF NOT EXISTS timescaledb")
