"""Sizes and durations: what operators write in, what PostgreSQL reads out."""

from __future__ import annotations

import pytest

from tsdb_deploy.units import (
    GIB,
    KIB,
    MIB,
    PG_MEMORY_UNITS,
    PG_TIME_UNITS,
    TIB,
    UnitError,
    format_size,
    parse_interval,
    parse_pg_quantity,
    parse_size,
    pg_duration,
    pg_memory,
    round_down,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("8GiB", 8 * GIB),
        ("8GB", 8 * GIB),  # PostgreSQL's binary units: GB means GiB
        ("8gb", 8 * GIB),
        ("8Gb", 8 * GIB),
        ("8G", 8 * GIB),
        ("8g", 8 * GIB),
        ("8 GiB", 8 * GIB),
        ("  8GiB  ", 8 * GIB),
        ("512MiB", 512 * MIB),
        ("512MB", 512 * MIB),
        ("512m", 512 * MIB),
        ("512M", 512 * MIB),
        ("64kB", 64 * KIB),
        ("64KB", 64 * KIB),
        ("64KiB", 64 * KIB),
        ("64k", 64 * KIB),
        ("1TiB", TIB),
        ("1TB", TIB),
        ("1t", TIB),
        ("100B", 100),
        ("100b", 100),
        ("100", 100),
        ("1.5GiB", 3 * GIB // 2),
        ("0.5MB", 512 * KIB),
        (1048576, MIB),
        (0, 0),
    ],
    ids=lambda v: repr(v),
)
def test_parse_size_accepts_each_unit_spelling(text, expected):
    assert parse_size(text) == expected


SIZE_REJECTS = [
    ("8XB", r"not a size: '8XB' \(write a number with one of B, kB, MB"),
    ("-1GB", r"a size cannot be negative: '-1GB'"),
    ("", r"not a size: ''"),
    ("abc", r"not a size: 'abc'"),
    ("GB", r"not a size: 'GB'"),
    ("1.5.2GB", r"not a size"),
    ("8 G B", r"not a size"),
    ("1e9", r"not a size"),
    ("8PB", r"not a size: '8PB'"),
    (True, r"not a size: True"),
    (False, r"not a size: False"),
    (-5, r"a size cannot be negative: -5"),
    (None, r"not a size: None"),
]


@pytest.mark.parametrize("text, pattern", SIZE_REJECTS, ids=[repr(t) for t, _ in SIZE_REJECTS])
def test_parse_size_rejects(text, pattern):
    with pytest.raises(UnitError, match=pattern):
        parse_size(text)


def test_unit_error_is_a_value_error():
    assert issubclass(UnitError, ValueError)


@pytest.mark.parametrize(
    "nbytes, expected",
    [
        (1536 * MIB, "1536MB"),
        (GIB, "1GB"),
        (8 * GIB, "8GB"),
        (2 * TIB, "2TB"),
        (1536 * GIB, "1536GB"),
        (128 * MIB, "128MB"),
        (64 * KIB, "64kB"),
        (3 * MIB + 512 * KIB, "3584kB"),
        (2496 * KIB, "2496kB"),
        (0, "0kB"),
    ],
    ids=lambda v: repr(v),
)
def test_pg_memory_uses_the_largest_exact_unit(nbytes, expected):
    assert pg_memory(nbytes) == expected
    # and PostgreSQL reads it back as the same number of bytes
    assert parse_pg_quantity(expected, PG_MEMORY_UNITS, KIB) == nbytes


@pytest.mark.parametrize(
    "ms, expected",
    [
        (0, "0"),
        (1, "1ms"),
        (1500, "1500ms"),
        (1000, "1s"),
        (90_000, "90s"),
        (60_000, "1min"),
        (15 * 60_000, "15min"),
        (90 * 60_000, "90min"),
        (3_600_000, "1h"),
        (7_200_000, "2h"),
        (86_400_000, "1d"),
        (36 * 3_600_000, "36h"),
    ],
    ids=lambda v: repr(v),
)
def test_pg_duration_uses_the_largest_exact_unit(ms, expected):
    assert pg_duration(ms) == expected
    assert parse_pg_quantity(expected, PG_TIME_UNITS, 1) == ms


@pytest.mark.parametrize(
    "text, units, default_unit, expected",
    [
        ("1024", PG_MEMORY_UNITS, 8 * KIB, 8 * MIB),  # shared_buffers = 1024 pages of 8kB
        ("4096", PG_MEMORY_UNITS, KIB, 4 * MIB),  # work_mem in kB
        ("1024", PG_MEMORY_UNITS, MIB, GIB),  # max_wal_size in MB
        ("1GB", PG_MEMORY_UNITS, 8 * KIB, GIB),  # an explicit unit ignores the default
        ("512kB", PG_MEMORY_UNITS, MIB, 512 * KIB),
        ("100B", PG_MEMORY_UNITS, KIB, 100),
        ("1TB", PG_MEMORY_UNITS, KIB, TIB),
        ("1.5GB", PG_MEMORY_UNITS, KIB, 1.5 * GIB),
        ("300", PG_TIME_UNITS, 1000, 300_000),  # checkpoint_timeout in s
        ("5min", PG_TIME_UNITS, 1000, 300_000),
        ("2", PG_TIME_UNITS, 1, 2),  # cost delay in ms
        ("1h", PG_TIME_UNITS, 1000, 3_600_000),
        ("1d", PG_TIME_UNITS, 1000, 86_400_000),
        ("500us", PG_TIME_UNITS, 1, 0.5),
        ("1.5s", PG_TIME_UNITS, 1, 1500),
        ("-1", PG_TIME_UNITS, 1, -1),
        (" 10 s ", PG_TIME_UNITS, 1, 10_000),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_parse_pg_quantity_with_default_units(text, units, default_unit, expected):
    assert parse_pg_quantity(text, units, default_unit) == expected


@pytest.mark.parametrize(
    "text, units, pattern",
    [
        ("1gb", PG_MEMORY_UNITS, r"unknown unit 'gb' in '1gb' \(PostgreSQL accepts B, kB, MB"),
        ("1KB", PG_MEMORY_UNITS, r"unknown unit 'KB'"),  # PostgreSQL's units are case-sensitive
        ("1GiB", PG_MEMORY_UNITS, r"unknown unit 'GiB'"),
        ("10sec", PG_TIME_UNITS, r"unknown unit 'sec' .*us, ms, s, min, h, d"),
        ("1GB", PG_TIME_UNITS, r"unknown unit 'GB'"),
        ("lots", PG_MEMORY_UNITS, r"not a number with a unit: 'lots'"),
        ("", PG_MEMORY_UNITS, r"not a number with a unit: ''"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_parse_pg_quantity_rejects(text, units, pattern):
    with pytest.raises(UnitError, match=pattern):
        parse_pg_quantity(text, units, 1)


@pytest.mark.parametrize(
    "nbytes, expected",
    [
        (2 * GIB, "2.0 GiB"),
        (1536 * MIB, "1.5 GiB"),
        (TIB, "1.0 TiB"),
        (512 * MIB, "512.0 MiB"),
        (1536, "1.5 KiB"),
        (512, "512 B"),
        (0, "0 B"),
    ],
)
def test_format_size(nbytes, expected):
    assert format_size(nbytes) == expected


@pytest.mark.parametrize(
    "value, step, expected",
    [(2 * GIB + 5, MIB, 2 * GIB), (MIB - 1, MIB, 0), (3 * MIB, MIB, 3 * MIB), (100, 64, 64)],
)
def test_round_down(value, step, expected):
    assert round_down(value, step) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("1 hour", 3600),
        ("6 hours", 6 * 3600),
        ("90 days", 90 * 86400),
        ("1 week", 7 * 86400),
        ("3 months", 90 * 86400),  # PostgreSQL: EXTRACT(EPOCH FROM INTERVAL '1 month') = 30 days
        ("2 years", 2 * 31_557_600),  # and '1 year' = 365.25 days
    ],
)
def test_parse_interval(text, expected):
    assert parse_interval(text) == expected


@pytest.mark.parametrize("text", ["", "90", "0 days", "90days", "1.5 days", "90 DAYS", None, 90])
def test_parse_interval_rejects(text):
    with pytest.raises(UnitError, match="not an interval"):
        parse_interval(text)
