"""A bare host becomes a running, hardware-sized TimescaleDB server."""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import files

from .. import context, operations, render

PLAN_RECORD = "/etc/tsdb-deploy/plan.json"
TSDB_PSQL = "/usr/local/bin/tsdb-psql"


def tsdb_psql_script(ctx: context.HostContext) -> str:
    runtime = ctx.runtime
    return render.render(
        "tsdb-psql.j2",
        runtime=runtime.name,
        database=ctx.settings["database"],
        lines=runtime.tsdb_psql_lines(),
    )


@deploy("TimescaleDB server")
def database_server(ctx: context.HostContext) -> None:
    runtime = ctx.runtime
    runtime.install()
    runtime.prepare_service(ctx.plan)
    operations.postgres_config(
        name="postgresql.conf and pg_hba.conf as planned",
        runtime=runtime,
        conf_text=ctx.conf_text,
        hba_text=ctx.hba_text,
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
    files.put(
        name="tsdb-psql: psql as superuser on the local instance",
        src=StringIO(tsdb_psql_script(ctx)),
        dest=TSDB_PSQL,
        mode="755",
    )
    operations.database_and_role(
        name="Application role and database",
        runtime=runtime,
        database=ctx.settings["database"],
        role=ctx.settings["app_user"],
        password=ctx.password,
    )
    operations.timescaledb_extension(
        name="TimescaleDB extension",
        runtime=runtime,
        database=ctx.settings["database"],
    )
