"""A bare host becomes a running, hardware-sized TimescaleDB server."""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import files

from .. import context, operations, pgbackrest, render

PLAN_RECORD = "/etc/tsdb-deploy/plan.json"
TOOLS = "/usr/local/bin"


def client_tools(ctx: context.HostContext) -> dict[str, str]:
    """tsdb-pg (runtime-specific) and tsdb-psql (on top of it): path -> content."""
    runtime = ctx.runtime
    return {
        f"{TOOLS}/tsdb-pg": render.render(
            "tsdb-pg.j2", runtime=runtime.name, lines=runtime.tsdb_pg_lines()
        ),
        f"{TOOLS}/tsdb-psql": render.render("tsdb-psql.j2", database=ctx.settings["database"]),
    }


@deploy("TimescaleDB server")
def database_server(ctx: context.HostContext) -> None:
    runtime = ctx.runtime
    runtime.install()
    if ctx.settings["pitr"]:
        pgbackrest.install_files(ctx)
    runtime.prepare_service(ctx.plan)
    operations.postgres_config(
        name="postgresql.conf, pg_hba.conf and the TLS certificate as planned",
        runtime=runtime,
        files=ctx.server_files,
        planned=ctx.plan.values(),
    )
    runtime.ensure_service()
    files.directory(name="tsdb-deploy state directory", path="/etc/tsdb-deploy", mode="755")
    files.put(
        name="Record the plan this host was sized with",
        src=StringIO(ctx.plan_json),
        dest=PLAN_RECORD,
        mode="644",
    )
    for path, text in client_tools(ctx).items():
        files.put(name=f"{path.rsplit('/', 1)[1]}", src=StringIO(text), dest=path, mode="755")
    operations.database_and_role(
        name="Application role and database",
        runtime=runtime,
        database=ctx.settings["database"],
        role=ctx.settings["app_user"],
        password=ctx.password,
    )
    operations.timescaledb_extension(
        name="TimescaleDB extension, at the installed version in every database",
        runtime=runtime,
        database=ctx.settings["database"],
        expected=runtime.timescaledb_version,
    )
