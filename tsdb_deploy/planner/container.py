"""What a container running PostgreSQL needs besides postgresql.conf."""

from __future__ import annotations

from ..units import MIB, round_down

SHM_MIN = 256 * MIB  # Docker's default /dev/shm is 64MB, which breaks parallel queries


def shm_size(plan) -> int:
    """/dev/shm for dynamic shared memory (parallel hash joins, parallel index builds).

    Parallel workers of one query share their hash tables there, up to work_mem x
    hash_mem_multiplier each, plus the leader. Those bytes are already inside the memory
    budget's query term (they move from private to shared memory), so this only sizes the
    tmpfs: it grants no memory beyond the container's limit. Timescale docs: size /dev/shm
    to the container.
    """
    v = {name: p.value for name, p in plan.parameters.items()}
    parallel = (v["max_parallel_workers"] + 1) * v["work_mem"] * v["hash_mem_multiplier"]
    return round_down(max(SHM_MIN, min(int(parallel), plan.hardware.memory_bytes // 4)), MIB)


# Processes besides backends and workers: postmaster, checkpointer, background writer, WAL
# writer, autovacuum launcher, archiver, stats, logical replication launcher, and the tools an
# operator or a job starts beside them (psql, pg_dump, pgbackrest and its workers).
AUXILIARY_PROCESSES = 64


def pids_limit(plan) -> int:
    """The container's process limit: every process the plan allows, twice over (a fork bomb
    is stopped long before the host's limit; PostgreSQL never meets this one)."""
    v = {name: p.value for name, p in plan.parameters.items()}
    planned = (
        v["max_connections"] + v["max_worker_processes"] + v["autovacuum_max_workers"]
        + v["max_wal_senders"] + AUXILIARY_PROCESSES
    )  # fmt: skip
    return 2 * planned
