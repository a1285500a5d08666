"""A staging rebuild's last step on the target (tsdb-deploy staging-rebuild): the copy of the
picked backup uploaded beside the host's backups, masking.sql installed, tsdb-restore --rebuild
run (restore into a closed database, check, mask, swap), its report fetched, the copy removed
(it holds unmasked data)."""

from __future__ import annotations

import shlex
from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.server import Command
from pyinfra.operations import files, server

from .. import operations, staging
from ..host_plan import HostPlan
from ..render.masking import masking_sql


@deploy("Staging rebuild")
def staging_rebuild(hp: HostPlan, pick: staging.Pick, workdir: Path) -> None:
    backups = next(d for d in hp.directories_of("backups") if d.path == hp.backup_dir)
    user, _, group = backups.owner.partition(":")
    incoming = f"{hp.backup_dir}/{staging.INCOMING}"
    files.directory(name="Directory of the copy", path=incoming, user=user, group=group, mode="700")
    copies = [f"{incoming}/{pick.name}", f"{incoming}/{pick.metadata_name}"]
    # a killed run's copy of another backup (unmasked data) goes before this one comes
    listed = host.get_fact(Command, command=f"ls -A {shlex.quote(incoming)} 2>/dev/null || true")
    for stale in sorted(set((listed or "").split()) - {pick.name, pick.metadata_name}):
        files.file(name=f"Remove an earlier run's copy {stale}", path=f"{incoming}/{stale}",
                   present=False)  # fmt: skip
    for name, remote in zip((pick.name, pick.metadata_name), copies, strict=True):
        operations.private_upload(
            name=f"Copy {name} from {pick.source_host}",
            src=str(workdir / name),
            dest=remote,
            owner=backups.owner,
            mode="600",
        )
    files.put(
        name="The masking rules (tsdb_deploy/masking.py)",
        src=StringIO(masking_sql()),
        dest=staging.MASKING_SQL,
        user="root",
        group="root",
        mode="644",
    )
    # the copy holds unmasked data: it goes in the same command, whatever the tool's outcome
    # (a failed operation would stop the host before a later removal ran)
    removal = " ".join(shlex.quote(c) for c in copies)
    server.shell(
        name="Restore into a closed database, check, mask, swap in (tsdb-restore --rebuild)",
        commands=[
            f"tsdb-restore --rebuild {shlex.quote(copies[0])} --mask {staging.MASKING_SQL} "
            f"--report {staging.REPORT} --yes-i-understand; rc=$?; rm -f {removal}; exit $rc"
        ],
    )
    files.get(
        name="The rebuild's report",
        src=staging.REPORT,
        dest=str(workdir / staging.report_name(host.name)),
        force=True,
    )
