"""tsdb-deploy: the planner on the command line, the local sandbox, the benchmark.

tsdb-deploy plan --memory 8GiB --cpus 4 --storage ssd [--format conf|json] ...
tsdb-deploy sandbox up|down|summary
tsdb-deploy bench [--tiny] [--events N] ...
tsdb-deploy staging-rebuild inventory/production.py inventory/staging.py
"""

from __future__ import annotations

import argparse
import json
import sys

from .planner import PROFILES, Hardware, PlanError, Workload, plan
from .planner.inputs import PG_VERSIONS, STORAGE_CLASSES
from .render import RenderError, postgresql_conf
from .runtimes import native
from .units import UnitError, parse_size


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        self.exit(2, f"tsdb-deploy: error: {message}\n")


def _override(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tsdb-deploy", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = commands.add_parser("plan", help="print postgresql.conf for given hardware")
    p.add_argument("--memory", required=True, help="memory PostgreSQL may use, e.g. 8GiB")
    p.add_argument("--cpus", required=True, help="CPUs (a fractional quota is allowed)")
    p.add_argument("--storage", default="ssd", help="|".join(STORAGE_CLASSES))
    p.add_argument("--profile", default="analytics", help="|".join(PROFILES))
    p.add_argument("--pg-version", default="17", help="|".join(map(str, PG_VERSIONS)))
    p.add_argument("--max-connections", help="default: from memory and profile")
    p.add_argument("--background-workers", help="timescaledb.max_background_workers")
    p.add_argument("--data-disk", help="size of the data disk, e.g. 500GiB")
    p.add_argument("--wal-disk", help="size of a dedicated WAL disk, e.g. 200GiB")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        type=_override,
        default=[],
        metavar="NAME=VALUE",
        help="override a parameter (repeatable)",
    )
    p.add_argument(
        "--acknowledge-unsafe",
        dest="acknowledged",
        action="append",
        default=[],
        metavar="NAME",
        help="allow an override that weakens durability or authentication (repeatable; the "
        "inventory's acknowledge_unsafe)",
    )
    p.add_argument("--format", choices=("conf", "json"), default="conf")
    s = commands.add_parser("sandbox", help="local test hosts: up, down, summary")
    s.add_argument("action", choices=("up", "down", "summary"))
    commands.add_parser("bench", help="the benchmark: tsdb-deploy bench --help")
    r = commands.add_parser(
        "staging-rebuild",
        help="rebuild staging from production's newest verified backup, masked",
    )
    r.add_argument(
        "source", help="the source's inventory (production), e.g. inventory/production.py"
    )
    r.add_argument("target", help="the targets' inventory (staging), e.g. inventory/staging.py")
    r.add_argument("--source-host", help="the source host, when its inventory has several")
    r.add_argument("--target-host", help="only this target host (pyinfra --limit)")
    r.add_argument("--report", help="also write the report as JSON to this file")
    return parser


def _int(name: str, text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise PlanError(f"--{name} must be a whole number, got {text!r}") from None


def _plan_command(args) -> int:
    try:
        cpus = float(args.cpus)
    except ValueError:
        raise PlanError(f"--cpus must be a number, got {args.cpus!r}") from None
    hardware = Hardware(
        memory_bytes=parse_size(args.memory),
        cpus=cpus,
        storage=args.storage,
        data_disk_bytes=parse_size(args.data_disk) if args.data_disk else None,
        wal_disk_bytes=parse_size(args.wal_disk) if args.wal_disk else None,
        notes=("given on the command line",),
    )
    workload = Workload(
        profile=args.profile,
        pg_version=_int("pg-version", args.pg_version),
        max_connections=_int("max-connections", args.max_connections),
        background_workers=_int("background-workers", args.background_workers),
    )
    result = plan(hardware, workload, dict(args.overrides), acknowledged=args.acknowledged)
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(
            postgresql_conf(
                result,
                host_name="(tsdb-deploy plan)",
                runtime="native",
                locations=native.locations(workload.pg_version),
            ),
            end="",
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # its own options: handed over whole
        from lab.bench import main as bench

        return bench(argv[1:])
    args = _parser().parse_args(argv)
    try:
        if args.command == "plan":
            return _plan_command(args)
        if args.command == "staging-rebuild":
            from . import staging_run

            return staging_run.main(args)
        from lab import sandbox  # the local lab; needs docker, loaded only for this command

        return {
            "up": sandbox.up,
            "down": sandbox.down,
            "summary": lambda: print(sandbox.summary()) or 0,
        }[args.action]()
    except (PlanError, UnitError, RenderError) as exc:
        print(f"tsdb-deploy: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # testhosts errors and the like: one line, no traceback
        if type(exc).__name__ == "TestHostError":
            print(f"tsdb-deploy: error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    raise SystemExit(main())
