"""pyinfra inventory/<env>.py deploy.py: turn each host into a sized TimescaleDB server.

Everything is worked out and validated per host (inventory data, facts, plan, rendered files,
migrations) before any operation runs: tsdb_deploy/host_plan.py. The steps live in
tsdb_deploy/deploys/ and carry out that plan; the runtime (the host's group: native or docker)
gives them its paths and commands. One deploy at a time changes a host: the run holds the
host's deploy lock from its first operation to its last (tsdb_deploy/deploy_lock.py).
"""

from pyinfra import host

from tsdb_deploy import deploys, host_plan, pyinfra_stack

pyinfra_stack.install()
deploys.converge(host_plan.build(host))
