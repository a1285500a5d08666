"""The schema's migrations on a real host: drift refused, failures rolled back, the dashboard
queries served by the intended indexes on a generated dataset, the aggregates exact.

Changed or broken migration sets are tried from a copy of the project (with its own sql/),
never by editing this checkout.
"""

from __future__ import annotations

import json
import time

import pytest

from lab.testhosts import TestHost
from tsdb_deploy import migrations
from tsdb_deploy.settings import SETTINGS

from .conftest import DISTRO, make_target
from .helpers import project_copy, sh

HOST = TestHost("tsdb-it-schema", memory="2g", cpus=2)
EVENTS = 40_000
# Versions for the migrations these tests add after this project's own.
NEXT = len(migrations.discover()) + 1

# A dataset shaped like the documents': 50 metrics, a skewed metric distribution, profiles,
# six months of events with JSON properties, a value on some.
DATASET = f"""
INSERT INTO klaviyo_metrics (id, name, created_at, updated_at)
SELECT 'M' || i, 'Metric ' || i, now(), now() FROM generate_series(1, 50) i;
INSERT INTO klaviyo_profiles (id, email, created_at, updated_at)
SELECT 'P' || i, 'p' || i || '@example.com', now(), now() FROM generate_series(1, 2000) i;
INSERT INTO klaviyo_events (id, metric_id, profile_id, "timestamp", value, properties, raw_data)
SELECT 'E' || i,
       'M' || (1 + floor(50 * power(random(), 3)))::int,
       'P' || (1 + floor(2000 * random()))::int,
       now() - random() * INTERVAL '180 days',
       CASE WHEN random() < 0.3 THEN round((random() * 500)::numeric, 2) END,
       jsonb_build_object('Campaign Name', 'Campaign ' || (i % 40), 'Source', 'web'),
       '{{}}'::jsonb
FROM generate_series(1, {EVENTS}) i;
ANALYZE;
"""

# The documents' dashboard queries, and the index each must use.
QUERIES = {
    "metric series by hour, 30 days": (
        "SELECT time_bucket('1 hour', \"timestamp\") AS h, count(*), sum(value) "
        "FROM klaviyo_events WHERE metric_id = 'M3' AND \"timestamp\" >= now() - INTERVAL "
        "'30 days' GROUP BY h ORDER BY h",
        "idx_klaviyo_events_metric_timestamp",
    ),
    "a profile's timeline": (
        'SELECT id, metric_id, "timestamp", value FROM klaviyo_events WHERE profile_id = '
        "'P42' AND \"timestamp\" >= now() - INTERVAL '90 days' ORDER BY \"timestamp\" DESC "
        "LIMIT 50",
        "idx_klaviyo_events_profile_timestamp",
    ),
    "high-value events, 7 days": (
        'SELECT id, value FROM klaviyo_events WHERE value > 100 AND "timestamp" >= now() - '
        "INTERVAL '7 days' ORDER BY value DESC LIMIT 20",
        "idx_klaviyo_events_high_value",
    ),
    "JSON property containment, 30 days": (
        'SELECT count(*) FROM klaviyo_events WHERE properties @> \'{"Campaign Name": '
        '"Campaign 7"}\' AND "timestamp" >= now() - INTERVAL \'30 days\'',
        "idx_klaviyo_events_properties_gin",
    ),
    "recent aggregated metrics": (
        "SELECT time_bucket, count, sum_value FROM klaviyo_aggregated_metrics WHERE metric_id = "
        "'M3' AND bucket_size = '1 hour' AND time_bucket >= now() - INTERVAL '30 days' ORDER BY "
        "time_bucket DESC",
        "idx_klaviyo_aggregated_metrics_recent",
    ),
}


@pytest.fixture(scope="module")
def target(request, tmp_path_factory):
    target = make_target(request, tmp_path_factory, HOST, DISTRO)
    first = target.deploy()
    assert first.returncode == 0, first.output[-5000:]
    target.psql(DATASET.replace("\n", " "))
    return target


def ledger(target) -> list[str]:
    return target.psql("SELECT name FROM tsdb_deploy.schema_migrations ORDER BY 1").split()


def test_a_second_deploy_applies_nothing(target):
    result = target.deploy()
    assert result.returncode == 0, result.output[-3000:]
    assert result.changed == 0, result.output[-3000:]


def test_the_hourly_maintenance_runs_as_the_owner_role(target):
    """Cron's job (the Apache build), run as cron would: a session of the owner role itself,
    whose refresh and retention succeed; no way back to a superuser from it."""
    cron = target.run("cat", "/etc/cron.d/tsdb-maintenance")
    (job,) = [line for line in cron.splitlines()
              if "klaviyo_run_maintenance" in line and not line.startswith("#")]  # fmt: skip
    command = job.split(" postgres ", 1)[1].split(" 2>&1 | logger")[0]
    out = target.run("runuser", "-u", "postgres", "--", "sh", "-c", command)
    assert out.startswith("aggregates:"), out
    session = command.replace("SELECT klaviyo_run_maintenance()", "SELECT session_user")
    assert target.run("runuser", "-u", "postgres", "--", "sh", "-c", session).strip() == (
        "klaviyo_owner"
    )
    back = command.replace("SELECT klaviyo_run_maintenance()", "SET ROLE postgres")
    with pytest.raises(AssertionError, match="permission denied to set role"):
        target.run("runuser", "-u", "postgres", "--", "sh", "-c", back)
    # the map lets the OS user postgres, and no one else, be the owner
    other = sh(target, "psql", "-X", "-h", "/var/run/postgresql", "-U", "klaviyo_owner", "-d",
               "klaviyo_analytics", "-c", "SELECT 1", user="nobody")  # fmt: skip
    assert other.returncode != 0
    assert 'Peer authentication failed for user "klaviyo_owner"' in other.stderr, other.stderr


def test_the_properties_index_follows_its_setting(target):
    """events_properties_index = False drops the GIN from the hypertable and every chunk, and
    a second deploy leaves it so; True builds it again on every chunk, valid, and the JSON
    containment query reads it again; an index left invalid is built again. Each --dry names
    the step before it runs. It deploys this checkout, so it runs before the tests that apply
    migrations of their own, and it ends with the index back, as the later tests expect it."""
    gin = "idx_klaviyo_events_properties_gin"
    on_chunks = (
        "SELECT count(*) FROM pg_indexes WHERE schemaname = '_timescaledb_internal' "
        "AND indexdef LIKE '%USING gin (properties jsonb_path_ops)%'"
    )
    chunks = target.psql("SELECT count(*) FROM show_chunks('klaviyo_events')")
    assert int(chunks) > 1 and target.psql(on_chunks) == chunks
    off = {"events_properties_index": False}
    record = (
        "Record the plan this host was sized with; tsdb-pg and tsdb-psql"  # it notes the setting
    )
    try:
        planned = target.deploy(off, dry=True).changing
        assert "klaviyo_events properties index absent as set" in planned, planned
        assert set(planned) <= {"klaviyo_events properties index absent as set", record}
        assert target.psql(on_chunks) == chunks  # --dry changed nothing
        assert target.deploy(off).returncode == 0
        assert target.psql(f"SELECT to_regclass('{gin}') IS NULL") == "t"
        assert target.psql(on_chunks) == "0"
        assert target.deploy(off).changed == 0
        planned = target.deploy(dry=True).changing
        assert "klaviyo_events properties index present as set" in planned, planned
        assert set(planned) <= {"klaviyo_events properties index present as set", record}
    finally:
        back = target.deploy()
    assert back.returncode == 0, back.output[-5000:]
    valid = f"SELECT indisvalid FROM pg_index WHERE indexrelid = '{gin}'::regclass"
    assert target.psql(valid) == "t"
    assert target.psql(on_chunks) == chunks
    assert target.deploy().changed == 0
    # an interrupted chunk-by-chunk build leaves the hypertable's index invalid: rebuilt
    target.psql(f"UPDATE pg_index SET indisvalid = false WHERE indexrelid = '{gin}'::regclass")
    assert target.deploy().changed >= 1
    assert target.psql(valid) == "t" and target.psql(on_chunks) == chunks
    sql, index = QUERIES["JSON property containment, 30 days"]
    indexes = {n.get("Index Name", "") for n in walk(plan_of(target, sql))}
    assert any(index in name for name in indexes), indexes


def test_a_changed_applied_migration_is_refused(target, tmp_path):
    before = ledger(target)
    result = target.deploy(project=project_copy(tmp_path, change="0003_events_hypertable.sql"))
    assert result.returncode != 0
    assert "0003_events_hypertable.sql was applied with sha256" in result.output
    assert ledger(target) == before


def test_a_failing_migration_rolls_back_and_stops(target, tmp_path):
    counts = target.psql("SELECT count(*) FROM klaviyo_events") + target.psql(
        "SELECT count(*) FROM klaviyo_metrics"
    )
    before = ledger(target)
    broken = {
        f"{NEXT:04}_broken.sql": f'-- {NEXT:04}_broken: fails halfway\nSET ROLE :"app_user";\n'
        "INSERT INTO klaviyo_metrics (id, name, created_at, updated_at) "
        "VALUES ('half-done', 'x', now(), now());\n"
        "DELETE FROM klaviyo_events;\n"
        "SELECT 1 / 0;\n",
        f"{NEXT + 1:04}_after.sql": f"-- {NEXT + 1:04}_after: must not run\n"
        "CREATE TABLE never_created (i int);\n",
    }
    result = target.deploy(project=project_copy(tmp_path, extra=broken))
    assert result.returncode != 0
    assert "division by zero" in result.output
    assert ledger(target) == before
    after = target.psql("SELECT count(*) FROM klaviyo_events") + target.psql(
        "SELECT count(*) FROM klaviyo_metrics"
    )
    assert after == counts
    assert target.psql("SELECT to_regclass('never_created') IS NULL") == "t"


def test_two_deploys_racing_apply_a_migration_once(target, tmp_path):
    """Serialized by the host's deploy lock (the second waits), and inside it by the
    migrations' advisory lock: the slow migration is applied once."""
    slow = {
        f"{NEXT:04}_slow.sql": f"-- {NEXT:04}_slow: takes a while, so two deploys overlap\n"
        'SET ROLE :"owner_role";\nSELECT pg_sleep(4);\nCREATE TABLE race_probe (i int);\n'
    }
    project = project_copy(tmp_path, extra=slow)
    runs = [target.start_deploy({"deploy_lock_wait": 600}, project=project) for _ in range(2)]
    results = [target.finish(run) for run in runs]
    assert [r.returncode for r in results] == [0, 0], [r.output[-3000:] for r in results]
    assert ledger(target).count(f"{NEXT:04}_slow") == 1
    assert target.psql("SELECT to_regclass('race_probe') IS NOT NULL") == "t"


def test_aggregates_equal_a_direct_group_by(target):
    target.psql("SELECT refresh_klaviyo_aggregated_metrics(now() - INTERVAL '1 year', now())")
    expected = (
        'SELECT metric_id, time_bucket(b.size::interval, "timestamp") AS time_bucket, '
        "b.size::varchar(10) AS bucket_size, count(*) AS count, "
        "coalesce(sum(value), 0)::numeric(18,2) AS sum_value, min(value) AS min_value, "
        "max(value) AS max_value, round(avg(value), 2)::numeric(12,2) AS avg_value "
        "FROM klaviyo_events CROSS JOIN (VALUES ('1 hour'), ('1 day')) AS b(size) "
        "GROUP BY metric_id, 2, 3"
    )
    aggregated = (
        "SELECT metric_id, time_bucket, bucket_size, count, sum_value, min_value, max_value, "
        "avg_value FROM klaviyo_aggregated_metrics"
    )
    rows = int(target.psql(f"SELECT count(*) FROM ({expected}) e"))
    assert rows > 1000
    assert target.psql(f"SELECT count(*) FROM ({expected} EXCEPT ALL {aggregated}) d") == "0"
    assert target.psql(f"SELECT count(*) FROM ({aggregated} EXCEPT ALL {expected}) d") == "0"


# (label, range start, range end) for the served series and counts: bucket-aligned, not,
# shorter than a bucket, across the watermark, only after it, empty.
RANGES = [
    (
        "aligned 30 days",
        "date_trunc('day', now()) - INTERVAL '30 days'",
        "date_trunc('day', now())",
    ),
    ("30 days to now", "now() - INTERVAL '30 days'", "now()"),
    ("odd edges", "now() - INTERVAL '10 days 7 minutes'", "now() - INTERVAL '3 days 13 minutes'"),
    (
        "inside an hour",
        "now() - INTERVAL '5 days 20 minutes'",
        "now() - INTERVAL '5 days 5 minutes'",
    ),
    ("across the watermark", "now() - INTERVAL '2 days'", "now() + INTERVAL '3 hours'"),
    ("after the watermark", "now() + INTERVAL '1 minute'", "now() + INTERVAL '3 hours'"),
    ("empty", "now() - INTERVAL '5 days'", "now() - INTERVAL '5 days'"),
    ("180 days", "now() - INTERVAL '180 days'", "now() + INTERVAL '3 hours'"),
]


def served_differences(target) -> dict[str, int]:
    """Rows by which each served answer differs from the GROUP BY over the events it stands
    for (both directions, EXCEPT ALL), per range, metric and bucket size."""
    series = (
        "SELECT * FROM klaviyo_metric_series(m, b, f, t)",
        'SELECT time_bucket(b::interval, "timestamp"), count(*), sum(value) FROM '
        'klaviyo_events WHERE metric_id = m AND "timestamp" >= f AND "timestamp" < t GROUP BY 1',
    )
    per_metric = (
        "SELECT * FROM klaviyo_events_per_metric(f, t)",
        'SELECT metric_id, count(*) FROM klaviyo_events WHERE "timestamp" >= f '
        'AND "timestamp" < t GROUP BY 1',
    )

    def diff(pair):
        a, b = pair
        return f"(SELECT count(*) FROM (({a} EXCEPT ALL {b}) UNION ALL ({b} EXCEPT ALL {a})) d)"

    values = ", ".join(f"('{label}', {f}, {t})" for label, f, t in RANGES)
    rows = target.psql(
        "SELECT label || ' ' || m || ' ' || b, "
        + diff(series)
        + " FROM (VALUES "
        + values
        + ") r(label, f, t), (VALUES ('M1'), ('M3'), ('M20')) ms(m), "
        "(VALUES ('1 hour'), ('1 day')) bs(b) UNION ALL SELECT label || ' per metric', "
        + diff(per_metric)
        + " FROM (VALUES "
        + values
        + ") r(label, f, t)"
    )
    return {line.split("|")[0]: int(line.split("|")[1]) for line in rows.splitlines()}


def test_served_series_equal_the_group_by_over_events(target):
    """klaviyo_metric_series / klaviyo_events_per_metric give the GROUP BY's answer: from the
    aggregates up to the watermark, from events after it; late events count once refreshed."""
    target.psql("SELECT refresh_klaviyo_aggregated_metrics(now() - INTERVAL '1 year', now())")
    watermark = "(SELECT complete_until FROM klaviyo_aggregates_watermark)"
    assert target.psql(f"SELECT {watermark} > now() - INTERVAL '1 minute'") == "t"
    # The tail: events after the watermark, which no refresh has seen yet.
    target.psql(
        'INSERT INTO klaviyo_events (id, metric_id, profile_id, "timestamp", value, '
        "properties, raw_data) SELECT 'tail' || i, 'M' || (1 + i % 20), 'P1', "
        f"{watermark} + random() * INTERVAL '2 hours', "
        "CASE WHEN i % 3 = 0 THEN 9.99 END, '{}', '{}' FROM generate_series(1, 300) i"
    )
    differences = served_differences(target)
    assert len(differences) == len(RANGES) * 7
    assert set(differences.values()) == {0}, {k: v for k, v in differences.items() if v}
    # Served from the aggregates: a 30-day series reads no raw event before the last hour.
    plan = target.psql(
        "SELECT * FROM klaviyo_aggregate_coverage(now() - INTERVAL '30 days', now())"
    ).split("|")
    assert plan[1] > plan[0] and plan[3] > plan[2], plan

    # A late event inside the complete range is seen after the refresh covering it.
    target.psql(
        'INSERT INTO klaviyo_events (id, metric_id, profile_id, "timestamp", value, '
        f"properties, raw_data) VALUES ('late', 'M3', 'P1', {watermark} - INTERVAL '5 days', "
        "1.00, '{}', '{}')"
    )
    stale = served_differences(target)
    assert stale["30 days to now M3 1 hour"] > 0 and stale["30 days to now per metric"] > 0
    target.psql(
        f"SELECT refresh_klaviyo_aggregated_metrics({watermark} - INTERVAL '6 days', now())"
    )
    assert set(served_differences(target).values()) == {0}


def test_the_watermark_waits_for_a_refresh_covering_every_event(target):
    """A refresh that leaves older events unaggregated does not move the watermark."""
    target.psql("DELETE FROM klaviyo_aggregates_watermark")
    target.psql("SELECT refresh_klaviyo_aggregated_metrics(now() - INTERVAL '3 days', now())")
    assert target.psql("SELECT klaviyo_aggregates_complete_until()") == "-infinity"
    raw = target.psql("SELECT * FROM klaviyo_aggregate_coverage(now() - INTERVAL '30 days', now())")
    start, end = raw.split("|")[:2]
    assert start == end  # nothing served from the aggregates: all from events
    target.psql("SELECT refresh_klaviyo_aggregated_metrics('2000-01-01', now())")
    assert (
        target.psql("SELECT klaviyo_aggregates_complete_until() > now() - INTERVAL '1 minute'")
        == "t"
    )


def plan_of(target, sql: str) -> dict:
    out = target.psql(f"EXPLAIN (FORMAT JSON) {sql}")
    return json.loads(out)[0]["Plan"]


def walk(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from walk(child)


@pytest.mark.parametrize("query", list(QUERIES), ids=list(QUERIES))
def test_dashboard_queries_use_their_index_and_exclude_chunks(target, query):
    target.psql("SELECT refresh_klaviyo_aggregated_metrics(now() - INTERVAL '1 year', now())")
    sql, index = QUERIES[query]
    nodes = list(walk(plan_of(target, sql)))
    indexes = {n.get("Index Name", "") for n in nodes}
    assert any(name.endswith(index) or index in name for name in indexes), (query, indexes)
    if "aggregated" in sql:
        # a plain table on the Apache build (0008): "recent" is the index's time_bucket range
        assert target.psql(f"SELECT to_regclass('{index}') IS NOT NULL") == "t"
        conds = [n.get("Index Cond", "") for n in nodes if n.get("Index Name") == index]
        assert conds and all("time_bucket >=" in c for c in conds), conds
        return
    chunks = int(target.psql("SELECT count(*) FROM show_chunks('klaviyo_events')"))
    scanned = {n["Relation Name"] for n in nodes if "Relation Name" in n}
    assert chunks > 1
    assert len(scanned) < chunks, (query, len(scanned), chunks)


def index_scans(target, index: str) -> int:
    return int(
        target.psql(f"SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = '{index}'")
    )


def test_time_range_reads_of_the_aggregates_use_their_time_index(target):
    """0009: the per-metric counts and the refresh's DELETE read a time range of the plain
    aggregates table through (bucket_size, time_bucket), not the whole table."""
    if target.psql("SHOW timescaledb.license") == "timescale":
        pytest.skip("0009 changes nothing on the Community build")
    index = "idx_klaviyo_aggregated_metrics_time"
    target.psql("SELECT refresh_klaviyo_aggregated_metrics(now() - INTERVAL '1 year', now())")
    target.psql("ANALYZE klaviyo_aggregated_metrics")
    before = index_scans(target, index)
    served = target.psql(
        "SELECT sum(events) FROM klaviyo_events_per_metric(now() - INTERVAL '2 days', now())"
    )
    direct = target.psql(
        "SELECT count(*) FROM klaviyo_events "
        'WHERE "timestamp" >= now() - INTERVAL \'2 days\' AND "timestamp" < now()'
    )
    assert served == direct and int(served) > 0
    # the backend that ran it reports its statistics as it exits
    deadline = time.monotonic() + 10
    while index_scans(target, index) <= before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert index_scans(target, index) > before
    # the refresh's DELETE of vanished buckets, over the hourly maintenance's window
    delete = plan_of(
        target,
        "DELETE FROM klaviyo_aggregated_metrics a WHERE a.bucket_size = '1 hour' "
        "AND a.time_bucket >= now() - INTERVAL '3 days' AND a.time_bucket < now()",
    )
    assert index in {n.get("Index Name") for n in walk(delete)}


UPGRADE_DB = "tsdb_it_upgrade_0008"


def apply_migration(target, db: str, migration, variables: dict) -> str:
    defines = [arg for name, value in variables.items() for arg in ("-v", f"{name}={value}")]
    script = migrations.script(migration, "test_schema")
    return target.run("tsdb-psql", "-X", "-q", "-d", db, *defines, stdin=script)


def test_0008_rebuilds_the_aggregates_plain_keeping_rows_grants_and_the_refresh(target):
    """A database at 0007 with aggregates in the hypertable, then 0008 as a deploy applies it:
    the same rows, the same grants, no hypertable, and the refresh and maintenance work on."""
    if target.psql("SHOW timescaledb.license") == "timescale":
        pytest.skip("0008 changes nothing on the Community build")
    schema = target.plan_record()["schema"]
    variables = {
        # the role the deploy made own the schema (group_data sets it; no default)
        "app_user": target.psql(
            "SELECT tableowner FROM pg_tables WHERE tablename = 'klaviyo_events'"
        ),
        "readonly_role": schema["readonly_role"],
        "chunk_interval": schema["chunk_interval"],
        "space_partitions": schema["space_partitions"],
        "compress_after": SETTINGS["compress_after"].default,
        "retention": SETTINGS["retention"].default,
    }
    owner = variables["app_user"]
    every = migrations.discover()
    before = [m for m in every if m.version < 8]
    rebuild = next(m for m in every if m.version == 8)
    rows = (
        "SELECT count(*) || ' ' || md5(string_agg(a::text, ',' ORDER BY metric_id, time_bucket, "
        "bucket_size)) FROM klaviyo_aggregated_metrics a"
    )
    is_hyper = (
        "SELECT count(*) FROM timescaledb_information.hypertables "
        "WHERE hypertable_name = 'klaviyo_aggregated_metrics'"
    )
    grants = (
        "SELECT string_agg(grantee || ':' || privilege_type, ',' ORDER BY grantee, "
        "privilege_type) FROM information_schema.role_table_grants "
        "WHERE table_name = 'klaviyo_aggregated_metrics' AND grantee <> "
        f"'{owner}'"
    )

    def upgraded(sql: str) -> str:
        return target.psql(sql, db=UPGRADE_DB)

    target.psql(f"DROP DATABASE IF EXISTS {UPGRADE_DB} WITH (FORCE)")
    target.psql("DROP ROLE IF EXISTS tsdb_it_dash_writer")
    try:
        target.psql(f"CREATE DATABASE {UPGRADE_DB} OWNER {owner}")
        upgraded("CREATE EXTENSION timescaledb")
        for migration in before:
            apply_migration(target, UPGRADE_DB, migration, variables)
        upgraded(DATASET.replace("\n", " "))
        upgraded(
            "SELECT refresh_klaviyo_aggregated_metrics(now() - INTERVAL '1 year', now())",
        )
        target.psql("CREATE ROLE tsdb_it_dash_writer")
        upgraded("GRANT INSERT, UPDATE ON klaviyo_aggregated_metrics "
                "TO tsdb_it_dash_writer")  # fmt: skip
        assert upgraded(is_hyper) == "1"
        kept, granted = upgraded(rows), upgraded(grants)
        assert int(kept.split()[0]) > 1000 and "tsdb_it_dash_writer:INSERT" in granted

        apply_migration(target, UPGRADE_DB, rebuild, variables)
        assert upgraded(is_hyper) == "0"
        assert upgraded(rows) == kept
        assert upgraded(grants) == granted
        assert upgraded("SELECT tableowner FROM pg_tables WHERE "
                       "tablename = 'klaviyo_aggregated_metrics'") == owner  # fmt: skip
        ledger_row = "SELECT name FROM tsdb_deploy.schema_migrations WHERE version = 8"
        assert upgraded(ledger_row) == rebuild.name

        # the refresh writes the new table: a new event's hour and day change, and only those
        upgraded(
            'INSERT INTO klaviyo_events (id, metric_id, profile_id, "timestamp", value, '
            "properties, raw_data) VALUES ('E-after-0008', 'M1', 'P1', now() - INTERVAL "
            "'2 hours', 12.5, '{}', '{}')",
        )
        changed = upgraded(
            "SELECT refresh_klaviyo_aggregated_metrics(now() - INTERVAL '3 hours', now())",
        )
        assert changed == "2", changed
        assert upgraded("SELECT klaviyo_run_maintenance()").startswith("aggregates:")
        served = (
            "SELECT sum(events) FROM klaviyo_events_per_metric(now() - INTERVAL '1 year', "
            "now() + INTERVAL '1 hour')"
        )
        assert upgraded(served) == str(EVENTS + 1)
    finally:
        target.psql(f"DROP DATABASE IF EXISTS {UPGRADE_DB} WITH (FORCE)")
        target.psql("DROP ROLE IF EXISTS tsdb_it_dash_writer")
