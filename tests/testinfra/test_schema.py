"""The analytics schema on a deployed host: ledger, tables, hypertables, indexes, policies,
and the read-only role. Expectations come from the host's plan record and from sql/."""

from __future__ import annotations

import re
from pathlib import Path

SQL = Path(__file__).resolve().parents[2] / "sql"
TABLES = (
    "klaviyo_metrics", "klaviyo_profiles", "klaviyo_events", "klaviyo_aggregated_metrics",
    "klaviyo_campaigns", "klaviyo_flows", "klaviyo_forms", "klaviyo_segments",
    "klaviyo_segment_profiles",
)  # fmt: skip
PROPERTIES_INDEX = "idx_klaviyo_events_properties_gin"
UNITS = {"hour": 3600, "day": 86400, "week": 7 * 86400}


def interval_seconds(text: str) -> int:
    number, unit = text.split()
    return int(number) * UNITS[unit.rstrip("s")]


def test_ledger_complete_with_matching_checksums(deployed):
    rows = deployed.psql("SELECT name || ' ' || sha256 FROM tsdb_deploy.schema_migrations")
    ledger = dict(row.split(" ") for row in rows.splitlines())
    assert ledger == deployed.record["schema"]["migrations"]


def test_tables_present(deployed):
    present = set(
        deployed.psql(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p')"
        ).splitlines()
    )
    assert set(TABLES) <= present, set(TABLES) - present


def test_events_hypertable_has_the_planned_dimensions(deployed):
    schema = deployed.record["schema"]
    rows = deployed.psql(
        "SELECT dimension_type || ' ' || coalesce(extract(epoch FROM time_interval)::bigint, 0)"
        " || ' ' || coalesce(num_partitions, 0) FROM timescaledb_information.dimensions "
        "WHERE hypertable_name = 'klaviyo_events' ORDER BY dimension_number"
    ).splitlines()
    assert rows[0] == f"Time {interval_seconds(schema['chunk_interval'])} 0"
    if schema["space_partitions"]:
        assert rows[1:] == [f"Space 0 {schema['space_partitions']}"]
    else:
        assert rows[1:] == []


def test_every_index_of_the_migrations_exists_and_is_valid(deployed):
    license_ = deployed.psql("SHOW timescaledb.license")
    expected = set()
    for path in sorted(SQL.glob("*.sql")):
        expected |= set(re.findall(r"CREATE (?:UNIQUE )?INDEX (\w+)", path.read_text()))
    present = set(deployed.psql("SELECT indexname FROM pg_indexes").splitlines())
    missing = expected - present
    # the aggregates' index belongs to the Apache branch's table (continuous aggregates get
    # TimescaleDB's own index instead)
    allowed = set() if license_ == "apache" else {"idx_klaviyo_aggregated_metrics_recent"}
    # the properties GIN is a setting (events_properties_index): absent where it says False
    if deployed.record["schema"].get("events_properties_index") is False:
        assert PROPERTIES_INDEX not in present
        allowed.add(PROPERTIES_INDEX)
    assert missing <= allowed, missing
    assert deployed.psql("SELECT count(*) FROM pg_index WHERE NOT indisvalid") == "0"


def test_policies_or_their_fallback_are_in_place(host, deployed):
    license_ = deployed.psql("SHOW timescaledb.license")
    jobs = deployed.psql(
        "SELECT proc_name FROM timescaledb_information.jobs WHERE hypertable_name IS NOT NULL"
    ).splitlines()
    if license_ == "timescale":
        expected = {"policy_compression", "policy_retention", "policy_refresh_continuous_aggregate"}
        assert expected <= set(jobs), jobs
    else:
        assert jobs == []  # none can exist on the Apache build
        cron = host.file("/etc/cron.d/tsdb-maintenance")
        assert cron.exists and "klaviyo_run_maintenance()" in cron.content_string
        result = deployed.psql("SELECT klaviyo_run_maintenance()")
        assert result.startswith("aggregates:"), result


def test_readonly_role_reads_everything_and_writes_nothing(host, deployed):
    role = deployed.record["schema"]["readonly_role"]
    for table in TABLES:
        count = deployed.psql(f"SET ROLE {role}; SELECT count(*) FROM {table}")
        assert count.isdigit(), (table, count)
    for statement in (
        "INSERT INTO klaviyo_metrics (id, name, created_at, updated_at) "
        "VALUES ('x', 'x', now(), now())",
        "UPDATE klaviyo_events SET value = 0",
        "DELETE FROM klaviyo_profiles",
        "TRUNCATE klaviyo_campaigns",
        "CREATE TABLE readonly_probe (i int)",
    ):
        result = host.run("tsdb-psql -X -v ON_ERROR_STOP=1 -c %s", f"SET ROLE {role}; {statement}")
        assert result.rc != 0, statement
        assert "permission denied" in result.stderr, (statement, result.stderr)
