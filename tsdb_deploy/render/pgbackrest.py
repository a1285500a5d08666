"""pgBackRest: its config and its schedule (full weekly, differential daily)."""

from __future__ import annotations

from .. import pgbackrest
from ..runtimes.base import SOCKET_DIR
from .text import cron_file, render


def pgbackrest_conf(
    *,
    host_name: str,
    runtime: str,
    repo_path: str,
    repo2_path: str | None,
    retention_full: int,
    process_max: int,
    log_path: str,
    pgdata: str,
    port: int,
) -> str:
    return render(
        "pgbackrest.conf.j2",
        host_name=host_name,
        runtime=runtime,
        repo_path=repo_path,
        repo2_path=repo2_path,
        retention_full=retention_full,
        process_max=process_max,
        log_path=log_path,
        stanza=pgbackrest.STANZA,
        pgdata=pgdata,
        socket_dir=SOCKET_DIR,
        port=port,
    )


def pgbackrest_cron() -> str:
    run = f"tsdb-pg pgbackrest --stanza={pgbackrest.STANZA}"
    jobs = [
        f"30 1 * * 0 postgres {run} --type=full backup 2>&1 | logger -t pgbackrest",
        f"30 1 * * 1-6 postgres {run} --type=diff backup 2>&1 | logger -t pgbackrest",
    ]
    return cron_file("pgBackRest: full backup weekly, differential daily, as postgres", jobs)
