"""The whole benchmark, phase by phase, on one bench host that is removed at the end.

1. start the bench host, deploy the project to it normally (timed: fresh converge, no-change
   run, commands counted), install the agent, generate the workload there;
2. rounds of A B C D: switch the config, create the variant's database, load every event
   (ingest measured per configuration), fill the aggregates, VACUUM ANALYZE, sizes, EXPLAIN
   (first round), warm and cold queries;
3. with D still loaded: the per-index costs; then ALTER SYSTEM RESET ALL (the deploy refuses
   leftovers) and the bench host is removed;
4. no-change deploys over 1, 4, 8 small sandbox hosts at once;
5. results.json, report.md, charts. results.json is rewritten after every variant, so a
   failed run leaves what it measured.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tsdb_deploy.planner import budget
from tsdb_deploy.settings import SETTINGS

from .. import mirror, testhosts
from . import (
    compression,
    deploytime,
    ingest,
    physical,
    queries,
    report,
    schemas,
    variants,
    workload,
)
from .host import DATA_DIR, BenchHost
from .progress import Progress
from .queries import QUERY_TITLES


@dataclass(frozen=True)
class Options:
    events: int
    profiles: int
    writers_max: int | None  # None: the bench host's CPUs
    repeat: int
    cold_repeat: int
    cold_method: str  # "restart" or "evict" (queries.cold)
    rounds: int
    out: Path
    host_memory: str
    host_cpus: float
    host_counts: tuple[int, ...]
    sandbox_memory: str
    dd_megabytes: int
    keep_host: bool
    host_name: str
    argv: tuple[str, ...]
    build: str = "community"  # community: the lab mirror's packages; apache: Debian's


def _machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    memory = int(Path("/proc/meminfo").read_text().split()[1]) / 1024**2
    return f"{os.cpu_count()} CPUs ({model}), {memory:.0f} GiB, Linux {platform.release()}"


def _other_containers() -> list[str]:
    """Containers running besides ours: they share the machine's CPUs and disk with the
    benchmark, so the report lists them."""
    names = subprocess.run(
        ["docker", "ps", "--format", "{{.Names}}"], capture_output=True, text=True, check=False
    ).stdout.split()
    return sorted(n for n in names if not n.startswith("tsdb-bench-"))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


SHARED_BUFFERS_EMPTIED = {
    "restart": "PostgreSQL was stopped and started (empty shared_buffers)",
    "evict": "every shared buffer was evicted after a CHECKPOINT (pg_buffercache_evict: "
    "empty shared_buffers without a restart)",
}
PAGE_CACHE_DROPPED = {
    "cgroup": "the test host's page cache was evicted by reclaiming its memory cgroup "
    "(memory.force_empty / memory.reclaim, from the machine running the container: inside "
    "the container the kernel's drop_caches is not writable), so data is read from disk",
    "none": "the OS page cache could NOT be dropped (no writable memory cgroup control): "
    "cold means empty shared_buffers only, data files may still come from the page cache",
}


def cold_cache(method: str, how: set[str], left: list[int]) -> str:
    dropped = PAGE_CACHE_DROPPED["cgroup" if how == {"cgroup"} else "none"]
    evidence = (
        f" (page cache left after each drop: at most {max(left) / 2**20:,.0f} MiB, including "
        "PostgreSQL's shared memory while it runs)"
        if left
        else ""
    )
    return (
        f"before each cold sample {SHARED_BUFFERS_EMPTIED[method]}, {dropped}{evidence}; the "
        "query ran on a new connection (cold catalog caches)."
    )


BENCH_MIRROR = "tsdb-bench-mirror"


def host_data(build: str) -> dict:
    """What the bench hosts are deployed with: production's install from the lab mirror
    (the Community build), or Debian's packages (the Apache-only build)."""
    if build == "apache":
        return deploytime.DISTRO
    return mirror.serve(BENCH_MIRROR).inventory_data(SETTINGS["timescaledb_version"].default)


def run_deploy_only(opts: Options) -> int:
    """The deploy's own timing, without the database benchmark: a fresh converge and no-change
    runs of one bench host, then no-change runs over opts.host_counts small hosts."""
    progress = Progress()
    began = time.monotonic()
    bench = testhosts.TestHost(opts.host_name, memory=opts.host_memory, cpus=opts.host_cpus)
    results: dict = {"deploy": {}, "meta": {"build": opts.build, "machine": _machine()}}
    with contextlib.ExitStack() as cleanup:
        if opts.build == "community":
            cleanup.callback(mirror.stop, BENCH_MIRROR)
        data = host_data(opts.build)
        progress.start("deploy timing", len(opts.host_counts) + 3)
        try:
            testhosts.start(bench)
            progress.step("one host: fresh converge, no-change run, counted run")
            results["deploy"]["single"] = deploytime.single_host(bench, data)
        finally:
            testhosts.remove(bench.name)
        if max(opts.host_counts) > 1:
            results["deploy"]["many"] = deploytime.many_hosts(
                list(opts.host_counts), opts.sandbox_memory, progress.step, data
            )
        progress.finish()
    results["meta"] |= {"finished": _now(), "seconds": time.monotonic() - began}
    path = report.write_deploy(results, opts.out)
    print(f"results: {path}", file=sys.stderr)
    return 0


def run(opts: Options) -> int:
    progress = Progress()
    started, began, others = _now(), time.monotonic(), _other_containers()
    bench = testhosts.TestHost(opts.host_name, memory=opts.host_memory, cpus=opts.host_cpus)
    host = BenchHost(bench.name)
    results: dict = {"rounds": [], "physical": {}, "deploy": {}}
    community = opts.build == "community"
    with contextlib.ExitStack() as cleanup:
        if community:  # the mirror serves every deploy of the run, removed when it ends
            cleanup.callback(mirror.stop, BENCH_MIRROR)
        data = host_data(opts.build)
        try:
            progress.start("setup", 4)
            testhosts.start(bench)
            progress.step("deploying the project to the bench host (fresh converge)")
            results["deploy"]["single"] = deploytime.single_host(bench, data)
            progress.step("installing the agent")
            host.install_agent()
            hardware = variants.hardware_from_record(host.plan_record())
            variant_list, the_plan = variants.build(hardware)
            keys = variants.all_keys(variant_list)
            # built-in values of every changed parameter and of what the memory check reads
            stock = variants.stock_values(host, sorted(set(keys) | set(budget.INPUTS)))
            writers_max = opts.writers_max or hardware.whole_cpus
            spec = workload.spec_for(opts.events, opts.profiles)
            progress.step(f"generating {spec.events:,} events up front")
            manifest = host.agent(
                "generate",
                "--dir",
                f"{DATA_DIR}/data",
                "--events",
                str(spec.events),
                "--profiles",
                str(spec.profiles),
                "--seed",
                str(spec.seed),
                "--batch-rows",
                str(spec.batch_rows),
            )
            progress.step("measuring the data disk")
            results["physical"]["disk"] = physical.disk_bandwidth(host, opts.dd_megabytes)
            progress.finish()
            variables = schemas.project_variables(spec, the_plan.parameters["shared_buffers"].value)
            params = workload.query_parameters(spec)
            qdefs = {shape: queries.definitions(params, shape) for shape in workload.SHAPES}
            long_qdefs = {
                shape: queries.definitions(params, shape, long=True) for shape in workload.SHAPES
            }
            configs = ingest.configs(writers_max)
            cold_how: set[str] = set()
            cache_left: list[int] = []
            results |= {
                "meta": {
                    "started": started,
                    "build": opts.build,
                    "other_containers_at_start": others,
                    "command": "python -m lab.bench " + shlex.join(opts.argv),
                    "rounds": opts.rounds,
                    "repeat": opts.repeat,
                    "cold_repeat": opts.cold_repeat,
                    "writers_max": writers_max,
                    "workload": manifest,
                    "d_chunk_interval": variables["chunk_interval"],
                    "hardware": {
                        "machine": _machine(),
                        "host_memory": hardware.describe()["memory"],
                        "host_cpus": hardware.cpus,
                        "storage": hardware.storage,
                    },
                    "server_version": host.psql("SELECT version()").split(" on ")[0],
                    "timescaledb": host.psql(
                        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
                        "klaviyo_analytics",
                    ),
                    "license": host.psql("SHOW timescaledb.license", "klaviyo_analytics"),
                    "queries": qdefs["documents"],
                    "queries_project": qdefs["project"],
                    "queries_long": long_qdefs["documents"] if community else [],
                    "variant_switch": "ALTER SYSTEM for every parameter any variant sets, "
                    "then a restart",
                    # for summary.memory_budgets: each variant's config checked like the planner's
                    "budget_inputs": {"memory_bytes": hardware.memory_bytes, "stock": stock},
                },
                "variants": {
                    v.key: {"title": v.title, "schema": v.schema, "config": v.config}
                    for v in variant_list
                },
                "explain": {},
                "answers": {},
                "answers_long": {},
            }
            per_variant = (
                len(configs) * ingest.BLOCKS_PER_CONFIG
                + (len(QUERY_TITLES) + 1) * opts.cold_repeat
                + 2
            )
            if community:  # the 180-day queries twice, around the compression
                per_variant += 2 * ((len(queries.LONG_TITLES) + 1) * opts.cold_repeat + 2) + 1
            progress.start("rounds", opts.rounds * len(variant_list) * per_variant)
            for round_no in range(opts.rounds):
                for v in variant_list:
                    progress.note(f"round {round_no + 1}: {v.key}: config, schema")
                    show = variants.apply(host, v, keys, stock)
                    results["variants"][v.key]["show"] = show
                    schema_s = schemas.create(host, v, variables, community)
                    loads = ingest.load(
                        host, v, spec, ingest.rotated(configs, round_no), progress.step
                    )
                    settle_s = schemas.settle(host, v)
                    aggregates_s = schemas.fill_aggregates(host, v, community)
                    t = time.perf_counter()
                    host.psql("VACUUM ANALYZE", v.db)
                    vacuum_s = time.perf_counter() - t
                    sizes = physical.relation_sizes(host, v.db)
                    vq = qdefs[v.schema]
                    if round_no == 0:
                        results["explain"][v.key] = queries.explain(host, v, vq)
                        results["answers"][v.key] = queries.answers(host, v, vq)
                    progress.step(f"{v.key} warm queries")
                    warm = queries.warm(host, v, vq, opts.repeat)
                    round_trip = warm.pop(queries.ROUND_TRIP, [])
                    progress.step(f"{v.key} cold queries")
                    cold, how, left = queries.cold(
                        host, v, vq, opts.cold_repeat, opts.cold_method, progress.step
                    )
                    cold_floor = cold.pop(queries.COLD_FLOOR, [])
                    cold_how.update(how)
                    cache_left += [b for b in left if b is not None]
                    compressed = (
                        _compressed(
                            host, v, long_qdefs[v.schema], opts, round_no, results, progress
                        )
                        if community
                        else {}
                    )
                    results["rounds"].append(
                        {
                            **compressed,
                            "round": round_no + 1,
                            "variant": v.key,
                            "schema_s": schema_s,
                            "ingest": loads,
                            "settle_s": settle_s,
                            "aggregates_s": aggregates_s,
                            "vacuum_s": vacuum_s,
                            "sizes": sizes,
                            "warm": warm,
                            "round_trip": round_trip,
                            "cold": cold,
                            "cold_floor": cold_floor,
                        }
                    )
                    report.write_json(results, opts.out)
            progress.finish()
            results["meta"]["answers_differ"] = queries.disagreements(results["answers"])
            if community:  # every variant alike, before and after compression
                results["meta"]["answers_long_differ"] = queries.disagreements(
                    {
                        f"{key} {phase}": answers
                        for key, phases in results["answers_long"].items()
                        for phase, answers in phases.items()
                    }
                )
            _physical(results, variant_list, writers_max, hardware.whole_cpus)
            d = variant_list[-1]  # D is the last applied and its data is loaded
            if community:  # the index costs are measured on uncompressed data, as on Apache
                compression.decompress(host, d)
            progress.start("index costs", 19 * opts.rounds + 8)
            results["physical"]["index_costs"] = physical.index_costs(
                host,
                spec,
                variables,
                writers_max,
                d,
                qdefs[d.schema],
                results["explain"]["D"],
                max(3, opts.repeat // 2),
                opts.rounds,
                progress.step,
            )
            progress.finish()
            results["meta"]["cold_cache"] = cold_cache(opts.cold_method, cold_how, cache_left)
            variants.reset(host)
        finally:
            if not opts.keep_host:
                testhosts.remove(bench.name)
        if max(opts.host_counts) > 1:
            progress.start("deploy timing", len(opts.host_counts) + 2)
            results["deploy"]["many"] = deploytime.many_hosts(
                list(opts.host_counts), opts.sandbox_memory, progress.step, data
            )
            progress.finish()
    results["meta"] |= {
        "finished": _now(),
        "seconds": time.monotonic() - began,
        "other_containers_at_end": _other_containers(),
    }
    report.write(results, opts.out)
    print(f"results: {opts.out}/report.md, {opts.out}/results.json", file=sys.stderr)
    return 0


def long_repeat(repeat: int) -> int:
    """Warm samples of a 180-day query per round: a quarter of the short queries' (each reads
    the whole data, hundreds of ms on the documents' schema), still a p95 over the rounds."""
    return max(3, repeat // 4)


def _compressed(host, v, long_queries, opts, round_no: int, results: dict, progress) -> dict:
    """The 180-day queries (warm and cold) before and after compressing everything older
    than 90 days before END; the compression's own figures. The first round also checks
    that compression changes no answer."""
    timed = {}
    for phase in ("before", "after"):
        if phase == "after":
            progress.step(f"{v.key} compressing chunks older than {compression.COMPRESS_AFTER}")
            timed["compression"] = compression.compress(host, v)
        if round_no == 0:
            results["answers_long"].setdefault(v.key, {})[phase] = queries.answers(
                host, v, long_queries
            )
        progress.step(f"{v.key} 180-day queries, warm, {phase} compression")
        warm = queries.warm(host, v, long_queries, long_repeat(opts.repeat))
        warm.pop(queries.ROUND_TRIP, None)
        progress.step(f"{v.key} 180-day queries, cold, {phase} compression")
        cold, _, _ = queries.cold(
            host, v, long_queries, opts.cold_repeat, opts.cold_method, progress.step
        )
        cold.pop(queries.COLD_FLOOR, None)
        timed[f"long_{phase}"] = {"warm": warm, "cold": cold}
    return timed


def _physical(results: dict, variant_list, writers_max: int, cpus: int) -> None:
    """Bytes per row and bounds per variant, from its last round and its COPY x N load."""
    per_row, bounds = {}, {}
    disk = results["physical"]["disk"]["mb_per_s"]
    for v in variant_list:
        last = [r for r in results["rounds"] if r["variant"] == v.key][-1]
        per_row[v.key] = physical.per_row(last["sizes"], last["ingest"])
        copy_all = [
            x for x in last["ingest"] if x["method"] == "copy" and x["writers"] == writers_max
        ]
        bounds[v.key] = physical.bounds(copy_all[0], per_row[v.key], disk, cpus)
    results["physical"] |= {"per_row": per_row, "bounds": bounds}
    results["physical"]["wal_per_row_by_config"] = {
        v.key: {
            f"{x['method']} x{x['writers']}": statistics.mean(
                [
                    y["wal"]["bytes"] / y["rows"]
                    for r in results["rounds"]
                    if r["variant"] == v.key
                    for y in r["ingest"]
                    if (y["method"], y["writers"]) == (x["method"], x["writers"])
                ]
            )
            for x in results["rounds"][0]["ingest"]
        }
        for v in variant_list
    }
