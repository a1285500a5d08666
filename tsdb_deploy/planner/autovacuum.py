"""Autovacuum for append-heavy hypertables.

Chunks of a hypertable are written once and then read: vacuum there is mostly about setting
the visibility map (index-only scans) and freezing, triggered by inserts, not by dead rows.
"""

from __future__ import annotations

from ..units import MIB, format_size
from .draft import Draft

GROUP = "autovacuum"
AUTOVACUUM_WORKERS_MIN = 3  # PostgreSQL's default
AUTOVACUUM_WORKERS_MAX = 10  # Timescale's Helm chart and timescaledb-tune
MEMORY_PER_AUTOVACUUM_WORKER = 512 * MIB  # each holds autovacuum_work_mem
# Cost limit per storage class: the seeds ask 2000 (fast vacuum on flash); on spinning disks
# that much random I/O would starve queries, so the chart's 500 is kept there.
COST_LIMIT = {"hdd": 500, "ssd": 2000, "nvme": 2000, "san": 2000}


def plan(draft: Draft) -> None:
    hw = draft.hardware
    by_memory = hw.memory_bytes // MEMORY_PER_AUTOVACUUM_WORKER
    draft.set(
        GROUP,
        "autovacuum_max_workers",
        max(AUTOVACUUM_WORKERS_MIN, min(hw.whole_cpus // 2, by_memory, AUTOVACUUM_WORKERS_MAX)),
        f"half the CPUs within {AUTOVACUUM_WORKERS_MIN}..{AUTOVACUUM_WORKERS_MAX}, at most one "
        f"per {format_size(MEMORY_PER_AUTOVACUUM_WORKER)} of memory: every chunk is a table "
        "to visit",
    )
    draft.set(
        GROUP,
        "autovacuum_naptime",
        10_000,
        "many chunk tables: check each database every 10s (timescaledb-tune)",
    )
    draft.set(
        GROUP,
        "autovacuum_vacuum_scale_factor",
        0.05,
        "the seeds' value: vacuum a chunk after 5% of it changed, not 20%",
    )
    draft.set(
        GROUP,
        "autovacuum_analyze_scale_factor",
        0.02,
        "the seeds' value: fresh statistics on the chunk being written",
    )
    draft.set(
        GROUP,
        "autovacuum_vacuum_insert_scale_factor",
        0.05,
        "append-only chunks: set the visibility map early for index-only scans",
    )
    draft.set(GROUP, "autovacuum_vacuum_threshold", 50, "the seeds' value")
    draft.set(GROUP, "autovacuum_analyze_threshold", 50, "the seeds' value")
    storage = draft.hardware.storage
    draft.set(
        GROUP,
        "autovacuum_vacuum_cost_limit",
        COST_LIMIT[storage],
        f"{storage} storage: vacuum may use this much I/O per round",
    )
    draft.set(
        GROUP,
        "autovacuum_vacuum_cost_delay",
        2,
        "PostgreSQL's default since 12; the seeds' 10ms would make vacuum 5x slower",
    )
