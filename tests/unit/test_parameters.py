"""The parameter table: parsing and rendering as PostgreSQL does, ranges, pg_settings rows."""

from __future__ import annotations

import pytest

from tsdb_deploy.planner.parameters import (
    _UNIT_SIZES,
    PARAMETERS,
    Parameter,
    ParameterError,
    lookup,
)
from tsdb_deploy.units import GIB, KIB, MIB

KINDS = {"memory", "time", "int", "real", "bool", "enum", "string"}
CONTEXTS = {"postmaster", "sighup", "superuser", "superuser-backend", "user"}


@pytest.mark.parametrize(
    "name, text, value, rendered",
    [
        # memory: bytes in, the largest exact unit out
        ("shared_buffers", "2GB", 2 * GIB, "2GB"),
        ("shared_buffers", "1024", 8 * MIB, "8MB"),  # no unit: 8kB pages
        ("shared_buffers", "131072kB", 128 * MIB, "128MB"),
        ("shared_buffers", "1.5GB", 3 * GIB // 2, "1536MB"),
        ("work_mem", "1536kB", 1536 * KIB, "1536kB"),
        ("work_mem", "4096", 4 * MIB, "4MB"),  # no unit: kB
        ("work_mem", "64kB", 64 * KIB, "64kB"),
        ("max_wal_size", "1024", GIB, "1GB"),  # no unit: MB
        ("max_wal_size", "'4GB'", 4 * GIB, "4GB"),  # quoted, as in postgresql.conf
        ("effective_cache_size", " 6GB ", 6 * GIB, "6GB"),
        ("wal_buffers", "16MB", 16 * MIB, "16MB"),
        # time: ms in, the largest exact unit out
        ("checkpoint_timeout", "15min", 900_000, "15min"),
        ("checkpoint_timeout", "300", 300_000, "5min"),  # no unit: s
        ("checkpoint_timeout", "90s", 90_000, "90s"),
        ("checkpoint_timeout", "1h", 3_600_000, "1h"),
        ("log_min_duration_statement", "1s", 1000, "1s"),
        ("log_min_duration_statement", "250", 250, "250ms"),
        ("log_min_duration_statement", "-1", -1, "-1"),
        ("log_min_duration_statement", "0", 0, "0"),
        ("autovacuum_naptime", "10s", 10_000, "10s"),
        ("autovacuum_vacuum_cost_delay", "2ms", 2, "2ms"),
        ("idle_in_transaction_session_timeout", "10min", 600_000, "10min"),
        # int
        ("max_connections", "100", 100, "100"),
        ("max_connections", 100, 100, "100"),
        ("autovacuum_vacuum_cost_limit", "-1", -1, "-1"),
        ("timescaledb.max_background_workers", "0", 0, "0"),
        # real
        ("random_page_cost", "1.1", 1.1, "1.1"),
        ("random_page_cost", "4", 4.0, "4"),
        ("checkpoint_completion_target", "0.9", 0.9, "0.9"),
        ("hash_mem_multiplier", 2.0, 2.0, "2"),
        ("autovacuum_vacuum_scale_factor", "0.05", 0.05, "0.05"),
        # bool
        ("jit", "off", False, "off"),
        ("jit", "OFF", False, "off"),
        ("jit", "false", False, "off"),
        ("jit", "no", False, "off"),
        ("jit", "0", False, "off"),
        ("jit", "f", False, "off"),
        ("jit", "n", False, "off"),
        ("jit", False, False, "off"),
        ("fsync", "on", True, "on"),
        ("fsync", "True", True, "on"),
        ("fsync", "yes", True, "on"),
        ("fsync", "1", True, "on"),
        ("fsync", "t", True, "on"),
        ("fsync", "y", True, "on"),
        ("fsync", True, True, "on"),
        # enum: case-insensitive in, lower case out
        ("wal_level", "Replica", "replica", "replica"),
        ("synchronous_commit", "ON", "on", "on"),
        ("huge_pages", "try", "try", "try"),
        ("wal_compression", "LZ4", "lz4", "lz4"),
        ("password_encryption", "scram-sha-256", "scram-sha-256", "scram-sha-256"),
        # string: quoted in postgresql.conf
        (
            "shared_preload_libraries",
            "'timescaledb,pg_stat_statements'",
            "timescaledb,pg_stat_statements",
            "'timescaledb,pg_stat_statements'",
        ),
        ("listen_addresses", "*", "*", "'*'"),
        ("listen_addresses", "localhost", "localhost", "'localhost'"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_parse_and_render_round_trip(name, text, value, rendered):
    param = PARAMETERS[name]
    parsed = param.parse(text)
    assert parsed == value
    assert type(parsed) is type(value)
    assert param.render(parsed) == rendered
    assert param.parse(rendered) == value  # what we write reads back the same


@pytest.mark.parametrize(
    "value, written",
    [
        ("it's", "'it''s'"),
        ("C:\\dir", "'C:\\\\dir'"),  # the lexer reads backslash escapes inside quotes
        ("a\\'b", "'a\\\\''b'"),
        ("%m [%p] %q%u@%d/%a %h ", "'%m [%p] %q%u@%d/%a %h '"),
    ],
)
def test_strings_are_written_as_postgresqls_lexer_reads_them_back(value, written):
    param = PARAMETERS["archive_command"]
    assert param.render(value) == written
    assert param.parse(written) == value


@pytest.mark.parametrize(
    "name, value, pattern",
    [
        ("archive_command", "cp %p /x\nssl = off", "contains a control character"),
        ("listen_addresses", "localhost' ssl = 'off", "is not a comma-separated list"),
        ("listen_addresses", "*", None),
        ("listen_addresses", "10.0.0.5, db1.internal,::1", None),
        ("shared_preload_libraries", "timescaledb,pg_stat_statements", None),
        ("shared_preload_libraries", "timescaledb;drop", "is not a comma-separated list"),
        ("hash_mem_multiplier", float("nan"), "is not a finite number"),
        ("hash_mem_multiplier", "nan", "is not a finite number"),
        ("random_page_cost", "inf", "is not a finite number"),
        ("hash_mem_multiplier", ["2"], "is not a value PostgreSQL takes"),
        ("log_line_prefix", "%m\t", "contains a control character"),
    ],
)
def test_values_that_could_inject_or_crash_are_refused(name, value, pattern):
    param = PARAMETERS[name]
    if pattern is None:
        assert param.parse(value) == value
        return
    with pytest.raises(ParameterError, match=pattern):
        param.parse(value)


def test_enums_keep_postgresqls_spelling():
    assert PARAMETERS["ssl_min_protocol_version"].parse("tlsv1.2") == "TLSv1.2"
    assert PARAMETERS["synchronous_commit"].parse("ON") == "on"


@pytest.mark.parametrize(
    "name, text, pattern",
    [
        ("work_mem", "1kB", r"^work_mem: 1kB is outside PostgreSQL's range 64kB \.\. "),
        ("work_mem", "63kB", r"^work_mem: 63kB is outside PostgreSQL's range 64kB"),
        ("shared_buffers", "64kB", r"^shared_buffers: 64kB is outside PostgreSQL's range 128kB"),
        ("maintenance_work_mem", "512kB", r"^maintenance_work_mem: 512kB is outside .* 1MB"),
        ("max_connections", "0", r"^max_connections: 0 is outside PostgreSQL's range 1 \.\. "),
        ("max_connections", "262144", r"^max_connections: 262144 is outside .* 1 \.\. 262143$"),
        ("checkpoint_timeout", "10s", r"^checkpoint_timeout: 10s is outside .* 30s \.\. 1d$"),
        ("checkpoint_timeout", "2d", r"^checkpoint_timeout: 2d is outside"),
        ("checkpoint_completion_target", "1.5", r"^checkpoint_completion_target: 1\.5 is outside"),
        ("port", "70000", r"^port: 70000 is outside PostgreSQL's range 1 \.\. 65535$"),
        ("effective_io_concurrency", "1001", r"^effective_io_concurrency: 1001 is outside"),
        ("autovacuum_vacuum_cost_delay", "101ms", r"^autovacuum_vacuum_cost_delay: 101ms is out"),
        ("autovacuum_vacuum_cost_limit", "0", r"^autovacuum_vacuum_cost_limit: 0 is outside"),
        ("log_min_duration_statement", "-2", r"^log_min_duration_statement: -2ms is outside"),
        ("random_page_cost", "-1", r"^random_page_cost: -1 is outside"),
        ("min_wal_size", "1MB", r"^min_wal_size: 1MB is outside PostgreSQL's range 2MB"),
    ],
    ids=lambda v: v if isinstance(v, str) and not v.startswith("^") else None,
)
def test_range_errors_name_the_parameter(name, text, pattern):
    with pytest.raises(ParameterError, match=pattern):
        PARAMETERS[name].parse(text)


@pytest.mark.parametrize(
    "name, text, pattern",
    [
        ("max_connections", "abc", r"^max_connections: 'abc' is not an integer$"),
        ("max_connections", "1.5", r"^max_connections: '1.5' is not an integer$"),
        ("random_page_cost", "fast", r"^random_page_cost: 'fast' is not a number$"),
        ("jit", "maybe", r"^jit: 'maybe' is not on or off$"),
        ("wal_level", "archive", r"^wal_level: 'archive' is not one of minimal, replica, logical"),
        ("shared_buffers", "8XB", r"^shared_buffers: unknown unit 'XB'"),
        ("shared_buffers", "8gb", r"^shared_buffers: unknown unit 'gb'"),  # case-sensitive
        ("shared_buffers", "lots", r"^shared_buffers: not a number with a unit: 'lots'"),
        ("checkpoint_timeout", "5mins", r"^checkpoint_timeout: unknown unit 'mins'"),
    ],
    ids=lambda v: v if isinstance(v, str) and not v.startswith("^") else None,
)
def test_unreadable_values_name_the_parameter(name, text, pattern):
    with pytest.raises(ParameterError, match=pattern):
        PARAMETERS[name].parse(text)


@pytest.mark.parametrize(
    "name, text, unit",
    [
        ("shared_buffers", "12kB", "8kB"),
        ("wal_buffers", "100kB", "8kB"),
        ("effective_cache_size", "1000B", "8kB"),
        ("work_mem", "1500B", "kB"),
        ("max_wal_size", "1536kB", "MB"),
        ("min_wal_size", "100.5MB", "MB"),
        ("checkpoint_timeout", "1500ms", "s"),
        ("autovacuum_naptime", "0.5s", "s"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_memory_and_time_must_be_whole_units(name, text, unit):
    with pytest.raises(ParameterError, match=rf"^{name}: '{text}' is not a whole number of {unit}"):
        PARAMETERS[name].parse(text)


@pytest.mark.parametrize(
    "name",
    [
        "autovacuum_vacuum_cost_limit",
        "autovacuum_vacuum_cost_delay",
        "log_min_duration_statement",
        "log_autovacuum_min_duration",
    ],
)
def test_special_minus_one_accepted_where_the_unit_is_one(name):
    param = PARAMETERS[name]
    assert param.parse("-1") == -1
    assert param.render(-1) == "-1"


@pytest.mark.parametrize("name", ["wal_buffers", "autovacuum_work_mem", "log_temp_files"])
@pytest.mark.parametrize("text", ["-1", -1], ids=["text", "int"])
def test_special_minus_one_accepted_for_memory_parameters(name, text):
    param = PARAMETERS[name]
    assert param.parse(text) == -1
    assert param.render(param.parse(text)) == "-1"


@pytest.mark.parametrize("name", ["wal_buffers", "autovacuum_work_mem", "log_temp_files"])
def test_special_minus_one_renders_and_reads_from_pg_settings(name):
    param = PARAMETERS[name]
    assert -1 in param.special
    assert param.render(-1) == "-1"
    assert param.from_pg_settings("-1", param.unit) == -1


@pytest.mark.parametrize(
    "name, setting, unit, expected",
    [
        ("shared_buffers", "16384", "8kB", 128 * MIB),
        ("shared_buffers", "262144", "8kB", 2 * GIB),
        ("effective_cache_size", "786432", "8kB", 6 * GIB),
        ("wal_buffers", "2048", "8kB", 16 * MIB),
        ("work_mem", "4096", "kB", 4 * MIB),
        ("maintenance_work_mem", "65536", "kB", 64 * MIB),
        ("autovacuum_work_mem", "-1", "kB", -1),
        ("log_temp_files", "16384", "kB", 16 * MIB),
        ("max_wal_size", "1024", "MB", GIB),
        ("min_wal_size", "80", "MB", 80 * MIB),
        ("checkpoint_timeout", "300", "s", 300_000),
        ("autovacuum_naptime", "60", "s", 60_000),
        ("autovacuum_vacuum_cost_delay", "2", "ms", 2),
        ("log_min_duration_statement", "-1", "ms", -1),
        ("log_min_duration_statement", "1000", "ms", 1000),
        ("idle_in_transaction_session_timeout", "0", "ms", 0),
        ("fsync", "on", None, True),
        ("jit", "off", None, False),
        ("synchronous_commit", "on", None, "on"),
        ("wal_level", "REPLICA", None, "replica"),
        ("huge_pages", "Try", None, "try"),
        ("max_connections", "100", None, 100),
        ("random_page_cost", "1.1", None, 1.1),
        (
            "shared_preload_libraries",
            "timescaledb,pg_stat_statements",
            None,
            "timescaledb,pg_stat_statements",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_from_pg_settings_converts_real_rows(name, setting, unit, expected):
    assert PARAMETERS[name].from_pg_settings(setting, unit) == expected


@pytest.mark.parametrize(
    "name, setting, unit, planned, same",
    [
        ("shared_buffers", "262144", "8kB", "2GB", True),
        ("shared_buffers", "16384", "8kB", "2GB", False),
        ("work_mem", "18432", "kB", "18MB", True),
        ("work_mem", "18433", "kB", "18MB", False),
        ("max_wal_size", "4096", "MB", "4GB", True),
        ("checkpoint_timeout", "900", "s", "15min", True),
        ("checkpoint_timeout", "300", "s", "15min", False),
        ("log_min_duration_statement", "1000", "ms", "1s", True),
        ("log_min_duration_statement", "-1", "ms", "1s", False),
        ("jit", "off", None, "off", True),
        ("jit", "on", None, "off", False),
        ("wal_level", "replica", None, "replica", True),
        ("random_page_cost", "4", None, "1.1", False),
        # a string's spaces are part of it: the live value is compared as the server holds it
        ("log_line_prefix", "%m [%p] %h ", None, "'%m [%p] %h '", True),
        ("log_line_prefix", "%m [%p] %h", None, "'%m [%p] %h '", False),
        ("ssl_ciphers", "HIGH:!aNULL", None, "'HIGH:!aNULL'", True),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_live_row_compares_with_planned_text(name, setting, unit, planned, same):
    """What operations.differing_parameters relies on: equal values compare equal, others not."""
    param = PARAMETERS[name]
    assert (param.from_pg_settings(setting, unit) == param.parse(planned)) is same


@pytest.mark.parametrize("param", list(PARAMETERS.values()), ids=list(PARAMETERS))
def test_table_entry_is_well_formed(param: Parameter):
    assert param.kind in KINDS
    assert param.context in CONTEXTS
    assert param.needs_restart == (param.context == "postmaster")
    if param.kind in ("memory", "time"):
        assert param.unit in _UNIT_SIZES
        step = _UNIT_SIZES[param.unit]
        assert param.min % step == 0 and param.max % step == 0
    else:
        assert param.unit is None
    if param.kind in ("memory", "time", "int", "real"):
        assert param.min is not None and param.max is not None
        assert param.min <= param.max
        # the bounds render to text the same parameter reads back
        assert param.parse(param.render(param.min)) == param.min
        assert param.parse(param.render(param.max)) == param.max
    if param.kind == "enum":
        assert param.values and len({v.lower() for v in param.values}) == len(param.values)


def test_table_has_no_duplicate_names():
    from tsdb_deploy.planner.parameters import _TABLE

    assert len(_TABLE) == len(PARAMETERS)


@pytest.mark.parametrize(
    "name, context",
    [
        # PostgreSQL 17's guc_tables.c
        ("shared_buffers", "postmaster"),
        ("max_connections", "postmaster"),
        ("wal_buffers", "postmaster"),
        ("max_worker_processes", "postmaster"),
        ("autovacuum_max_workers", "postmaster"),
        ("shared_preload_libraries", "postmaster"),
        ("listen_addresses", "postmaster"),
        ("huge_pages", "postmaster"),
        ("wal_level", "postmaster"),
        ("max_wal_size", "sighup"),
        ("checkpoint_timeout", "sighup"),
        ("fsync", "sighup"),
        ("autovacuum_work_mem", "sighup"),
        ("work_mem", "user"),
        ("random_page_cost", "user"),
        ("max_parallel_workers", "user"),
        ("log_min_duration_statement", "superuser"),
        ("wal_compression", "superuser"),
        ("timescaledb.max_background_workers", "postmaster"),
    ],
    ids=lambda v: v if "_" in v or "." in v else None,
)
def test_known_contexts(name, context):
    assert PARAMETERS[name].context == context


def test_lookup_unknown_names_it_and_lists_the_managed_ones():
    assert lookup("work_mem") is PARAMETERS["work_mem"]
    with pytest.raises(ParameterError, match=r"^wrok_mem: not a parameter .* work_mem"):
        lookup("wrok_mem")


def test_differing_parameters_name_live_values_as_postgresql_conf_spells_them():
    from tsdb_deploy.facts import LiveServer, LiveSetting
    from tsdb_deploy.operations import differing_parameters

    rows = {
        "shared_buffers": LiveSetting("40960", "8kB", "postmaster", False),
        "work_mem": LiveSetting("6144", "kB", "user", False),
        "checkpoint_timeout": LiveSetting("900", "s", "sighup", False),
        "log_line_prefix": LiveSetting("%m ", None, "sighup", False),
    }
    live = LiveServer(rows, "2026-12-02 07:00:00+00", (), ())
    planned = {"shared_buffers": "384MB", "work_mem": "6MB", "checkpoint_timeout": "5min",
               "log_line_prefix": "'%m [%p] '", "jit": "off"}  # fmt: skip
    assert differing_parameters(planned, live) == {
        "shared_buffers": ("320MB", "384MB"),
        "checkpoint_timeout": ("15min", "5min"),
        "log_line_prefix": ("%m ", "'%m [%p] '"),
        "jit": ("(not loaded)", "off"),
    }
