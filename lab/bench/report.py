"""results.json and report.md (and the charts) under the output directory."""

from __future__ import annotations

import json
from pathlib import Path

from . import charts, summary
from .queries import COLD_FLOOR_SQL, LONG_TITLES, QUERY_TITLES

# The row under each query table: summary's floor key and what it timed.
FLOORS = {
    "warm": ("round_trip", "SELECT 1 between the samples"),
    "cold": ("cold_floor", f"a fresh backend's first query, `{COLD_FLOOR_SQL}`"),
}


def write_json(results: dict, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    path.write_text(json.dumps(results, indent=1, sort_keys=True, default=str) + "\n")
    return path


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _ms(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def compression_tables(comp: dict) -> list[str]:
    """The Community build's compression: storage per variant, and the 180-day queries'
    p95 before and after compression (and D/A after)."""
    if not comp:
        return []
    variants = [v for v in summary.VARIANTS if v in comp]
    storage = [
        [
            v,
            f"{comp[v]['bytes_per_event']:,.0f}",
            f"{comp[v]['compressed_bytes_per_event']:,.0f}",
            f"{comp[v]['ratio']:.1f}x",
            f"{comp[v]['bytes_per_event_after']:,.0f}",
            f"{comp[v]['chunks']} ({comp[v]['events_compressed_share']:.0%} of events)",
            f"{comp[v]['chunk_seconds_p50']:.2f} / {comp[v]['chunk_seconds_max']:.2f}",
        ]
        for v in variants
    ]
    parts = [
        "### Compression (Community build): storage",
        _table(
            [
                "variant",
                "bytes/event, uncompressed",
                "bytes/event, compressed chunks",
                "compression ratio",
                "bytes/event after (mixed)",
                "chunks compressed",
                "seconds per chunk (p50 / max)",
            ],
            storage,
        ),  # fmt: skip
    ]
    for mode in ("warm", "cold"):
        rows = []
        for q, title in LONG_TITLES.items():
            cells = [title]
            for v in variants:
                m = comp[v]["long"][q][mode]
                cells.append(f"{_ms(m['before']['p95'])} / {_ms(m['after']['p95'])}")
            if "A" in comp and "D" in comp:
                a, d = comp["A"]["long"][q][mode], comp["D"]["long"][q][mode]
                cells.append(_x(d["after"]["p95"] / a["after"]["p95"]))
            rows.append(cells)
        header = ["180-day query (p95 ms before / after compression)"] + variants
        header += ["D/A after"] if "A" in comp and "D" in comp else []
        parts += [f"### Compression: 180-day queries, {mode} cache", _table(header, rows)]
    return parts


def tables(results: dict, s: dict) -> str:
    """The summary tables alone: ingest, queries, goals (also pasted into reports)."""
    variants = [v for v in summary.VARIANTS if v in s["ingest"]]
    ratios = [k for k in ("C/B", "D/A", "D/B") if k in s["ratios"]]
    labels = list(next(iter(s["ingest"].values())))
    ingest_rows = []
    for label in labels:
        row = [label] + [f"{s['ingest'][v][label]['rows_per_s']:,.0f}" for v in variants]
        row += [_x(s["ratios"][k]["ingest"][label]) for k in ratios]
        shares = [s["ingest"][v][label]["client_cores"] for v in variants]
        row.append(f"{max(shares):.2f} cores")
        ingest_rows.append(row)
    parts = [
        "### Ingest (events rows/s, median over rounds)",
        _table(["config"] + variants + ratios + ["client CPU (max)"], ingest_rows),
    ]
    for mode in ("warm", "cold"):
        rows = []
        for q, title in QUERY_TITLES.items():
            cells = [title]
            for v in variants:
                m = s["queries"][v][q][mode]
                cells.append(f"{_ms(m['p50'])} / {_ms(m['p95'])}")
            cells += [_x(s["ratios"][k]["query_p95"][mode][q]) for k in ratios]
            rows.append(cells)
        floor_key, floor_title = FLOORS[mode]
        floor = s.get(floor_key, {})
        if all(v in floor for v in variants):
            rows.append(
                [f"_floor: {floor_title} (not a goal)_"]
                + [f"{_ms(floor[v]['p50'])} / {_ms(floor[v]['p95'])}" for v in variants]
                + ["" for _ in ratios]
            )
        header = ["query (p50 / p95 ms)"] + variants + [f"{k} p95" for k in ratios]
        parts += [f"### Queries, {mode} cache", _table(header, rows)]
    parts += compression_tables(s.get("compression") or {})
    goal_rows = [
        [g["goal"], g["measured"], "met" if g["met"] else "**NOT met**"] for g in s["goals"]
    ]
    parts += ["### Goals", _table(["goal", "measured", ""], goal_rows)]
    return "\n\n".join(parts) + "\n"


def _meta_section(results: dict) -> str:
    m = results["meta"]
    hw = m["hardware"]
    size = m["workload"]
    return "\n".join(
        [
            f"Run {m['started']} .. {m['finished']} ({m['seconds'] / 60:.0f} min), "
            f"`{m['command']}`.",
            "",
            f"- Machine: {hw['machine']}. Bench host: Debian 13 test host (container running "
            f"systemd), {hw['host_memory']} memory, {hw['host_cpus']} CPUs; {m['server_version']}, "
            f"TimescaleDB {m['timescaledb']} ({m['license']} license).",
            f"- Data disk: {results['physical']['disk']['mb_per_s']:,.0f} MB/s sequential write "
            f"(dd {results['physical']['disk']['flags']}).",
            f"- Workload (seed {size['spec']['seed']}): {size['spec']['events']:,} events over 180 "
            f"days ({size['events_per_day']:,}/day), {size['spec']['profiles']:,} profiles, 50 "
            f"metrics; properties {size['mean_properties_bytes']} B and raw_data "
            f"{size['mean_raw_data_bytes']} B on average; batches of "
            f"{size['spec']['batch_rows']:,} rows (COPY: one batch per transaction; INSERT: 5 "
            "multi-row statements per batch, each its own transaction).",
            f"- {m['rounds']} round(s) of A B C D, interleaved; each variant switch is "
            f"{m['variant_switch']}; warm queries repeated {m['repeat']}x per round after an "
            f"untimed pass, cold {m['cold_repeat']}x per round.",
            *(
                [
                    "- Ingest: a configuration's rate is its blocks' rows over their seconds. "
                    f"The row '{summary.SETTLED}' is each round's whole load with the "
                    "`VACUUM ANALYZE klaviyo_events` run right after it added to its seconds: "
                    "the statistics and visibility map autovacuum had not written yet, which "
                    "the dashboard needs of the new chunks. Stock autovacuum (A) wakes every "
                    "60 s and leaves most of it for after the load; timescaledb-tune's (B) and "
                    "the planner's (C, D) every 10 s, during the load, where it is part of the "
                    "configurations' rates."
                ]
                if all("settle_s" in r for r in results["rounds"])
                else []
            ),
            f"- Cold cache: {m['cold_cache']}",
            "- Other containers on the machine (sharing its CPUs and disk): at start "
            f"{', '.join(m['other_containers_at_start']) or 'none'}; at end "
            f"{', '.join(m['other_containers_at_end']) or 'none'}.",
            f"- D's chunk interval: {m['d_chunk_interval']} (planner/chunks.py for "
            f"{size['events_per_day']:,} events/day); A-C: the documents' 7 days x 4 space "
            "partitions.",
            "- D runs the metric series and the events per metric through its serving "
            "functions (sql/0007: the aggregates, refreshed up to 30 minutes before the end, "
            "plus raw events after), the others the documents' GROUP BY. Answers (every "
            "query's rows, every parameter set, first round): "
            + (
                "identical in every variant."
                if not m.get("answers_differ")
                else "**DIFFER**: " + "; ".join(m["answers_differ"]) + "."
            ),
        ]
    )


def _config_section(results: dict) -> str:
    variants = results["variants"]
    names = sorted({n for v in variants.values() for n in v["show"]})
    rows = [[n] + [variants[k]["show"].get(n, "") for k in summary.VARIANTS] for n in names]
    titles = [f"{k}: {variants[k]['title']}" for k in summary.VARIANTS]
    return "\n".join(titles) + "\n\n" + _table(["parameter"] + list(summary.VARIANTS), rows)


def _physical_section(results: dict) -> str:
    p = results["physical"]
    rows = []
    for v, row in p["per_row"].items():
        b = p["bounds"][v]
        rows.append(
            [
                v,
                f"{row['heap']:.0f}",
                f"{row['all_indexes']:.0f}",
                f"{row['wal']:.0f}",
                f"{row['wal_fpi_per_row']:.2f}",
                f"{b['disk_bound_rows_per_s']:,.0f}",
                f"{b['of_disk_bound']:.0%}",
                f"{b['cpu_bound_rows_per_s']:,.0f}",
                f"{b['of_cpu_bound']:.0%}" if b["of_cpu_bound"] is not None else "-",
            ]
        )
    per_index = []
    for v, row in p["per_row"].items():
        for name, b in row["indexes"].items():
            per_index.append([v, name, f"{b:.0f}"])
    costs = p.get("index_costs")
    parts = [
        f"Bounds for the COPY x{results['meta']['writers_max']} configuration of the last round. "
        "Bytes written per row = WAL + heap + indexes (each row reaches the disk in WAL, then in "
        "its relation at checkpoint). CPU bound = rows per server CPU-second x CPUs the writers "
        "can keep busy (one core per stream).",
        "",
        _table(
            [
                "variant",
                "heap B/row",
                "indexes B/row",
                "WAL B/row",
                "full-page images/row",
                "disk-bound rows/s",
                "reached",
                "CPU-bound rows/s",
                "reached",
            ],
            rows,
        ),
        "",
        "Index sizes per row:",
        "",
        _table(["variant", "index", "B/row"], per_index),
    ]
    if costs:
        rows = []
        for entry in costs["indexes"]:
            gains = "; ".join(
                f"{QUERY_TITLES[q]}: {t['with_ms']:.1f} ms with, {t['without_ms']:.1f} ms without"
                for q, t in entry["queries"].items()
            )
            rows.append(
                [
                    entry["index"],
                    f"{entry['rows_per_s_without']:,.0f}",
                    f"{entry['ingest_gain_without']:+.0%}",
                    gains or "no dashboard query",
                ]
            )
        base = ", ".join(f"{r:,.0f}" for r in costs["baseline_rows_per_s"])
        parts += [
            "",
            f"#### Per-index cost (this project's schema; {costs['slice_rows']:,} events by COPY "
            f"x{costs['writers']}, median of {costs['rounds']} interleaved round(s))",
            "",
            f"With every index: {base} rows/s (at the start and end of each round): differences "
            f"within {costs['noise']:.0%} of the baseline are noise.",
            "",
            _table(
                [
                    "index",
                    "rows/s without it",
                    "ingest without it",
                    "queries that use it (p50 on D's data)",
                ],
                rows,
            ),
            "",
            _table(
                ["the documents' choice, put back into D's schema", "rows/s", "ingest change"],
                [
                    [e["change"], f"{e['rows_per_s']:,.0f}", f"{e['ingest_change']:+.0%}"]
                    for e in costs["documents_extras"]
                ],
            ),
        ]
        parts += _ceilings(results, costs)
    return "\n".join(parts)


def _ceilings(results: dict, costs: dict) -> list[str]:
    """What index choices alone allow D's ingest, and that against A: the slice's change over
    every index times D/A of the full load at the same writer count (the slice runs on D's
    config, A on stock, so this is an estimate and says so)."""
    if not costs.get("ceilings"):
        return []
    label = f"copy x{costs['writers']}"
    d_over_a = (
        results.get("summary", {}).get("ratios", {}).get("D/A", {}).get("ingest", {}).get(label)
    )
    rows = [
        [
            c["indexes"],
            ", ".join(c["dropped"]) or "-",
            f"{c['rows_per_s']:,.0f}",
            f"{c['ingest_change']:+.0%}",
            _x(d_over_a * (1 + c["ingest_change"])) if d_over_a else "-",
        ]
        for c in costs["ceilings"]
    ]
    header = ["D's events with", "dropped", "rows/s", "against every index", "D/A, estimated"]
    return [
        "",
        f"#### Ingest ceilings: how far index choices alone take D (same slice and rounds; "
        f"D/A estimated as the {label} D/A of the full load, "
        f"{_x(d_over_a) + 'x' if d_over_a else '-'}, times this change)",
        "",
        _table(header, rows),
    ]


def _totals(totals: dict | None) -> str:
    """pyinfra's --json totals: 'success' counts operations that changed something."""
    if not totals:
        return "-"
    return f"{totals['success']} changed, {totals['no_change']} unchanged, {totals['error']} errors"


# issue 16's goals for a no-change run: commands on one host, and 8 hosts against 1
GOAL_NO_CHANGE_COMMANDS = 15
GOAL_MANY_HOSTS_RATIO = 2.0


def deploy_goals(d: dict) -> list[str]:
    """Each goal, met or missed, with its measurement."""
    lines = []
    counted = d["single"]["no_change_debug"]["commands"]
    total = counted["exec"] + counted["cp"]
    met = "met" if total <= GOAL_NO_CHANGE_COMMANDS else "missed"
    lines.append(f"- No-change run of one host: {total} commands, goal at most "
                 f"{GOAL_NO_CHANGE_COMMANDS}: {met}.")  # fmt: skip
    runs = (d.get("many") or {}).get("no_change") or {}
    runs = {int(n): r for n, r in runs.items()}
    if 1 in runs and len(runs) > 1:
        most = max(runs)
        ratio = runs[most]["seconds"] / runs[1]["seconds"]
        met = "met" if ratio <= GOAL_MANY_HOSTS_RATIO else "missed"
        lines.append(
            f"- No-change run of {most} hosts at once: {runs[most]['seconds']:.1f} s against "
            f"{runs[1]['seconds']:.1f} s for one of them, {ratio:.2f}x, goal at most "
            f"{GOAL_MANY_HOSTS_RATIO:g}x: {met}."
        )
    return lines


def _deploy_section(results: dict) -> str:
    d = results["deploy"]
    single = d["single"]
    rows = [
        [
            "fresh converge, 1 host",
            f"{single['fresh']['seconds']:.1f}",
            _totals(single["fresh"]["totals"]),
        ],
        [
            "no-change run, 1 host",
            f"{single['no_change']['seconds']:.1f}",
            _totals(single["no_change"]["totals"]),
        ],
    ]
    many = d.get("many")
    if many:
        rows.append(
            [
                f"fresh converge, {many['converge_all']['hosts']} hosts at once",
                f"{many['converge_all']['seconds']:.1f}",
                _totals(many["converge_all"]["totals"]),
            ]
        )
        for n, run in many["no_change"].items():
            rows.append(
                [
                    f"no-change run, {n} host(s) at once",
                    f"{run['seconds']:.1f}",
                    _totals(run["totals"]),
                ]
            )
    counted = single["no_change_debug"]["commands"]
    return "\n".join(
        [
            _table(["run", "wall seconds", "operations (pyinfra --json totals)"], rows),
            "",
            f"Commands pyinfra executed on a no-change run of one host: {counted['exec']} "
            f"(`docker exec`: facts and operation commands) + {counted['cp']} uploads "
            "(`docker cp`).",
            "",
            *deploy_goals(d),
        ]
    )


def write_deploy(results: dict, out: Path) -> Path:
    """A deploy-only run (--deploy-only): deploy.json and deploy.md."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "deploy.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    path = out / "deploy.md"
    path.write_text(
        "# Deploy timing\n\n"
        f"Host data: {results['meta']['build']} build; measured {results['meta']['finished']}."
        "\n\n" + _deploy_section(results) + "\n"
    )
    return path


def markdown(results: dict, s: dict, pngs: list[str]) -> str:
    other = results["rounds"]
    phases = [
        [
            r["round"],
            r["variant"],
            f"{r['schema_s']:.1f}",
            f"{r['aggregates_s']:.1f}",
            f"{r['vacuum_s']:.1f}",
            r["sizes"]["chunks"],
            f"{r['sizes']['total_bytes'] / 2**20:,.0f}",
        ]
        for r in other
    ]
    sections = [
        "# Benchmark: the documents' database vs this project's (variants A-D)",
        _meta_section(results),
        "## Variants and the parameters they ran with",
        _config_section(results),
        "## Summary",
        tables(results, s),
        "## Physical limits",
        _physical_section(results),
        "## Indexes each query's plans use (auto_explain, nested statements too; first round)",
        _table(
            ["query"] + list(results["explain"]),
            [
                [QUERY_TITLES[q]]
                + [", ".join(results["explain"][v][q]) or "(none)" for v in results["explain"]]
                for q in QUERY_TITLES
            ],
        ),
        "## Other phases (seconds)",
        _table(
            [
                "round",
                "variant",
                "schema s",
                "aggregates fill s",
                "VACUUM ANALYZE s",
                "events chunks",
                "events MiB",
            ],
            phases,
        ),
        "## The deploy",
        _deploy_section(results),
    ]
    if pngs:
        sections += ["## Charts", "\n".join(f"![{p}]({p})" for p in pngs)]
    return "\n\n".join(sections) + "\n"


def write(results: dict, out: Path) -> dict:
    """results.json (with the summary), the charts and report.md; returns the summary."""
    s = summary.summarise(results)
    results["summary"] = s
    write_json(results, out)
    if "finished" not in results["meta"]:  # a run that stopped: what it measured, no more
        m = results["meta"]
        rounds = ", ".join(f"{r['variant']}{r['round']}" for r in results["rounds"])
        head = (
            f"# Benchmark: partial run\n\nStarted {m['started']}, `{m['command']}`; it stopped "
            f"before the end. Complete variant rounds: {rounds}. The sections measured after "
            "the rounds (index costs, multi-host deploys, charts) are missing.\n\n"
        )
        (out / "report.md").write_text(head + tables(results, s))
        return s
    pngs = charts.draw(results, s, out)
    (out / "report.md").write_text(markdown(results, s, pngs))
    (out / "summary.md").write_text(tables(results, s))
    return s
