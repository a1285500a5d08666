"""pgBackRest: its config and its schedule (full weekly, differential daily)."""

from __future__ import annotations

from .. import pgbackrest
from ..runtimes.base import SOCKET_DIR
from .text import cron_file, render


def pgbackrest_conf(**values) -> str:
    """`values`: host_name, runtime, repo_path, repo2_path, retention_full, process_max,
    log_path, pgdata, port (the strict template names any that is missing)."""
    return render("pgbackrest.conf.j2", stanza=pgbackrest.STANZA, socket_dir=SOCKET_DIR, **values)


def pgbackrest_cron() -> str:
    run = f"tsdb-pg pgbackrest --stanza={pgbackrest.STANZA}"
    jobs = [
        f"30 1 * * 0 postgres {run} --type=full backup 2>&1 | logger -t pgbackrest",
        f"30 1 * * 1-6 postgres {run} --type=diff backup 2>&1 | logger -t pgbackrest",
    ]
    return cron_file("pgBackRest: full backup weekly, differential daily, as postgres", jobs)
