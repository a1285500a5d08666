"""Logging and statistics an operator needs to find slow queries and their causes."""

from __future__ import annotations

from ..units import MIB
from .draft import Draft
from .inputs import PlanError

GROUP = "logging"
# Time, process, then for sessions user@database/application and the client address: who did
# what from where in every line (dev-sec postgres-16, CIS 3.1.20).
LINE_PREFIX = "%m [%p] %q%u@%d/%a %h "


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
    draft.set(GROUP, "log_connections", True, "the audit trail: who connected, from where")
    draft.set(GROUP, "log_disconnections", True, "the audit trail: sessions' ends and length")
    draft.set(
        GROUP, "log_line_prefix", LINE_PREFIX, "time, pid, user, database, application, client"
    )
    draft.set(GROUP, "log_statement", "ddl", "every change of schema, roles and privileges")
    draft.set(
        GROUP,
        "track_io_timing",
        True,
        "I/O time per query in pg_stat_statements; cheap on modern clocks",
    )
    libraries = draft.overrides.get("shared_preload_libraries")
    if libraries is not None and "timescaledb" not in [x.strip() for x in libraries.split(",")]:
        raise PlanError(
            f"shared_preload_libraries = {libraries!r} leaves out timescaledb: the extension "
            "cannot load without it (list it first, then your own libraries)"
        )
    draft.set(
        "libraries",
        "shared_preload_libraries",
        "timescaledb,pg_stat_statements",
        "TimescaleDB must be preloaded; pg_stat_statements finds the slow queries",
    )
