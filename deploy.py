"""pyinfra inventory/<env>.py deploy.py: turn each host into a sized TimescaleDB server.

Everything is worked out and validated per host (inventory data, facts, plan, rendered files,
migrations) before any operation runs: tsdb_deploy/host_plan.py. The steps live in
tsdb_deploy/deploys/ and carry out that plan; the runtime (the host's group: native or docker)
gives them its paths and commands. One deploy at a time changes a host: the run holds the
host's deploy lock from its first operation to its last (tsdb_deploy/deploy_lock.py).
"""

from pyinfra import host

from tsdb_deploy import host_plan, pyinfra_stack
from tsdb_deploy.deploys import (
    analytics_schema,
    backups,
    connection_pooler,
    database_server,
    monitoring,
    point_in_time_recovery,
)
from tsdb_deploy.operations import deploy_lock, deploy_lock_released, staging_leftovers

pyinfra_stack.install()
hp = host_plan.build(host)
deploy_lock(
    name="Hold this host's deploy lock",
    wait_s=hp.lock_wait_s,
    leftovers=staging_leftovers(hp.known_paths),
    _ignore_errors=False,  # a refusal stops the host, whatever its data says
)
database_server(hp)
analytics_schema(hp)
connection_pooler(hp)
backups(hp)
point_in_time_recovery(hp)
monitoring(hp)
deploy_lock_released(name="Release this host's deploy lock")
