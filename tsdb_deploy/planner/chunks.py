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

Two more bounds. The interval is at most 30 days, and at most a third of the shortest window a
policy applies to whole chunks (retention drops, compression compresses, a chunk only once all
of it is past the window), so those keep at most a third more than their window says.

Unknown ingest gives 7 days, the documents' value and TimescaleDB's default, rather than a
made-up DEFAULT_EVENTS_PER_DAY: a default rate would present a guess as a sizing. The reason line
says up to which ingest 7 days fits this host, so an operator can tell whether to give the rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from ..units import INTERVAL_UNITS, format_size, parse_interval

INDEX_BYTES_PER_EVENT = 480
UNKNOWN_INGEST_INTERVAL = "7 days"
# The settings whose policies act on whole chunks (sql/0005: drop_chunks, compression); they
# keep at most 1/POLICY_OVERSHOOT more than their window.
WHOLE_CHUNK_POLICIES = ("retention", "compress_after")
POLICY_OVERSHOOT = 3

DAY = INTERVAL_UNITS["day"]  # seconds
# The intervals offered, shortest first: at least an hour (shorter chunks mean thousands of
# chunks over the retention, each planned and locked by queries), at most 30 days. Longer
# chunks mean fewer to plan: a query without a time bound (a profile's timeline) plans every
# chunk, ~1.2-1.7 ms each on a fresh backend, and over 180 days of 5,555 events/day a cold
# timeline took 55 / 33 / 23 ms (median) with 7- / 14- / 30-day chunks; ingest, the other
# queries and autovacuum stayed within noise (bench/results/experiments-run5.json): with the
# schema's statistics settings (default_statistics_target 100, raw_data STATISTICS 0) a chunk
# is auto-analyzed about once, whatever its length, so a long chunk costs ingest nothing.
# Past a month, retention and compression, which act on whole chunks, get coarse.
LABELS = (
    "1 hour", "2 hours", "3 hours", "6 hours", "12 hours",
    "1 day", "2 days", "3 days", "7 days", "14 days", "30 days",
)  # fmt: skip
STEPS: tuple[tuple[int, str], ...] = tuple((parse_interval(label), label) for label in LABELS)


class ChunkInterval(NamedTuple):
    interval: str  # a PostgreSQL interval literal, e.g. '7 days'
    reason: str  # one line


def _check_positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be positive (a number of bytes), not {value!r}")
    return value


def _index_bytes(events_per_day: int, index_bytes_per_event: int, seconds: int) -> int:
    return events_per_day * index_bytes_per_event * seconds // DAY


def _policy_steps(policies: Mapping[str, str]) -> tuple[tuple[tuple[int, str], ...], str]:
    """The steps at most a third of the shortest policy window, and that window's name and
    value when it cuts STEPS short ('' when it does not). The shortest step is always kept."""
    if not policies:
        return STEPS, ""
    window, name = min((parse_interval(text), name) for name, text in policies.items())
    allowed = tuple(s for s in STEPS if s[0] * POLICY_OVERSHOOT <= window) or STEPS[:1]
    if allowed == STEPS:
        return STEPS, ""
    return allowed, f"{name} ({policies[name]})"


def chunk_interval(
    events_per_day: int | None,
    *,
    shared_buffers: int,
    policies: Mapping[str, str] | None = None,
    index_bytes_per_event: int = INDEX_BYTES_PER_EVENT,
) -> ChunkInterval:
    """The largest step whose chunk's indexes fit in shared_buffers and which is at most a
    third of each policy window ({setting: interval}: retention, compress_after), with the
    reason."""
    budget = _check_positive("shared_buffers", shared_buffers)
    per_event = _check_positive("index_bytes_per_event", index_bytes_per_event)
    steps, bounded_by = _policy_steps(policies or {})
    within = f"a third of {bounded_by}, whole-chunk policies' grain"
    if events_per_day is None:
        seconds, label = min(
            steps[-1], (parse_interval(UNKNOWN_INGEST_INTERVAL), UNKNOWN_INGEST_INTERVAL)
        )
        fits_up_to = budget * DAY // (per_event * seconds)
        source = f"the documents' {label}" if label == UNKNOWN_INGEST_INTERVAL else within
        return ChunkInterval(
            label,
            f"ingest unknown: {source}, whose indexes fit shared_buffers "
            f"({format_size(budget)}) up to ~{fits_up_to:,} events/day",
        )
    if isinstance(events_per_day, bool) or not isinstance(events_per_day, int):
        raise ValueError(f"events_per_day must be a whole number or None, not {events_per_day!r}")
    if events_per_day < 0:
        raise ValueError(f"events_per_day cannot be negative: {events_per_day}")
    fitting = [
        (seconds, label)
        for seconds, label in steps
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
        why = "the longest step (longer chunks coarsen retention and compression)"
    elif bounded_by and (seconds, label) == steps[-1]:
        why = f"the longest step within {within}"
    else:
        why = "the longest step that fits"
    return ChunkInterval(
        label,
        f"{events_per_day:,} events/day x {per_event} B of index: a {label} chunk's indexes "
        f"take {format_size(need)} of shared_buffers ({format_size(budget)}), {why}",
    )
