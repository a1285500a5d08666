"""Logical backups: tiered pg_dump archives on cron (tsdb-backup) and restores (tsdb-restore).
Point-in-time recovery is deploys/pitr.py."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

from pyinfra.api import deploy
from pyinfra.operations import files

from .. import context, formats, operations, render

FILES = Path(__file__).resolve().parents[2] / "files"
BACKUP_CONF = "/etc/tsdb-deploy/backup.conf"
TIERS = ("hourly", "daily", "weekly", "monthly")
# minute hour day-of-month month day-of-week, per tier: spread so runs do not pile up
SCHEDULE = {
    "hourly": "5 * * * *",
    "daily": "15 2 * * *",
    "weekly": "30 3 * * 0",
    "monthly": "45 4 1 * *",
}


def backup_conf(settings: dict, pg_version: int) -> str:
    # pg_dump 15 takes a gzip level only; 16 added method:level
    compression = settings["BACKUP_COMPRESSION"] or ("6" if pg_version < 16 else "zstd:3")
    values = {
        "BACKUP_DIR": settings["BACKUP_DIR"],
        "DB_NAME": settings["database"],
        **{f"MAX_{t.upper()}_BACKUPS": settings[f"MAX_{t.upper()}_BACKUPS"] for t in TIERS},
        "BACKUP_COMPRESSION": compression,
        "TSDB_PG": "/usr/local/bin/tsdb-pg",
    }
    lines = [
        "# written by tsdb-deploy: read by tsdb-backup and tsdb-restore",
        *(formats.conf_line(key, value) for key, value in values.items()),
    ]
    return "\n".join(lines) + "\n"


def backup_cron() -> str:
    jobs = [
        f"{SCHEDULE[t]} postgres tsdb-backup {t} >/dev/null 2>&1" for t in TIERS
    ]  # tsdb-backup logs to BACKUP_DIR/backup.log and syslog itself
    return render.cron_file("tiered logical backups (pg_dump), as postgres", jobs)


@deploy("Backups")
def backups(ctx: context.HostContext) -> None:
    runtime, settings = ctx.runtime, ctx.settings
    operations.packages_installed(name="python3 and cron", packages=["python3", "cron"])
    files.directory(
        name="Backup directory (0700, postgres)",
        path=settings["BACKUP_DIR"],
        user="postgres",
        mode="700",
    )
    files.put(
        name="backup.conf",
        src=StringIO(backup_conf(settings, runtime.pg_version)),
        dest=BACKUP_CONF,
        mode="644",
    )
    for tool in ("tsdb-backup", "tsdb-restore"):
        files.put(name=tool, src=str(FILES / tool), dest=f"/usr/local/bin/{tool}", mode="755")
    files.put(
        name="Backup schedule (cron, as postgres)",
        src=StringIO(backup_cron()),
        dest="/etc/cron.d/tsdb-backup",
        mode="644",
    )
    operations.first_backup(
        name="A verified backup of the database as it is (new host, new TimescaleDB)",
        runtime=runtime,
        database=settings["database"],
    )
