"""Logging and statistics an operator needs to find slow queries and their causes."""

from __future__ import annotations

from ..units import MIB
from .draft import Draft

GROUP = "logging"


def plan(draft: Draft) -> None:
    draft.set(GROUP, "log_min_duration_statement", 1000, "the seeds: log statements >= 1s")
    draft.set(GROUP, "log_checkpoints", True, "checkpoint frequency shows WAL sizing at work")
    draft.set(GROUP, "log_lock_waits", True, "lock waits longer than deadlock_timeout (1s)")
    draft.set(
        GROUP,
        "log_temp_files",
        16 * MIB,
        "queries spilling more than 16MB to disk: candidates for more work_mem",
    )
    draft.set(
        GROUP,
        "log_autovacuum_min_duration",
        10_000,
        "autovacuum runs longer than 10s: chunks that need attention",
    )
    draft.set(
        GROUP,
        "track_io_timing",
        True,
        "I/O time per query in pg_stat_statements; cheap on modern clocks",
    )
    draft.set(
        "libraries",
        "shared_preload_libraries",
        "timescaledb,pg_stat_statements",
        "TimescaleDB must be preloaded; pg_stat_statements finds the slow queries",
    )
