"""Point-in-time recovery with pgBackRest: WAL archived by archive_command (planned),
a full backup weekly and a differential daily from cron, `pgbackrest check` when archiving's
setup changed or failed,
and /usr/local/sbin/tsdb-pitr to restore the cluster to a moment."""

from __future__ import annotations

from pyinfra.api import deploy

from .. import operations, pgbackrest, render
from ..host_plan import HostPlan


@deploy("Point-in-time recovery")
def point_in_time_recovery(hp: HostPlan) -> None:
    if not hp.runtime.pitr:
        operations.files_absent(
            name="No pgBackRest schedule, no tsdb-pitr",
            paths=render.absent_files(hp.runtime),
            known=hp.known_paths,
        )
        return
    operations.packages_installed(name="cron", packages=["cron"])
    operations.host_files(
        name="tsdb-pitr and the pgBackRest schedule",
        files=hp.files_of("pitr"),
        known=hp.known_paths,
    )
    planned = hp.plan.values()
    (conf,) = hp.files_of("pgbackrest")
    operations.pgbackrest_ready(
        name="pgBackRest stanza, first full backup, archiving checked",
        runtime=hp.runtime,
        stanza=pgbackrest.STANZA,
        check_key=pgbackrest.check_key(
            conf.text, planned["archive_mode"], planned["archive_command"]
        ),
        known=hp.known_paths,
    )
