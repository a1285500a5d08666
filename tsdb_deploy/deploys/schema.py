"""The analytics schema: migrations from sql/, the sized chunk interval, the maintenance."""

from __future__ import annotations

import getpass
import socket

from pyinfra.api import deploy

from .. import __version__, context, operations

EVENTS = "klaviyo_events"


def applied_by() -> str:
    """Who applies a migration: the operator and machine running the deploy."""
    return f"{getpass.getuser()}@{socket.gethostname()} (tsdb-deploy {__version__})"


@deploy("Analytics schema")
def analytics_schema(ctx: context.HostContext) -> None:
    runtime, database = ctx.runtime, ctx.settings["database"]
    operations.schema_migrations(
        name="Schema migrations (sql/)",
        runtime=runtime,
        database=database,
        migrations=ctx.migrations,
        variables=ctx.schema,
        applied_by=applied_by(),
    )
    operations.chunk_time_interval(
        name=f"{EVENTS} chunk interval as planned",
        runtime=runtime,
        database=database,
        table=EVENTS,
        interval=ctx.schema["chunk_interval"],
    )
    present = ctx.settings["events_properties_index"]
    operations.properties_index(
        name=f"{EVENTS} properties index {'present' if present else 'absent'} as set",
        runtime=runtime,
        database=database,
        table=EVENTS,
        present=present,
    )
    operations.packages_installed(name="cron", packages=["cron"])
    operations.maintenance_schedule(
        name="Aggregate refresh and retention scheduled",
        runtime=runtime,
        database=database,
        owner_role=ctx.settings["owner_role"],
    )
