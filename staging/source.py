"""A staging rebuild's first run, on the source host (tsdb-deploy staging-rebuild runs it):
picks the newest verified, restore-tested logical backup and copies it, with its metadata, to
the deploy machine's working directory. Reads only: nothing on the source changes."""

import json
import os
import shlex
from pathlib import Path

from pyinfra import host
from pyinfra.facts.server import Command

from tsdb_deploy import host_plan, operations, pyinfra_stack, staging

pyinfra_stack.install()
workdir = Path(os.environ[staging.WORKDIR_ENV])
source = host_plan.host_role(host)
try:
    if (workdir / staging.PICK_FILE).exists():  # the hosts are prepared one after the other
        raise staging.StagingError(
            f"{host.name}: the source inventory holds several hosts; name one with --source-host"
        )
    listing = host.get_fact(Command, command="tsdb-restore --list --json 2>/dev/null || true")
    path, why = staging.pick_backup(host.name, source.database, json.loads(listing or "null"))
    metadata = host.get_fact(
        Command, command=f"cat {shlex.quote(str(Path(path).with_suffix('.json')))}"
    )
    pick = staging.Pick(host.name, path, json.loads(metadata))
except (staging.StagingError, ValueError) as exc:
    raise host_plan.DeployConfigError(str(exc)) from None
(workdir / staging.PICK_FILE).write_text(pick.to_json())
for name in (pick.name, pick.metadata_name):
    operations.private_download(
        name=f"Copy {name} ({why}) to the deploy machine",
        src=str(Path(path).with_name(name)),
        dest=str(workdir / name),
    )
