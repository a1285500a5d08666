"""Logical backups: tiered pg_dump archives on cron (tsdb-backup) and restores (tsdb-restore).
Point-in-time recovery is deploys/pitr.py."""

from __future__ import annotations

from pyinfra.api import deploy

from .. import operations
from ..host_plan import HostPlan


@deploy("Backups")
def backups(hp: HostPlan) -> None:
    operations.packages_installed(name="python3 and cron", packages=["python3", "cron"])
    operations.host_files(
        name="Backup directory, backup.conf, tsdb-backup, tsdb-restore, their schedule",
        files=hp.files_of("backups"),
        directories=hp.directories_of("backups"),
        known=hp.known_paths,
    )
    operations.first_backup(
        name="A verified backup of the database as it is (new host, new TimescaleDB)",
        runtime=hp.runtime,
        database=hp.database,
    )
