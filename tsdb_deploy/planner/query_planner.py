"""Planner cost settings: what the storage can do, how much statistics to keep."""

from __future__ import annotations

from .draft import Draft

GROUP = "planner"
# PGTune's values (tuning-anchors.md): random reads cost about the same as sequential ones on
# flash; concurrent prefetch depth follows what the device can queue.
RANDOM_PAGE_COST = {"hdd": 4.0, "ssd": 1.1, "nvme": 1.1, "san": 1.1}
IO_CONCURRENCY = {"hdd": 2, "ssd": 200, "nvme": 1000, "san": 300}


def plan(draft: Draft) -> None:
    storage, profile = draft.hardware.storage, draft.profile
    draft.set(
        GROUP,
        "random_page_cost",
        RANDOM_PAGE_COST[storage],
        f"{storage}: random reads cost {RANDOM_PAGE_COST[storage]:g}x a sequential read",
    )
    draft.set(
        GROUP,
        "effective_io_concurrency",
        IO_CONCURRENCY[storage],
        f"{storage}: concurrent prefetch requests the device serves well",
    )
    draft.set(
        GROUP,
        "maintenance_io_concurrency",
        IO_CONCURRENCY[storage],
        f"{storage}: same depth for vacuum and index builds",
    )
    draft.set(
        GROUP,
        "default_statistics_target",
        profile.statistics_target,
        f"{profile.name} profile: skewed metric_id and time distributions need finer histograms"
        if profile.statistics_target > 100
        else "PostgreSQL's default",
    )
    draft.set(
        GROUP,
        "jit",
        False,
        "dashboard queries run in milliseconds; JIT compilation costs tens of them",
    )
    for name in ("enable_partitionwise_join", "enable_partitionwise_aggregate"):
        draft.set(
            GROUP,
            name,
            profile.partitionwise,
            "the seeds ask for it: per-partition joins and aggregates on partitioned tables"
            if profile.partitionwise
            else "PostgreSQL's default: short queries, less planning",
        )
