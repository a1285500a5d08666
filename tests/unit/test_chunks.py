"""Chunk sizing for klaviyo_events: table rows worked out by hand, then the rule's invariants.

The rule, restated from TimescaleDB's guidance rather than from the module: the indexes of the
chunk being written (events/day x index bytes/event x interval) fit in shared_buffers; the
interval is the longest of the offered steps that fits, between 1 hour and 30 days, and at most
a third of the shortest whole-chunk policy window (retention, compress_after).
"""

from __future__ import annotations

import re

import pytest

from tsdb_deploy.planner.chunks import (
    INDEX_BYTES_PER_EVENT,
    POLICY_OVERSHOOT,
    STEPS,
    WHOLE_CHUNK_POLICIES,
    ChunkInterval,
    chunk_interval,
)
from tsdb_deploy.settings import SETTINGS
from tsdb_deploy.units import GIB, MIB, parse_interval

DAY = 86400
LABELS = [label for _, label in STEPS]


def _row(events, shared_buffers, expected, per_event=INDEX_BYTES_PER_EVENT, *, id):
    return pytest.param(events, shared_buffers, per_event, expected, id=id)


# events/day, shared_buffers, expected interval (index bytes/event = 480 unless given).
# Worked by hand: days that fit = shared_buffers / (events/day x bytes/event).
ROWS = [
    _row(None, 2 * GIB, "7 days", id="unknown-ingest-2G"),
    _row(None, 128 * MIB, "7 days", id="unknown-ingest-smallest-host"),
    _row(0, 2 * GIB, "30 days", id="no-ingest-longest-step"),
    _row(10_000, 2 * GIB, "30 days", id="10k-2G-447days-capped"),
    _row(100_000, 2 * GIB, "30 days", id="100k-2G-44.7days-capped"),
    _row(300_000, 2 * GIB, "14 days", id="300k-2G-14.9days"),
    _row(1_000_000, 2 * GIB, "3 days", id="1M-2G-4.47days"),
    _row(2_000_000, 2 * GIB, "2 days", id="2M-2G-2.24days"),
    _row(4_000_000, 2 * GIB, "1 day", id="4M-2G-1.12days"),
    _row(10_000_000, 2 * GIB, "6 hours", id="10M-2G-10.7h"),
    _row(20_000_000, 2 * GIB, "3 hours", id="20M-2G-5.4h"),
    _row(30_000_000, 2 * GIB, "3 hours", id="30M-2G-3.6h"),
    _row(40_000_000, 2 * GIB, "2 hours", id="40M-2G-2.7h"),
    _row(100_000_000, 2 * GIB, "1 hour", id="100M-2G-1.07h"),
    _row(1_000_000_000, 2 * GIB, "1 hour", id="1G-2G-too-much-shortest-step"),
    _row(100_000, 128 * MIB, "2 days", id="100k-128M-2.8days"),
    _row(1_000_000, 16 * GIB, "30 days", id="1M-16G-35.8days-capped"),
    _row(1_000_000, 8 * GIB, "14 days", id="1M-8G-17.9days"),
    _row(5_000_000, 64 * GIB, "14 days", id="5M-64G-28.6days"),
    _row(1_000_000, 4 * GIB, "7 days", id="1M-4G-8.9days"),
    _row(1_000_000, 3 * GIB, "3 days", id="1M-3G-6.7days"),
    _row(1_000, 7 * 1000 * 480, "7 days", id="exact-fit-7days"),
    _row(1_000, 7 * 1000 * 480 - 1, "3 days", id="one-byte-short-of-7days"),
    _row(1_000, 30 * 1000 * 480, "30 days", id="exact-fit-30days"),
    _row(1_000, 30 * 1000 * 480 - 1, "14 days", id="one-byte-short-of-30days"),
    _row(1_000_000, 2 * GIB, "7 days", 200, id="leaner-index-set-10.7days"),
    _row(1_000_000, 2 * GIB, "1 day", 1500, id="heavier-index-set-1.4days"),
]


@pytest.mark.parametrize("events,shared_buffers,per_event,expected", ROWS)
def test_table(events, shared_buffers, per_event, expected):
    result = chunk_interval(events, shared_buffers=shared_buffers, index_bytes_per_event=per_event)
    assert isinstance(result, ChunkInterval)
    assert result.interval == expected
    assert result.reason and "\n" not in result.reason


@pytest.mark.parametrize("events,shared_buffers,per_event,expected", ROWS)
def test_fits_and_the_next_step_would_not(events, shared_buffers, per_event, expected):
    if events is None:
        return
    result = chunk_interval(events, shared_buffers=shared_buffers, index_bytes_per_event=per_event)
    seconds = parse_interval(result.interval)
    need = events * per_event * seconds / DAY
    position = LABELS.index(result.interval)
    if position == 0 and need > shared_buffers:
        assert "exceed" in result.reason  # the shortest step, said not to fit
        return
    assert need <= shared_buffers
    if position + 1 < len(STEPS):
        longer = STEPS[position + 1][0]
        assert events * per_event * longer / DAY > shared_buffers


def test_steps_are_ordered_literals_from_one_hour_to_thirty_days():
    seconds = [s for s, _ in STEPS]
    assert seconds == sorted(seconds)
    assert seconds[0] == 3600 and seconds[-1] == 30 * DAY
    for s, label in STEPS:
        number, unit = re.fullmatch(r"(\d+) (hours?|days?)", label).groups()
        assert int(number) * (3600 if unit.startswith("hour") else DAY) == s
        assert (int(number) == 1) == (not unit.endswith("s"))


@pytest.mark.parametrize("shared_buffers", [128 * MIB, 1 * GIB, 4 * GIB, 32 * GIB])
def test_more_ingest_never_longer_chunks(shared_buffers):
    previous = None
    for events in [0, 1_000, 50_000, 200_000, 1_000_000, 5_000_000, 50_000_000, 10**9]:
        seconds = parse_interval(chunk_interval(events, shared_buffers=shared_buffers).interval)
        assert previous is None or seconds <= previous
        previous = seconds


@pytest.mark.parametrize("events", [10_000, 500_000, 3_000_000, 30_000_000])
def test_more_memory_never_shorter_chunks(events):
    previous = None
    for shared_buffers in [128 * MIB, 512 * MIB, 2 * GIB, 8 * GIB, 64 * GIB]:
        seconds = parse_interval(chunk_interval(events, shared_buffers=shared_buffers).interval)
        assert previous is None or seconds >= previous
        previous = seconds


def test_unknown_ingest_says_up_to_which_rate_seven_days_fits():
    result = chunk_interval(None, shared_buffers=2 * GIB)
    # 2 GiB / (480 B x 7 days) = 639,132 events/day
    assert result == ChunkInterval(
        "7 days",
        "ingest unknown: the documents' 7 days, whose indexes fit shared_buffers (2.0 GiB) up "
        "to ~639,132 events/day",
    )


def test_reasons_name_the_inputs():
    reason = chunk_interval(1_000_000, shared_buffers=2 * GIB).reason
    assert "1,000,000 events/day" in reason and "480 B" in reason and "2.0 GiB" in reason
    assert "longest step that fits" in reason
    capped = chunk_interval(1, shared_buffers=2 * GIB).reason
    assert "longest step (longer chunks coarsen retention and compression)" in capped


def test_unpacks_as_interval_and_reason():
    interval, reason = chunk_interval(2_000_000, shared_buffers=2 * GIB)
    assert interval == "2 days" and "2 days" in reason


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"events_per_day": -1, "shared_buffers": GIB}, "cannot be negative"),
        ({"events_per_day": 1.5, "shared_buffers": GIB}, "whole number or None"),
        ({"events_per_day": True, "shared_buffers": GIB}, "whole number or None"),
        ({"events_per_day": "1000", "shared_buffers": GIB}, "whole number or None"),
        ({"events_per_day": 1000, "shared_buffers": 0}, "shared_buffers must be positive"),
        ({"events_per_day": None, "shared_buffers": -5}, "shared_buffers must be positive"),
        (
            {"events_per_day": 1000, "shared_buffers": GIB, "index_bytes_per_event": 0},
            "index_bytes_per_event must be positive",
        ),
    ],
)
def test_bad_input_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        chunk_interval(kwargs.pop("events_per_day"), **kwargs)


# The deploy's defaults (2 years, 90 days: 90 / 3 = 30 days) leave every step open.
DEFAULT_POLICIES = {name: SETTINGS[name].default for name in WHOLE_CHUNK_POLICIES}


@pytest.mark.parametrize(
    "events,policies,expected",
    [
        pytest.param(10_000, DEFAULT_POLICIES, "30 days", id="defaults-leave-30-days"),
        pytest.param(10_000, {"retention": "60 days"}, "14 days", id="retention-60d-20d-max"),
        pytest.param(10_000, {"retention": "21 days"}, "7 days", id="retention-21d-exactly-7"),
        pytest.param(10_000, {"retention": "20 days"}, "3 days", id="retention-20d-6.7d-max"),
        pytest.param(
            10_000,
            {"retention": "1 year", "compress_after": "1 week"},
            "2 days",
            id="compress-after-a-week-2.3d-max",
        ),
        pytest.param(10_000, {"retention": "2 hours"}, "1 hour", id="tiny-window-shortest-step"),
        # memory still wins where it is the tighter bound
        pytest.param(1_000_000, {"retention": "60 days"}, "3 days", id="memory-tighter"),
        pytest.param(None, {"retention": "12 days"}, "3 days", id="unknown-ingest-bounded"),
        pytest.param(None, DEFAULT_POLICIES, "7 days", id="unknown-ingest-documents-7d"),
    ],
)
def test_whole_chunk_policies_bound_the_interval(events, policies, expected):
    result = chunk_interval(events, shared_buffers=2 * GIB, policies=policies)
    assert result.interval == expected
    window = min(parse_interval(text) for text in policies.values())
    if expected != LABELS[0]:
        assert parse_interval(expected) * POLICY_OVERSHOOT <= window
    if result.interval != chunk_interval(events, shared_buffers=2 * GIB).interval:
        name = min(policies, key=lambda n: parse_interval(policies[n]))
        assert f"{name} ({policies[name]})" in result.reason


def test_the_bounding_policy_is_named():
    reason = chunk_interval(5_555, shared_buffers=2 * GIB, policies={"retention": "30 days"})
    assert reason == ChunkInterval(
        "7 days",
        "5,555 events/day x 480 B of index: a 7 days chunk's indexes take 17.8 MiB of "
        "shared_buffers (2.0 GiB), the longest step within a third of retention (30 days), "
        "whole-chunk policies' grain",
    )


def test_a_policy_that_is_not_an_interval_is_refused():
    with pytest.raises(ValueError, match="not an interval"):
        chunk_interval(1_000, shared_buffers=GIB, policies={"retention": "forever"})
