"""tsdb-status's config: where to look and the thresholds, as KEY=VALUE lines (files/tsdb-status
reads them)."""

from __future__ import annotations

from .. import formats
from .text import header


def status_conf(
    *,
    database: str,
    pgbouncer_port: int,
    pool_size: int,
    data_dir: str,
    backup_dir: str,
    pgbackrest_repo: str | None,
    thresholds: dict[str, int],
    tsdb_pg: str,
) -> str:
    """`data_dir`: PGDATA as the host sees it (WAL in its pg_wal); `pgbackrest_repo`: None
    without point-in-time recovery."""
    values = {
        "DB_NAME": database,
        "PGBOUNCER_PORT": pgbouncer_port,
        "POOL_SIZE": pool_size,
        "DATA_DIR": data_dir,
        "WAL_DIR": f"{data_dir}/pg_wal",
        "BACKUP_DIR": backup_dir,
        "PITR": 1 if pgbackrest_repo else 0,
        **({"PGBACKREST_REPO": pgbackrest_repo} if pgbackrest_repo else {}),
        "TSDB_PG": tsdb_pg,
        **{name.upper(): value for name, value in thresholds.items()},
    }
    return header("read by tsdb-status: where to look, and its thresholds") + "".join(
        formats.conf_line(key, value) + "\n" for key, value in values.items()
    )
