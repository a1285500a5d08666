"""Backup and restore throughput, pg_dump against pgBackRest, on a deployed test host.

  python -m lab.bench.backup_throughput [--gib 1] [--keep]

Starts a native test host (8g, 2 CPUs), deploys the project, generates at least --gib GiB of
events shaped like the documents' (JSON properties and raw_data), then times, through the
host's own tools: pg_dump (custom format, the configured compression) to a file and
pg_restore of it into a new database; a pgBackRest full backup and its restore into a spare
directory. MB/s is the database size over the wall time. Results: bench/results/backups.json
and .md. A benchmark, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from .. import testhosts
from ..testhosts import TestHost
from .deploytime import DISTRO, deploy

ROOT = Path(__file__).resolve().parents[2]
HOST = TestHost("tsdb-bench-backups", memory="8g", cpus=2)
ROWS_PER_GIB = 1_100_000  # ~950 bytes per event with its indexes, measured on this schema


def sh(script: str, *, check: bool = True) -> str:
    proc = subprocess.run(
        ["docker", "exec", HOST.name, "bash", "-c", script], capture_output=True, text=True
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"{script[:200]}... failed: {proc.stderr[-2000:]}")
    return proc.stdout.strip()


def timed(script: str) -> float:
    start = time.monotonic()
    sh(script)
    return time.monotonic() - start


def generate(rows: int) -> None:
    print(f"generating {rows:,} events...", file=sys.stderr)
    sh(
        'tsdb-psql -q -c "INSERT INTO klaviyo_metrics (id, name, created_at, updated_at) '
        "SELECT 'M' || i, 'Metric ' || i, now(), now() FROM generate_series(1, 50) i "
        'ON CONFLICT DO NOTHING"'
    )
    batch = 200_000
    for start in range(0, rows, batch):
        sh(
            'tsdb-psql -q -c "INSERT INTO klaviyo_events (id, metric_id, profile_id, '
            '\\"timestamp\\", value, properties, raw_data) SELECT '
            f"'E' || i, 'M' || (1 + i % 50), 'P' || (i % 200000), "
            "now() - (i % 15552000) * INTERVAL '1 second', (i % 1000) / 10.0, "
            "jsonb_build_object('Campaign Name', 'Campaign ' || (i % 40), 'Item', md5(i::text),"
            " 'Source', 'web', 'Notes', repeat(md5((i + 1)::text), 4)), "
            "jsonb_build_object('raw', repeat(md5((i + 2)::text), 9)) "
            f'FROM generate_series({start + 1}, {min(rows, start + batch)}) i"'
        )
    sh("tsdb-psql -q -c 'VACUUM ANALYZE'")


def measure() -> dict:
    size = int(sh("tsdb-psql -At -c 'SELECT pg_database_size(current_database())'"))
    mb = size / 1e6
    compression = (
        sh("grep -s ^BACKUP_COMPRESSION= /etc/tsdb-deploy/backup.conf | cut -d= -f2") or "zstd:3"
    )
    process_max = sh("grep ^process-max= /etc/pgbackrest/pgbackrest.conf | cut -d= -f2")
    dump = "/var/tmp/bench.dump"
    results = {"database_bytes": size, "compression": compression, "process_max": process_max}
    t = timed(f"tsdb-pg pg_dump -Fc --compress={compression} klaviyo_analytics > {dump}")
    results["pg_dump"] = {
        "seconds": t,
        "mb_per_s": mb / t,
        "archive_bytes": int(sh(f"stat -c %s {dump}")),
    }
    sh("tsdb-psql -q -c 'DROP DATABASE IF EXISTS bench_restore' -d postgres")
    t = timed(
        "tsdb-psql -q -d postgres -c 'CREATE DATABASE bench_restore' && "
        "tsdb-psql -q -d bench_restore -c 'CREATE EXTENSION timescaledb' "
        "-c 'SELECT timescaledb_pre_restore()' && "
        f"tsdb-pg pg_restore -d bench_restore --no-owner < {dump} && "
        "tsdb-psql -q -d bench_restore -c 'SELECT timescaledb_post_restore()'"
    )
    results["pg_restore"] = {"seconds": t, "mb_per_s": mb / t}
    sh("tsdb-psql -q -d postgres -c 'DROP DATABASE bench_restore'; rm -f " + dump)
    t = timed("tsdb-pg pgbackrest --stanza=tsdb --type=full backup")
    results["pgbackrest_backup"] = {"seconds": t, "mb_per_s": mb / t}
    target = "/var/tmp/pgbackrest-restore"
    sh(f"rm -rf {target} && install -d -o postgres -m 700 {target}")
    t = timed(f"tsdb-pg pgbackrest --stanza=tsdb --pg1-path={target} --type=immediate restore")
    results["pgbackrest_restore"] = {"seconds": t, "mb_per_s": mb / t}
    sh(f"rm -rf {target}")
    results["cpus"], results["memory"] = HOST.cpus, HOST.memory
    return results


def report(results: dict) -> str:
    gib = results["database_bytes"] / 2**30
    lines = [
        f"Backup and restore throughput: {gib:.2f} GiB database (events with JSON), test host "
        f"{results['memory']} / {results['cpus']} CPUs, pg_dump --compress="
        f"{results['compression']}, pgBackRest zst, process-max {results['process_max']}.",
        "",
        "| tool | seconds | MB/s (database size / time) |",
        "|---|---:|---:|",
    ]
    for key in ("pg_dump", "pg_restore", "pgbackrest_backup", "pgbackrest_restore"):
        r = results[key]
        lines.append(f"| {key.replace('_', ' ')} | {r['seconds']:.1f} | {r['mb_per_s']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="backup_throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--gib", type=float, default=1.0, help="database size to generate")
    parser.add_argument("--keep", action="store_true", help="leave the test host running")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args(argv)
    testhosts.start(HOST)
    try:
        deploy([HOST], DISTRO)
        generate(int(args.gib * ROWS_PER_GIB))
        results = measure()
    finally:
        if not args.keep:
            testhosts.remove(HOST.name)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "backups.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "backups.md").write_text(report(results))
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
