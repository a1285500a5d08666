"""A staging rebuild's second run, on the target hosts (tsdb-deploy staging-rebuild runs it):
refuses a production host, a backup of another schema or TimescaleDB release, or too little
disk, before anything changes; then converges the host as deploy.py does (sized to its own
hardware) and rebuilds its database from the copy, masked (tsdb_deploy/deploys/staging.py)."""

import os
from pathlib import Path

from pyinfra import host

from tsdb_deploy import deploys, host_plan, pyinfra_stack, staging
from tsdb_deploy.deploys.staging import staging_rebuild

pyinfra_stack.install()
workdir = Path(os.environ[staging.WORKDIR_ENV])
pick = staging.Pick.from_json((workdir / staging.PICK_FILE).read_text())
hp = host_plan.build(host)
host_plan.check_rebuild_target(host, hp, pick)
deploys.converge(hp, then=lambda: staging_rebuild(hp, pick, workdir))
