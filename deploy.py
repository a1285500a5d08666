"""pyinfra inventory/<env>.py deploy.py: turn each host into a sized TimescaleDB server.

Everything is validated per host (inventory data, hardware, plan, templates, migrations)
before any operation runs: tsdb_deploy/context.py. The steps live in tsdb_deploy/deploys/;
the host's runtime (its group: native or docker) decides how each is carried out.
"""

from pyinfra import host

from tsdb_deploy import context
from tsdb_deploy.deploys import (
    analytics_schema,
    backups,
    database_server,
    point_in_time_recovery,
)

ctx = context.build(host)
database_server(ctx)
analytics_schema(ctx)
backups(ctx)
point_in_time_recovery(ctx)
