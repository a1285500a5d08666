"""The load generator, run inside the test host next to PostgreSQL (python3 + python3-psycopg).

The test host's PostgreSQL listens inside the container only, so the client runs there:
`docker exec -u postgres HOST python3 agent.py COMMAND ...`, one JSON document on stdout.
Standard library and psycopg only; workload.py is copied beside it.

  generate  the data set, up front (workload.write)
  ingest    a range of event batches from N writer processes, timed together: rows/s, the
            client's and the server's CPU seconds, WAL written
  query     named queries, repeated interleaved, each execution timed (ms)
  explain   the indexes each query's plans use (nested ones too, through auto_explain)
  answers   a digest of each query's rows, to check that variants answer alike
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import resource
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workload  # noqa: E402  (copied beside this file in the test host)

TICKS = os.sysconf("SC_CLK_TCK")
ROUND_TRIP = "_round_trip"  # query's extra timings: SELECT 1 between warm samples


def _connect(db: str) -> psycopg.Connection:
    return psycopg.connect(dbname=db, autocommit=True)


def _progress(done: int, total: int) -> None:
    if done == total or done % max(1, total // 50) == 0:
        print(f"generate {done}/{total}", file=sys.stderr, flush=True)


def generate(args) -> dict:
    spec = workload.Spec(args.events, args.profiles, args.seed, args.batch_rows)
    return workload.write(spec, Path(args.dir), _progress)


def server_cpu_seconds(db: str) -> float:
    """CPU time of the postmaster and all its children: live children from /proc, exited
    ones through the postmaster's cutime/cstime (it reaps them)."""
    with _connect(db) as conn:
        data_dir = conn.execute("SHOW data_directory").fetchone()[0]
    postmaster = int(Path(data_dir, "postmaster.pid").read_text().split()[0])
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == postmaster:
            ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        elif ppid == postmaster:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / TICKS


def _wal(conn) -> dict:
    row = conn.execute(
        "SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn, wal_records, wal_fpi, wal_bytes "
        "FROM pg_stat_wal"
    ).fetchone()
    return {"lsn": int(row[0]), "records": row[1], "fpi": row[2], "bytes": int(row[3])}


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _writer(args, batches, start, results) -> None:
    """Load this writer's batches into memory, wait for the others, send them all."""
    root = Path(args.dir)
    payloads = [workload.batch_path(root, args.shape, args.method, i).read_bytes() for i in batches]
    copy_sql = f"COPY klaviyo_events ({workload.columns(args.shape)}) FROM STDIN"
    rows = 0
    with _connect(args.db) as conn:
        conn.execute("SELECT 1")
        start.wait()
        cpu = _cpu_self()
        for index, payload in zip(batches, payloads, strict=True):
            if args.method == "copy":
                with conn.cursor().copy(copy_sql) as copy:
                    copy.write(payload)
            else:  # each line is one multi-row INSERT, each its own transaction
                for statement in payload.splitlines():
                    conn.execute(statement)
            rows += args.spec_batch_rows if index < args.last_batch else args.last_rows
        results.put({"rows": rows, "cpu": _cpu_self() - cpu})


def ingest(args) -> dict:
    spec = json.loads(Path(args.dir, "manifest.json").read_text())["spec"]
    full = workload.Spec(**spec)
    args.spec_batch_rows = full.batch_rows
    args.last_batch = full.batches - 1
    args.last_rows = full.batch_size(full.batches - 1)
    batches = list(range(args.first, args.first + args.count))
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(args.writers + 1)
    results = ctx.Queue()
    # Batch i goes to writer i mod N: all writers advance through time together, into the
    # same chunk, as parallel consumers of one sync stream do.
    workers = [
        ctx.Process(target=_writer, args=(args, batches[w :: args.writers], start, results))
        for w in range(args.writers)
    ]
    for w in workers:
        w.start()
    with _connect(args.db) as conn:
        wal_before = _wal(conn)
        server_before = server_cpu_seconds(args.db)
        start.wait(timeout=600)  # every writer has its data in memory and a connection
        began = time.perf_counter()
        reports = [results.get() for _ in workers]
        seconds = time.perf_counter() - began
        server = server_cpu_seconds(args.db) - server_before
        wal_after = _wal(conn)
    for w in workers:
        w.join()
        if w.exitcode:
            raise SystemExit(f"a writer failed with exit code {w.exitcode}")
    rows = sum(r["rows"] for r in reports)
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "client_cpu_s": sum(r["cpu"] for r in reports),
        "server_cpu_s": server,
        "wal": {k: wal_after[k] - wal_before[k] for k in wal_before},
    }


def query(args) -> dict:
    """{name: [ms, ...]}: round-robin over the queries so drift hits all alike; repetition r
    runs variant r mod len(variants) of a query (its rotated parameters)."""
    spec = json.loads(Path(args.spec).read_text())
    timings: dict[str, list[float]] = {q["name"]: [] for q in spec["queries"]}
    with _connect(args.db) as conn:
        if spec.get("setup"):  # e.g. DROP INDEX: undone by the ROLLBACK below
            conn.execute("BEGIN")
            for statement in spec["setup"]:
                conn.execute(statement)
        if args.warmup:
            for q in spec["queries"]:
                for sql in q["sql"]:
                    conn.execute(sql).fetchall()
        round_trip: list[float] = []
        for r in range(args.repeat):
            for q in spec["queries"]:
                sql = q["sql"][(args.offset + r) % len(q["sql"])]
                began = time.perf_counter()
                conn.execute(sql).fetchall()
                timings[q["name"]].append((time.perf_counter() - began) * 1000)
            if args.warmup:  # the floor under every warm sample: a query that does nothing
                began = time.perf_counter()
                conn.execute("SELECT 1").fetchall()
                round_trip.append((time.perf_counter() - began) * 1000)
        if round_trip:
            timings[ROUND_TRIP] = round_trip
        if spec.get("setup"):
            conn.execute("ROLLBACK")
    return timings


def _index_names(node: dict):
    if "Index Name" in node:
        yield node["Index Name"]
    for child in node.get("Plans", []):
        yield from _index_names(child)


def _plans(conn, sql: str) -> list[dict]:
    """The plan of `sql` and of every statement it runs inside functions (the serving
    functions' queries), from auto_explain's messages: EXPLAIN alone shows a Function Scan."""
    plans: list[dict] = []

    def collect(diag):
        text = diag.message_primary or ""
        if "plan:" in text:
            plans.append(json.loads(text.split("plan:", 1)[1])["Plan"])

    conn.add_notice_handler(collect)
    conn.execute(sql).fetchall()
    conn.remove_notice_handler(collect)
    return plans


def explain(args) -> dict:
    """{query: [parent index names its plans scan]}; chunk indexes are named
    <chunk>_<parent index>, so the parent is the longest known name they end with."""
    spec = json.loads(Path(args.spec).read_text())
    out = {}
    with _connect(args.db) as conn:
        parents = [
            r[0]
            for r in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename IN "
                "('klaviyo_events', 'klaviyo_aggregated_metrics')"
            )
        ]
        for setting in (
            "LOAD 'auto_explain'",
            "SET auto_explain.log_min_duration = 0",
            "SET auto_explain.log_nested_statements = on",
            "SET auto_explain.log_format = 'json'",
            "SET client_min_messages = log",  # auto_explain's LOG messages to this client
        ):
            conn.execute(setting)
        for q in spec["queries"]:
            used = set()
            for plan in _plans(conn, q["sql"][0]):
                for name in _index_names(plan):
                    matches = [p for p in parents if name == p or name.endswith("_" + p)]
                    used.add(max(matches, key=len) if matches else name)
            out[q["name"]] = sorted(used)
    return out


def _normalised(value):
    """Values as text that compares equal across schemas: 12.30 and 12.3, 5 as int or
    Decimal, timestamps in UTC."""
    if isinstance(value, Decimal):
        return "null" if value.is_nan() else format(value.normalize(), "f")
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return "null" if value is None else str(value)


def answers(args) -> dict:
    """{query: {rows, sha256}} over every parameter set's rows, sorted."""
    spec = json.loads(Path(args.spec).read_text())
    out = {}
    with _connect(args.db) as conn:
        for q in spec["queries"]:
            digest, rows = hashlib.sha256(), 0
            for sql in q["sql"]:
                result = sorted(
                    "|".join(_normalised(v) for v in row) for row in conn.execute(sql).fetchall()
                )
                rows += len(result)
                digest.update("\n".join(result).encode() + b"\0")
            out[q["name"]] = {"rows": rows, "sha256": digest.hexdigest()}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="agent.py")
    commands = parser.add_subparsers(dest="command", required=True)
    g = commands.add_parser("generate")
    g.add_argument("--dir", required=True)
    g.add_argument("--events", type=int, required=True)
    g.add_argument("--profiles", type=int, required=True)
    g.add_argument("--seed", type=int, required=True)
    g.add_argument("--batch-rows", type=int, required=True)
    i = commands.add_parser("ingest")
    i.add_argument("--db", required=True)
    i.add_argument("--dir", required=True)
    i.add_argument("--shape", choices=workload.SHAPES, required=True)
    i.add_argument("--method", choices=workload.METHODS, required=True)
    i.add_argument("--writers", type=int, required=True)
    i.add_argument("--first", type=int, required=True)
    i.add_argument("--count", type=int, required=True)
    for name in ("query", "explain", "answers"):
        q = commands.add_parser(name)
        q.add_argument("--db", required=True)
        q.add_argument("--spec", required=True)
        q.add_argument("--repeat", type=int, default=1)
        q.add_argument("--offset", type=int, default=0)
        q.add_argument("--warmup", action="store_true")
    args = parser.parse_args(argv)
    handler = {
        "generate": generate,
        "ingest": ingest,
        "query": query,
        "explain": explain,
        "answers": answers,
    }
    json.dump(handler[args.command](args), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
