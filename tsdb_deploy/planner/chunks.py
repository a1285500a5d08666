"""The chunk_time_interval of klaviyo_events, the migrations' :chunk_interval. Pure: no I/O.

Rule (TimescaleDB's guidance): the chunk being written should have its indexes in memory, or
every insert reads index pages from disk; TimescaleDB puts that at about 25% of main memory. The
budget here is shared_buffers itself: the planner sets it to 25% of memory (planner/memory.py),
so the two readings give the same number, and shared_buffers is the pool those index pages have
to stay in. It also follows an operator's override of shared_buffers, where 25% of memory would
not. The interval is the largest step whose chunk's indexes fit:

    events_per_day x INDEX_BYTES_PER_EVENT x interval (days) <= shared_buffers

Space partitions do not change it: N partitions write N chunks at once, each with 1/N of the
events, so the indexes being written add up to the same size.

INDEX_BYTES_PER_EVENT is measured, not guessed: 400,000 events inserted in time order into the
schema of sql/0003 (PostgreSQL 17.11, TimescaleDB 2.19.3) with Klaviyo-shaped data (26-character
event and profile ids, 6-character metric ids, 40 metrics, 50,000 profiles, 10-key properties,
20% of events with a value, 30/20/5% attributed to a campaign/flow/form) used per event:

    primary key (id, timestamp, metric_id)        88 B   random ids: leaf pages ~70% full
    (profile_id, metric_id, timestamp DESC)       90 B
    (profile_id, timestamp DESC)                  78 B
    (metric_id, timestamp DESC) INCLUDE (value)   73 B
    GIN (properties jsonb_path_ops)               93 B   one hash entry per key path
    partial: high value, campaign, flow, form     48 B   only the events they index
    BRIN (timestamp)                              ~0 B
    total                                        470 B   -> 480 with margin

Unknown ingest gives 7 days, the documents' value and TimescaleDB's default, rather than a
made-up DEFAULT_EVENTS_PER_DAY: a default rate would present a guess as a sizing. The reason line
says up to which ingest 7 days fits this host, so an operator can tell whether to give the rate.
"""

from __future__ import annotations

from typing import NamedTuple

from ..units import format_size

INDEX_BYTES_PER_EVENT = 480
UNKNOWN_INGEST_INTERVAL = "7 days"

HOUR = 3600
DAY = 24 * HOUR
# The intervals offered, shortest first: at least an hour (shorter chunks mean thousands of
# chunks over the retention, each planned and locked by queries), at most 7 days,
# TimescaleDB's default. Longer chunks were measured to cost ingest and to buy nothing: at
# 5,555 events/day, 30-day chunks ingested 32% slower than 7-day ones (bench/results/
# findings.md), because autovacuum keeps re-ANALYZEing the chunk being written and each
# ANALYZE reads more of a bigger chunk; and retention and compression, which work on whole
# chunks, get coarser. A slow-ingest host gets 7-day chunks of a few MB, which is harmless:
# a 180-day dashboard query plans 26 of them.
STEPS: tuple[tuple[int, str], ...] = (
    (1 * HOUR, "1 hour"),
    (2 * HOUR, "2 hours"),
    (3 * HOUR, "3 hours"),
    (6 * HOUR, "6 hours"),
    (12 * HOUR, "12 hours"),
    (1 * DAY, "1 day"),
    (2 * DAY, "2 days"),
    (3 * DAY, "3 days"),
    (7 * DAY, "7 days"),
)
_SECONDS = {label: seconds for seconds, label in STEPS}


class ChunkInterval(NamedTuple):
    interval: str  # a PostgreSQL interval literal, e.g. '7 days'
    reason: str  # one line


def interval_seconds(label: str) -> int:
    """Seconds in one of the STEPS labels ('6 hours' -> 21600)."""
    return _SECONDS[label]


def _check_positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be positive (a number of bytes), not {value!r}")
    return value


def _index_bytes(events_per_day: int, index_bytes_per_event: int, seconds: int) -> int:
    return events_per_day * index_bytes_per_event * seconds // DAY


def chunk_interval(
    events_per_day: int | None,
    *,
    shared_buffers: int,
    index_bytes_per_event: int = INDEX_BYTES_PER_EVENT,
) -> ChunkInterval:
    """The largest step whose chunk's indexes fit in shared_buffers, with the reason."""
    budget = _check_positive("shared_buffers", shared_buffers)
    per_event = _check_positive("index_bytes_per_event", index_bytes_per_event)
    if events_per_day is None:
        seconds = interval_seconds(UNKNOWN_INGEST_INTERVAL)
        fits_up_to = budget * DAY // (per_event * seconds)
        return ChunkInterval(
            UNKNOWN_INGEST_INTERVAL,
            f"ingest unknown: the documents' {UNKNOWN_INGEST_INTERVAL}, whose indexes fit "
            f"shared_buffers ({format_size(budget)}) up to ~{fits_up_to:,} events/day",
        )
    if isinstance(events_per_day, bool) or not isinstance(events_per_day, int):
        raise ValueError(f"events_per_day must be a whole number or None, not {events_per_day!r}")
    if events_per_day < 0:
        raise ValueError(f"events_per_day cannot be negative: {events_per_day}")
    fitting = [
        (seconds, label)
        for seconds, label in STEPS
        if _index_bytes(events_per_day, per_event, seconds) <= budget
    ]
    if not fitting:
        seconds, label = STEPS[0]
        need = _index_bytes(events_per_day, per_event, seconds)
        return ChunkInterval(
            label,
            f"{events_per_day:,} events/day x {per_event} B: even a {label} chunk's indexes "
            f"({format_size(need)}) exceed shared_buffers ({format_size(budget)}); the shortest "
            "step, give PostgreSQL more memory",
        )
    seconds, label = fitting[-1]
    need = _index_bytes(events_per_day, per_event, seconds)
    if (seconds, label) == STEPS[-1]:
        why = "the longest step (longer chunks slow ingest and coarsen retention)"
    else:
        why = "the longest step that fits"
    return ChunkInterval(
        label,
        f"{events_per_day:,} events/day x {per_event} B of index: a {label} chunk's indexes "
        f"take {format_size(need)} of shared_buffers ({format_size(budget)}), {why}",
    )
