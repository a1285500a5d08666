"""Point-in-time recovery with pgBackRest: WAL archived by archive_command (planned),
a full backup weekly and a differential daily from cron, `pgbackrest check` on every deploy,
and /usr/local/sbin/tsdb-pitr to restore the cluster to a moment."""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import files

from .. import context, operations, pgbackrest, render

PITR_TOOL = "/usr/local/sbin/tsdb-pitr"
CRON = "/etc/cron.d/tsdb-pgbackrest"


@deploy("Point-in-time recovery")
def point_in_time_recovery(ctx: context.HostContext) -> None:
    runtime = ctx.runtime
    if not ctx.settings["pitr"]:
        files.file(name="No pgBackRest schedule", path=CRON, present=False)
        files.file(name="No tsdb-pitr", path=PITR_TOOL, present=False)
        return
    files.put(
        name="tsdb-pitr: restore the cluster to a moment",
        src=StringIO(
            render.render(
                "tsdb-pitr.j2",
                runtime=runtime.name,
                lines=runtime.tsdb_pitr_lines(pgbackrest.STANZA),
            )
        ),
        dest=PITR_TOOL,
        mode="755",
    )
    operations.packages_installed(name="cron", packages=["cron"])
    files.put(
        name="pgBackRest schedule (cron, as postgres)",
        src=StringIO(pgbackrest.cron_text()),
        dest=CRON,
        mode="644",
    )
    operations.pgbackrest_ready(
        name="pgBackRest stanza, first full backup, check",
        runtime=runtime,
        stanza=pgbackrest.STANZA,
    )
