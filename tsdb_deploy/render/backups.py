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


def backup_conf(*, backup_dir: str, database: str, keep: dict[str, int], compression: str) -> str:
    """`keep`: tier -> how many archives of it to keep."""
    values = {
        "BACKUP_DIR": backup_dir,
        "DB_NAME": database,
        **{f"MAX_{t.upper()}_BACKUPS": keep[t] for t in TIERS},
        "BACKUP_COMPRESSION": compression,
        "TSDB_PG": TSDB_PG,
        "BACKUP_METRICS_FILE": METRICS_FILE,
    }
    return header("read by tsdb-backup and tsdb-restore") + "".join(
        formats.conf_line(key, value) + "\n" for key, value in values.items()
    )


def backup_cron() -> str:
    jobs = [
        f"{SCHEDULE[t]} postgres tsdb-backup {t} >/dev/null 2>&1" for t in TIERS
    ]  # tsdb-backup logs to BACKUP_DIR/backup.log and syslog itself
    return cron_file("tiered logical backups (pg_dump), as postgres", jobs)
