"""A variant's database, created empty and then filled with the reference data.

Documents' variants get documents.SQL; D gets this project's sql/ migrations, applied in
order exactly as the deploy applies them (migrations.script, ledger included) with the deploy's
psql variables and the chunk interval the planner sizes for the workload's ingest rate.
"""

from __future__ import annotations

import time
from datetime import timedelta

from tsdb_deploy import migrations
from tsdb_deploy.planner.chunks import WHOLE_CHUNK_POLICIES, chunk_interval
from tsdb_deploy.settings import SETTINGS

from . import documents, workload
from .host import DATA_DIR, BenchHost
from .variants import Variant

APP_USER = "klaviyo"  # group_data/all.py: the role the deploy created
READONLY_ROLE = "klaviyo_readonly"


def project_variables(spec: workload.Spec, shared_buffers: int) -> dict[str, str]:
    """The migrations' psql variables as the deploy passes them (host_plan.schema_variables),
    with the chunk interval sized from this workload's events per day."""
    policies = {name: SETTINGS[name].default for name in WHOLE_CHUNK_POLICIES}
    return {
        "app_user": APP_USER,
        "owner_role": SETTINGS["owner_role"].default,
        "readonly_role": READONLY_ROLE,
        "chunk_interval": chunk_interval(
            spec.events_per_day, shared_buffers=shared_buffers, policies=policies
        ).interval,
        "space_partitions": str(SETTINGS["space_partitions"].default),
        **policies,
    }


def create(
    host: BenchHost, variant: Variant, variables: dict[str, str], community: bool = False
) -> float:
    """Drop and recreate the variant's database with its schema and reference rows (metrics,
    profiles; campaigns for D, whose campaign panel reads them). Returns the seconds the
    schema took. On the Community build the documents' own policies are added, and every
    policy is unscheduled: the benchmark compresses at a moment of its choosing, relative to
    the data's END, not now() (compression.py)."""
    db = variant.db
    host.psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    began = time.perf_counter()
    if variant.schema == "documents":
        host.psql(f"CREATE DATABASE {db}")
        host.put(documents.SQL + (documents.COMMUNITY if community else ""),
                 f"{DATA_DIR}/documents.sql")  # fmt: skip
        host.psql_file(f"{DATA_DIR}/documents.sql", db)
    else:
        host.psql(f"CREATE DATABASE {db} OWNER {APP_USER}")
        host.psql("CREATE EXTENSION IF NOT EXISTS timescaledb", db)
        for migration in migrations.discover():
            path = f"{DATA_DIR}/{migration.name}.psql"
            host.put(migrations.script(migration, "tsdb-bench"), path)
            host.psql_file(path, db, variables)
    seconds = time.perf_counter() - began
    if community:
        host.psql(
            "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs "
            "WHERE scheduled",
            db,
        )
    reference = [
        ("klaviyo_metrics", workload.METRICS_COLUMNS),
        ("klaviyo_profiles", workload.PROFILES_COLUMNS),
    ]
    if variant.schema == "project":
        reference.append(("klaviyo_campaigns", workload.CAMPAIGNS_COLUMNS))
    for table, columns in reference:
        host.psql(f"\\copy {table} ({columns}) FROM '{DATA_DIR}/data/{table}.tsv'", db)
    return seconds


def settle(host: BenchHost, variant: Variant) -> float:
    """VACUUM ANALYZE the events right after the load; returns its seconds. It does what
    autovacuum has not done yet: statistics for the planner and the visibility map for
    index-only scans, which the dashboard needs of freshly loaded chunks. How much is left
    depends on the variant's autovacuum settings (stock: 60s naptime, 20%/10% thresholds;
    the planner: 10s, 5%/2%), so it belongs to the variant's ingest cost: the rounds
    record it and the summary adds it to the load's seconds."""
    began = time.perf_counter()
    host.psql("VACUUM ANALYZE klaviyo_events", variant.db)
    return time.perf_counter() - began


# D's aggregates are refreshed up to this long before the queries' END, as the hourly
# maintenance leaves them on average: the series and counts then read the last hour (the
# last day, for daily buckets, from hourly rows) from the raw events, as in production.
REFRESH_LAG = timedelta(minutes=30)


CONTINUOUS_AGGREGATES = ("klaviyo_aggregated_metrics_hourly", "klaviyo_aggregated_metrics_daily")


def fill_aggregates(host: BenchHost, variant: Variant, community: bool = False) -> float:
    """klaviyo_aggregated_metrics: D up to REFRESH_LAG before the end, through its own
    refresh function (the backfill path of sql/0004) on the Apache build, by refreshing its
    continuous aggregates on the Community build; the documents' variants with one
    INSERT ... SELECT over the whole range."""
    began = time.perf_counter()
    start = workload.START.isoformat()
    end = (workload.END - REFRESH_LAG).isoformat()
    if variant.schema == "project" and community:
        for view in CONTINUOUS_AGGREGATES:
            host.psql(
                f"CALL refresh_continuous_aggregate('{view}', '{start}', '{end}')", variant.db
            )
    elif variant.schema == "project":
        host.psql(f"SELECT refresh_klaviyo_aggregated_metrics('{start}', '{end}')", variant.db)
    else:
        host.psql(documents.FILL_AGGREGATES, variant.db)
    return time.perf_counter() - began
