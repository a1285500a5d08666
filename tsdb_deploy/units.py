"""Sizes and durations: parsing what people write, formatting what PostgreSQL reads.

PostgreSQL's memory units are binary (1kB = 1024 bytes), so "8GB" and "8GiB" mean the same
here: both are 8 * 1024**3 bytes. That is what an operator means when writing either.
"""

from __future__ import annotations

import re

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
TIB = 1024 * GIB

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": KIB,
    "kb": KIB,
    "kib": KIB,
    "m": MIB,
    "mb": MIB,
    "mib": MIB,
    "g": GIB,
    "gb": GIB,
    "gib": GIB,
    "t": TIB,
    "tb": TIB,
    "tib": TIB,
}

# PostgreSQL's own memory units (guc.c memory_unit_conversion_table), case-sensitive there.
PG_MEMORY_UNITS = {"B": 1, "kB": KIB, "MB": MIB, "GB": GIB, "TB": TIB}
# PostgreSQL's time units (guc.c time_unit_conversion_table), in milliseconds.
PG_TIME_UNITS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}

_NUMBER_UNIT = re.compile(r"^\s*(-?[0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")
# The intervals the settings accept ('90 days', '2 years'), in seconds as PostgreSQL's
# EXTRACT(EPOCH FROM interval) counts them: a month is 30 days, a year 365.25 days.
INTERVAL_UNITS = {
    "hour": 3600,
    "day": 86_400,
    "week": 7 * 86_400,
    "month": 30 * 86_400,
    "year": 31_557_600,
}
_INTERVAL = re.compile(r"^([1-9][0-9]*) (" + "|".join(INTERVAL_UNITS) + r")s?$")


class UnitError(ValueError):
    """A size or duration that cannot be read; the message says what was expected."""


def parse_size(text: str | int) -> int:
    """Bytes from '8GiB', '8GB', '512MiB', '1g', '1048576' (an int is taken as bytes)."""
    if isinstance(text, bool):
        raise UnitError(f"not a size: {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise UnitError(f"a size cannot be negative: {text}")
        return text
    match = _NUMBER_UNIT.match(str(text))
    unit = match.group(2).lower() if match else None
    if match and float(match.group(1)) < 0:
        raise UnitError(f"a size cannot be negative: {text!r}")
    if not match or unit not in _SIZE_UNITS:
        raise UnitError(
            f"not a size: {text!r} (write a number with one of B, kB, MB, GB, TB or KiB, MiB, "
            "GiB, TiB)"
        )
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def parse_interval(text: str) -> int:
    """Seconds in an interval written as the settings take it: '90 days', '1 year', '6 hours'."""
    match = _INTERVAL.match(text) if isinstance(text, str) else None
    if not match:
        raise UnitError(f"not an interval such as '90 days' or '2 years': {text!r}")
    return int(match.group(1)) * INTERVAL_UNITS[match.group(2)]


def format_size(nbytes: int) -> str:
    """Human-readable binary size, e.g. 2147483648 -> '2.0 GiB'."""
    for unit, factor in (("TiB", TIB), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if nbytes >= factor:
            return f"{nbytes / factor:.1f} {unit}"
    return f"{nbytes} B"


def pg_memory(nbytes: int) -> str:
    """A byte count as PostgreSQL writes it in SHOW: the largest unit that divides it exactly.

    Values are kept in whole kB (PostgreSQL's smallest unit for every memory setting we plan),
    so SHOW returns exactly what the config file says.
    """
    kb = nbytes // KIB
    for unit, factor in (("TB", TIB // KIB), ("GB", GIB // KIB), ("MB", MIB // KIB)):
        if kb and kb % factor == 0:
            return f"{kb // factor}{unit}"
    return f"{kb}kB"


def pg_duration(ms: int) -> str:
    """Milliseconds as PostgreSQL's SHOW writes them: the largest unit that divides exactly."""
    if ms == 0:
        return "0"
    for unit in ("d", "h", "min", "s"):
        factor = PG_TIME_UNITS[unit]
        if ms % factor == 0:
            return f"{ms // factor}{unit}"
    return f"{ms}ms"


def parse_pg_quantity(text: str, units: dict[str, float], default_unit: float) -> float:
    """A PostgreSQL setting with an optional unit, in the table's base (bytes or ms).

    `default_unit` is the size of the parameter's own unit, used when no unit is written
    (e.g. shared_buffers = 1024 means 1024 x 8kB).
    """
    match = _NUMBER_UNIT.match(str(text))
    if not match:
        raise UnitError(f"not a number with a unit: {text!r}")
    number, unit = float(match.group(1)), match.group(2)
    if not unit:
        return number * default_unit
    if unit not in units:
        raise UnitError(
            f"unknown unit {unit!r} in {text!r} (PostgreSQL accepts {', '.join(units)})"
        )
    return number * units[unit]


def round_down(value: int, step: int) -> int:
    return value - value % step
