"""The analytics schema on a deployed host: ledger, tables, hypertables, indexes, policies,
and the read-only role. Expectations come from the host's plan record and from sql/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tsdb_deploy import known_issues

SQL = Path(__file__).resolve().parents[2] / "sql"
TABLES = (
    "klaviyo_metrics", "klaviyo_profiles", "klaviyo_events", "klaviyo_aggregated_metrics",
    "klaviyo_campaigns", "klaviyo_flows", "klaviyo_forms", "klaviyo_segments",
    "klaviyo_segment_profiles",
)  # fmt: skip
PROPERTIES_INDEX = "idx_klaviyo_events_properties_gin"
APACHE_AGGREGATES_INDEXES = (
    "idx_klaviyo_aggregated_metrics_recent",
    "idx_klaviyo_aggregated_metrics_time",
)
AGGREGATES = ("klaviyo_aggregated_metrics_hourly", "klaviyo_aggregated_metrics_daily")
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
    # the aggregates' indexes belong to the Apache branch's table (continuous aggregates get
    # TimescaleDB's own index instead)
    allowed = set() if license_ == "apache" else set(APACHE_AGGREGATES_INDEXES)
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


JOBS_SQL = (
    "SELECT j.job_id, j.proc_name, coalesce(h.view_name, j.hypertable_name, ''), j.scheduled,"
    " coalesce(j.config->>'compress_after', j.config->>'drop_after', ''),"
    " coalesce(s.last_run_status, 'never run'), coalesce(s.last_run_started_at::text, ''),"
    " coalesce(s.total_failures, 0) FROM timescaledb_information.jobs j"
    " LEFT JOIN timescaledb_information.job_stats s USING (job_id)"
    " LEFT JOIN timescaledb_information.continuous_aggregates h"
    " ON h.materialization_hypertable_name = j.hypertable_name ORDER BY j.job_id"
)


def community_jobs(deployed) -> list[list[str]]:
    """Every TimescaleDB job: id, proc, table or view, scheduled, its interval setting, last
    run status, when, failures. Skips on the Apache build (no jobs: cron runs its work)."""
    if deployed.psql("SHOW timescaledb.license") != "timescale":
        pytest.skip("no TimescaleDB jobs on the Apache build (cron runs its maintenance)")
    return [row.split("|") for row in deployed.psql(JOBS_SQL).splitlines()]


def test_timescaledb_jobs_hold_the_planned_policies(deployed):
    """Community build: the compression policies (events and both continuous aggregates) after
    compress_after, retention of the events after `retention`, both aggregates' refresh
    policies, as the host's record says."""
    schema = deployed.record["schema"]
    policies = {(proc, table): value for _, proc, table, _, value, *_ in community_jobs(deployed)}
    same = "SELECT %s::interval = %s::interval"
    for table in ("klaviyo_events", *AGGREGATES):
        value = policies.get(("policy_compression", table))
        assert value is not None, (table, policies)
        assert deployed.psql(same % (f"'{value}'", f"'{schema['compress_after']}'")) == "t"
    retention = policies.get(("policy_retention", "klaviyo_events"))
    assert retention is not None, policies
    assert deployed.psql(same % (f"'{retention}'", f"'{schema['retention']}'")) == "t"
    for view in AGGREGATES:
        assert ("policy_refresh_continuous_aggregate", view) in policies, policies


def test_timescaledb_jobs_run_without_failing(deployed, job_report):
    """No scheduled job whose last run failed, the cause named where it is a known upstream
    problem (tsdb_deploy/known_issues.py). Every job's last run is reported at the end of
    the session."""
    jobs = community_jobs(deployed)
    job_report.extend(
        f"job {job_id} {proc} {table or '-'}: {status}"
        + (f" at {started}" if started else "")
        + (f", {failures} failures" if failures != "0" else "")
        + ("" if scheduled == "t" else " (unscheduled)")
        for job_id, proc, table, scheduled, _, status, started, failures in jobs
    )
    failed = [job for job in jobs if job[3] == "t" and job[5] == "Failed"]
    errors = {
        job[0]: deployed.psql(
            "SELECT err_message FROM timescaledb_information.job_errors WHERE job_id = "
            f"{job[0]} ORDER BY start_time DESC LIMIT 1"
        )
        for job in failed
    }
    why = {known_issues.diagnose(error) or error for error in errors.values()}
    assert not failed, (
        f"scheduled jobs whose last run failed: {', '.join(f'{j[0]} {j[1]}' for j in failed)}: "
        + "; ".join(sorted(why))
    )


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
