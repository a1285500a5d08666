"""`python -m lab.bench`: measure variants A-D side by side on a local test host."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .. import testhosts
from . import report
from .host import BenchError
from .runner import Options, run, run_deploy_only

MAX_EVENTS = 100_000_000
# --tiny: every phase at a size the test suite can afford (thousands of rows, one round, the
# bench host alone for deploy timing).
TINY = {
    "events": 6000,
    "profiles": 500,
    "repeat": 3,
    "cold_repeat": 1,
    "rounds": 1,
    "host_counts": "1",
    "dd_megabytes": 64,
    "cold_method": "evict",
}


def _counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(sorted({int(n) for n in text.split(",")}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of host counts: {text!r}") from None
    if not counts or min(counts) < 1 or max(counts) > 16:
        raise argparse.ArgumentTypeError("host counts must be 1..16")
    return counts


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tsdb-deploy bench",
        description="Benchmark the documents' database (A: stock config, B: timescaledb-tune, "
        "C: this project's planner config) against what this project deploys (D), side by "
        "side on one local test host; writes results.json, report.md and PNG charts.",
    )
    p.add_argument("--events", type=int, default=5_000_000, help="events (default 5M, max 100M)")
    p.add_argument("--profiles", type=int, default=200_000, help="profiles (default 200k)")
    p.add_argument("--writers-max", type=int, help="concurrent writers up to (default: CPUs)")
    p.add_argument("--repeat", type=int, default=20, help="warm runs per query and round")
    p.add_argument("--cold-repeat", type=int, default=3, help="cold runs per query and round")
    p.add_argument(
        "--cold-method",
        choices=("restart", "evict"),
        default="restart",
        help="how shared_buffers is emptied before a cold sample (default restart)",
    )
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds of A B C D")
    p.add_argument("--out", type=Path, default=Path("bench/results"), help="output directory")
    p.add_argument("--host-memory", default="8g", help="bench host memory limit (default 8g)")
    p.add_argument("--host-cpus", type=float, default=2, help="bench host CPUs (default 2)")
    p.add_argument(
        "--host-counts",
        type=_counts,
        default=(1, 4, 8),
        help="hosts per no-change deploy run (default 1,4,8)",
    )
    p.add_argument("--sandbox-memory", default="1g", help="memory of each small sandbox host")
    p.add_argument("--dd-megabytes", type=int, default=1024, help="size of the dd write test")
    p.add_argument("--keep-host", action="store_true", help="leave the bench host running")
    p.add_argument("--host-name", default="tsdb-bench-db", help="the bench host's name")
    p.add_argument(
        "--build",
        choices=("community", "apache"),
        default="community",
        help="TimescaleDB build: community (production's install, from the lab mirror; adds "
        "the compression phase) or apache (Debian's packages)",
    )
    p.add_argument("--tiny", action="store_true", help="thousands of rows: a quick end-to-end run")
    p.add_argument(
        "--deploy-only",
        action="store_true",
        help="time the deploy alone (one host, then --host-counts hosts): deploy.md and "
        "deploy.json into --out",
    )
    p.add_argument(
        "--report-from",
        type=Path,
        metavar="RESULTS_JSON",
        help="measure nothing: write report.md and the charts again from a results.json into --out",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = parser()
    if "--tiny" in argv:
        p.set_defaults(**{k: (_counts(v) if k == "host_counts" else v) for k, v in TINY.items()})
    args = p.parse_args(argv)
    if args.report_from:
        results = json.loads(args.report_from.read_text())
        results.pop("summary", None)
        report.write(results, args.out)
        return 0
    if not 1 <= args.events <= MAX_EVENTS:
        p.error(f"--events must be 1..{MAX_EVENTS:,}")
    for name in ("profiles", "repeat", "cold_repeat", "rounds"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.writers_max is not None and args.writers_max < 1:
        p.error("--writers-max must be at least 1")
    opts = Options(
        events=args.events,
        profiles=args.profiles,
        writers_max=args.writers_max,
        repeat=args.repeat,
        cold_repeat=args.cold_repeat,
        cold_method=args.cold_method,
        rounds=args.rounds,
        out=args.out,
        host_memory=args.host_memory,
        host_cpus=args.host_cpus,
        host_counts=args.host_counts,
        sandbox_memory=args.sandbox_memory,
        dd_megabytes=args.dd_megabytes,
        keep_host=args.keep_host,
        host_name=args.host_name,
        argv=tuple(argv),
        build=args.build,
    )
    try:
        return (run_deploy_only if args.deploy_only else run)(opts)
    except (BenchError, testhosts.TestHostError) as exc:
        print(f"\nbench: error: {exc}", file=sys.stderr)
        return 1
