"""The schema's migrations on a real host: drift refused, failures rolled back, the dashboard
queries served by the intended indexes on a generated dataset, the aggregates exact.

Changed or broken migration sets are tried from a copy of the project (with its own sql/),
never by editing this checkout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tsdb_deploy.testhosts import TestHost

from .conftest import ROOT, make_target

HOST = TestHost("tsdb-it-schema", memory="2g", cpus=2)
EVENTS = 40_000

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
    target = make_target(request, tmp_path_factory, HOST)
    first = target.deploy()
    assert first.returncode == 0, first.output[-5000:]
    target.psql(DATASET.replace("\n", " "))
    return target


def project_copy(tmp_path, extra: dict[str, str] | None = None, change: str | None = None):
    """This project in tmp_path, importable first, with sql/ files added or one changed."""
    copy = tmp_path / "project"
    shutil.copytree(
        ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "*.pyc", "__pycache__")
    )
    for name, text in (extra or {}).items():
        (copy / "sql" / name).write_text(text)
    if change:
        path = copy / "sql" / change
        path.write_text(path.read_text() + "\n-- an edit after it was applied\n")
    return copy


def deploy_from(target, project) -> subprocess.CompletedProcess:
    inventory = target.workdir / "sandbox.py"
    inventory.write_text(f"native = [{target.test_host.pyinfra_name!r}]\n")
    return subprocess.run(
        [sys.executable, "-m", "pyinfra", "-y", str(inventory), "deploy.py"],
        cwd=project,
        env={"PYTHONPATH": str(project), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
        capture_output=True,
        text=True,
    )


def ledger(target) -> list[str]:
    return target.psql("SELECT name FROM tsdb_deploy.schema_migrations ORDER BY 1").split()


def test_a_second_deploy_applies_nothing(target):
    result = target.deploy()
    assert result.returncode == 0, result.output[-3000:]
    assert result.changed == 0, result.output[-3000:]


def test_a_changed_applied_migration_is_refused(target, tmp_path):
    before = ledger(target)
    result = deploy_from(target, project_copy(tmp_path, change="0003_events_hypertable.sql"))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "0003_events_hypertable.sql was applied with sha256" in output
    assert ledger(target) == before


def test_a_failing_migration_rolls_back_and_stops(target, tmp_path):
    counts = target.psql("SELECT count(*) FROM klaviyo_events") + target.psql(
        "SELECT count(*) FROM klaviyo_metrics"
    )
    before = ledger(target)
    broken = {
        "0006_broken.sql": '-- 0006_broken: fails halfway\nSET ROLE :"app_user";\n'
        "INSERT INTO klaviyo_metrics (id, name, created_at, updated_at) "
        "VALUES ('half-done', 'x', now(), now());\n"
        "DELETE FROM klaviyo_events;\n"
        "SELECT 1 / 0;\n",
        "0007_after.sql": "-- 0007_after: must not run\nCREATE TABLE never_created (i int);\n",
    }
    result = deploy_from(target, project_copy(tmp_path, extra=broken))
    assert result.returncode != 0
    assert "division by zero" in result.stdout + result.stderr
    assert ledger(target) == before
    after = target.psql("SELECT count(*) FROM klaviyo_events") + target.psql(
        "SELECT count(*) FROM klaviyo_metrics"
    )
    assert after == counts
    assert target.psql("SELECT to_regclass('never_created') IS NULL") == "t"


def test_two_deploys_racing_serialise_on_the_advisory_lock(target, tmp_path):
    slow = {
        "0006_slow.sql": "-- 0006_slow: takes a while, so two deploys overlap\n"
        'SET ROLE :"app_user";\nSELECT pg_sleep(4);\nCREATE TABLE race_probe (i int);\n'
    }
    project = project_copy(tmp_path, extra=slow)
    inventory = target.workdir / "sandbox.py"
    inventory.write_text(f"native = [{target.test_host.pyinfra_name!r}]\n")
    env = {"PYTHONPATH": str(project), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
    command = [sys.executable, "-m", "pyinfra", "-y", str(inventory), "deploy.py"]
    runs = [
        subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]  # fmt: skip
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert ledger(target).count("0006_slow") == 1
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
    table = "klaviyo_aggregated_metrics" if "aggregated" in sql else "klaviyo_events"
    chunks = int(target.psql(f"SELECT count(*) FROM show_chunks('{table}')"))
    nodes = list(walk(plan_of(target, sql)))
    indexes = {n.get("Index Name", "") for n in nodes}
    assert any(name.endswith(index) or index in name for name in indexes), (query, indexes)
    scanned = {n["Relation Name"] for n in nodes if "Relation Name" in n}
    assert chunks > 1
    assert len(scanned) < chunks, (query, len(scanned), chunks)
