"""A bare host becomes a running, hardware-sized TimescaleDB server."""

from __future__ import annotations

from pyinfra.api import deploy

from .. import operations
from ..host_plan import HostPlan
from . import install


@deploy("TimescaleDB server")
def database_server(hp: HostPlan) -> None:
    rt = hp.runtime
    install.runtime_installed(hp)
    # pgBackRest's repositories and config are in place before PostgreSQL archives to them;
    # the compose project before the container that runs it
    for step, what in (("pgbackrest", "pgBackRest repositories and config"),
                       ("service", "Compose project")):  # fmt: skip
        if hp.files_of(step) or hp.directories_of(step):
            operations.host_files(name=what, files=hp.files_of(step),
                                  directories=hp.directories_of(step),
                                  known=hp.known_paths)  # fmt: skip
    operations.postgres_config(
        name="postgresql.conf, pg_hba.conf and the TLS certificate as planned",
        runtime=rt,
        files=hp.files_of("server"),
        planned=hp.plan.values(),
        guard=hp.restart_guard,
        known=hp.known_paths,
    )
    install.service_running(hp)
    operations.host_files(
        name="Record the plan this host was sized with; tsdb-pg and tsdb-psql",
        files=[*hp.files_of("record"), *hp.files_of("tools")],
        directories=hp.directories_of("record"),
        known=hp.known_paths,
    )
    operations.database_and_role(
        name="Application role and database",
        runtime=rt,
        database=hp.database,
        role=hp.app_user,
        verifier=hp.app_verifier,
    )
    operations.timescaledb_extension(
        name="TimescaleDB extension, at the installed version in every database",
        runtime=rt,
        database=hp.database,
        expected=rt.timescaledb_version,
        guard=hp.restart_guard,
    )
