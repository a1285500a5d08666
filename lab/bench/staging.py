"""A staging rebuild against a plain restore of the same backup, on test hosts.

  python -m lab.bench.staging [--events 500000] [--profiles 20000] [--keep]

A "production" host (4g, 2 CPUs) and a "staging" host of half its memory and CPUs, both
deployed with TimescaleDB's Community build from the lab mirror. Production gets the
staging dataset (lab/staging_data.py: personal data, older chunks compressed), a logical
backup and its restore test. Then, on staging, timed:

- plain: the same archive copied to staging and restored with `tsdb-restore --new-db` (the
  restore and its checks, nothing masked), then dropped;
- rebuild: `tsdb-deploy staging-rebuild` end to end, with the phases of its report.

The staging host is deployed before both, so the rebuild's converge adds only what a first
rebuild brings (the masking key, the incoming directory, the copy). Results:
bench/results/staging.json and .md. A benchmark, not a test: nothing is asserted beyond the
runs succeeding.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tsdb_deploy.settings import SETTINGS

from .. import credentials, mirror, staging_data, testhosts
from ..testhosts import TestHost
from .host import BenchError

ROOT = Path(__file__).resolve().parents[2]
PROD = TestHost("tsdb-bench-prod", memory="4g", cpus=2)
STAGE = TestHost("tsdb-bench-stage", memory="2g", cpus=1)
MIRROR = "tsdb-bench-mirror"
DB = "klaviyo_analytics"  # group_data/all.py's database
PLAIN_DB = "bench_plain_restore"
COPY_DIR = "/var/backups/tsdb/bench"
YEAR_S = 365 * 86400


def sh(host: TestHost, script: str, *, user: str | None = None) -> str:
    prefix = ["runuser", "-u", user, "--"] if user else []
    proc = subprocess.run(["docker", "exec", host.name, *prefix, "bash", "-c", script],
                          capture_output=True, text=True)  # fmt: skip
    if proc.returncode != 0:
        raise BenchError(
            f"{host.name}: {script[:200]} failed:\n{(proc.stdout + proc.stderr)[-2000:]}"
        )
    return proc.stdout.strip()


def timed(host: TestHost, script: str, *, user: str | None = None) -> float:
    start = time.monotonic()
    sh(host, script, user=user)
    return time.monotonic() - start


def write_inventory(workdir: Path, host: TestHost, data: dict) -> Path:
    """An inventory named sandbox.py (group_data/sandbox.py applies) in its own directory."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "sandbox.py"
    path.write_text(f"native = [({host.pyinfra_name!r}, {data!r})]\n")
    return path


def pyinfra(*args: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=7200)  # fmt: skip
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(args[:4])} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return time.monotonic() - start


def measure(events: int, profiles: int, workdir: Path, progress) -> dict:
    base = mirror.serve(MIRROR).inventory_data(SETTINGS["timescaledb_version"].default)
    prod_inv = write_inventory(workdir / "prod", PROD, {**base, "environment": "production"})
    stage_inv = write_inventory(
        workdir / "stage", STAGE, {**base, "environment": "staging", "pitr": False}
    )
    for inventory in (prod_inv, stage_inv):
        pyinfra("-m", "pyinfra", "-y", str(inventory), "deploy.py")
    progress("deployed both hosts; loading the dataset")
    sh(PROD, "systemctl stop cron")  # no scheduled backup during the measurement
    # a year of events at most: all within the retention policy's two years
    sql = staging_data.dataset_sql(events, profiles, spacing=max(1, YEAR_S // events))
    load = ["docker", "exec", "-i", PROD.name, "tsdb-psql", "-q", "-v", "ON_ERROR_STOP=1"]
    loaded = subprocess.run(load, input=sql, text=True, capture_output=True)
    if loaded.returncode != 0:
        raise BenchError(f"loading the dataset failed: {loaded.stderr[-2000:]}")
    results: dict = {"events": events, "profiles": profiles}
    results["backup_seconds"] = timed(PROD, "tsdb-backup daily", user="postgres")
    results["restore_test_seconds"] = timed(PROD, "tsdb-restore --test latest", user="postgres")
    listing = json.loads(sh(PROD, "tsdb-restore --list --json", user="postgres"))["backups"]
    newest = max(listing, key=lambda b: b["started_at"])
    archive = Path(newest["path"])
    results["database_bytes"] = int(
        sh(PROD, f"tsdb-psql -At -c \"SELECT pg_database_size('{DB}')\"")
    )
    results["archive_bytes"] = int(newest["size_bytes"])
    progress(f"backup {archive.name}: restoring it plainly on staging")
    # the plain restore: the same archive and metadata, restored into a new database
    local = workdir / "copy"
    local.mkdir()
    sh(STAGE, f"install -d -o postgres -g postgres -m 700 {COPY_DIR}")
    for path in (archive, archive.with_suffix(".json")):
        subprocess.run(["docker", "cp", f"{PROD.name}:{path}", str(local / path.name)], check=True)
        subprocess.run(["docker", "cp", str(local / path.name), f"{STAGE.name}:{COPY_DIR}/"],
                       check=True)  # fmt: skip
    sh(STAGE, f"chown -R postgres:postgres {COPY_DIR}")
    results["plain_restore_seconds"] = timed(
        STAGE, f"tsdb-restore --new-db {PLAIN_DB} {COPY_DIR}/{archive.name}", user="postgres"
    )
    sh(STAGE, f"tsdb-psql -q -d postgres -c 'DROP DATABASE {PLAIN_DB}'; rm -r {COPY_DIR}")
    progress("rebuilding staging")
    report_file = workdir / "report.json"
    results["rebuild_seconds"] = pyinfra(
        "-m", "tsdb_deploy", "staging-rebuild", str(prod_inv), str(stage_inv),
        "--report", str(report_file),
    )  # fmt: skip
    report = json.loads(report_file.read_text())[0]
    results["deploy_phases"] = report["deploy_phases"]
    results["host_phases"] = report["phases"]
    results["masked_values"] = sum(report["masked"].values())
    results["hosts"] = {
        "production": {"memory": PROD.memory, "cpus": PROD.cpus},
        "staging": {"memory": STAGE.memory, "cpus": STAGE.cpus},
    }
    return results


HOST_PHASES = {
    "check": "size, sha256, table of contents, roles",
    "restore": "pg_restore, row counts checked",
    "mask": "masking.sql in one transaction",
    "compress": "the chunks masking decompressed, compressed again",
    "vacuum": "VACUUM (FULL, ANALYZE)",
    "swap": "owner and settings, sessions' grace, the renames",
}


def report(r: dict) -> str:
    host = r["host_phases"]
    plain = r["plain_restore_seconds"]
    check_restore = host.get("check", 0) + host.get("restore", 0)
    masking = sum(host.get(name, 0) for name in ("mask", "compress", "vacuum"))
    lines = [
        f"Staging rebuild against a plain restore of the same backup: {r['events']:,} events, "
        f"{r['profiles']:,} profiles, database {r['database_bytes'] / 2**20:.0f} MiB, archive "
        f"{r['archive_bytes'] / 2**20:.0f} MiB. Production {r['hosts']['production']['memory']}"
        f" / {r['hosts']['production']['cpus']} CPUs, staging {r['hosts']['staging']['memory']}"
        f" / {r['hosts']['staging']['cpus']} CPU, Community build.",
        "",
        "| on staging | seconds |",
        "|---|---:|",
        f"| plain `tsdb-restore --new-db` (checks, pg_restore, ANALYZE, counts) | {plain:.1f} |",
        f"| `tsdb-deploy staging-rebuild`, end to end | {r['rebuild_seconds']:.1f} |",
    ]
    for name, seconds in r["deploy_phases"].items():
        lines.append(f"| - {name} | {seconds:.1f} |")
    for name, seconds in host.items():
        lines.append(f"| - - host tool: {name} ({HOST_PHASES.get(name, '')}) | {seconds:.1f} |")
    lines += [
        "",
        f"The host tool's check and restore take {check_restore:.1f}s against the plain "
        f"restore's {plain:.1f}s (no ANALYZE: VACUUM (FULL, ANALYZE) comes after masking); "
        f"masking adds {masking:.1f}s for {r['masked_values']:,} values (the masking "
        f"{host.get('mask', 0):.1f}s, compressing again {host.get('compress', 0):.1f}s, "
        f"VACUUM FULL {host.get('vacuum', 0):.1f}s). End to "
        f"end the rebuild takes {r['rebuild_seconds'] / plain:.1f}x the plain restore. Staging "
        "was deployed before both, so the rebuild's converge adds only what a first rebuild "
        "brings (the masking key, the incoming directory, the copy's upload). On production: "
        f"the backup took {r['backup_seconds']:.1f}s, its restore test "
        f"{r['restore_test_seconds']:.1f}s.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab.bench.staging", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--profiles", type=int, default=20_000)
    parser.add_argument("--keep", action="store_true", help="leave the test hosts running")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    try:
        staging_data.dataset_sql(args.events, args.profiles)
    except ValueError as exc:
        parser.error(str(exc))

    def progress(message: str) -> None:
        print(f"staging bench: {message}", file=sys.stderr, flush=True)

    credentials.prepare()
    testhosts.ensure_docker()
    testhosts.ensure_base_image()
    try:
        testhosts.start_many([PROD, STAGE])
        with tempfile.TemporaryDirectory(prefix="tsdb-bench-staging-") as tmp:
            results = measure(args.events, args.profiles, Path(tmp), progress)
    finally:
        if not args.keep:
            try:
                for host in (PROD, STAGE):
                    testhosts.remove(host.name)
            finally:
                mirror.stop(MIRROR)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "staging.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "staging.md").write_text(report(results))
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
