"""Logical backups: backup.conf (what tsdb-backup and tsdb-restore read) and their schedule."""

from __future__ import annotations

from .. import formats
from .text import cron_file, header

TIERS = ("hourly", "daily", "weekly", "monthly")
# minute hour day-of-month month day-of-week, per tier: spread so runs do not pile up
SCHEDULE = {
    "hourly": "5 * * * *",
    "daily": "15 2 * * *",
    "weekly": "30 3 * * 0",
    "monthly": "45 4 1 * *",
}
TSDB_PG = "/usr/local/bin/tsdb-pg"
# tsdb-backup writes its tiers' newest verified backups here after every run, in Prometheus's
# text format; node_exporter's textfile collector serves it (render/exporter.py)
METRICS_DIR = "/var/lib/tsdb-deploy/metrics"
METRICS_FILE = f"{METRICS_DIR}/tsdb_backup.prom"


def default_compression(pg_version: int) -> str:
    """BACKUP_COMPRESSION when the inventory leaves it None: pg_dump 15 takes a gzip level
    only; 16 added method:level, and zstd is faster and smaller than gzip."""
    return "6" if pg_version < 16 else "zstd:3"


def backup_conf(
    *, backup_dir: str, database: str, keep: dict[str, int], compression: str, environment: str
) -> str:
    """`keep`: tier -> how many archives of it to keep. ENVIRONMENT is what the host serves:
    tsdb-restore --rebuild replaces no database on a host whose file says production."""
    values = {
        "BACKUP_DIR": backup_dir,
        "DB_NAME": database,
        **{f"MAX_{t.upper()}_BACKUPS": keep[t] for t in TIERS},
        "BACKUP_COMPRESSION": compression,
        "TSDB_PG": TSDB_PG,
        "BACKUP_METRICS_FILE": METRICS_FILE,
        "ENVIRONMENT": environment,
    }
    return header("read by tsdb-backup and tsdb-restore") + "".join(
        formats.conf_line(key, value) + "\n" for key, value in values.items()
    )


# Sunday, after the weekly backup: the newest weekly restored into a scratch database and
# checked, the result recorded in its metadata. Weekly, because a tested backup must outlive
# the week (an hourly one is rotated within a day); staging rebuilds pick tested backups only.
RESTORE_TEST = ("0 6 * * 0", "weekly/latest")


def backup_cron() -> str:
    jobs = [
        f"{SCHEDULE[t]} postgres tsdb-backup {t} >/dev/null 2>&1" for t in TIERS
    ]  # tsdb-backup and tsdb-restore log to BACKUP_DIR/backup.log and syslog themselves
    when, which = RESTORE_TEST
    jobs.append(f"{when} postgres tsdb-restore --test {which} >/dev/null 2>&1")
    return cron_file("tiered logical backups (pg_dump) and a weekly restore test, as postgres",
                     jobs)  # fmt: skip
