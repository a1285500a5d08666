"""The benchmark end to end at a tiny size: every phase runs and the report is well formed.

Numbers are not asserted (thousands of rows measure nothing); only that each measurement is
there. Its own bench host, removed by the benchmark itself, also on failure.
"""

from __future__ import annotations

import json

from lab import testhosts
from lab.bench import main
from lab.bench.queries import LONG_TITLES, QUERY_TITLES
from lab.bench.summary import SETTLED, VARIANTS

HOST = "tsdb-bench-it"


def test_tiny_benchmark_writes_a_complete_report(tmp_path):
    try:
        code = main(["--tiny", "--out", str(tmp_path), "--host-name", HOST])
    finally:
        testhosts.remove(HOST)
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    summary = results["summary"]
    assert set(summary["ingest"]) == set(VARIANTS)
    for variant in VARIANTS:
        assert set(summary["ingest"][variant]) == {
            "copy x1", "copy x2", "insert x1", "insert x2", SETTLED
        }  # fmt: skip
        for load in summary["ingest"][variant].values():
            assert load["rows_per_s"] > 0 and load["client_share"] < 1
        for q in QUERY_TITLES:
            for mode in ("warm", "cold"):
                assert summary["queries"][variant][q][mode]["n"] >= 1
        assert summary["cold_floor"][variant]["n"] >= 1
        assert results["variants"][variant]["show"]["fsync"] == "on"
        assert results["variants"][variant]["show"]["synchronous_commit"] == "on"
    # Every variant answers every query alike, whatever SQL it runs (D: served functions and
    # the campaign_id column; the others: the documents' GROUP BY and properties @>).
    assert results["meta"]["answers_differ"] == []
    assert all(r["settle_s"] > 0 for r in results["rounds"])  # the VACUUM ANALYZE after a load
    assert set(summary["ratios"]) == {"C/B", "D/A", "D/B"}
    assert summary["goals"]
    physical = results["physical"]
    assert physical["disk"]["mb_per_s"] > 0
    assert set(physical["per_row"]) == set(VARIANTS)
    assert physical["per_row"]["D"]["wal"] > 0
    assert physical["index_costs"]["indexes"]
    ceilings = physical["index_costs"]["ceilings"]
    assert [len(c["dropped"]) for c in ceilings] == sorted(len(c["dropped"]) for c in ceilings)
    assert all(c["rows_per_s"] > 0 for c in ceilings)
    assert "klaviyo_events_pkey" in ceilings[-1]["dropped"]
    # the Community build (the default): compressed chunks, the same answers before and after
    assert results["meta"]["build"] == "community" and results["meta"]["license"] == "timescale"
    assert results["meta"]["answers_long_differ"] == []
    for run in results["rounds"]:
        compressed = run["compression"]
        assert compressed["chunks"] > 0 and len(compressed["chunk_seconds"]) == compressed["chunks"]
        assert 0 < compressed["compressed_after"] < compressed["compressed_before"]
        assert 0 < compressed["events_compressed"] < compressed["events"]
        for phase in ("before", "after"):
            for mode in ("warm", "cold"):
                assert set(run[f"long_{phase}"][mode]) == set(LONG_TITLES)
    assert set(summary["compression"]) == set(VARIANTS)
    deploy = results["deploy"]["single"]
    assert deploy["no_change"]["totals"]["success"] == 0
    assert deploy["no_change_debug"]["commands"]["exec"] > 0
    report = (tmp_path / "report.md").read_text()
    for heading in ("### Ingest", "### Queries, warm cache", "### Queries, cold cache",
                    "### Compression (Community build): storage", "### Goals",
                    "## Physical limits", "## The deploy"):  # fmt: skip
        assert heading in report
    for png in ("ingest.png", "query_p95.png", "deploy.png"):
        if f"![{png}]" in report:
            assert (tmp_path / png).stat().st_size > 1000
