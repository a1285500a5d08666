"""pyinfra inventory/<env>.py deploy.py: turn each host into a sized TimescaleDB server.

Everything is worked out and validated per host (inventory data, facts, plan, rendered files,
migrations) before any operation runs: tsdb_deploy/host_plan.py. The steps live in
tsdb_deploy/deploys/ and carry out that plan; the runtime (the host's group: native or docker)
gives them its paths and commands.
"""

from pyinfra import host

from tsdb_deploy import host_plan
from tsdb_deploy.deploys import (
    analytics_schema,
    backups,
    connection_pooler,
    database_server,
    monitoring,
    point_in_time_recovery,
)

hp = host_plan.build(host)
database_server(hp)
analytics_schema(hp)
connection_pooler(hp)
backups(hp)
point_in_time_recovery(hp)
monitoring(hp)
