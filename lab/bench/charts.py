"""PNG charts: ingest by variant and writers, query p95 by variant, deploy time by host count.

matplotlib is the optional `bench` extra: without it the report is written without charts and
says so.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from .queries import QUERY_TITLES
from .summary import VARIANTS

COLORS = {"A": "#9e9e9e", "B": "#f2a541", "C": "#4a90d9", "D": "#2e7d32"}


def _grouped(ax, groups: list[str], series: dict[str, list[float]]) -> None:
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        ax.bar(xs, values, width, label=name, color=COLORS.get(name[:1]))
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.grid(axis="y", alpha=0.3)


def draw(results: dict, s: dict, out: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    variants = [v for v in VARIANTS if v in s["ingest"]]
    titles = {v: f"{v}: {results['variants'][v]['title']}" for v in variants}
    size = results["meta"]["workload"]["spec"]["events"]
    files = []

    labels = list(s["ingest"][variants[0]])
    fig, ax = plt.subplots(figsize=(10, 5.5))
    _grouped(
        ax, labels, {titles[v]: [s["ingest"][v][c]["rows_per_s"] for c in labels] for v in variants}
    )
    ax.set_ylabel("events ingested per second")
    ax.set_xlabel("method x concurrent writers")
    ax.set_title(f"Ingest by variant and writers ({size:,} events, median over rounds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "ingest.png", dpi=110)
    plt.close(fig)
    files.append("ingest.png")

    fig, axes = plt.subplots(2, 1, figsize=(12, 9))
    names = list(QUERY_TITLES)
    short = [textwrap.fill(QUERY_TITLES[q], 18) for q in names]
    for ax, mode in zip(axes, ("warm", "cold"), strict=True):
        _grouped(
            ax,
            short,
            {titles[v]: [s["queries"][v][q][mode]["p95"] for q in names] for v in variants},
        )
        ax.set_yscale("log")
        ax.set_ylabel("p95 ms (log scale)")
        ax.set_title(f"Query p95, {mode} cache")
        ax.tick_params(axis="x", labelsize=8)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "query_p95.png", dpi=110)
    plt.close(fig)
    files.append("query_p95.png")

    deploy = results["deploy"]
    counts = {1: deploy["single"]["no_change"]["seconds"]}
    if deploy.get("many"):
        counts |= {int(n): r["seconds"] for n, r in deploy["many"]["no_change"].items()}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    bars = {
        "fresh converge": deploy["single"]["fresh"]["seconds"],
        "no-change run": deploy["single"]["no_change"]["seconds"],
    }
    left.bar(list(bars), list(bars.values()), color=["#4a90d9", "#2e7d32"])
    left.set_ylabel("wall seconds")
    left.set_title("One host")
    left.grid(axis="y", alpha=0.3)
    hosts = sorted(counts)
    right.plot(hosts, [counts[n] for n in hosts], marker="o", color="#2e7d32")
    right.set_xticks(hosts)
    right.set_xlabel("hosts in one pyinfra run")
    right.set_ylabel("wall seconds")
    right.set_ylim(bottom=0)
    right.set_title("No-change run by host count")
    right.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "deploy.png", dpi=110)
    plt.close(fig)
    files.append("deploy.png")
    return files
