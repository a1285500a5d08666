"""WAL, checkpoints and durability."""

from __future__ import annotations

from ..units import GIB, MIB, format_size, round_down
from .draft import Draft
from .inputs import PlanError

GROUP = "wal"
DURABILITY = "durability"
ARCHIVING = "archiving"
CHECKPOINT_TIMEOUT_MS = 15 * 60 * 1000
WAL_SENDERS = 4
# WAL may overshoot max_wal_size during bursts and while archiving lags, so a dedicated WAL
# disk is planned at half full (timescaledb-tune takes 60%). WAL sharing the data disk gets a
# tenth: timescaledb-tune's 60% of a shared disk would take the data's room.
DEDICATED_WAL_FRACTION = 0.5
SHARED_WAL_FRACTION = 0.1
UNKNOWN_DISK_MAX_WAL = 4 * GIB
MAX_WAL_FLOOR = 256 * MIB  # below this, checkpoints come every few seconds under ingest
MIN_WAL_FRACTION = 0.25  # recycled segments kept for ingest bursts


def _max_wal_size(draft: Draft) -> tuple[int, str]:
    hw, target = draft.hardware, draft.profile.max_wal_target
    if hw.wal_disk_is_dedicated:
        disk, fraction, where = hw.wal_disk_bytes, DEDICATED_WAL_FRACTION, "dedicated WAL disk"
    elif hw.data_disk_bytes is not None:
        disk, fraction, where = hw.data_disk_bytes, SHARED_WAL_FRACTION, "data disk shared with WAL"
    else:
        return (
            min(target, UNKNOWN_DISK_MAX_WAL),
            f"disk size unknown: a conservative {format_size(UNKNOWN_DISK_MAX_WAL)}",
        )
    room = int(disk * fraction)
    if room < MAX_WAL_FLOOR:
        raise PlanError(
            f"the {where} ({format_size(disk)}) leaves {format_size(room)} for WAL; at least "
            f"{format_size(MAX_WAL_FLOOR)} is needed: give WAL a larger disk"
        )
    value = min(target, room)
    value = round_down(value, GIB if value >= GIB else MIB)
    return value, (
        f"{draft.profile.name} ingest checkpoints on time, not size ({format_size(target)}), "
        f"within {fraction:.0%} of the {where} ({format_size(disk)})"
    )


def plan(draft: Draft) -> None:
    draft.set(GROUP, "wal_level", "replica", "needed for WAL archiving, PITR and replicas")
    draft.set(
        GROUP,
        "max_wal_senders",
        WAL_SENDERS,
        "two replicas, a base backup and a spare; each is a process in the memory budget",
    )
    max_wal, reason = _max_wal_size(draft)
    max_wal = draft.set(GROUP, "max_wal_size", max_wal, reason)
    min_wal = draft.set(
        GROUP,
        "min_wal_size",
        min(max_wal, max(80 * MIB, round_down(int(max_wal * MIN_WAL_FRACTION), MIB))),
        "a quarter of max_wal_size kept as recycled segments for ingest bursts",
    )
    if min_wal > max_wal:
        raise PlanError(
            f"min_wal_size ({format_size(min_wal)}) must not exceed max_wal_size "
            f"({format_size(max_wal)})"
        )
    draft.set(
        GROUP,
        "checkpoint_timeout",
        CHECKPOINT_TIMEOUT_MS,
        "fewer full-page images than every 5 min; crash recovery stays within minutes",
    )
    draft.set(
        GROUP,
        "checkpoint_completion_target",
        0.9,
        "spread checkpoint writes over 90% of the interval",
    )
    draft.set(
        GROUP,
        "wal_compression",
        "lz4",
        "compresses full-page images at little CPU cost (cheaper than zstd for CPU-bound ingest)",
    )
    draft.set(
        GROUP,
        "default_toast_compression",
        "lz4",
        "large JSONB properties and raw_data: faster than pglz to write and read",
    )
    archive = draft.workload.archive_command
    draft.set(
        ARCHIVING, "archive_mode", "on" if archive else "off",
        "WAL archiving for point-in-time recovery" if archive else "no WAL archive configured",
    )  # fmt: skip
    draft.set(
        ARCHIVING, "archive_command", archive or "",
        "pgBackRest pushes each WAL segment to its repository" if archive else "not archiving",
    )  # fmt: skip
    draft.set(
        ARCHIVING, "archive_timeout", draft.workload.archive_timeout_s * 1000,
        "switch WAL at least this often: the most data a lost host can take with it (RPO)"
        if archive else "not archiving",
    )  # fmt: skip
    for name, value in (("fsync", True), ("full_page_writes", True), ("synchronous_commit", "on")):
        draft.set(DURABILITY, name, value, "durability is never traded for speed")
