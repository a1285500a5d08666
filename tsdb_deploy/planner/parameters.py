"""Every postgresql.conf parameter the planner may write, declared once.

Each entry gives the parameter's kind, its unit as pg_settings reports it, PostgreSQL's valid
range, and its context (pg_settings.context: `postmaster` needs a restart, everything else a
reload at most). Validation of planned values and inventory overrides, the comparison with a
live server, and the reload-or-restart decision all read this table, so they cannot disagree.

Ranges and contexts are PostgreSQL 17's (src/backend/utils/misc/guc_tables.c) and
TimescaleDB 2.x's (src/guc.c); they are the same in 15 and 16 for every entry here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..formats import CONTROL, pg_conf_string, pg_conf_unstring
from ..units import (
    PG_MEMORY_UNITS,
    PG_TIME_UNITS,
    UnitError,
    parse_pg_quantity,
    pg_duration,
    pg_memory,
)

INT_MAX = 2**31 - 1
MAX_BACKENDS = 0x3FFFF  # postmaster.h: the largest max_connections / max_worker_processes
MAX_KILOBYTES = INT_MAX  # guc.h, on 64-bit platforms

# Sizes of the units pg_settings.unit reports, in bytes and milliseconds.
_UNIT_SIZES = {"B": 1, "kB": 1024, "8kB": 8192, "MB": 1024**2, "ms": 1, "s": 1000, "min": 60_000}

# No value may carry a control character: in postgresql.conf a newline ends the line, so it
# would add lines (parameters) of its own; the rest have no business in any setting.
# A comma-separated list, as PostgreSQL's SplitIdentifierString / SplitGUCList read them.
_NAME = r"[A-Za-z_][A-Za-z0-9_$.-]*"
LIBRARY_LIST = re.compile(rf"^\s*{_NAME}(\s*,\s*{_NAME})*\s*$")
_HOST = r"(\*|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|[0-9A-Fa-f:.]+)"
ADDRESS_LIST = re.compile(rf"^\s*{_HOST}(\s*,\s*{_HOST})*\s*$")
PREFIX = re.compile(r"^[ -~]*$")
PATH = re.compile(r"^[A-Za-z0-9._/-]+$")  # log_line_prefix: printable ASCII, its escapes included

# Boolean spellings PostgreSQL accepts (parse_bool in src/backend/utils/adt/bool.c).
_TRUE = {"on", "true", "yes", "1", "t", "y"}
_FALSE = {"off", "false", "no", "0", "f", "n"}


class ParameterError(ValueError):
    """A value PostgreSQL would reject, or that the table does not allow; names the parameter."""


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str  # memory | time | int | real | bool | enum | string
    context: str  # pg_settings.context
    unit: str | None = None  # pg_settings.unit for memory and time parameters
    min: float | None = None  # in bytes (memory), ms (time) or plain numbers
    max: float | None = None
    values: tuple[str, ...] = ()  # enum values
    special: tuple[float, ...] = ()  # values allowed outside the range, e.g. -1 = automatic
    grammar: re.Pattern | None = None  # what a string value must match
    grammar_text: str = ""  # how the error names it

    @property
    def needs_restart(self) -> bool:
        return self.context == "postmaster"

    def parse(self, text: str | int | float | bool):
        """The value of `text` in the table's terms (bytes, ms, number, bool, lower-case str).

        Raises ParameterError naming the parameter and what it accepts.
        """
        try:
            value = self._parse(text)
        except UnitError as exc:
            raise ParameterError(f"{self.name}: {exc}") from None
        self._check_range(value)
        return value

    def _parse(self, text):
        if isinstance(text, float) and not math.isfinite(text):
            raise ParameterError(f"{self.name}: {text!r} is not a finite number")
        if not isinstance(text, str | int | float | bool):
            raise ParameterError(f"{self.name}: {text!r} is not a value PostgreSQL takes")
        if CONTROL.search(str(text)):
            raise ParameterError(f"{self.name}: {text!r} contains a control character")
        raw = str(text).strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == "'":  # as written in postgresql.conf
            raw = pg_conf_unstring(raw)
        elif self.kind == "string":  # a string's spaces are part of it (log_line_prefix)
            raw = str(text)
        if self.kind in ("memory", "time"):
            if raw == "-1" and -1 in self.special:  # "automatic", whatever the unit
                return -1
            units = PG_MEMORY_UNITS if self.kind == "memory" else PG_TIME_UNITS
            value = parse_pg_quantity(raw, units, _UNIT_SIZES[self.unit])
            step = _UNIT_SIZES[self.unit]
            if value not in self.special and value % step:
                raise ParameterError(
                    f"{self.name}: {text!r} is not a whole number of {self.unit} "
                    f"(its unit in PostgreSQL)"
                )
            return int(value) if float(value).is_integer() else value
        if self.kind == "int":
            try:
                return int(raw)
            except ValueError:
                raise ParameterError(f"{self.name}: {text!r} is not an integer") from None
        if self.kind == "real":
            try:
                number = float(raw)
            except ValueError:
                raise ParameterError(f"{self.name}: {text!r} is not a number") from None
            if not math.isfinite(number):
                raise ParameterError(f"{self.name}: {text!r} is not a finite number")
            return number
        if self.kind == "bool":
            if isinstance(text, bool):
                return text
            if raw.lower() in _TRUE:
                return True
            if raw.lower() in _FALSE:
                return False
            raise ParameterError(f"{self.name}: {text!r} is not on or off")
        if self.kind == "enum":  # case-insensitive, as PostgreSQL reads it; SHOW's spelling
            for value in self.values:
                if value.lower() == raw.lower():
                    return value
            raise ParameterError(f"{self.name}: {text!r} is not one of {', '.join(self.values)}")
        if self.grammar is not None and not self.grammar.match(raw):
            raise ParameterError(f"{self.name}: {text!r} is not {self.grammar_text}")
        return raw

    def _check_range(self, value) -> None:
        if self.kind not in ("memory", "time", "int", "real") or value in self.special:
            return
        if (self.min is not None and value < self.min) or (
            self.max is not None and value > self.max
        ):
            raise ParameterError(
                f"{self.name}: {self.render(value)} is outside PostgreSQL's range "
                f"{self.render(self.min)} .. {self.render(self.max)}"
            )

    def render(self, value) -> str:
        """The value as written in postgresql.conf, which is also what SHOW returns."""
        if self.kind == "memory":
            return "-1" if value == -1 else pg_memory(int(value))
        if self.kind == "time":
            return "-1" if value == -1 else pg_duration(int(value))
        if self.kind == "bool":
            return "on" if value else "off"
        if self.kind == "real":
            return f"{value:g}"
        if self.kind == "string":
            return pg_conf_string(str(value))
        return str(value)

    def from_pg_settings(self, setting: str, unit: str | None):
        """A live pg_settings row (setting, unit) in the table's terms, for comparison."""
        if self.kind in ("memory", "time"):
            number = float(setting)
            return number if number in self.special else int(number * _UNIT_SIZES[unit or "B"])
        if self.kind == "string":  # as the server holds it: no quotes, spaces significant
            return setting
        return self._parse(setting)


def _memory(name, context, unit, lo, hi, special=()):
    size = _UNIT_SIZES[unit]
    return Parameter(name, "memory", context, unit, lo * size, hi * size, special=special)


def _time(name, context, unit, lo, hi, special=()):
    size = _UNIT_SIZES[unit]
    return Parameter(name, "time", context, unit, lo * size, hi * size, special=special)


_TABLE = [
    # memory
    _memory("shared_buffers", "postmaster", "8kB", 16, INT_MAX // 2),
    _memory("effective_cache_size", "user", "8kB", 1, INT_MAX),
    _memory("work_mem", "user", "kB", 64, MAX_KILOBYTES),
    Parameter("hash_mem_multiplier", "real", "user", min=1, max=1000),
    _memory("maintenance_work_mem", "user", "kB", 1024, MAX_KILOBYTES),
    _memory("autovacuum_work_mem", "sighup", "kB", 1024, MAX_KILOBYTES, special=(-1,)),
    _memory("wal_buffers", "postmaster", "8kB", 8, INT_MAX // 8192, special=(-1,)),
    Parameter("huge_pages", "enum", "postmaster", values=("off", "on", "try")),
    Parameter("max_connections", "int", "postmaster", min=1, max=MAX_BACKENDS),
    Parameter("max_locks_per_transaction", "int", "postmaster", min=10, max=INT_MAX),
    # planner
    Parameter("random_page_cost", "real", "user", min=0, max=1e10),
    Parameter("effective_io_concurrency", "int", "user", min=0, max=1000),
    Parameter("maintenance_io_concurrency", "int", "user", min=0, max=1000),
    Parameter("default_statistics_target", "int", "user", min=1, max=10000),
    Parameter("jit", "bool", "user"),
    Parameter("enable_partitionwise_join", "bool", "user"),
    Parameter("enable_partitionwise_aggregate", "bool", "user"),
    # workers
    Parameter("max_worker_processes", "int", "postmaster", min=0, max=MAX_BACKENDS),
    Parameter("max_parallel_workers", "int", "user", min=0, max=1024),
    Parameter("max_parallel_workers_per_gather", "int", "user", min=0, max=1024),
    Parameter("max_parallel_maintenance_workers", "int", "user", min=0, max=1024),
    Parameter("timescaledb.max_background_workers", "int", "postmaster", min=0, max=1000),
    # WAL and checkpoints
    Parameter("wal_level", "enum", "postmaster", values=("minimal", "replica", "logical")),
    Parameter("max_wal_senders", "int", "postmaster", min=0, max=MAX_BACKENDS),
    _memory("min_wal_size", "sighup", "MB", 2, MAX_KILOBYTES),
    _memory("max_wal_size", "sighup", "MB", 2, MAX_KILOBYTES),
    _time("checkpoint_timeout", "sighup", "s", 30, 86400),
    Parameter("checkpoint_completion_target", "real", "sighup", min=0, max=1),
    Parameter("wal_compression", "enum", "superuser", values=("off", "on", "pglz", "lz4", "zstd")),
    # archiving (point-in-time recovery)
    Parameter("archive_mode", "enum", "postmaster", values=("off", "on", "always")),
    Parameter("archive_command", "string", "sighup"),
    _time("archive_timeout", "sighup", "s", 0, INT_MAX // 2),
    # durability: planned explicitly so a host that drifted from it is noticed
    Parameter("fsync", "bool", "sighup"),
    Parameter("full_page_writes", "bool", "sighup"),
    Parameter(
        "synchronous_commit",
        "enum",
        "user",
        values=("local", "remote_write", "remote_apply", "on", "off"),
    ),
    # autovacuum
    Parameter("autovacuum_max_workers", "int", "postmaster", min=1, max=MAX_BACKENDS),
    _time("autovacuum_naptime", "sighup", "s", 1, INT_MAX // 1000),
    Parameter("autovacuum_vacuum_scale_factor", "real", "sighup", min=0, max=100),
    Parameter("autovacuum_analyze_scale_factor", "real", "sighup", min=0, max=100),
    Parameter("autovacuum_vacuum_insert_scale_factor", "real", "sighup", min=0, max=100),
    Parameter("autovacuum_vacuum_threshold", "int", "sighup", min=0, max=INT_MAX),
    Parameter("autovacuum_analyze_threshold", "int", "sighup", min=0, max=INT_MAX),
    Parameter("autovacuum_vacuum_cost_limit", "int", "sighup", min=1, max=10000, special=(-1,)),
    _time("autovacuum_vacuum_cost_delay", "sighup", "ms", 0, 100, special=(-1,)),
    # logging and statistics
    _time("log_min_duration_statement", "superuser", "ms", 0, INT_MAX, special=(-1,)),
    Parameter("log_checkpoints", "bool", "sighup"),
    Parameter("log_lock_waits", "bool", "superuser"),
    _memory("log_temp_files", "superuser", "kB", 0, INT_MAX, special=(-1,)),
    _time("log_autovacuum_min_duration", "sighup", "ms", 0, INT_MAX, special=(-1,)),
    Parameter("track_io_timing", "bool", "superuser"),
    # libraries
    Parameter(
        "shared_preload_libraries",
        "string",
        "postmaster",
        grammar=LIBRARY_LIST,
        grammar_text="a comma-separated list of library names",
    ),
    # connections and sessions
    Parameter(
        "listen_addresses",
        "string",
        "postmaster",
        grammar=ADDRESS_LIST,
        grammar_text="a comma-separated list of host names, addresses or *",
    ),
    Parameter("port", "int", "postmaster", min=1, max=65535),
    Parameter("password_encryption", "enum", "user", values=("md5", "scram-sha-256")),
    _time("idle_in_transaction_session_timeout", "user", "ms", 0, INT_MAX),
    # TLS (every file and setting reloads: certificate renewal never needs a restart)
    Parameter("ssl", "bool", "sighup"),
    Parameter(
        "ssl_cert_file",
        "string",
        "sighup",
        grammar=PATH,
        grammar_text="a file path",
    ),
    Parameter(
        "ssl_key_file",
        "string",
        "sighup",
        grammar=PATH,
        grammar_text="a file path",
    ),
    Parameter(
        "ssl_min_protocol_version",
        "enum",
        "sighup",
        values=("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"),
    ),
    Parameter(
        "ssl_ciphers",
        "string",
        "sighup",
        grammar=re.compile(r"^[A-Za-z0-9:+!@._-]+$"),
        grammar_text="an OpenSSL cipher list",
    ),
    Parameter("ssl_prefer_server_ciphers", "bool", "sighup"),
    # the audit trail (dev-sec postgres-16, CIS 3.1)
    Parameter("log_connections", "bool", "superuser-backend"),
    Parameter("log_disconnections", "bool", "superuser-backend"),
    Parameter("log_line_prefix", "string", "sighup", grammar=PREFIX, grammar_text="printable text"),
    Parameter("log_statement", "enum", "superuser", values=("none", "ddl", "mod", "all")),
    Parameter("default_toast_compression", "enum", "user", values=("pglz", "lz4")),
]

PARAMETERS: dict[str, Parameter] = {p.name: p for p in _TABLE}


def lookup(name: str) -> Parameter:
    try:
        return PARAMETERS[name]
    except KeyError:
        raise ParameterError(
            f"{name}: not a parameter this deployment manages (it manages: "
            f"{', '.join(sorted(PARAMETERS))})"
        ) from None
