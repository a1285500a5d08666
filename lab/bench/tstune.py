"""timescaledb-tune's recommendations for given memory and CPUs, from its rules as recorded in
../shared/reference/tuning-anchors.md (timescale/timescaledb-tune, pkg/pgtune/*.go).

Variant B of the benchmark: what an operator gets by running timescaledb-tune on the same host.
Like timescaledb-tune run without --wal-disk-size, the WAL disk is unknown (max_wal_size 1GB).
Pure: no I/O.
"""

from __future__ import annotations

import math

from tsdb_deploy.units import GIB, KIB, MIB

WORK_MEM_K = 128 * MIB  # 6.4 * 20 MB, as pkg/pgtune/memory.go stores it
WORK_MEM_MIN = 64 * KIB
MAINTENANCE_PER_GIB = 128 * MIB
MAINTENANCE_MAX = 2047 * MIB
BACKGROUND_WORKERS = 16
UNKNOWN_DISK_MAX_WAL = 1 * GIB


def _go_round(x: float) -> int:
    """Go's math.Round: halves away from zero (Python's round() goes to even)."""
    return int(math.floor(x + 0.5))


def _kb(value: int) -> str:
    return f"{value // KIB}kB"


def default_connections(memory: int) -> int:
    for ceiling, connections in ((2 * GIB, 25), (4 * GIB, 50), (6 * GIB, 75)):
        if memory <= ceiling:
            return connections
    return 100


def recommend(memory: int, cpus: int, max_connections: int | None = None) -> dict[str, str]:
    """postgresql.conf values (text, as timescaledb-tune writes them) for `memory` bytes and
    `cpus` CPUs."""
    connections = max(25, max_connections or default_connections(memory))
    gib = memory / GIB
    cpu_factor = max(1, _go_round(cpus / 2))
    work_mem = max(WORK_MEM_MIN, int(gib * WORK_MEM_K / connections / cpu_factor))
    max_wal = UNKNOWN_DISK_MAX_WAL
    locks = 128
    for floor, value in ((8 * GIB, 256), (16 * GIB, 512), (32 * GIB, 1024)):
        if memory >= floor:
            locks = value
    wal_buffers = int(gib * 7864 * KIB) if memory < 2 * GIB else 16 * MIB
    out = {
        "shared_preload_libraries": "timescaledb",
        "max_connections": str(connections),
        "shared_buffers": _kb(memory // 4),
        "effective_cache_size": _kb(memory * 3 // 4),
        "maintenance_work_mem": _kb(min(MAINTENANCE_MAX, int(gib * MAINTENANCE_PER_GIB))),
        "work_mem": _kb(work_mem),
        "max_locks_per_transaction": str(locks),
        "wal_buffers": _kb(wal_buffers),
        "max_wal_size": _kb(max_wal),
        "min_wal_size": _kb(max_wal // 2),
        "checkpoint_completion_target": "0.9",
        "default_statistics_target": "100",
        "random_page_cost": "1.1",
        "effective_io_concurrency": "256",
        "autovacuum_max_workers": "10",
        "autovacuum_naptime": "10",
        "jit": "off",
        "default_toast_compression": "lz4",
        "timescaledb.max_background_workers": str(BACKGROUND_WORKERS),
        "max_worker_processes": str(3 + BACKGROUND_WORKERS + cpus),
    }
    if cpus > 1:  # nothing parallel for one CPU
        out["max_parallel_workers"] = str(cpus)
        out["max_parallel_workers_per_gather"] = str(_go_round(cpus / 2))
    return out
