"""The dashboard's queries (the same SQL on every variant), timed warm and cold.

Warm: after one untimed pass over every parameter set, each query repeated, interleaved with
the others. Cold: for each sample PostgreSQL is stopped, the host's page cache evicted
(host.drop_caches says how, and whether it could), PostgreSQL started, and one query run on a
fresh connection; so a cold sample pays for disk reads, an empty shared_buffers and cold
catalog caches. (--cold-method evict empties shared_buffers in place instead of restarting:
the same state, for runs that cannot afford a restart per sample, such as the test suite's.)
Time windows end at the data's END, not now(), so every run reads the same rows.

The SQL is the same on every variant except where this project serves a query differently:
on D the metric series and the events per metric come from klaviyo_metric_series() and
klaviyo_events_per_metric() (sql/0007: the aggregates where complete, raw events for the
rest), which give the same rows as the GROUP BY the documents' variants run, and a campaign's
events (the JSON containment query on "Campaign Name") from the campaign_id column its ingest
fills. The runner checks that every variant's answers agree (answers()).
"""

from __future__ import annotations

import json

from . import workload
from .host import DATA_DIR, BenchHost
from .variants import Variant

END = f"'{workload.END.isoformat()}'::timestamptz"
ROUND_TRIP = "_round_trip"  # agent.ROUND_TRIP: SELECT 1 timed between the warm samples
# The floor under every cold sample: a fresh backend's first query, on a one-page plain table
# every schema has (the backend loads TimescaleDB, builds its catalog caches from disk and
# plans). What a cold dashboard query costs beyond it is its own.
COLD_FLOOR = "_cold_floor"
COLD_FLOOR_SQL = "SELECT count(*) FROM klaviyo_metrics"
QUERY_TITLES = {
    "series_hour_30d": "metric series by hour, 30 days",
    "series_day_30d": "metric series by day, 30 days",
    "profile_timeline": "a profile's timeline (last 50)",
    "high_value_7d": "top high-value events, 7 days",
    "json_containment_30d": "JSON property containment, 30 days",
    "events_per_metric_90d": "events per metric, 90 days",
    "recent_aggregates": "recent aggregated metrics (hourly, 30 days)",
}


# The same questions over 180 days, the whole of the data, so that on the Community build
# they read compressed chunks (older than 90 days) and uncompressed ones (compression.py).
LONG_DAYS = 180
LONG_TITLES = {
    "series_hour_180d": "metric series by hour, 180 days",
    "series_day_180d": "metric series by day, 180 days",
    "profile_timeline_180d": "a profile's timeline (last 50), 180 days",
    "high_value_180d": "top high-value events, 180 days",
    "json_containment_180d": "JSON property containment, 180 days",
    "events_per_metric_180d": "events per metric, 180 days",
    "aggregates_180d": "aggregated metrics (hourly, 180 days)",
}


def _since(days: int) -> str:
    return f'"timestamp" >= {END} - INTERVAL \'{days} days\' AND "timestamp" < {END}'


def definitions(
    params: dict[str, list[str]], schema: str = "documents", long: bool = False
) -> list[dict]:
    """[{name, sql: [one statement per parameter set]}], in QUERY_TITLES order (LONG_TITLES
    with `long`: every window 180 days), as a variant with this schema ("documents" or
    "project") runs them."""
    served = schema == "project"

    def days(short: int) -> int:
        return LONG_DAYS if long else short

    def series(bucket: str) -> list[str]:
        if served:
            return [
                f"SELECT * FROM klaviyo_metric_series('{m}', '{bucket}', "
                f"{END} - INTERVAL '{days(30)} days', {END})"
                for m in params["metric"]
            ]
        return [
            f"SELECT time_bucket('{bucket}', \"timestamp\") AS bucket, count(*), sum(value) "
            f"FROM klaviyo_events WHERE metric_id = '{m}' AND {_since(days(30))} "
            "GROUP BY bucket ORDER BY bucket"
            for m in params["metric"]
        ]

    queries = {
        "series_hour_30d": series("1 hour"),
        "series_day_30d": series("1 day"),
        "profile_timeline": [
            'SELECT id, metric_id, "timestamp", value, properties FROM klaviyo_events '
            f"WHERE profile_id = '{p}' "
            + (f"AND {_since(LONG_DAYS)} " if long else "")
            + 'ORDER BY "timestamp" DESC LIMIT 50'
            for p in params["profile"]
        ],
        "high_value_7d": [
            'SELECT id, metric_id, profile_id, value, "timestamp" FROM klaviyo_events '
            f"WHERE value > 0 AND {_since(days(7))} ORDER BY value DESC LIMIT 20"
        ],
        "json_containment_30d": [
            # D: the attribution its ingest path stores in campaign_id, read from the covering
            # partial index (sql/0003); the campaign's name resolved in klaviyo_campaigns.
            "SELECT count(*), sum(value) FROM klaviyo_events WHERE campaign_id = ANY(ARRAY("
            f"SELECT id FROM klaviyo_campaigns WHERE name = '{c}')) AND {_since(days(30))}"
            if served
            else "SELECT count(*), sum(value) FROM klaviyo_events "
            f"WHERE properties @> '{json.dumps({'Campaign Name': c})}' AND {_since(days(30))}"
            for c in params["campaign"]
        ],
        "events_per_metric_90d": [
            f"SELECT * FROM klaviyo_events_per_metric({END} - INTERVAL '{days(90)} days', {END})"
            if served
            else f"SELECT metric_id, count(*) FROM klaviyo_events WHERE {_since(days(90))} "
            "GROUP BY metric_id ORDER BY 2 DESC"
        ],
        "recent_aggregates": [
            "SELECT time_bucket, count, sum_value, min_value, max_value, avg_value "
            f"FROM klaviyo_aggregated_metrics WHERE metric_id = '{m}' AND bucket_size = '1 hour' "
            f"AND time_bucket >= {END} - INTERVAL '{days(30)} days' AND time_bucket < {END} "
            "ORDER BY time_bucket DESC"
            for m in params["metric"]
        ],
    }
    if long:
        return [
            {"name": name, "sql": queries[short]}
            for name, short in zip(LONG_TITLES, QUERY_TITLES, strict=True)
        ]
    return [{"name": name, "sql": queries[name]} for name in QUERY_TITLES]


def _spec_file(host: BenchHost, name: str, queries: list[dict], setup=()) -> str:
    path = f"{DATA_DIR}/{name}.json"
    host.put(json.dumps({"queries": queries, "setup": list(setup)}), path)
    return path


def warm(host: BenchHost, variant: Variant, queries: list[dict], repeat: int, setup=()):
    """{query: [ms]} with the cache warmed by one untimed pass first."""
    spec = _spec_file(host, "queries-warm", queries, setup)
    return host.agent(
        "query", "--db", variant.db, "--spec", spec, "--repeat", str(repeat), "--warmup"
    )


def cold(
    host: BenchHost, variant: Variant, queries: list[dict], repeat: int, method: str, progress
):
    """{query: [ms]} (COLD_FLOOR's too), every sample on a fresh connection after emptying
    shared_buffers ('restart': PostgreSQL stopped and started; 'evict': every buffer evicted
    in place, the same state without the restart's seconds) and dropping the page cache; how
    the page cache was dropped ('cgroup' or 'none'); and the page cache left after each drop
    (bytes, the evidence that it worked)."""
    queries = [*queries, {"name": COLD_FLOOR, "sql": [COLD_FLOOR_SQL]}]
    timings: dict[str, list[float]] = {q["name"]: [] for q in queries}
    how, left = set(), []
    for r in range(repeat):
        for q in queries:
            if method == "restart":
                host.stop()
                how.add(host.drop_caches())
                left.append(host.page_cache_bytes())
                host.start()
            else:
                host.evict_buffers()
                how.add(host.drop_caches())
                left.append(host.page_cache_bytes())
            spec = _spec_file(host, "queries-cold", [q])
            sample = host.agent("query", "--db", variant.db, "--spec", spec, "--offset", str(r))
            timings[q["name"]] += sample[q["name"]]
            progress(f"{variant.key} cold {q['name']}")
    return timings, how, left


def explain(host: BenchHost, variant: Variant, queries: list[dict]) -> dict[str, list[str]]:
    spec = _spec_file(host, "queries-explain", queries)
    return host.agent("explain", "--db", variant.db, "--spec", spec)


def answers(host: BenchHost, variant: Variant, queries: list[dict]) -> dict[str, dict]:
    """{query: {rows, sha256}} of every parameter set's result, rows sorted and values
    normalised, so variants that answer alike digest alike whatever SQL they ran."""
    spec = _spec_file(host, "queries-answers", queries)
    return host.agent("answers", "--db", variant.db, "--spec", spec)


def disagreements(by_variant: dict[str, dict[str, dict]]) -> list[str]:
    """Queries whose answer differs between variants, e.g. ["events_per_metric_90d: D"]
    (the variants that differ from the first one)."""
    first, *others = list(by_variant)
    return [
        f"{q}: {', '.join(v for v in others if by_variant[v][q] != answer)}"
        for q, answer in by_variant[first].items()
        if any(by_variant[v][q] != answer for v in others)
    ]
