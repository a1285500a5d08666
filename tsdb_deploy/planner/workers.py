"""Parallel query, maintenance and TimescaleDB background workers."""

from __future__ import annotations

from ..units import GIB, MIB, format_size
from .draft import Draft
from .inputs import PlanError

GROUP = "workers"
# TimescaleDB runs each job (retention, aggregate refresh, compression) in one background
# worker while it runs, plus one scheduler per database (Timescale docs, "About configuration").
# One database with a handful of jobs needs few; TimescaleDB's own default is 16.
SMALL_HOST_BACKGROUND_WORKERS = 8
BACKGROUND_WORKERS = 16
SMALL_HOST_MEMORY = 4 * GIB
# Worker slots PostgreSQL needs besides parallel and TimescaleDB workers (Timescale docs:
# max_worker_processes >= 3 + timescaledb.max_background_workers + max_parallel_workers).
SPARE_WORKER_SLOTS = 3
# Each parallel worker holds its own work_mem; on a host with many CPUs and little memory,
# more workers would leave each one too little.
MEMORY_PER_PARALLEL_WORKER = 256 * MIB


def plan(draft: Draft) -> None:
    hw = draft.hardware
    by_memory = max(1, hw.memory_bytes // MEMORY_PER_PARALLEL_WORKER)
    cpus = min(hw.whole_cpus, by_memory)
    parallel = draft.set(
        GROUP,
        "max_parallel_workers",
        cpus,
        f"one per usable CPU ({hw.cpus:g} CPUs available)"
        if cpus == hw.whole_cpus
        else f"one per {format_size(MEMORY_PER_PARALLEL_WORKER)} of memory: fewer than the "
        f"{hw.cpus:g} CPUs, each worker needs its own work_mem",
    )
    if cpus == 1:
        gather = draft.set(
            GROUP,
            "max_parallel_workers_per_gather",
            0,
            "one CPU: a parallel worker would only compete with its leader",
        )
        draft.set(GROUP, "max_parallel_maintenance_workers", 0, "one CPU")
    else:
        gather = draft.set(
            GROUP,
            "max_parallel_workers_per_gather",
            min(cpus // 2, draft.profile.gather_cap),
            f"half the CPUs so two queries can run in parallel at once, at most "
            f"{draft.profile.gather_cap} for the {draft.profile.name} profile",
        )
        draft.set(
            GROUP,
            "max_parallel_maintenance_workers",
            min(cpus // 2, 4),
            "half the CPUs, at most 4 (PGTune): index builds on large chunks",
        )
    background = draft.workload.background_workers
    if background is None:
        small = hw.memory_bytes < SMALL_HOST_MEMORY
        background = SMALL_HOST_BACKGROUND_WORKERS if small else BACKGROUND_WORKERS
        reason = (
            "one database with a few jobs; each slot costs a process when busy"
            if small
            else "TimescaleDB's default: room for concurrent jobs"
        )
    else:
        reason = "inventory background_workers"
    background = draft.set(GROUP, "timescaledb.max_background_workers", background, reason)
    needed = SPARE_WORKER_SLOTS + background + parallel
    processes = draft.set(
        GROUP,
        "max_worker_processes",
        needed,
        f"{SPARE_WORKER_SLOTS} + TimescaleDB background workers ({background}) + parallel "
        f"workers ({parallel}), Timescale's rule",
    )
    if processes < needed:
        raise PlanError(
            f"max_worker_processes = {processes} is too small: it must be at least "
            f"{SPARE_WORKER_SLOTS} + timescaledb.max_background_workers ({background}) + "
            f"max_parallel_workers ({parallel}) = {needed}"
        )
    if gather > parallel:
        raise PlanError(
            f"max_parallel_workers_per_gather = {gather} exceeds max_parallel_workers = {parallel}"
        )
