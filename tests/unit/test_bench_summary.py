"""From raw rounds to medians, percentiles, ratios, goal checks and a well-formed report."""

import json

import pytest

from lab.bench import report, summary
from lab.bench.queries import LONG_TITLES, QUERY_TITLES

SPEED = {"A": 1.0, "B": 1.5, "C": 1.6, "D": 4.0}  # ingest rate multiples
LATENCY = {"A": 10.0, "B": 8.0, "C": 7.9, "D": 2.0}  # query ms


def _load(variant, method, writers, round_no):
    rate = 1000 * SPEED[variant] * writers * (1 + 0.01 * round_no)
    rows = 10_000
    return {
        "method": method, "writers": writers, "rows": rows, "seconds": rows / rate,
        "rows_per_s": rate, "client_cpu_s": 0.1, "server_cpu_s": rows / rate,
        "wal": {"lsn": 2_000_000, "records": 10_000, "fpi": 100, "bytes": 2_000_000},
    }  # fmt: skip


def synthetic_results(rounds=2):
    runs = []
    for r in range(rounds):
        for v in summary.VARIANTS:
            samples = [LATENCY[v] * (1 + i / 20) for i in range(20)]
            runs.append({
                "round": r + 1, "variant": v, "schema_s": 1.0, "aggregates_s": 2.0,
                "vacuum_s": 3.0,
                "ingest": [_load(v, m, w, r) for m in ("copy", "insert") for w in (1, 2)],
                "sizes": {"rows": 40_000, "chunks": 4, "table_bytes": 8e6, "toast_bytes": 0,
                          "index_bytes": 4e6, "total_bytes": 12e6,
                          "indexes": {"klaviyo_events_pkey": 2e6, "idx_x": 2e6}},
                "warm": {q: samples for q in QUERY_TITLES},
                "round_trip": [0.1 + i / 100 for i in range(20)],
                "cold": {q: [x * 5 for x in samples[:3]] for q in QUERY_TITLES},
                "cold_floor": [6.0, 7.0, 8.0],
            })  # fmt: skip
    show = {"shared_buffers": "2GB", "fsync": "on"}
    single = {
        "seconds": 10.0,
        "totals": {"success": 0, "no_change": 20, "error": 0},
        "commands": None,
    }
    return {
        "meta": {
            "started": "s", "finished": "f", "seconds": 600, "command": "python -m x",
            "rounds": rounds, "repeat": 20, "cold_repeat": 3, "writers_max": 2,
            "workload": {"spec": {"seed": 1, "events": 40_000, "profiles": 10,
                                  "batch_rows": 500},
                         "events_per_day": 222, "mean_properties_bytes": 250,
                         "mean_raw_data_bytes": 350},
            "hardware": {"machine": "2 CPUs", "host_memory": "8.0 GiB", "host_cpus": 2},
            "server_version": "PostgreSQL 17", "timescaledb": "2.19.3", "license": "apache",
            "cold_cache": "restart", "d_chunk_interval": "30 days", "variant_switch": "ALTER",
            "other_containers_at_start": [], "other_containers_at_end": ["x"],
        },
        "variants": {v: {"title": f"variant {v}", "show": show} for v in summary.VARIANTS},
        "rounds": runs,
        "explain": {v: {q: ["idx_x"] for q in QUERY_TITLES} for v in summary.VARIANTS},
        "physical": {
            "disk": {"mb_per_s": 500.0, "flags": "oflag=direct"},
            "per_row": {v: {"heap": 200, "indexes": {"idx_x": 50}, "all_indexes": 100,
                            "wal": 200, "wal_fpi_per_row": 0.01} for v in summary.VARIANTS},
            "bounds": {v: {"disk_bound_rows_per_s": 1e6, "of_disk_bound": 0.01,
                           "cpu_bound_rows_per_s": 2e4, "of_cpu_bound": 0.5}
                       for v in summary.VARIANTS},
            "index_costs": {
                "slice_rows": 1000, "writers": 2, "baseline_rows_per_s": [100.0, 110.0],
                "rounds": 1, "noise": 0.1,
                "indexes": [{"index": "idx_x", "rows_per_s_without": 150.0,
                             "ingest_gain_without": 0.43,
                             "queries": {"series_hour_30d": {"with_ms": 1.0,
                                                             "without_ms": 9.0}}}],
                "documents_extras": [{"change": "covering", "rows_per_s": 80.0,
                                      "ingest_change": -0.24}],
                "ceilings": [{"indexes": "the primary key only", "dropped": ["idx_x", "idx_y"],
                              "rows_per_s": 150.0, "per_round": [150.0],
                              "ingest_change": 0.43}],
            },
        },
        "deploy": {"single": {"fresh": single, "no_change": single,
                              "no_change_debug": {**single, "commands": {"exec": 40, "cp": 2}}},
                   "many": {"converge_all": {**single, "hosts": 8},
                            "no_change": {1: single, 4: single, 8: single}}},
    }  # fmt: skip


def test_percentile_interpolates_between_ranks():
    assert summary.percentile([1, 2, 3, 4], 0.5) == 2.5
    assert summary.percentile(list(range(101)), 0.95) == 95
    assert summary.percentile([7], 0.95) == 7


def test_medians_ratios_and_goals():
    s = summary.summarise(synthetic_results())
    assert s["ingest"]["D"]["copy x2"]["rows_per_s"] == pytest.approx(8000 * 1.005)
    assert s["ratios"]["D/A"]["ingest"]["copy x1"] == pytest.approx(4.0)
    assert s["ratios"]["C/B"]["query_p95"]["warm"]["series_hour_30d"] == pytest.approx(7.9 / 8)
    goals = {g["goal"]: g["met"] for g in s["goals"]}
    assert goals["D vs A: ingest copy x2 at least 2x (D's ingest path)"]
    assert goals["D vs A: profile_timeline p95 (warm) at least 60% lower"]  # 2 vs 10 ms
    assert all(met for goal, met in goals.items() if goal.startswith("C vs B"))


def test_the_settled_row_charges_each_round_its_vacuum(tmp_path):
    """A's deferred autovacuum lands in its settle: the row that adds it can turn a win
    on the configurations' rates into a smaller one."""
    results = synthetic_results()
    settle = {"A": 40.0, "B": 1.0, "C": 1.0, "D": 1.0}
    for run in results["rounds"]:
        run["settle_s"] = settle[run["variant"]]
    s = summary.summarise(results)
    for variant in ("A", "D"):
        first = next(r for r in results["rounds"] if r["variant"] == variant)
        rows = sum(x["rows"] for x in first["ingest"])
        seconds = sum(x["seconds"] for x in first["ingest"]) + settle[variant]
        settled = s["ingest"][variant][summary.SETTLED]
        assert settled["per_round"][0] == pytest.approx(rows / seconds)
    ratio = s["ratios"]["D/A"]["ingest"][summary.SETTLED]
    assert ratio > s["ratios"]["D/A"]["ingest"]["copy x2"]  # A paid 40 s more
    goals = {g["goal"]: g for g in s["goals"]}
    assert goals[f"D vs A: ingest {summary.SETTLED} at least 2x"]["ratio"] == ratio
    report.write(results, tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert f"| {summary.SETTLED} |" in text
    assert "`VACUUM ANALYZE klaviyo_events` run right after it" in text  # how it was taken


def test_results_without_settle_seconds_have_no_settled_row():
    """results.json of runs before settle_s was recorded are summarised as they were."""
    s = summary.summarise(synthetic_results())
    assert summary.SETTLED not in s["ingest"]["A"]
    assert not any(summary.SETTLED in g["goal"] for g in s["goals"])


def test_a_loss_beyond_noise_is_reported():
    results = synthetic_results()
    for run in results["rounds"]:
        if run["variant"] == "C":
            run["warm"]["profile_timeline"] = [x * 2 for x in run["warm"]["profile_timeline"]]
    goals = {g["goal"]: g for g in summary.summarise(results)["goals"]}
    lost = goals["C vs B: profile_timeline p95 (warm) not higher beyond noise (5%)"]
    assert not lost["met"] and lost["ratio"] > 1.9


def test_report_files_are_well_formed(tmp_path):
    results = synthetic_results()
    report.write(results, tmp_path)
    data = json.loads((tmp_path / "results.json").read_text())
    assert set(data["summary"]) == {
        "compression",
        "ingest",
        "queries",
        "round_trip",
        "cold_floor",
        "ratios",
        "memory_budgets",
        "goals",
    }
    text = (tmp_path / "report.md").read_text()
    for heading in ("## Summary", "### Ingest", "### Queries, warm cache", "### Goals",
                    "## Physical limits", "#### Per-index cost", "## The deploy"):  # fmt: skip
        assert heading in text
    for line in text.splitlines():
        if line.startswith("|"):
            assert line.endswith("|"), line
    assert (tmp_path / "summary.md").read_text() in text
    # the ceiling's D/A: the full load's copy x2 D/A (4.0) times the slice's change (+43%)
    assert "the copy x2 D/A of the full load, 4.00x, times this change" in text
    assert "| the primary key only | idx_x, idx_y | 150 | +43% | 5.72 |" in text
    # The floor row: SELECT 1's p50 / p95 per variant (0.1 .. 0.29 ms).
    assert "| _floor: SELECT 1 between the samples (not a goal)_ | 0.2 / 0.3 |" in text
    # and under the cold table, the fresh backend's first query (6, 7, 8 ms in each of 2 rounds).
    cold_floor = "| _floor: a fresh backend's first query, `SELECT count(*) FROM klaviyo_metrics`"
    assert f"{cold_floor} (not a goal)_ | 7.0 / 8.0 |" in text
    for png in ("ingest.png", "query_p95.png", "deploy.png"):
        if f"![{png}]" in text:
            assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# pg_settings.boot_val of PostgreSQL 17 + TimescaleDB 2.19 (memory in each parameter's unit).
STOCK_17 = {
    "shared_buffers": "16384", "wal_buffers": "-1", "max_connections": "100",
    "autovacuum_max_workers": "3", "max_worker_processes": "8", "max_wal_senders": "10",
    "max_locks_per_transaction": "64", "autovacuum_work_mem": "-1",
    "maintenance_work_mem": "65536", "max_parallel_workers": "8", "hash_mem_multiplier": "2",
    "work_mem": "4096", "timescaledb.max_background_workers": "16",
}  # fmt: skip


def test_memory_budget_check_passes_the_planner_and_fails_timescaledb_tune():
    from lab.bench import tstune, variants
    from tsdb_deploy.planner import Hardware
    from tsdb_deploy.units import GIB

    hw = Hardware(memory_bytes=8 * GIB, cpus=2, storage="ssd", data_disk_bytes=250 * GIB)
    built, _ = variants.build(hw)
    results = {
        "meta": {"budget_inputs": {"memory_bytes": 8 * GIB, "stock": STOCK_17}},
        "variants": {v.key: {"config": v.config} for v in built},
    }
    budgets = summary.memory_budgets(results)
    assert budgets["C"]["fits"] and budgets["D"]["fits"]
    # timescaledb-tune at 8 GiB: 10 autovacuum workers x maintenance_work_mem (1 GiB, their
    # autovacuum_work_mem is -1) alone exceed the host.
    assert tstune.recommend(8 * GIB, 2)["autovacuum_max_workers"] == "10"
    assert budgets["B"]["parts"]["maintenance"] == 11 * GIB
    assert not budgets["B"]["fits"]
    checks = {g["goal"].split(":")[0]: g for g in summary.goals({}, {}, {}, 2, budgets)}
    assert checks["C (planner)"]["met"] and not checks["B (timescaledb-tune)"]["met"]
    assert "over by" in checks["B (timescaledb-tune)"]["measured"]
    assert summary.memory_budgets({"meta": {}, "variants": {}}) == {}


# Community build: compressed storage per event (bytes) and 180-day query times (ms).
COMPRESSED = {"A": 120.0, "B": 120.0, "C": 120.0, "D": 30.0}


def with_compression(results, slower=None):
    """Every round gets a compression record and the 180-day queries before and after; the
    `slower` (variant, query) takes twice as long after compression."""
    for run in results["rounds"]:
        v = run["variant"]
        events, compressed = 40_000, 20_000
        run["compression"] = {
            "compress_after": "90 days", "chunks": 13, "chunk_seconds": [0.4, 0.5, 0.9],
            "aggregate_chunks": 2, "events": events, "events_compressed": compressed,
            "bytes_before": 800 * events, "bytes_after": 800 * (events - compressed)
            + COMPRESSED[v] * compressed,
            "compressed_before": 800 * compressed, "compressed_after": COMPRESSED[v] * compressed,
            "days": 180,
        }  # fmt: skip
        for phase in ("before", "after"):
            factor = 2 if phase == "after" and slower and slower[0] == v else 1
            run[f"long_{phase}"] = {
                mode: {
                    q: [LATENCY[v] * scale * (2 if factor == 2 and q == slower[1] else 1)
                        * (1 + i / 20) for i in range(20)]
                    for q in LONG_TITLES
                }
                for mode, scale in (("warm", 3), ("cold", 10))
            }  # fmt: skip
    return results


def test_compression_storage_and_queries_are_summarised():
    s = summary.summarise(with_compression(synthetic_results()))
    comp = s["compression"]
    assert comp["A"]["bytes_per_event"] == pytest.approx(800)
    assert comp["D"]["compressed_bytes_per_event"] == pytest.approx(30)
    assert comp["D"]["ratio"] == pytest.approx(800 / 30)
    assert comp["D"]["events_compressed_share"] == pytest.approx(0.5)
    assert comp["A"]["chunk_seconds_max"] == pytest.approx(0.9)
    goals = {g["goal"]: g for g in s["goals"]}
    storage = goals["D's compressed storage per event at least 10x smaller than A's uncompressed"]
    assert storage["met"] and storage["ratio"] == pytest.approx(800 / 30)
    same = goals["D: series_day_180d p95 (cold) not higher after compression beyond noise (5%)"]
    assert same["met"] and same["ratio"] == pytest.approx(1.0)
    d_a = goals["D vs A after compression: profile_timeline_180d p95 (warm) at least 60% lower"]
    assert d_a["met"] and d_a["ratio"] == pytest.approx(0.2)


def test_a_query_slower_after_compression_is_a_missed_goal(tmp_path):
    results = with_compression(synthetic_results(), slower=("D", "aggregates_180d"))
    s = summary.summarise(results)
    goals = {g["goal"]: g for g in s["goals"]}
    lost = goals["D: aggregates_180d p95 (warm) not higher after compression beyond noise (5%)"]
    assert not lost["met"] and lost["ratio"] == pytest.approx(2.0)
    report.write(results, tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "### Compression (Community build): storage" in text
    assert "| D | 800 | 30 | 26.7x | 415 | 13 (50% of events) | 0.50 / 0.90 |" in text
    assert "### Compression: 180-day queries, cold cache" in text


def test_apache_results_have_no_compression():
    assert summary.compression(synthetic_results()) == {}
    assert summary.compression_goals({}) == []


def test_a_run_that_stopped_reports_what_it_measured(tmp_path):
    results = synthetic_results(rounds=1)
    for key in ("finished", "seconds", "other_containers_at_end"):
        results["meta"].pop(key, None)
    del results["physical"]["index_costs"], results["deploy"]["many"]
    report.write(results, tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert text.startswith("# Benchmark: partial run")
    assert "Complete variant rounds: A1, B1, C1, D1." in text
    assert "### Queries, cold cache" in text and "### Goals" in text
    assert "## Physical limits" not in text
