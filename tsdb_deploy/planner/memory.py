"""Memory: shared buffers, caches, per-query and maintenance memory, sized to the budget."""

from __future__ import annotations

from ..units import GIB, KIB, MIB, format_size, round_down
from . import budget, pooler
from .draft import Draft
from .inputs import PlanError

GROUP = "memory"
SHARED_BUFFERS_FRACTION = 0.25  # PostgreSQL docs, "Resource Consumption"; both tuners agree
SHARED_BUFFERS_MIN = 128 * MIB  # PostgreSQL's default
EFFECTIVE_CACHE_FRACTION = 0.75  # shared buffers + the page cache inside the same limit
MAINTENANCE_FRACTION = 1 / 16  # PGTune; timescaledb-tune's 128MB per GB is twice that
MAINTENANCE_MIN = 64 * MIB  # PostgreSQL's default
MAINTENANCE_MAX = 2 * GIB  # timescaledb-tune's cap; index builds on a chunk need no more
AUTOVACUUM_FRACTION = 1 / 16  # all autovacuum workers together
AUTOVACUUM_MIN = 16 * MIB
AUTOVACUUM_MAX = 1 * GIB  # dead-tuple storage per worker; a chunk rarely needs more
WAL_SEGMENT = 16 * MIB
BUSY_WAL_BUFFERS = 64 * MIB  # many concurrent writers contend on WAL insertion
HASH_MEM_MULTIPLIER = 2.0  # PostgreSQL's default since 15


def _lock_slots(memory: int) -> tuple[int, str]:
    """timescaledb-tune's tiers: each chunk a query touches takes locks on it and its indexes."""
    for floor, value in ((32 * GIB, 1024), (16 * GIB, 512), (8 * GIB, 256)):
        if memory >= floor:
            return value, f"memory >= {format_size(floor)}: hypertable queries lock many chunks"
    return 128, "each chunk a query touches takes a lock on it and on each of its indexes"


def plan(draft: Draft) -> None:
    hw, profile = draft.hardware, draft.profile
    memory = hw.memory_bytes
    shared = draft.set(
        GROUP,
        "shared_buffers",
        max(SHARED_BUFFERS_MIN, round_down(int(memory * SHARED_BUFFERS_FRACTION), MIB)),
        f"25% of the {format_size(memory)} PostgreSQL may use",
    )
    draft.set(
        GROUP,
        "effective_cache_size",
        round_down(int(memory * EFFECTIVE_CACHE_FRACTION), MIB),
        "75% of memory: shared buffers plus the page cache within the same limit",
    )
    draft.set(
        GROUP,
        "maintenance_work_mem",
        min(
            MAINTENANCE_MAX,
            max(MAINTENANCE_MIN, round_down(int(memory * MAINTENANCE_FRACTION), MIB)),
        ),
        "1/16 of memory within 64MB..2GB: index builds and manual VACUUM",
    )
    workers = draft.value("autovacuum_max_workers")
    per_worker = int(memory * AUTOVACUUM_FRACTION / workers)
    draft.set(
        GROUP,
        "autovacuum_work_mem",
        min(AUTOVACUUM_MAX, max(AUTOVACUUM_MIN, round_down(per_worker, MIB))),
        f"1/16 of memory shared by {workers} autovacuum workers",
    )
    busy = hw.whole_cpus >= 8 and profile.name != "oltp"
    automatic = round_down(shared // 32, 8 * KIB)  # whole 8kB pages
    draft.set(
        GROUP,
        "wal_buffers",
        BUSY_WAL_BUFFERS if busy else max(64 * KIB, min(automatic, WAL_SEGMENT)),
        "8+ CPUs of concurrent ingest contend on WAL insertion"
        if busy
        else "shared_buffers/32 up to one WAL segment (PostgreSQL's automatic rule)",
    )
    draft.set(
        GROUP,
        "huge_pages",
        "try",
        "use huge pages where the kernel has them reserved, start anyway where not",
    )
    locks, reason = _lock_slots(memory)
    draft.set(GROUP, "max_locks_per_transaction", locks, reason)
    draft.set(
        GROUP,
        "hash_mem_multiplier",
        HASH_MEM_MULTIPLIER,
        "PostgreSQL's default; the memory budget counts hash areas at this multiple",
    )
    _plan_work_mem(draft)


def _plan_work_mem(draft: Draft) -> None:
    """The largest work_mem whose worst case fits, within the profile's floor and cap."""
    profile, memory = draft.profile, draft.hardware.memory_bytes
    values = {name: p.value for name, p in draft.params.items()}
    clients = pooler.client_limit(draft.workload.pooler_max_client_conn)
    fitting = budget.work_mem_that_fits(memory, values, clients)
    if fitting < profile.work_mem_floor and not draft.is_overridden("work_mem"):
        least = budget.compute(memory, {**values, "work_mem": profile.work_mem_floor}, clients)
        raise PlanError(
            f"{format_size(memory)} cannot hold the {profile.name} profile with "
            f"{values['max_connections']} connections: at the smallest useful work_mem "
            f"({format_size(profile.work_mem_floor)}) the worst case needs "
            f"{format_size(least.total)} ({least.summary()}). Give PostgreSQL more memory or "
            "lower max_connections."
        )
    step = MIB if fitting >= 4 * MIB else 64 * KIB
    value = min(profile.work_mem_cap, round_down(fitting, step))
    capped = value == profile.work_mem_cap
    draft.set(
        GROUP,
        "work_mem",
        value,
        f"the {profile.name} profile's cap"
        if capped
        else "the largest value whose worst case fits the memory budget",
    )
