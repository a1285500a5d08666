"""From the raw measurements of every round to per-variant numbers, ratios and goal checks.

Pure: works on the results dict alone, so a saved results.json can be summarised again.
"""

from __future__ import annotations

import math
import statistics

from tsdb_deploy.planner import budget
from tsdb_deploy.planner.parameters import lookup
from tsdb_deploy.units import format_size

VARIANTS = ("A", "B", "C", "D")
RATIOS = (("C", "B"), ("D", "A"), ("D", "B"))
NOISE_FLOOR = 0.05  # differences under 5% are never called a loss
D_VS_A_QUERY = 0.4  # p95 at least 60% lower
D_VS_A_INGEST = 2.0
D_COMPRESSED_VS_A = 10.0  # D's compressed bytes per event at least 10x under A's uncompressed
# The whole load (every configuration's blocks) plus the VACUUM ANALYZE it leaves
# (schemas.settle): stock config defers its autovacuum past the load, the planner's runs it
# during the load, so only this row charges every variant for the same work.
SETTLED = "whole load + its VACUUM ANALYZE"


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _spread(per_round: list[float]) -> float:
    """Relative spread of one measurement over rounds: (max - min) / median."""
    if len(per_round) < 2:
        return 0.0
    mid = statistics.median(per_round)
    return (max(per_round) - min(per_round)) / mid if mid else 0.0


def _settled(run: dict) -> dict:
    """One round's whole load as one measurement, its settle seconds added."""
    loads = run["ingest"]
    rows = sum(x["rows"] for x in loads)
    seconds = sum(x["seconds"] for x in loads) + run["settle_s"]
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        **{k: sum(x[k] for x in loads) for k in ("client_cpu_s", "server_cpu_s")},
    }


def ingest(results: dict) -> dict:
    """variant -> config label -> median rows/s over rounds, CPU use, per-round rates; and
    SETTLED where the rounds recorded settle_s (results.json of runs before it did not)."""
    out: dict = {}
    for run in results["rounds"]:
        for load in run["ingest"]:
            label = f"{load['method']} x{load['writers']}"
            out.setdefault(run["variant"], {}).setdefault(label, []).append(load)
    if all("settle_s" in run for run in results["rounds"]):
        for run in results["rounds"]:
            out[run["variant"]].setdefault(SETTLED, []).append(_settled(run))
    summary = {}
    for variant, configs in out.items():
        summary[variant] = {}
        for label, loads in configs.items():
            seconds = sum(x["seconds"] for x in loads)
            client, server = (sum(x[k] for x in loads) for k in ("client_cpu_s", "server_cpu_s"))
            rates = [x["rows_per_s"] for x in loads]
            summary[variant][label] = {
                "rows_per_s": statistics.median(rates),
                "per_round": rates,
                "spread": _spread(rates),
                "client_cores": client / seconds,
                "server_cores": server / seconds,
                "client_share": client / (client + server) if client + server else 0.0,
            }
    return summary


def queries(results: dict) -> dict:
    """variant -> query -> {warm, cold} -> p50, p95 over all rounds' samples, and the p95 of
    each round (for the noise estimate)."""
    out: dict = {}
    for run in results["rounds"]:
        for mode in ("warm", "cold"):
            for name, samples in run[mode].items():
                slot = out.setdefault(run["variant"], {}).setdefault(name, {})
                entry = slot.setdefault(mode, {"samples": [], "round_p95": []})
                entry["samples"] += samples
                entry["round_p95"].append(percentile(samples, 0.95))
    for per_query in out.values():
        for modes in per_query.values():
            for entry in modes.values():
                samples = entry.pop("samples")
                entry |= {
                    "n": len(samples),
                    "p50": percentile(samples, 0.5),
                    "p95": percentile(samples, 0.95),
                    "spread": _spread(entry["round_p95"]),
                }
    return out


def floor(results: dict, key: str) -> dict:
    """variant -> p50, p95 of a floor timed beside the queries, not a goal: "round_trip"
    (SELECT 1 between the warm samples: client, protocol, executor start) or "cold_floor"
    (queries.COLD_FLOOR: a fresh backend's first query on a one-page table)."""
    samples: dict = {}
    for run in results["rounds"]:
        samples.setdefault(run["variant"], []).extend(run.get(key, []))
    return {
        v: {"p50": percentile(x, 0.5), "p95": percentile(x, 0.95), "n": len(x)}
        for v, x in samples.items()
        if x
    }


def memory_budgets(results: dict) -> dict:
    """variant -> the planner's worst-case memory check (planner/budget.py) of the config it
    ran, against the bench host's memory: the check timescaledb-tune does not make. Each of
    budget.INPUTS is the variant's value or else the server's built-in one; needs
    meta.budget_inputs (memory_bytes, and the built-in values by parameter)."""
    inputs = results["meta"].get("budget_inputs")
    if not inputs:
        return {}
    out = {}
    for key, variant in results["variants"].items():
        values = {
            name: lookup(name).parse(variant["config"].get(name, inputs["stock"][name]))
            for name in budget.INPUTS
        }
        out[key] = budget.compute(inputs["memory_bytes"], values).describe()
    return out


def ratios(ingest_s: dict, query_s: dict) -> dict:
    """'C/B' etc. -> ingest per config (rows/s ratio) and query p95 per mode (ms ratio)."""
    out = {}
    for num, den in RATIOS:
        if num not in ingest_s or den not in ingest_s:
            continue
        key = f"{num}/{den}"
        out[key] = {
            "ingest": {
                label: ingest_s[num][label]["rows_per_s"] / ingest_s[den][label]["rows_per_s"]
                for label in ingest_s[num]
            },
            "query_p95": {
                mode: {
                    q: query_s[num][q][mode]["p95"] / query_s[den][q][mode]["p95"]
                    for q in query_s[num]
                }
                for mode in ("warm", "cold")
            },
        }
    return out


def goals(
    ingest_s: dict, query_s: dict, ratio: dict, writers_max: int, budgets: dict | None = None
) -> list[dict]:
    """Each goal with its measurement and met/not met."""
    checks = []
    for key, label in (("C", "planner"), ("B", "timescaledb-tune")):
        if key in (budgets or {}):
            b = budgets[key]
            worst = f"{format_size(b['worst_case_total'])} of {format_size(b['memory_limit'])}"
            checks.append(
                {
                    "goal": f"{key} ({label}): worst-case memory fits the host (planner's "
                    "budget check)" + ("" if key == "C" else "; not a goal, for comparison"),
                    "measured": worst
                    + ("" if b["fits"] else f", over by {format_size(-b['free'])}"),
                    "ratio": b["worst_case_total"] / b["memory_limit"],
                    "met": b["fits"],
                }
            )
    path = f"copy x{writers_max}"  # D's ingest path: COPY from all writers
    d_a = ratio.get("D/A")
    if d_a:
        for mode in ("warm", "cold"):
            for q, r in d_a["query_p95"][mode].items():
                checks.append(
                    {
                        "goal": f"D vs A: {q} p95 ({mode}) at least 60% lower",
                        "measured": f"D/A = {r:.2f} ("
                        + (f"{1 - r:.0%} lower" if r <= 1 else f"{r - 1:.0%} higher")
                        + ")",
                        "ratio": r,
                        "met": r <= D_VS_A_QUERY,
                    }
                )
        for label, r in d_a["ingest"].items():
            checks.append(
                {
                    "goal": f"D vs A: ingest {label} at least 2x"
                    + (" (D's ingest path)" if label == path else ""),
                    "measured": f"D/A = {r:.2f}x",
                    "ratio": r,
                    "met": r >= D_VS_A_INGEST,
                }
            )
        # The two ingest paths side by side: this project's (COPY from every writer) against
        # the documents' repositories, which insert (multi-row INSERT from as many writers).
        r = (
            ingest_s["D"][path]["rows_per_s"]
            / ingest_s["A"][f"insert x{writers_max}"]["rows_per_s"]
        )
        checks.append(
            {
                "goal": f"D vs A, path against path: D's {path} over A's insert x{writers_max} at "
                "least 2x",
                "measured": f"{r:.2f}x",
                "ratio": r,
                "met": r >= D_VS_A_INGEST,
            }
        )
    c_b = ratio.get("C/B")
    if c_b:
        for label, r in c_b["ingest"].items():
            noise = max(NOISE_FLOOR, ingest_s["B"][label]["spread"], ingest_s["C"][label]["spread"])
            checks.append(
                {
                    "goal": f"C vs B: ingest {label} not lower beyond noise ({noise:.0%})",
                    "measured": f"C/B = {r:.2f}x",
                    "ratio": r,
                    "met": r >= 1 - noise,
                }
            )
        for mode in ("warm", "cold"):
            for q, r in c_b["query_p95"][mode].items():
                noise = max(
                    NOISE_FLOOR, query_s["B"][q][mode]["spread"], query_s["C"][q][mode]["spread"]
                )
                checks.append(
                    {
                        "goal": f"C vs B: {q} p95 ({mode}) not higher beyond noise ({noise:.0%})",
                        "measured": f"C/B = {r:.2f}",
                        "ratio": r,
                        "met": r <= 1 + noise,
                    }
                )
    return checks


def compression(results: dict) -> dict:
    """Community build: per variant, bytes per event before compression and of the compressed
    chunks, the compression ratio, seconds per chunk; the 180-day queries' p95 before and
    after compression (with the rounds' spread, for noise). {} when no round compressed."""
    per_variant: dict = {}
    for run in results["rounds"]:
        if "compression" not in run:
            continue
        slot = per_variant.setdefault(run["variant"], {"runs": [], "long": {}})
        slot["runs"].append(run["compression"])
        for phase in ("before", "after"):
            for mode, timings in run[f"long_{phase}"].items():
                for q, samples in timings.items():
                    entry = (
                        slot["long"]
                        .setdefault(q, {})
                        .setdefault(mode, {})
                        .setdefault(phase, {"samples": [], "round_p95": []})
                    )
                    entry["samples"] += samples
                    entry["round_p95"].append(percentile(samples, 0.95))
    out = {}
    for variant, slot in per_variant.items():
        runs = slot["runs"]
        seconds = [s for c in runs for s in c["chunk_seconds"]]
        out[variant] = {
            "bytes_per_event": statistics.median(c["bytes_before"] / c["events"] for c in runs),
            "bytes_per_event_after": statistics.median(
                c["bytes_after"] / c["events"] for c in runs
            ),
            "compressed_bytes_per_event": statistics.median(
                c["compressed_after"] / c["events_compressed"] for c in runs
            ),
            "ratio": statistics.median(
                c["compressed_before"] / c["compressed_after"] for c in runs
            ),
            "chunks": runs[-1]["chunks"],
            "chunk_seconds_p50": percentile(seconds, 0.5),
            "chunk_seconds_max": max(seconds) if seconds else math.nan,
            "events_compressed_share": statistics.median(
                c["events_compressed"] / c["events"] for c in runs
            ),
            "long": {
                q: {
                    mode: {
                        phase: {
                            "p95": percentile(e["samples"], 0.95),
                            "spread": _spread(e["round_p95"]),
                            "n": len(e["samples"]),
                        }
                        for phase, e in phases.items()
                    }
                    for mode, phases in modes.items()
                }
                for q, modes in slot["long"].items()
            },
        }
    return out


def compression_goals(comp: dict) -> list[dict]:
    """D's compressed storage against A's uncompressed; no 180-day query slower after
    compression beyond noise, on any variant; D/A at least 60% lower after compression."""
    if not comp:
        return []
    checks = []
    if "A" in comp and "D" in comp:
        r = comp["A"]["bytes_per_event"] / comp["D"]["compressed_bytes_per_event"]
        checks.append(
            {
                "goal": "D's compressed storage per event at least 10x smaller than A's "
                "uncompressed",
                "measured": f"{comp['A']['bytes_per_event']:,.0f} / "
                f"{comp['D']['compressed_bytes_per_event']:,.0f} bytes = {r:.1f}x",
                "ratio": r,
                "met": r >= D_COMPRESSED_VS_A,
            }
        )
    for variant in VARIANTS:
        for q, modes in comp.get(variant, {}).get("long", {}).items():
            for mode, phases in modes.items():
                before, after = phases["before"], phases["after"]
                r = after["p95"] / before["p95"]
                noise = max(NOISE_FLOOR, before["spread"], after["spread"])
                checks.append(
                    {
                        "goal": f"{variant}: {q} p95 ({mode}) not higher after compression "
                        f"beyond noise ({noise:.0%})",
                        "measured": f"after/before = {r:.2f}",
                        "ratio": r,
                        "met": r <= 1 + noise,
                    }
                )
    if "A" in comp and "D" in comp:
        for q, modes in comp["D"]["long"].items():
            for mode in modes:
                r = (
                    comp["D"]["long"][q][mode]["after"]["p95"]
                    / (comp["A"]["long"][q][mode]["after"]["p95"])
                )
                checks.append(
                    {
                        "goal": f"D vs A after compression: {q} p95 ({mode}) at least 60% lower",
                        "measured": f"D/A = {r:.2f}",
                        "ratio": r,
                        "met": r <= D_VS_A_QUERY,
                    }
                )
    return checks


def summarise(results: dict) -> dict:
    ingest_s = ingest(results)
    query_s = queries(results)
    ratio = ratios(ingest_s, query_s)
    budgets = memory_budgets(results)
    comp = compression(results)
    return {
        "compression": comp,
        "ingest": ingest_s,
        "queries": query_s,
        "round_trip": floor(results, "round_trip"),
        "cold_floor": floor(results, "cold_floor"),
        "ratios": ratio,
        "memory_budgets": budgets,
        "goals": goals(ingest_s, query_s, ratio, results["meta"]["writers_max"], budgets)
        + compression_goals(comp),
    }
