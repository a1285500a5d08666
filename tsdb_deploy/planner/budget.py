"""The worst-case memory budget: what PostgreSQL can use at once must fit its memory limit.

Neither timescaledb-tune nor PGTune checks this; their users meet the OOM killer instead
(timescaledb-tune #38, pgtune #15). The model, every term documented:

  shared memory   shared_buffers + wal_buffers + lock table
  processes       (connections + autovacuum workers + parallel workers + TimescaleDB
                   background workers + 1 launcher + WAL senders) x BACKEND_OVERHEAD
                  + AUXILIARY_PROCESSES x AUXILIARY_OVERHEAD
  queries         (connections + parallel workers) x work_mem x QUERY_MEMORY_FACTOR
  maintenance     maintenance_work_mem (one manual VACUUM / CREATE INDEX at a time)
                  + autovacuum_max_workers x autovacuum_work_mem
  pooler          PgBouncer: POOLER_BASE + max_client_conn x POOLER_PER_CLIENT
  OS headroom     max(OS_HEADROOM_MIN, OS_HEADROOM_FRACTION x memory), at most OS_HEADROOM_MAX

QUERY_MEMORY_FACTOR is hash_mem_multiplier: every active backend and parallel worker holds one
sort or hash area at a time, and a hash area may grow to hash_mem_multiplier x work_mem
(PostgreSQL docs, "Resource Consumption"). A query with several such nodes at once can exceed
the model; the headroom and the rarity of every connection running such a query at the same
moment cover that, and the plan reports the model so operators can judge it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..units import GIB, KIB, MIB, format_size

# A backend's private memory outside work_mem: catalog and relation caches, which grow with
# the number of hypertable chunks a session touches. Typical RSS of a busy backend is 2-10 MB.
BACKEND_OVERHEAD = 6 * MIB
# checkpointer, background writer, WAL writer, autovacuum launcher, archiver, logical
# replication launcher: no catalog caches, little private memory each.
AUXILIARY_PROCESSES = 6
AUXILIARY_OVERHEAD = 2 * MIB
# Shared memory per lock-table slot (LOCK + PROCLOCK entries, lock.c), rounded up.
LOCK_SLOT_BYTES = 300
# The OS, sshd, cron, monitoring agents and the page-cache floor need this much.
OS_HEADROOM_MIN = 192 * MIB
OS_HEADROOM_FRACTION = 0.08
OS_HEADROOM_MAX = 8 * GIB
# PgBouncer: the process, libevent and TLS contexts; then per client at most two packet
# buffers (pkt_buf, 4 KiB by default) and its socket state while it is active.
POOLER_BASE = 4 * MIB
POOLER_PER_CLIENT = 10 * KIB


def pooler_memory(max_client_conn: int) -> int:
    return POOLER_BASE + max_client_conn * POOLER_PER_CLIENT if max_client_conn else 0


def os_headroom(memory_bytes: int) -> int:
    return int(min(OS_HEADROOM_MAX, max(OS_HEADROOM_MIN, memory_bytes * OS_HEADROOM_FRACTION)))


@dataclass(frozen=True)
class Budget:
    memory_limit: int
    shared_memory: int
    processes: int
    queries: int
    maintenance: int
    os_headroom: int
    pooler: int  # PgBouncer's own memory
    query_slots: int  # connections + parallel workers
    query_memory_factor: float

    @property
    def total(self) -> int:
        return (
            self.shared_memory
            + self.processes
            + self.queries
            + self.maintenance
            + self.os_headroom
            + self.pooler
        )

    @property
    def fits(self) -> bool:
        return self.total <= self.memory_limit

    def describe(self) -> dict:
        parts = {
            "shared_memory": self.shared_memory,
            "processes": self.processes,
            "queries": self.queries,
            "maintenance": self.maintenance,
            "os_headroom": self.os_headroom,
            "pooler": self.pooler,
        }
        return {
            "memory_limit": self.memory_limit,
            "worst_case_total": self.total,
            "fits": self.fits,
            "free": self.memory_limit - self.total,
            "parts": parts,
            "model": (
                f"queries = {self.query_slots} slots (connections + parallel workers) x work_mem"
                f" x {self.query_memory_factor:g} (hash_mem_multiplier); processes at "
                f"{format_size(BACKEND_OVERHEAD)} each"
            ),
        }

    def summary(self) -> str:
        return (
            f"worst case {format_size(self.total)} of {format_size(self.memory_limit)}: "
            f"shared {format_size(self.shared_memory)}, processes {format_size(self.processes)},"
            f" queries {format_size(self.queries)}, maintenance {format_size(self.maintenance)},"
            f" PgBouncer {format_size(self.pooler)}, OS headroom {format_size(self.os_headroom)}"
        )


# The parameters compute() reads (process_count() included): what a caller checking a config
# it did not plan (the benchmark's variants) must supply. tests/unit/test_planner.py holds
# this to what compute() really reads.
INPUTS = (
    "shared_buffers", "wal_buffers", "max_connections", "autovacuum_max_workers",
    "max_worker_processes", "max_wal_senders", "max_locks_per_transaction",
    "autovacuum_work_mem", "maintenance_work_mem", "max_parallel_workers",
    "hash_mem_multiplier", "work_mem", "timescaledb.max_background_workers",
)  # fmt: skip


def process_count(values: dict) -> int:
    """Backends with catalog caches: everything but the auxiliary processes."""
    return (
        values["max_connections"]
        + values["autovacuum_max_workers"]
        + values["max_parallel_workers"]
        + values["timescaledb.max_background_workers"]
        + 1  # the TimescaleDB launcher
        + values["max_wal_senders"]
    )


def compute(memory_limit: int, values: dict, pooler_clients: int = 0) -> Budget:
    """The budget for parameter values in the table's terms (bytes, counts), with PgBouncer
    for `pooler_clients` client connections (0: none)."""
    wal_buffers = values["wal_buffers"]
    if wal_buffers == -1:  # automatic: shared_buffers / 32, at most one 16MB WAL segment
        wal_buffers = min(values["shared_buffers"] // 32, 16 * MIB)
    # PostgreSQL sizes the lock table for MaxBackends (lock.c, postinit.c)
    max_backends = (
        values["max_connections"] + values["autovacuum_max_workers"] + 1
        + values["max_worker_processes"] + values["max_wal_senders"]
    )  # fmt: skip
    lock_slots = values["max_locks_per_transaction"] * max_backends
    autovacuum_mem = values["autovacuum_work_mem"]
    if autovacuum_mem == -1:
        autovacuum_mem = values["maintenance_work_mem"]
    slots = values["max_connections"] + values["max_parallel_workers"]
    factor = values["hash_mem_multiplier"]
    return Budget(
        memory_limit=memory_limit,
        shared_memory=values["shared_buffers"] + wal_buffers + lock_slots * LOCK_SLOT_BYTES,
        processes=process_count(values) * BACKEND_OVERHEAD
        + AUXILIARY_PROCESSES * AUXILIARY_OVERHEAD,
        queries=int(slots * values["work_mem"] * factor),
        maintenance=values["maintenance_work_mem"]
        + values["autovacuum_max_workers"] * autovacuum_mem,
        os_headroom=os_headroom(memory_limit),
        pooler=pooler_memory(pooler_clients),
        query_slots=slots,
        query_memory_factor=factor,
    )


def work_mem_that_fits(memory_limit: int, values: dict, pooler_clients: int = 0) -> int:
    """The largest work_mem (bytes, whole kB) for which the worst case still fits."""
    without_queries = compute(memory_limit, {**values, "work_mem": 0}, pooler_clients)
    spare = memory_limit - without_queries.total
    per_slot = spare / (without_queries.query_slots * without_queries.query_memory_factor)
    return max(0, int(per_slot) // KIB * KIB)
