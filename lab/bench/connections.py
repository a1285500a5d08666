"""Connection load: many application clients through PgBouncer, then straight to PostgreSQL.

  python -m lab.bench.connections [--clients 500] [--seconds 60] [--think-ms 1000,5000] [--keep]

Starts a native test host of 2 GiB and 1 CPU, deploys the project on it with this machine
allowed as an application client, and loads 90 days of events. Then, for each target (first
PostgreSQL's port, then PgBouncer's) and each load level (a mean think time), `--clients`
clients connect as the application does
(TLS with verify-full, SCRAM, one connection each, opened over a ramp) and loop for a bounded
time: a dashboard query (queries.py, the SQL this project serves) nine times in ten, a batch
of ten events the tenth, with an exponential think time between. A client whose connection
fails or breaks counts the error and tries again after the documents' connection timeout, as
an application pool does.

Per target: connection errors (by message), clients that never got in, operations and their
errors, p50/p95/p99 latency of the operations finished after the ramp (a client's wait for
PgBouncer's pool included), and the most server connections the application role held
(pg_stat_activity, sampled every second). Results: bench/results/connections.json and .md.
A benchmark, not a test: nothing is asserted here; the integration suite runs `run` at a
small size against its test hosts and asserts what must hold (tests/integration/pooling.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import resource
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg

from .. import credentials, testhosts, tls
from ..testhosts import TestHost
from . import queries, workload
from .deploytime import DISTRO, deploy

ROOT = Path(__file__).resolve().parents[2]
HOST = TestHost("tsdb-bench-connections", memory="2g", cpus=1)
PLAN_RECORD = "/etc/tsdb-deploy/plan.json"
RETRY_S = 5.0  # the documents' DB_CONNECTION_TIMEOUT: an application pool's wait before retrying
CONNECT_TIMEOUT_S = 15
INGEST_SHARE = 0.1  # one operation in ten writes, as the dashboard's sync does
INGEST_ROWS = 10
SAMPLE_EVERY_S = 1.0
METRICS = 50
CAMPAIGNS = 40
PROFILES = 20_000
DAYS = 90


@dataclass(frozen=True)
class Endpoint:
    """Where the clients connect, and as whom (read from the host's plan record)."""

    host_name: str
    address: str
    port: int
    database: str
    user: str
    password: str

    def conninfo(self) -> dict:
        return {
            "host": self.address,
            "port": self.port,
            "dbname": self.database,
            "user": self.user,
            "password": self.password,
            "sslmode": "verify-full",
            "sslrootcert": str(tls.CA_CERT),
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": "tsdb-bench-connections",
        }


@dataclass(frozen=True)
class Load:
    clients: int
    seconds: float
    ramp_s: float  # connections are opened evenly over this, as application instances start
    think_ms: float  # mean pause between a client's operations (exponential)
    ingest_share: float = INGEST_SHARE
    seed: int = workload.SEED


@dataclass
class Outcome:
    connect_errors: Counter = field(default_factory=Counter)
    operation_errors: Counter = field(default_factory=Counter)
    connected: set = field(default_factory=set)
    connect_ms: list = field(default_factory=list)
    latency_ms: list = field(default_factory=list)
    server_connections: list = field(default_factory=list)


def _message(exc: BaseException) -> str:
    """The server's (or PgBouncer's) own words, without the address it was said from."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    found = re.search(r"(?:FATAL|ERROR):\s+(.*)", text)
    return (found.group(1) if found else re.sub(r'".*?"|port \d+', "…", text))[:160]


def operations(rng: random.Random) -> list[tuple[str, str]]:
    """(name, SQL) of every dashboard query with every parameter set, as queries.py has them
    for this project's schema."""
    params = {
        "metric": [f"M{i}" for i in rng.sample(range(1, METRICS + 1), 5)],
        "profile": [f"P{i}" for i in rng.sample(range(PROFILES), 20)],
        "campaign": [f"Campaign {i}" for i in rng.sample(range(CAMPAIGNS), 5)],
    }
    return [(q["name"], sql) for q in queries.definitions(params, "project") for sql in q["sql"]]


INGEST_SQL = (
    'INSERT INTO klaviyo_events (id, metric_id, profile_id, "timestamp", value, properties, '
    f"raw_data) SELECT %(prefix)s || i, 'M' || (1 + (i + %(offset)s) %% {METRICS}), "
    f"'P' || ((i + %(offset)s) %% {PROFILES}), %(at)s::timestamptz - i * INTERVAL '1 second', "
    "i, jsonb_build_object('Source', 'web'), jsonb_build_object('n', i) "
    f"FROM generate_series(1, {INGEST_ROWS}) i ON CONFLICT DO NOTHING"
)


async def _client(
    n: int, endpoint: Endpoint, load: Load, window: tuple[float, float], out: Outcome
):
    """One application connection: `window` (monotonic start, end) is the measured time after
    the ramp; operations finishing in it are counted and timed."""
    start, deadline = window
    rng = random.Random(load.seed * 1000 + n)
    mix = operations(rng)
    await asyncio.sleep(load.ramp_s * n / max(1, load.clients))
    conn, done = None, 0
    while time.monotonic() < deadline:
        if conn is None:
            began = time.monotonic()
            try:
                conn = await psycopg.AsyncConnection.connect(**endpoint.conninfo(), autocommit=True)
            except psycopg.Error as exc:
                out.connect_errors[_message(exc)] += 1
                await asyncio.sleep(min(RETRY_S, max(0.0, deadline - time.monotonic())))
                continue
            out.connect_ms.append((time.monotonic() - began) * 1000)
            out.connected.add(n)
        if rng.random() < load.ingest_share:
            sql = INGEST_SQL
            args = {
                "prefix": f"L{n}-{done}-",
                "offset": rng.randrange(10_000),
                "at": workload.END.isoformat(),
            }
        else:
            sql, args = rng.choice(mix)[1], None
        began = time.monotonic()
        try:
            cursor = await conn.execute(sql, args)
            if cursor.description is not None:
                await cursor.fetchall()
        except psycopg.Error as exc:
            out.operation_errors[_message(exc)] += 1
            if conn.broken or conn.closed:
                conn = None
        else:
            finished = time.monotonic()
            if start <= finished <= deadline:
                out.latency_ms.append((finished - began) * 1000)
            done += 1
        # after a failed operation too: an application does not retry in a tight loop
        await asyncio.sleep(min(rng.expovariate(1000 / load.think_ms), 10 * load.think_ms / 1000))
    if conn is not None:
        await conn.close()


SERVER_CONNECTIONS_SQL = (
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE usename = '{user}' AND backend_type = 'client backend'"
)


async def _server_connections(endpoint: Endpoint, until: float, out: Outcome) -> None:
    """The application role's backends, every second (tsdb-psql on the host, as postgres)."""
    sql = SERVER_CONNECTIONS_SQL.format(user=endpoint.user)
    while time.monotonic() < until:
        proc = await asyncio.create_subprocess_exec(
            "docker", "exec", endpoint.host_name, "tsdb-psql", "-XAt", "-c", sql,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        stdout, _ = await proc.communicate()
        if proc.returncode == 0 and stdout.strip().isdigit():
            out.server_connections.append(int(stdout))
        await asyncio.sleep(SAMPLE_EVERY_S)


def _percentiles(samples: list[float]) -> dict:
    if len(samples) < 2:
        return {"n": len(samples)}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"n": len(samples), "p50": cuts[49], "p95": cuts[94], "p99": cuts[98],
            "max": max(samples)}  # fmt: skip


def run(endpoint: Endpoint, load: Load) -> dict:
    """`load` against `endpoint`: what the clients saw and the server connections they used."""
    out = Outcome()

    async def main() -> None:
        start = time.monotonic() + load.ramp_s
        window = (start, start + load.seconds)
        sampler = asyncio.create_task(_server_connections(endpoint, window[1], out))
        await asyncio.gather(*(_client(n, endpoint, load, window, out)
                               for n in range(load.clients)))  # fmt: skip
        await sampler

    cpu = resource.getrusage(resource.RUSAGE_SELF)
    began = time.monotonic()
    asyncio.run(main())
    wall = time.monotonic() - began
    used = resource.getrusage(resource.RUSAGE_SELF)
    client_cpu = used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime
    return {
        "port": endpoint.port,
        "load": asdict(load),
        "wall_s": wall,
        "clients_connected": len(out.connected),
        "clients_never_connected": load.clients - len(out.connected),
        "connect_errors": sum(out.connect_errors.values()),
        "connect_errors_by_message": dict(out.connect_errors.most_common()),
        "operations": len(out.latency_ms),
        "operations_per_s": len(out.latency_ms) / load.seconds,
        "operation_errors": sum(out.operation_errors.values()),
        "operation_errors_by_message": dict(out.operation_errors.most_common()),
        "latency_ms": _percentiles(out.latency_ms),
        "connect_ms": _percentiles(out.connect_ms),
        "server_connections_max": max(out.server_connections, default=None),
        "server_connections_at_start": out.server_connections[0]
        if out.server_connections
        else None,
        "client_cpu_s": client_cpu,
    }


def _sh(host_name: str, script: str) -> str:
    args = ["docker", "exec", host_name, "bash", "-c", script]
    return testhosts.run(args, timeout=1800).stdout.strip()


def endpoints(host_name: str) -> tuple[dict, dict[str, Endpoint]]:
    """The host's plan record, and its two ports for the application: PgBouncer's and
    PostgreSQL's."""
    record = json.loads(_sh(host_name, f"cat {PLAN_RECORD}"))
    deployment = record["deployment"]
    password = (ROOT / credentials.APP_PASSWORD_FILE).read_text().strip()
    address = testhosts.address(host_name)

    def at(port: int) -> Endpoint:
        return Endpoint(host_name, address, port, deployment["database"],
                        deployment["app_user"], password)  # fmt: skip

    return record, {"postgresql": at(deployment["port"]),
                    "pgbouncer": at(deployment["pgbouncer_port"])}  # fmt: skip


def seed(host_name: str, events: int) -> None:
    """Metrics, campaigns and `events` events over the DAYS before the workload's END, a
    third of them attributed to a campaign (the shapes queries.py reads)."""
    end = workload.END.isoformat()
    _sh(
        host_name,
        f"""tsdb-psql -q -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO klaviyo_metrics (id, name, created_at, updated_at)
  SELECT 'M' || i, 'Metric ' || i, now(), now() FROM generate_series(1, {METRICS}) i
  ON CONFLICT DO NOTHING;
INSERT INTO klaviyo_campaigns (id, name, status, created_at, updated_at)
  SELECT 'C' || i, 'Campaign ' || i, 'sent', now(), now() FROM generate_series(0, {CAMPAIGNS - 1}) i
  ON CONFLICT DO NOTHING;
INSERT INTO klaviyo_events (id, metric_id, profile_id, "timestamp", value, properties, raw_data,
                            campaign_id)
  SELECT 'E' || i, 'M' || (1 + i % {METRICS}), 'P' || (i::bigint * 7919 % {PROFILES}),
         '{end}'::timestamptz - (i % ({DAYS} * 86400)) * INTERVAL '1 second', (i % 1000) / 10.0,
         jsonb_build_object('Campaign Name', 'Campaign ' || (i % {CAMPAIGNS}), 'Source', 'web'),
         jsonb_build_object('raw', md5(i::text)),
         CASE WHEN i % 3 = 0 THEN 'C' || (i % {CAMPAIGNS}) END
  FROM generate_series(1, {events}) i
  ON CONFLICT DO NOTHING;
VACUUM ANALYZE;
SQL""",
    )


def _table(run: dict) -> list[str]:
    """One load level: a row per measure, a column per target."""
    targets = [("postgresql", "PostgreSQL, direct"), ("pgbouncer", "PgBouncer")]
    rows = ["| | " + " | ".join(title for _, title in targets) + " |", "|---|---:|---:|"]

    def row(title: str, value) -> None:
        rows.append(f"| {title} | " + " | ".join(value(run[t]) for t, _ in targets) + " |")

    def ms(key: str, which: str):
        return lambda r: f"{r[key][which]:.1f}" if which in r[key] else "-"

    row("clients that got a connection", lambda r: f"{r['clients_connected']} of "
        f"{r['load']['clients']}")  # fmt: skip
    row("connection errors", lambda r: f"{r['connect_errors']:,}")
    row("operations (per second)", lambda r: f"{r['operations']:,} "
        f"({r['operations_per_s']:.0f}/s)")  # fmt: skip
    row("operation errors", lambda r: f"{r['operation_errors']:,}")
    for which in ("p50", "p95", "p99"):
        row(f"operation latency {which} (ms)", ms("latency_ms", which))
    row("connect time p50 / p99 (ms)", lambda r: f"{ms('connect_ms', 'p50')(r)} / "
        f"{ms('connect_ms', 'p99')(r)}")  # fmt: skip
    row("server connections of the application role (most)",
        lambda r: str(r["server_connections_max"]))  # fmt: skip
    row("client CPU (s)", lambda r: f"{r['client_cpu_s']:.0f}")
    errors = [
        f"- {title}: " + "; ".join(f"{m!r} x{c:,}" for m, c in
                                   run[t]["connect_errors_by_message"].items())
        for t, title in targets if run[t]["connect_errors_by_message"]
    ]  # fmt: skip
    return [*rows, "", *(["Connection errors by message:", "", *errors, ""] if errors else [])]


def report(results: dict) -> str:
    host, runs = results["host"], results["runs"]
    load = runs[0]["pgbouncer"]["load"]
    out = [
        f"# Connection load: {load['clients']} clients through PgBouncer and straight to "
        "PostgreSQL",
        "",
        f"Run {results['started']}, `{results['command']}`.",
        "",
        f"- Host: native test host, {host['memory']} memory, {host['cpus']} CPU; "
        f"max_connections {host['max_connections']}, PgBouncer's server pool "
        f"{host['server_pool']} (default_pool_size {host['default_pool_size']} + reserve "
        f"{host['reserve_pool_size']}), max_client_conn {host['max_client_conn']}.",
        f"- Data: {results['events']:,} events over {DAYS} days, {METRICS} metrics.",
        f"- Each target and load level: {load['clients']} clients, connections opened over "
        f"{load['ramp_s']:.0f} s, then {load['seconds']:.0f} s of load; each client a "
        f"dashboard query (9 in 10) or {INGEST_ROWS} events (1 in 10), then a think time "
        f"(exponential, mean per level below); TLS verify-full and SCRAM; a failed connection "
        f"retried after {RETRY_S:.0f} s. Every direct level runs before PgBouncer's, whose idle "
        "server connections would otherwise hold the direct clients' slots.",
        "",
    ]
    for run in runs:
        think = run["think_ms"]
        offered = load["clients"] * 1000 / think
        out += [f"## Think time {think:.0f} ms (about {offered:.0f} operations/s offered)", ""]
        out += _table(run)
    return "\n".join(out)


def _think_times(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of milliseconds: {text!r}") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError("think times must be positive")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="connections", description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=60, help="load per target and level")
    parser.add_argument("--ramp", type=float, default=10, help="seconds to open connections")
    parser.add_argument(
        "--think-ms",
        type=_think_times,
        default=(1000.0, 5000.0),
        help="mean pause per client, one load level each (default 1000,5000)",
    )
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--keep", action="store_true", help="leave the test host running")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    if min(args.clients, args.seconds, args.events) <= 0 or args.ramp < 0:
        parser.error("--clients, --seconds and --events must be positive")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    testhosts.start(HOST)
    try:
        deploy([HOST], {**DISTRO, **testhosts.app_client_data("native", HOST.name)})
        seed(HOST.name, args.events)
        record, targets = endpoints(HOST.name)
        runs = [{"think_ms": think} for think in args.think_ms]
        for name in ("postgresql", "pgbouncer"):
            for level in runs:
                print(f"connections: {args.clients} clients to {name}, think time "
                      f"{level['think_ms']:.0f} ms...", file=sys.stderr)  # fmt: skip
                load = Load(args.clients, args.seconds, args.ramp, level["think_ms"])
                level[name] = run(targets[name], load)
    finally:
        if not args.keep:
            testhosts.remove(HOST.name)
    pooler = record["pooler"]["settings"]
    results = {
        "started": started,
        "command": " ".join(["python -m lab.bench.connections", *(argv or sys.argv[1:])]),
        "events": args.events,
        "host": {
            "memory": HOST.memory,
            "cpus": HOST.cpus,
            "max_connections": record["parameters"]["max_connections"],
            "server_pool": record["pooler"]["server_pool"],
            **{
                k: pooler[k] for k in ("default_pool_size", "reserve_pool_size", "max_client_conn")
            },  # fmt: skip
        },
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "connections.json").write_text(json.dumps(results, indent=2) + "\n")
    text = report(results)
    (args.out / "connections.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
