"""pyinfra inventory/<env>.py deploy.py: turn each host into a sized TimescaleDB server.

Everything is validated per host (inventory data, hardware, plan, templates) before any
operation runs; see tsdb_deploy/context.py. The steps live in tsdb_deploy/deploys/.
"""

from tsdb_deploy.deploys import database_host

database_host()
