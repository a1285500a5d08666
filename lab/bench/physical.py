"""Physical limits: what the disk and CPUs allow, what a row costs, what each index costs.

- disk: sequential write bandwidth of the data directory's file system (dd, O_DIRECT and
  fdatasync, so the page cache does not flatter it);
- bytes per ingested row: heap (+TOAST), each index, and WAL (pg_stat_wal / the WAL position);
- bounds: bandwidth-bound rows/s = bandwidth / (WAL + stored bytes per row): every row is
  written twice, to WAL at commit and to its relation at checkpoint; CPU-bound rows/s = rows
  per server CPU-second x CPUs the writers can keep busy (one core per stream);
- per index (this project's schema): ingest rate without it, and which queries use it and
  how much slower they are without it (dropped inside a transaction, rolled back); and the
  ceilings index choices allow: ingest with only the indexes the dashboard reads, with the
  primary key alone, with none.
"""

from __future__ import annotations

import re
import statistics

from . import queries, schemas, workload
from .host import DATA_DIR, BenchError, BenchHost
from .variants import Variant

_DD_RATE = re.compile(r"(\d+) bytes .* copied, ([\d.]+) s")


def disk_bandwidth(host: BenchHost, megabytes: int) -> dict:
    """Sequential write MB/s next to PGDATA; O_DIRECT when the file system allows it."""
    target = "/var/lib/postgresql/tsdb-bench-dd"
    runs = []
    for flags in ("oflag=direct conv=fdatasync", "conv=fdatasync"):
        try:
            out = host.run(
                f"dd if=/dev/zero of={target} bs=1M count={megabytes} {flags} 2>&1; rm -f {target}"
            )
        except BenchError:
            continue
        match = _DD_RATE.search(out)
        if match:
            runs.append(
                {
                    "flags": flags,
                    "mb_per_s": int(match[1]) / float(match[2]) / 1e6,
                    "bytes": int(match[1]),
                }
            )
            break
    if not runs:
        raise BenchError("dd could not measure the data disk's write bandwidth")
    return runs[0]


def relation_sizes(host: BenchHost, db: str) -> dict:
    heap = host.json_query(
        "SELECT table_bytes, toast_bytes, index_bytes, total_bytes "
        "FROM hypertable_detailed_size('klaviyo_events')",
        db,
    )[0]
    indexes = host.json_query(
        "SELECT indexname AS name, hypertable_index_size(format('%I', indexname)::regclass) "
        "AS bytes FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'klaviyo_events' "
        "ORDER BY indexname",
        db,
    )
    rows = int(host.psql("SELECT count(*) FROM klaviyo_events", db))
    chunks = int(host.psql("SELECT count(*) FROM show_chunks('klaviyo_events')", db))
    return {
        "rows": rows,
        "chunks": chunks,
        **heap,
        "indexes": {r["name"]: r["bytes"] for r in indexes},
    }


def per_row(sizes: dict, loads: list[dict]) -> dict:
    rows = sizes["rows"] or 1
    ingested = sum(r["rows"] for r in loads) or 1
    return {
        "heap": (sizes["table_bytes"] + sizes["toast_bytes"]) / rows,
        "indexes": {name: b / rows for name, b in sizes["indexes"].items()},
        "all_indexes": sizes["index_bytes"] / rows,
        "wal": sum(r["wal"]["bytes"] for r in loads) / ingested,
        "wal_fpi_per_row": sum(r["wal"]["fpi"] for r in loads) / ingested,
    }


def bounds(load: dict, row_bytes: dict, mb_per_s: float, cpus: int) -> dict:
    """The rate one configuration reached against what the disk and the CPUs allow."""
    written = row_bytes["wal"] + row_bytes["heap"] + row_bytes["all_indexes"]
    by_disk = mb_per_s * 1e6 / written
    per_cpu_second = load["rows"] / load["server_cpu_s"] if load["server_cpu_s"] else 0.0
    by_cpu = per_cpu_second * min(load["writers"], cpus)
    return {
        "bytes_written_per_row": written,
        "disk_bound_rows_per_s": by_disk,
        "cpu_bound_rows_per_s": by_cpu,
        "of_disk_bound": load["rows_per_s"] / by_disk,
        "of_cpu_bound": load["rows_per_s"] / by_cpu if by_cpu else None,
    }


def _index_ddl(host: BenchHost, db: str) -> dict[str, tuple[str, str]]:
    """name -> (drop, create) for every index on the events hypertable."""
    rows = host.json_query(
        "SELECT i.indexname AS name, i.indexdef AS def, c.conname AS constraint_name, "
        "pg_get_constraintdef(c.oid) AS condef FROM pg_indexes i "
        "LEFT JOIN pg_constraint c ON c.conname = i.indexname AND c.contype = 'p' "
        "WHERE i.schemaname = 'public' AND i.tablename = 'klaviyo_events' ORDER BY 1",
        db,
    )
    out = {}
    for r in rows:
        if r["constraint_name"]:
            out[r["name"]] = (
                f"ALTER TABLE klaviyo_events DROP CONSTRAINT {r['name']}",
                f"ALTER TABLE klaviyo_events ADD CONSTRAINT {r['name']} {r['condef']}",
            )
        else:
            out[r["name"]] = (f"DROP INDEX {r['name']}", r["def"])
    return out


# The documents' choices this project dropped, priced on the same slice: what D would pay
# with them. Each is (label, statements to apply, statements to undo).
_DOCUMENT_EXTRAS = (
    (
        "documents' covering index INCLUDE (value, properties) instead of INCLUDE (value)",
        [
            "DROP INDEX idx_klaviyo_events_metric_timestamp",
            "CREATE INDEX idx_klaviyo_events_metric_timestamp ON klaviyo_events "
            '(metric_id, "timestamp" DESC) INCLUDE (value, properties)',
        ],
        [
            "DROP INDEX idx_klaviyo_events_metric_timestamp",
            "CREATE INDEX idx_klaviyo_events_metric_timestamp ON klaviyo_events "
            '(metric_id, "timestamp" DESC) INCLUDE (value)',
        ],
    ),
    (
        "documents' foreign key events -> profiles",
        [
            "ALTER TABLE klaviyo_events ADD CONSTRAINT bench_profile_fk FOREIGN KEY (profile_id) "
            "REFERENCES klaviyo_profiles (id)"
        ],
        ["ALTER TABLE klaviyo_events DROP CONSTRAINT bench_profile_fk"],
    ),
)


def index_sets(ddl: dict[str, tuple[str, str]], used: set[str]) -> list[tuple[str, list[str]]]:
    """The ingest ceilings index choices allow: (label, indexes dropped) for D's schema with
    only what the dashboard's queries read (and the primary key, the ingest's idempotency),
    with the primary key alone, and with no index at all. Measured whole, in the same rounds
    as the per-index rows, because per-index gains do not simply multiply."""
    pkey = [name for name, (drop, _) in ddl.items() if drop.endswith(f"DROP CONSTRAINT {name}")]
    secondary = [name for name in ddl if name not in pkey]
    return [
        (
            "only the indexes the dashboard's queries use, and the primary key",
            [name for name in secondary if name not in used],
        ),
        ("the primary key only", secondary),
        ("no index at all (the heap, TimescaleDB's routing, parsing)", list(ddl)),
    ]


def index_costs(
    host: BenchHost,
    spec: workload.Spec,
    variables: dict[str, str],
    writers: int,
    d: Variant,
    query_defs: list[dict],
    used_by: dict[str, list[str]],
    repeat: int,
    rounds: int,
    progress,
) -> dict:
    """Ingest rate of a slice of the events (COPY, `writers` writers) into this project's
    schema with all indexes, without each one, and with each documents' choice put back,
    `rounds` times interleaved (median; the baseline is measured at the start and end of
    each round, its spread is the noise); and for each index the queries whose plan uses it,
    timed on D's full data with and without it."""
    scratch = Variant("I", "per-index cost", "project", {})
    schemas.create(host, scratch, variables)
    db = scratch.db
    ddl = _index_ddl(host, db)
    slice_batches = min(spec.batches, max(writers * 2, spec.batches // 5))

    def rate(label: str, apply: list[str], undo: list[str]) -> dict:
        for statement in apply:
            host.psql(statement, db)
        host.psql("CHECKPOINT", db)
        result = host.agent(
            "ingest",
            "--db",
            db,
            "--dir",
            f"{DATA_DIR}/data",
            "--shape",
            "project",
            "--method",
            "copy",
            "--writers",
            str(writers),
            "--first",
            "0",
            "--count",
            str(slice_batches),
        )
        host.psql("TRUNCATE klaviyo_events", db)
        for statement in undo:
            host.psql(statement, db)
        progress(f"index cost: {label}: {result['rows_per_s']:,.0f} rows/s")
        return result["rows_per_s"]

    used = {name for names in used_by.values() for name in names}
    sets = index_sets(ddl, used)
    baseline: list[float] = []
    without: dict[str, list[float]] = {name: [] for name in ddl}
    extras: dict[str, list[float]] = {label: [] for label, _, _ in _DOCUMENT_EXTRAS}
    ceilings: dict[str, list[float]] = {label: [] for label, _ in sets}
    for _ in range(rounds):
        baseline.append(rate("all indexes", [], []))
        for name, (drop, create) in ddl.items():
            without[name].append(rate(f"without {name}", [drop], [create]))
        for label, apply, undo in _DOCUMENT_EXTRAS:
            extras[label].append(rate(label, apply, undo))
        for label, dropped in sets:
            drops = [ddl[name][0] for name in dropped]
            creates = [ddl[name][1] for name in reversed(dropped)]
            ceilings[label].append(rate(label, drops, creates))
        baseline.append(rate("all indexes", [], []))
    host.psql(f"DROP DATABASE {db} WITH (FORCE)")
    base_rate = statistics.median(baseline)

    full_ddl = _index_ddl(host, d.db)
    table = []
    for name, rates in without.items():
        users = [q for q, names in used_by.items() if name in names]
        gained = {}
        if users:
            subset = [q for q in query_defs if q["name"] in users]
            with_it = queries.warm(host, d, subset, repeat)
            without_it = queries.warm(host, d, subset, repeat, setup=[full_ddl[name][0]])
            gained = {
                q: {
                    "with_ms": statistics.median(with_it[q]),
                    "without_ms": statistics.median(without_it[q]),
                }
                for q in users
            }
            progress(f"index cost: queries without {name}")
        table.append(
            {
                "index": name,
                "rows_per_s_without": statistics.median(rates),
                "per_round": rates,
                "ingest_gain_without": statistics.median(rates) / base_rate - 1,
                "queries": gained,
            }
        )
    return {
        "slice_rows": sum(spec.batch_size(i) for i in range(slice_batches)),
        "writers": writers,
        "rounds": rounds,
        "baseline_rows_per_s": baseline,
        "noise": (max(baseline) - min(baseline)) / base_rate,
        "indexes": table,
        "documents_extras": [
            {
                "change": label,
                "rows_per_s": statistics.median(rates),
                "per_round": rates,
                "ingest_change": statistics.median(rates) / base_rate - 1,
            }
            for label, rates in extras.items()
        ],
        "ceilings": [
            {
                "indexes": label,
                "dropped": dropped,
                "rows_per_s": statistics.median(ceilings[label]),
                "per_round": ceilings[label],
                "ingest_change": statistics.median(ceilings[label]) / base_rate - 1,
            }
            for label, dropped in sets
        ],
    }
