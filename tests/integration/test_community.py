"""TimescaleDB's Community build, live, on both runtimes: what production runs.

The native host installs through the upstream steps from the lab mirror, the docker host runs
the lab's Community image; both at the older vendored release first, then upgraded to the
default (the newer one). On a dataset spanning more than two years, each Community branch of
the migrations runs: the policies are in timescaledb_information.jobs with the settings'
values; compression (`CALL run_job`) compresses the chunks older than compress_after and every
dashboard answer stays the same; retention drops the expired chunks and keeps the rest; the
continuous aggregates answer as the raw events do; the upgrade keeps all of it, a downgrade is
refused before anything changes; logical backups, restores and point-in-time recovery work on
compressed chunks and continuous aggregates. Tests run in order, per runtime.
"""

from __future__ import annotations

import time

import pytest

from lab import images, vendor
from lab.testhosts import TestHost
from tsdb_deploy.settings import SETTINGS

from .conftest import make_target
from .helpers import (
    DB,
    assert_testinfra_passes,
    backup,
    content_checksums,
    databases,
    psql_in,
    restore,
)

OLD, NEW = list(vendor.RELEASES)  # a host deployed at the older release is upgraded
assert SETTINGS["timescaledb_version"].default == NEW
HOSTS = {
    "native": TestHost("tsdb-it-community-native", memory="2g", cpus=1),
    "docker": TestHost("tsdb-it-community-docker", memory="4g", cpus=2, docker_volume=True),
}
COMPRESS_AFTER = SETTINGS["compress_after"].default
RETENTION = SETTINGS["retention"].default
AGGREGATES = ("klaviyo_aggregated_metrics_hourly", "klaviyo_aggregated_metrics_daily")

# 50 metrics, 2000 profiles; 30,000 events over the last 200 days and 1,000 older than the
# retention (750..800 days), all relative to one fixed moment so every answer is repeatable.
DATASET = """
INSERT INTO klaviyo_metrics (id, name, created_at, updated_at)
SELECT 'M' || i, 'Metric ' || i, now(), now() FROM generate_series(1, 50) i;
INSERT INTO klaviyo_profiles (id, email, created_at, updated_at)
SELECT 'P' || i, 'p' || i || '@example.com', now(), now() FROM generate_series(1, 2000) i;
INSERT INTO klaviyo_events (id, metric_id, profile_id, "timestamp", value, properties, raw_data)
SELECT 'E' || i, 'M' || (1 + (i * 7919) % 50), 'P' || (1 + (i::bigint * 104729) % 2000),
       :'t0'::timestamptz - ((i::bigint * 2654435761) % (200 * 86400)) * INTERVAL '1 second',
       CASE WHEN i % 3 = 0 THEN round(((i * 31) % 50000) / 100.0, 2) END,
       jsonb_build_object('Campaign Name', 'Campaign ' || (i % 40)), '{}'::jsonb
FROM generate_series(1, 30000) i;
INSERT INTO klaviyo_events (id, metric_id, profile_id, "timestamp", value, properties, raw_data)
SELECT 'X' || i, 'M' || (1 + i % 50), 'P' || (1 + i % 2000),
       :'t0'::timestamptz - INTERVAL '750 days' - (i % 50) * INTERVAL '1 day',
       i % 100, '{}'::jsonb, '{}'::jsonb
FROM generate_series(1, 1000) i;
ANALYZE;
"""

# The dashboard's questions over ranges that span compressed and uncompressed chunks.
DASHBOARD = {
    "series by hour, 30 days": "SELECT time_bucket('1 hour', \"timestamp\"), count(*), sum(value)"
    " FROM klaviyo_events WHERE metric_id = 'M3' AND \"timestamp\" >= '{t0}'::timestamptz - "
    "INTERVAL '30 days' GROUP BY 1 ORDER BY 1",
    "series by day, 180 days": "SELECT * FROM klaviyo_metric_series('M3', '1 day', "
    "'{t0}'::timestamptz - INTERVAL '180 days', '{t0}')",
    "events per metric, 180 days": "SELECT * FROM klaviyo_events_per_metric("
    "'{t0}'::timestamptz - INTERVAL '180 days', '{t0}')",
    "profile timeline, 180 days": 'SELECT id, metric_id, "timestamp", value FROM klaviyo_events '
    "WHERE profile_id = 'P42' AND \"timestamp\" >= '{t0}'::timestamptz - INTERVAL '180 days' "
    'ORDER BY "timestamp" DESC, id LIMIT 50',
    "high-value events, 180 days": "SELECT id, value FROM klaviyo_events WHERE value > 400 AND "
    "\"timestamp\" >= '{t0}'::timestamptz - INTERVAL '180 days' ORDER BY value DESC, id LIMIT 20",
    "JSON containment, 180 days": "SELECT count(*) FROM klaviyo_events WHERE properties @> "
    '\'{{"Campaign Name": "Campaign 7"}}\' AND "timestamp" >= \'{t0}\'::timestamptz - '
    "INTERVAL '180 days'",
    "aggregated metrics, 180 days": "SELECT metric_id, time_bucket, bucket_size, count, "
    "sum_value, min_value, max_value, avg_value FROM klaviyo_aggregated_metrics WHERE "
    "time_bucket >= time_bucket('1 day', '{t0}'::timestamptz) - INTERVAL '180 days' AND "
    "time_bucket < time_bucket('1 day', '{t0}'::timestamptz) ORDER BY 1, 2, 3",
}
# The same rows as the aggregated view, straight from the events.
RAW_AGGREGATES = (
    'SELECT metric_id, time_bucket(b::interval, "timestamp") AS tb, b, count(*), '
    "coalesce(sum(value), 0)::numeric(18, 2), min(value), max(value), "
    "round(avg(value), 2)::numeric(12, 2) FROM klaviyo_events, "
    "unnest(ARRAY['1 hour', '1 day']) b WHERE \"timestamp\" >= time_bucket('1 day', "
    "'{t0}'::timestamptz) - INTERVAL '180 days' AND \"timestamp\" < "
    "time_bucket('1 day', '{t0}'::timestamptz) "
    "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
)


@pytest.fixture(scope="module", params=list(HOSTS))
def target(request, tmp_path_factory, lab_mirror):
    runtime = request.param
    if runtime == "native":
        base, upgrade = lab_mirror.inventory_data(OLD), lab_mirror.inventory_data(NEW)
    else:
        base = images.docker_host_data(OLD, container_memory="2GiB", container_cpus=1)
        upgrade = images.docker_host_data(NEW, container_memory="2GiB", container_cpus=1)
    target = make_target(request, tmp_path_factory, HOSTS[runtime], base, group=runtime)
    first = target.deploy()
    assert first.returncode == 0, first.output[-5000:]
    target.runtime, target.upgrade = runtime, upgrade
    # No cron job may change the data while the tests compare it (the backups' schedule).
    target.run("systemctl", "stop", "cron")
    target.t0 = target.psql("SELECT date_trunc('second', now())")
    target.run(
        "tsdb-psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"t0={target.t0}",
        stdin=DATASET,
    )  # fmt: skip
    return target


def answers(target, database: str = DB) -> dict[str, str]:
    """Every dashboard question's rows, as text."""
    return {
        name: psql_in(target, database, sql.format(t0=target.t0)) for name, sql in DASHBOARD.items()
    }


def job_id(target, proc: str, table: str) -> str:
    found = target.psql(
        "SELECT j.job_id FROM timescaledb_information.jobs j LEFT JOIN "
        "timescaledb_information.continuous_aggregates c ON c.materialization_hypertable_name "
        f"= j.hypertable_name WHERE j.proc_name = '{proc}' AND "
        f"coalesce(c.view_name, j.hypertable_name) = '{table}'"
    )
    assert found, (proc, table)
    return found


def run_job(target, proc: str, table: str) -> None:
    target.psql(f"CALL run_job({job_id(target, proc, table)})")


def compressed_chunks(target, table: str = "klaviyo_events", database: str = DB) -> list[str]:
    where = f"hypertable_name = '{table}'"
    if table in AGGREGATES:
        where = (
            "hypertable_name = (SELECT materialization_hypertable_name FROM "
            f"timescaledb_information.continuous_aggregates WHERE view_name = '{table}')"
        )
    return psql_in(
        target, database,
        f"SELECT chunk_name FROM timescaledb_information.chunks WHERE {where} AND is_compressed "
        "ORDER BY 1",
    ).split()  # fmt: skip


def test_the_community_build_runs_every_migration(target):
    assert target.show("timescaledb.license") == "timescale"
    assert target.psql("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'") == OLD
    applied = target.psql("SELECT name FROM tsdb_deploy.schema_migrations ORDER BY 1").split()
    assert applied == sorted(target.plan_record()["schema"]["migrations"])
    # the Community branches: continuous aggregates behind the dashboard's view
    kinds = target.psql(
        "SELECT string_agg(c.relname || ':' || c.relkind::text, ',' ORDER BY c.relname) "
        "FROM pg_class c WHERE c.relname LIKE 'klaviyo_aggregated_metrics%' "
        "AND c.relkind IN ('r', 'v', 'm')"
    )
    assert kinds == (
        "klaviyo_aggregated_metrics:v,klaviyo_aggregated_metrics_daily:v,"
        "klaviyo_aggregated_metrics_hourly:v"
    )


def test_the_jobs_hold_the_settings_values(target):
    rows = target.psql(
        "SELECT j.proc_name, coalesce(c.view_name, j.hypertable_name), "
        "coalesce(j.config->>'compress_after', j.config->>'drop_after', '') || '/' || "
        "coalesce(j.config->>'start_offset', '') || '/' || coalesce(j.config->>'end_offset', '')"
        " FROM timescaledb_information.jobs j LEFT JOIN "
        "timescaledb_information.continuous_aggregates c ON c.materialization_hypertable_name "
        "= j.hypertable_name WHERE j.hypertable_name IS NOT NULL ORDER BY 1, 2"
    )
    jobs = {tuple(row.split("|")[:2]): row.split("|")[2] for row in rows.splitlines()}
    expected = {
        ("policy_compression", "klaviyo_events"): f"{COMPRESS_AFTER}//",
        ("policy_compression", AGGREGATES[0]): f"{COMPRESS_AFTER}//",
        ("policy_compression", AGGREGATES[1]): f"{COMPRESS_AFTER}//",
        ("policy_retention", "klaviyo_events"): f"{RETENTION}//",
        ("policy_refresh_continuous_aggregate", AGGREGATES[0]): "/3 days/01:00:00",
        ("policy_refresh_continuous_aggregate", AGGREGATES[1]): "/3 days/01:00:00",
    }
    assert jobs == expected
    # the telemetry job is unscheduled (sql/0010)
    telemetry = "SELECT scheduled FROM timescaledb_information.jobs WHERE proc_name = "
    assert target.psql(telemetry + "'policy_telemetry'") == "f"


def test_continuous_aggregates_answer_as_the_raw_events(target):
    raw = target.psql(RAW_AGGREGATES.format(t0=target.t0))
    view = target.psql(DASHBOARD["aggregated metrics, 180 days"].format(t0=target.t0))
    assert view == raw and raw.count("\n") > 1000
    # materialized by their refresh (the policy's window is 3 days; a backfill refreshes all)
    for view_name in AGGREGATES:
        target.psql(f"CALL refresh_continuous_aggregate('{view_name}', NULL, NULL)")
        run_job(target, "policy_refresh_continuous_aggregate", view_name)
    assert target.psql(DASHBOARD["aggregated metrics, 180 days"].format(t0=target.t0)) == raw


def test_compression_compresses_old_chunks_and_keeps_every_answer(target):
    before = answers(target)
    assert compressed_chunks(target) == []
    run_job(target, "policy_compression", "klaviyo_events")
    old = target.psql(
        "SELECT count(*) FILTER (WHERE is_compressed) || '/' || count(*) FILTER (WHERE NOT "
        "is_compressed AND range_end < now() - INTERVAL '" + COMPRESS_AFTER + "') || '/' || "
        "count(*) FILTER (WHERE is_compressed AND range_end >= now() - INTERVAL '"
        + COMPRESS_AFTER
        + "') FROM timescaledb_information.chunks "
        "WHERE hypertable_name = 'klaviyo_events'"
    )
    compressed, old_uncompressed, recent_compressed = map(int, old.split("/"))
    assert compressed > 5 and old_uncompressed == 0 and recent_compressed == 0, old
    for view_name in AGGREGATES:
        run_job(target, "policy_compression", view_name)
        assert compressed_chunks(target, view_name), view_name
    assert answers(target) == before
    stats = target.psql(
        "SELECT before_compression_total_bytes > 3 * after_compression_total_bytes FROM "
        "hypertable_compression_stats('klaviyo_events')"
    )
    assert stats == "t"


def test_retention_drops_the_expired_chunks_and_keeps_the_rest(target):
    within = (
        f"SELECT count(*) FROM klaviyo_events WHERE \"timestamp\" >= now() - INTERVAL '{RETENTION}'"
    )
    expired = (
        "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = "
        f"'klaviyo_events' AND range_end < now() - INTERVAL '{RETENTION}'"
    )
    assert int(target.psql(expired)) >= 1
    assert target.psql("SELECT count(*) FROM klaviyo_events WHERE id LIKE 'X%'") == "1000"
    before = answers(target)
    run_job(target, "policy_retention", "klaviyo_events")
    assert target.psql(expired) == "0"
    assert target.psql("SELECT count(*) FROM klaviyo_events WHERE id LIKE 'X%'") == "0"
    assert target.psql(within) == "30000"
    assert answers(target) == before  # nothing the dashboard reads was older


def test_the_application_writes_late_events_into_compressed_chunks(target):
    """The ingest path as the application role, which owns nothing since sql/0011: a late event
    lands in a compressed chunk, and the same event sent again is skipped (ON CONFLICT)."""
    chunk_start = target.psql(
        "SELECT min(range_start) FROM timescaledb_information.chunks "
        "WHERE hypertable_name = 'klaviyo_events' AND is_compressed"
    )
    assert chunk_start, "no compressed chunk to write into"
    late = (
        'SET ROLE klaviyo; INSERT INTO klaviyo_events (id, metric_id, profile_id, "timestamp", '
        "value, properties, raw_data) SELECT 'late-event', metric_id, profile_id, "
        f"'{chunk_start}'::timestamptz + INTERVAL '1 minute', value, properties, raw_data "
        "FROM klaviyo_events LIMIT 1 ON CONFLICT DO NOTHING"
    )
    target.psql(late)
    target.psql(late)
    where = "WHERE id = 'late-event'"
    assert target.psql(f"SELECT count(*) FROM klaviyo_events {where}") == "1"
    target.psql(f"DELETE FROM klaviyo_events {where}")  # the later tests' data as it was


def test_on_the_old_release_a_backup_of_compressed_data_fails_its_test_restore(target):
    """TimescaleDB 2.19.3 cannot restore what it dumps of an all-NULL compressed column
    (timescale/timescaledb#8153, fixed in 2.21.0): tsdb-restore --test catches the backup that
    would not restore, and the deploy warns about the release (known_issues)."""
    proc = backup(target, "daily", user=None)
    assert proc.returncode == 0, proc.stderr
    tested = restore(target, "--test", "daily/latest")
    assert tested.returncode == 1, tested.stdout
    assert "FAIL  restore" in tested.stdout and "compress_hyper_" in tested.stdout, tested.stdout
    assert not [name for name in databases(target) if name.startswith("tsdb_restore_test_")]
    result = target.deploy()
    assert result.returncode == 0 and result.changed == 0, result.output[-5000:]
    assert "timescale/timescaledb#8153" in result.output


def test_an_upgrade_keeps_data_jobs_and_answers(target):
    source, compressed = answers(target), compressed_chunks(target)
    jobs_sql = (
        "SELECT job_id, proc_name, config FROM timescaledb_information.jobs "
        "WHERE hypertable_name IS NOT NULL ORDER BY 1"
    )
    jobs = target.psql(jobs_sql)
    started = target.postmaster_started()
    # every database that has the extension is updated; one that takes no connections (a
    # kept pre-restore copy) is named, not touched
    for name in ("second_db", "closed_db"):
        psql_in(target, "postgres", f"CREATE DATABASE {name}")
        psql_in(target, name, "CREATE EXTENSION timescaledb")
    psql_in(target, "postgres", "ALTER DATABASE closed_db ALLOW_CONNECTIONS false")
    result = target.deploy(target.upgrade)
    assert result.returncode == 0, result.output[-5000:]
    assert f"Updating TimescaleDB in {DB}: {OLD} -> {NEW}" in result.output
    assert f"Updating TimescaleDB in second_db: {OLD} -> {NEW}" in result.output
    assert "Not updated (they take no connections): closed_db" in result.output
    assert psql_in(target, "second_db", "SELECT extversion FROM pg_extension WHERE extname = "
                   "'timescaledb'") == NEW  # fmt: skip
    for name in ("second_db", "closed_db"):
        psql_in(target, "postgres", f"DROP DATABASE {name}")
    assert target.psql("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'") == NEW
    if target.runtime == "native":  # the loader is compatible: no restart needed
        assert f"Upgrading timescaledb-2-postgresql-17: {OLD}~" in result.output
        assert target.postmaster_started() == started
        assert "Restarting PostgreSQL" not in result.output
    assert answers(target) == source
    assert compressed_chunks(target) == compressed
    assert target.psql(jobs_sql) == jobs
    # the old backups restore only into the old version: one of the new is taken at once
    assert f"Taking a logical backup of TimescaleDB {NEW} (daily)" in result.output
    again = target.deploy(target.upgrade)
    assert again.returncode == 0 and again.changed == 0, again.output[-5000:]
    target.base = dict(target.upgrade)


def test_a_downgrade_is_refused_before_anything_changes(target):
    started = target.postmaster_started()
    result = target.deploy({"timescaledb_version": OLD})
    assert result.returncode != 0
    assert (
        f"timescaledb_version {OLD} is older than the extension in the databases" in (result.output)
        or f"timescaledb_version {OLD} is older than the installed" in result.output
    )
    assert result.totals is None or result.totals["success"] == 0
    assert target.psql("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'") == NEW
    assert target.postmaster_started() == started


def test_logical_backups_restore_compressed_chunks_and_aggregates(target):
    source, compressed = answers(target), compressed_chunks(target)
    content = content_checksums(target)
    proc = backup(target, "daily", user=None)
    assert proc.returncode == 0, proc.stderr
    tested = restore(target, "--test", "daily/latest")
    assert tested.returncode == 0 and tested.stdout.rstrip().endswith("PASS"), tested.stdout
    copy = "community_copy"
    try:
        made = restore(target, "--new-db", copy, "daily/latest")
        assert made.returncode == 0, made.stdout + made.stderr
        assert answers(target, copy) == source
        assert content_checksums(target, copy) == content
        assert len(compressed_chunks(target, database=copy)) == len(compressed)
        views = "SELECT view_name FROM timescaledb_information.continuous_aggregates ORDER BY 1"
        assert psql_in(target, copy, views).split() == sorted(AGGREGATES)
    finally:
        psql_in(target, "postgres", f"DROP DATABASE IF EXISTS {copy} WITH (FORCE)")
    # in place: the events dropped, then brought back with their compression
    target.psql("TRUNCATE klaviyo_events")
    proc = restore(target, "daily/latest", "--yes-i-understand", "--grace", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert answers(target) == source and content_checksums(target) == content
    assert len(compressed_chunks(target)) == len(compressed)
    for name in [n for n in databases(target) if "__pre_restore_" in n]:
        psql_in(target, "postgres", f"DROP DATABASE {name}")


def test_rows_past_the_retention_horizon_survive_a_restore_and_a_copy_runs_no_job(target):
    """A backup holds rows its retention policy has yet to drop (the policy runs daily; an
    older backup holds many). Restoring it must not run the policy before the rows are
    counted, and a copy beside the live database keeps its jobs paused: its policies would
    drop the very rows a restore of old data is for."""
    job = job_id(target, "policy_retention", "klaviyo_events")
    live = "SELECT count(*) FROM klaviyo_events WHERE id = 'E-past-retention'"
    copy = "past_retention_copy"
    # the live scheduler stopped, so the policy, due now, runs only where the backup restores
    target.psql("SELECT _timescaledb_functions.stop_background_workers()")
    try:
        target.psql(
            'INSERT INTO klaviyo_events (id, metric_id, profile_id, "timestamp", properties, '
            "raw_data) SELECT 'E-past-retention', id, 'P-old', now() - INTERVAL '3 years', "
            "'{}', '{}' FROM klaviyo_metrics ORDER BY id LIMIT 1"
        )
        target.psql(f"SELECT alter_job({job}, next_start => now() - INTERVAL '1 minute')")
        proc = backup(target, "daily", user=None)
        assert proc.returncode == 0, proc.stderr
        tested = restore(target, "--test", "daily/latest")
        assert tested.returncode == 0 and tested.stdout.rstrip().endswith("PASS"), tested.stdout
        made = restore(target, "--new-db", copy, "daily/latest")
        assert made.returncode == 0, made.stdout + made.stderr
        assert psql_in(target, copy, live) == "1"
        scheduled = "SELECT count(*) FROM timescaledb_information.jobs WHERE scheduled"
        assert psql_in(target, copy, scheduled) == "0"
        assert "jobs" in made.stdout and "are paused" in made.stdout
    finally:
        psql_in(target, "postgres", f"DROP DATABASE IF EXISTS {copy} WITH (FORCE)")
        # what the policy would do: the chunk past the horizon goes
        target.psql("SELECT count(*) FROM drop_chunks('klaviyo_events', older_than => now() - "
                    f"INTERVAL '{RETENTION}')")  # fmt: skip
        target.psql(f"SELECT alter_job({job}, next_start => now() + INTERVAL '1 day')")
        target.psql("SELECT _timescaledb_functions.restart_background_workers()")


def test_point_in_time_recovery_with_compressed_chunks(target):
    source, compressed = answers(target), compressed_chunks(target)
    target.psql("CREATE TABLE pitr_probe (i int); INSERT INTO pitr_probe VALUES (1)")
    time.sleep(1.5)
    moment = target.psql("SELECT now()")
    time.sleep(1.5)
    target.psql("DELETE FROM klaviyo_events WHERE metric_id = 'M3'")  # old, compressed rows too
    target.psql("INSERT INTO pitr_probe VALUES (2)")
    target.psql("SELECT pg_switch_wal()")
    result = target.run("tsdb-pitr", moment, check=False)
    assert "completed successfully" in result, result[-3000:]
    server_log = target.run(
        "sh", "-c", "tail -n 40 /var/log/postgresql/*.log 2>/dev/null || "
        "docker logs --tail 40 tsdb_timescaledb 2>&1", check=False,
    )  # fmt: skip
    probe = target.psql("SELECT coalesce(to_regclass('pitr_probe')::text, 'missing')")
    assert probe == "pitr_probe", f"restored to {moment}:\n{server_log}"
    assert target.psql("SELECT array_agg(i) FROM pitr_probe") == "{1}"
    assert answers(target) == source
    assert compressed_chunks(target) == compressed
    target.psql("DROP TABLE pitr_probe")
    again = target.deploy()
    assert again.returncode == 0, again.output[-5000:]


def test_the_testinfra_suite_checks_and_reports_the_jobs(target):
    output = assert_testinfra_passes(target)
    assert "TimescaleDB jobs on" in output, output[-3000:]
    assert "policy_compression klaviyo_events" in output
