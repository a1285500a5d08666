"""The analytics schema: migrations from sql/, the sized chunk interval, the maintenance."""

from __future__ import annotations

import getpass
import socket

from pyinfra.api import deploy

from .. import __version__, operations, render
from ..host_plan import HostPlan
from ..migrations import EVENTS


def applied_by() -> str:
    """Who applies a migration: the operator and machine running the deploy."""
    return f"{getpass.getuser()}@{socket.gethostname()} (tsdb-deploy {__version__})"


@deploy("Analytics schema")
def analytics_schema(hp: HostPlan) -> None:
    runtime, database = hp.runtime, hp.database
    operations.schema_migrations(
        name="Schema migrations (sql/)",
        runtime=runtime,
        database=database,
        migrations=hp.migrations,
        variables=hp.schema_variables,
        applied_by=applied_by(),
    )
    operations.role_settings(
        name="The roles' own limits (statement, lock and idle-transaction timeouts)",
        runtime=runtime,
        database=database,
        # the monitoring role's, once the monitoring step has made it
        wanted={r: s for r, s in hp.role_settings.items() if r != hp.monitor_role},
    )
    operations.chunk_time_interval(
        name=f"{EVENTS} chunk interval as planned",
        runtime=runtime,
        database=database,
        table=EVENTS,
        interval=hp.plan.chunk.interval,
    )
    present = hp.events_properties_index
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
        cron=hp.file(render.MAINTENANCE_CRON),
        known=hp.known_paths,
    )
