"""The planner: the invariants it promises over a spread of hardware, anchors, errors, overrides.

The invariants are restated here from the product's promises (and PostgreSQL's rules), not
re-derived from the planner's modules, so a rule that drifts is caught by a failing row.
"""

from __future__ import annotations

import json
import math
import re

import pytest

from tsdb_deploy.planner import PROFILES, Hardware, Plan, PlanError, Workload, budget, plan, pooler
from tsdb_deploy.planner.parameters import PARAMETERS
from tsdb_deploy.units import GIB, KIB, MIB, TIB

# The storage-dependent planner costs PGTune uses (tuning-anchors.md), restated independently.
RANDOM_PAGE_COST = {"hdd": 4.0, "ssd": 1.1, "nvme": 1.1, "san": 1.1}
IO_CONCURRENCY = {"hdd": 2, "ssd": 200, "nvme": 1000, "san": 300}


def _row(memory, cpus, storage, profile, pg, data=None, wal=None, *, id):
    return pytest.param((memory, cpus, storage, profile, pg, data, wal), id=id)


# memory, cpus, storage, profile, pg_version, data disk, dedicated WAL disk
HARDWARE = [
    _row(1 * GIB, 1, "hdd", "analytics", 17, id="1G-1cpu-hdd-analytics"),
    _row(1 * GIB, 0.5, "ssd", "oltp", 15, data=20 * GIB, id="1G-0.5cpu-ssd-oltp-pg15-data"),
    _row(1 * GIB, 8, "nvme", "mixed", 16, id="1G-8cpu-nvme-mixed-pg16"),
    _row(1536 * MIB, 3, "san", "oltp", 17, wal=4 * GIB, id="1.5G-3cpu-san-oltp-wal"),
    _row(2 * GIB, 1.5, "nvme", "mixed", 16, wal=2 * GIB, id="2G-1.5cpu-nvme-mixed-pg16-wal"),
    _row(2 * GIB, 64, "ssd", "oltp", 17, data=10 * GIB, id="2G-64cpu-ssd-oltp-data"),
    _row(3 * GIB, 7.9, "ssd", "mixed", 15, id="3G-7.9cpu-ssd-mixed-pg15"),
    _row(4 * GIB, 2, "ssd", "analytics", 17, 100 * GIB, 20 * GIB, id="4G-2cpu-ssd-analytics-both"),
    _row(4 * GIB, 4, "hdd", "mixed", 15, id="4G-4cpu-hdd-mixed-pg15"),
    _row(8 * GIB, 2, "ssd", "analytics", 17, id="8G-2cpu-ssd-analytics"),
    _row(8 * GIB, 4, "ssd", "analytics", 17, id="8G-4cpu-ssd-analytics"),
    _row(8 * GIB, 8, "nvme", "oltp", 16, data=500 * GIB, id="8G-8cpu-nvme-oltp-pg16-data"),
    _row(16 * GIB, 4, "san", "mixed", 17, wal=50 * GIB, id="16G-4cpu-san-mixed-wal"),
    _row(16 * GIB, 2.5, "hdd", "oltp", 15, data=1 * TIB, id="16G-2.5cpu-hdd-oltp-pg15-data"),
    _row(32 * GIB, 8, "nvme", "analytics", 16, wal=64 * GIB, id="32G-8cpu-nvme-analytics-wal"),
    _row(64 * GIB, 16, "ssd", "mixed", 17, 2 * TIB, 200 * GIB, id="64G-16cpu-ssd-mixed-both"),
    _row(128 * GIB, 32, "san", "oltp", 15, id="128G-32cpu-san-oltp-pg15"),
    _row(256 * GIB, 48, "nvme", "analytics", 16, data=4 * TIB, id="256G-48cpu-nvme-analytics"),
    _row(512 * GIB, 64, "ssd", "analytics", 17, 10 * TIB, 1 * TIB, id="512G-64cpu-ssd-analytics"),
    _row(512 * GIB, 64, "hdd", "oltp", 17, wal=100 * GIB, id="512G-64cpu-hdd-oltp-wal"),
    _row(512 * GIB, 0.5, "san", "mixed", 16, id="512G-0.5cpu-san-mixed-pg16"),
]


def _plan(memory, cpus, storage="ssd", profile="analytics", pg=17, data=None, wal=None, **kw):
    overrides = kw.pop("overrides", None)
    hardware = Hardware(memory, cpus, storage, data_disk_bytes=data, wal_disk_bytes=wal)
    return plan(hardware, Workload(profile=profile, pg_version=pg, **kw), overrides)


def _values(p: Plan) -> dict:
    return {name: q.value for name, q in p.parameters.items()}


# --- the table-driven invariants -------------------------------------------------------------


def test_hardware_table_covers_the_promised_spread():
    rows = [r.values[0] for r in HARDWARE]
    assert len(rows) >= 14
    assert {r[2] for r in rows} == {"hdd", "ssd", "nvme", "san"}
    assert {r[3] for r in rows} == set(PROFILES)
    assert {r[4] for r in rows} == {15, 16, 17}
    assert any(not float(r[1]).is_integer() for r in rows)
    assert min(r[0] for r in rows) == 1 * GIB and max(r[0] for r in rows) == 512 * GIB
    assert min(r[1] for r in rows) <= 1 and max(r[1] for r in rows) == 64
    assert any(r[5] is None and r[6] is None for r in rows)
    assert any(r[5] is not None for r in rows) and any(r[6] is not None for r in rows)


@pytest.fixture(params=HARDWARE)
def row(request):
    memory, cpus, storage, profile, pg, data, wal = request.param
    p = _plan(memory, cpus, storage, profile, pg, data, wal)
    return p, memory, cpus, storage, PROFILES[profile], data, wal


def test_every_table_parameter_is_planned_with_a_reason(row):
    p = row[0]
    assert set(p.parameters) == set(PARAMETERS)
    for name, planned in p.parameters.items():
        assert planned.name == name
        assert planned.reason.strip(), name
        assert not planned.overridden, name


def test_worst_case_budget_fits(row):
    p, memory = row[0], row[1]
    assert p.budget.memory_limit == memory
    assert p.budget.total <= memory
    assert p.budget.fits
    # the plan's budget is the budget of the values it writes
    assert (
        budget.compute(memory, _values(p), pooler.client_limit(p.workload.pooler_max_client_conn))
        == p.budget
    )


def test_budget_inputs_are_exactly_what_compute_reads():
    """budget.INPUTS is what a caller outside the planner (the benchmark) must supply."""

    class Recording(dict):
        read: set = set()

        def __getitem__(self, key):
            self.read.add(key)
            return super().__getitem__(key)

    values = Recording(_values(_plan(8 * GIB, 2)))
    budget.compute(8 * GIB, values)
    assert Recording.read == set(budget.INPUTS)


def test_worker_processes_leave_room_for_timescaledb_and_parallel_workers(row):
    v = _values(row[0])
    assert v["max_worker_processes"] >= (
        3 + v["timescaledb.max_background_workers"] + v["max_parallel_workers"]
    )


def test_every_value_reparses_inside_postgresql_range(row):
    for name, planned in row[0].parameters.items():
        assert PARAMETERS[name].parse(planned.text) == planned.value, name


def test_work_mem_within_floor_and_cap_and_as_large_as_fits(row):
    p, memory, profile = row[0], row[1], row[4]
    v = _values(p)
    work_mem = v["work_mem"]
    assert work_mem >= 64 * KIB
    assert profile.work_mem_floor <= work_mem <= profile.work_mem_cap
    if work_mem < profile.work_mem_cap:
        # not needlessly small: the next step up (64kB below 4MB, 1MB above) would not fit
        step = MIB if work_mem >= 4 * MIB else 64 * KIB
        clients = pooler.client_limit(row[0].workload.pooler_max_client_conn)
        assert not budget.compute(memory, {**v, "work_mem": work_mem + step}, clients).fits


def test_shared_buffers_quarter_and_effective_cache_three_quarters(row):
    v, memory = _values(row[0]), row[1]
    quarter = memory // 4 // MIB * MIB
    assert v["shared_buffers"] == max(128 * MIB, quarter)
    assert v["effective_cache_size"] == (memory * 3 // 4) // MIB * MIB


def test_parallel_workers_never_exceed_whole_cpus(row):
    v, cpus = _values(row[0]), row[2]
    # one per whole CPU, but at most one per 256MiB of memory (each holds its own work_mem)
    whole = min(max(1, int(cpus)), max(1, row[1] // (256 * MIB)))
    assert v["max_parallel_workers"] == whole
    assert v["max_parallel_workers_per_gather"] <= v["max_parallel_workers"]
    assert v["max_parallel_workers_per_gather"] <= row[4].gather_cap
    assert v["max_parallel_maintenance_workers"] <= v["max_parallel_workers"]
    if whole == 1:
        assert v["max_parallel_workers_per_gather"] == 0
        assert v["max_parallel_maintenance_workers"] == 0
    else:
        assert v["max_parallel_workers_per_gather"] >= 1


def test_storage_costs(row):
    v, storage = _values(row[0]), row[3]
    assert v["random_page_cost"] == RANDOM_PAGE_COST[storage]
    assert v["effective_io_concurrency"] == IO_CONCURRENCY[storage]
    assert v["maintenance_io_concurrency"] == IO_CONCURRENCY[storage]


def test_durability_is_on(row):
    v = _values(row[0])
    assert v["fsync"] is True
    assert v["full_page_writes"] is True
    assert v["synchronous_commit"] == "on"
    assert row[0].parameters["fsync"].text == "on"


def test_libraries_and_slow_query_logging(row):
    p = row[0]
    libraries = p.parameters["shared_preload_libraries"].value.split(",")
    assert "timescaledb" in libraries and "pg_stat_statements" in libraries
    assert p.parameters["log_min_duration_statement"].value == 1000
    assert p.parameters["log_min_duration_statement"].text == "1s"


def test_wal_size_within_its_disk(row):
    p, profile, data, wal = row[0], row[4], row[5], row[6]
    v = _values(p)
    max_wal, min_wal = v["max_wal_size"], v["min_wal_size"]
    if wal is not None:
        assert max_wal <= wal * 0.5
    elif data is not None:
        assert max_wal <= data * 0.1
    else:
        assert max_wal <= 4 * GIB
    assert 256 * MIB <= max_wal <= profile.max_wal_target
    assert 32 * MIB <= min_wal <= max_wal  # PostgreSQL needs at least two 16MB segments


def test_autovacuum_workers_within_bounds_and_wal_is_replica(row):
    v = _values(row[0])
    assert 3 <= v["autovacuum_max_workers"] <= 10
    assert v["wal_level"] == "replica"
    assert v["password_encryption"] == "scram-sha-256"


def test_plan_is_json_serialisable_and_every_value_a_string(row):
    out = row[0].to_json()
    again = json.loads(json.dumps(out))
    assert set(again["parameters"]) == set(PARAMETERS)
    assert all(isinstance(t, str) for t in again["parameters"].values())
    assert again["budget"]["fits"] is True
    assert again["budget"]["worst_case_total"] <= again["budget"]["memory_limit"]


# --- anchor rows: every value computed by hand from the module constants ----------------------


def _hand_work_mem(
    memory,
    *,
    cap,
    shared,
    wal_buffers,
    locks,
    connections,
    worker_processes,
    av_workers,
    av_mem,
    parallel,
    background,
    maintenance,
    wal_senders=4,
):
    """budget.py's model written out with its constants' values (300 bytes per lock slot for
    MaxBackends, 6MB per backend, 2MB for each of 6 auxiliary processes, hash_mem_multiplier 2,
    OS headroom 8% within 192MB..8GB, PgBouncer 4MB + 10kB for each of 500 application clients
    and 3 console sessions): the largest
    work_mem whose worst case fits, rounded, and the budget's parts at that work_mem."""
    max_backends = connections + av_workers + 1 + worker_processes + wal_senders
    shared_memory = shared + wal_buffers + locks * max_backends * 300
    backends = connections + av_workers + parallel + background + 1 + wal_senders
    processes = backends * 6 * MIB + 6 * 2 * MIB
    maintenance_total = maintenance + av_workers * av_mem
    headroom = int(min(8 * GIB, max(192 * MIB, memory * 0.08)))
    pooler = 4 * MIB + (500 + 3) * 10 * KIB
    spare = memory - shared_memory - processes - maintenance_total - headroom - pooler
    per_slot = int(spare / ((connections + parallel) * 2.0)) // KIB * KIB
    step = MIB if per_slot >= 4 * MIB else 64 * KIB
    work_mem = min(cap, per_slot - per_slot % step)
    parts = {
        "shared_memory": shared_memory,
        "processes": processes,
        "queries": (connections + parallel) * work_mem * 2,
        "maintenance": maintenance_total,
        "os_headroom": headroom,
        "pooler": pooler,
    }
    return work_mem, parts


def _anchor_8g_2cpu_ssd_analytics():
    memory = 8 * GIB
    av_mem = (memory // 16 // 3) // MIB * MIB  # 170MB: 1/16 of memory over 3 workers
    work_mem, parts = _hand_work_mem(
        memory,
        cap=512 * MIB,
        shared=2 * GIB,
        wal_buffers=16 * MIB,
        locks=256,
        connections=100,
        worker_processes=21,
        av_workers=3,
        av_mem=av_mem,
        parallel=2,
        background=16,
        maintenance=512 * MIB,
    )
    assert work_mem == 17 * MIB  # the model's answer, checked once by hand
    expected = {
        "max_connections": "100",  # 20 per GiB = 160, capped at 100 for analytics
        "shared_buffers": "2GB",
        "effective_cache_size": "6GB",
        "maintenance_work_mem": "512MB",
        "autovacuum_max_workers": "3",
        "autovacuum_work_mem": "170MB",
        "wal_buffers": "16MB",
        "max_locks_per_transaction": "256",
        "hash_mem_multiplier": "2",
        "work_mem": "17MB",
        "max_parallel_workers": "2",
        "max_parallel_workers_per_gather": "1",
        "max_parallel_maintenance_workers": "1",
        "timescaledb.max_background_workers": "16",
        "max_worker_processes": "21",
        "random_page_cost": "1.1",
        "effective_io_concurrency": "200",
        "default_statistics_target": "100",
        "jit": "off",
        "enable_partitionwise_join": "on",
        "max_wal_size": "4GB",  # disk size unknown
        "min_wal_size": "1GB",
        "checkpoint_timeout": "15min",
        "checkpoint_completion_target": "0.9",
        "autovacuum_vacuum_cost_limit": "2000",
        "autovacuum_vacuum_cost_delay": "2ms",
        "autovacuum_naptime": "10s",
        "log_temp_files": "16MB",
        "idle_in_transaction_session_timeout": "10min",
        "shared_preload_libraries": "'timescaledb,pg_stat_statements'",
        "listen_addresses": "'localhost'",
        "port": "5432",
        "huge_pages": "try",
    }
    return _plan(memory, 2, "ssd", "analytics"), expected, parts


def _anchor_1g_1cpu_hdd_oltp():
    memory = 1 * GIB
    av_mem = (memory // 16 // 3) // MIB * MIB  # 21MB
    work_mem, parts = _hand_work_mem(
        memory,
        cap=64 * MIB,
        shared=256 * MIB,
        wal_buffers=8 * MIB,  # shared_buffers / 32
        locks=128,
        connections=25,
        worker_processes=12,  # 3 + 8 (small host) + 1
        av_workers=3,
        av_mem=av_mem,
        parallel=1,
        background=8,
        maintenance=64 * MIB,
    )
    expected = {
        "max_connections": "25",
        "shared_buffers": "256MB",
        "effective_cache_size": "768MB",
        "maintenance_work_mem": "64MB",
        "autovacuum_work_mem": "21MB",
        "wal_buffers": "8MB",
        "max_locks_per_transaction": "128",
        "work_mem": PARAMETERS["work_mem"].render(work_mem),
        "max_parallel_workers": "1",
        "max_parallel_workers_per_gather": "0",
        "max_parallel_maintenance_workers": "0",
        "timescaledb.max_background_workers": "8",
        "max_worker_processes": "12",
        "random_page_cost": "4",
        "effective_io_concurrency": "2",
        "maintenance_io_concurrency": "2",
        "default_statistics_target": "100",
        "enable_partitionwise_aggregate": "off",
        "max_wal_size": "2GB",  # a tenth of the 20GiB data disk
        "min_wal_size": "512MB",
        "autovacuum_vacuum_cost_limit": "500",
    }
    return _plan(memory, 1, "hdd", "oltp", data=20 * GIB), expected, parts


def _anchor_64g_16cpu_nvme_mixed():
    memory = 64 * GIB
    work_mem, parts = _hand_work_mem(
        memory,
        cap=256 * MIB,
        shared=16 * GIB,
        wal_buffers=64 * MIB,  # 8+ CPUs of ingest
        locks=1024,
        connections=200,
        worker_processes=35,  # 3 + 16 + 16
        av_workers=8,
        av_mem=512 * MIB,
        parallel=16,
        background=16,
        maintenance=2 * GIB,
    )
    expected = {
        "max_connections": "200",
        "shared_buffers": "16GB",
        "effective_cache_size": "48GB",
        "maintenance_work_mem": "2GB",
        "autovacuum_max_workers": "8",
        "autovacuum_work_mem": "512MB",
        "wal_buffers": "64MB",
        "max_locks_per_transaction": "1024",
        "work_mem": PARAMETERS["work_mem"].render(work_mem),
        "max_parallel_workers": "16",
        "max_parallel_workers_per_gather": "4",
        "max_parallel_maintenance_workers": "4",
        "max_worker_processes": "35",
        "effective_io_concurrency": "1000",
        "default_statistics_target": "200",
        "max_wal_size": "8GB",  # the mixed target, well within half the 100GiB WAL disk
        "min_wal_size": "2GB",
    }
    return _plan(memory, 16, "nvme", "mixed", wal=100 * GIB), expected, parts


def _anchor_512g_64cpu_san_analytics():
    expected = {
        "max_connections": "100",
        "shared_buffers": "128GB",
        "effective_cache_size": "384GB",
        "maintenance_work_mem": "2GB",
        "autovacuum_max_workers": "10",
        "autovacuum_work_mem": "1GB",
        "wal_buffers": "64MB",
        "work_mem": "512MB",  # the analytics cap
        "max_parallel_workers": "64",
        "max_parallel_workers_per_gather": "8",
        "max_parallel_maintenance_workers": "4",
        "max_worker_processes": "83",
        "effective_io_concurrency": "300",
        "max_wal_size": "4GB",
    }
    _, parts = _hand_work_mem(
        512 * GIB,
        cap=512 * MIB,
        shared=128 * GIB,
        wal_buffers=64 * MIB,
        locks=1024,
        connections=100,
        worker_processes=83,
        av_workers=10,
        av_mem=GIB,
        parallel=64,
        background=16,
        maintenance=2 * GIB,
    )
    p = _plan(512 * GIB, 64, "san", "analytics")
    assert "cap" in p.parameters["work_mem"].reason
    return p, expected, parts


@pytest.mark.parametrize(
    "anchor",
    [
        _anchor_8g_2cpu_ssd_analytics,
        _anchor_1g_1cpu_hdd_oltp,
        _anchor_64g_16cpu_nvme_mixed,
        _anchor_512g_64cpu_san_analytics,
    ],
    ids=[
        "8G-2cpu-ssd-analytics",
        "1G-1cpu-hdd-oltp-20G-data",
        "64G-16cpu-nvme-mixed-100G-wal",
        "512G-64cpu-san-analytics",
    ],
)
def test_anchor_values(anchor):
    p, expected, parts = anchor()
    actual = {name: p.parameters[name].text for name in expected}
    assert actual == expected
    assert p.budget.describe()["parts"] == parts


@pytest.mark.parametrize(
    "memory, locks",
    [
        (8 * GIB - MIB, 128),
        (8 * GIB, 256),
        (16 * GIB - MIB, 256),
        (16 * GIB, 512),
        (32 * GIB - MIB, 512),
        (32 * GIB, 1024),
        (512 * GIB, 1024),
    ],
    ids=["<8G", "8G", "<16G", "16G", "<32G", "32G", "512G"],
)
def test_lock_table_tiers_follow_timescaledb_tune(memory, locks):
    """tuning-anchors.md: 128 / 256 / 512 / 1024 for RAM < 8GB / >= 8GB / >= 16GB / >= 32GB."""
    assert _plan(memory, 4).parameters["max_locks_per_transaction"].value == locks


def test_pg_version_does_not_change_values():
    """Every entry's range and context is the same in 15, 16 and 17 (parameters.py)."""
    plans = [_plan(8 * GIB, 4, pg=pg) for pg in (15, 16, 17)]
    assert plans[0].values() == plans[1].values() == plans[2].values()
    assert [p.workload.pg_version for p in plans] == [15, 16, 17]


def test_fractional_quota_uses_whole_cpus_but_reports_the_quota():
    p = _plan(8 * GIB, 1.5)
    assert p.parameters["max_parallel_workers"].value == 1
    assert "1.5 CPUs" in p.parameters["max_parallel_workers"].reason
    assert p.to_json()["hardware"]["cpus"] == 1.5


def test_small_host_gets_fewer_background_workers():
    assert _plan(3 * GIB, 2).parameters["timescaledb.max_background_workers"].value == 8
    assert _plan(4 * GIB, 2).parameters["timescaledb.max_background_workers"].value == 16


# --- the tuners on the same budget model -----------------------------------------------------


def _go_round(x: float) -> int:
    """Go's math.Round: halves away from zero (Python's round() rounds half to even)."""
    return math.floor(x + 0.5)


def _timescaledb_tune(memory, cpus, max_connections=None, k=128 * MIB):
    """timescaledb-tune's values as tuning-anchors.md states them, in the table's terms."""
    ram_gb = memory / GIB
    if max_connections is None:
        max_connections = next(
            c for lim, c in ((2, 25), (4, 50), (6, 75), (math.inf, 100)) if ram_gb <= lim
        )
    cpu_factor = max(1, _go_round(cpus / 2))
    work_mem = max(64 * KIB, int(ram_gb * k / max_connections / cpu_factor) // KIB * KIB)
    locks = next(n for lim, n in ((32, 1024), (16, 512), (8, 256), (0, 128)) if ram_gb >= lim)
    return {
        "max_connections": max_connections,
        "shared_buffers": memory // 4,
        "wal_buffers": int(ram_gb * 7864 * KIB) if memory < 2 * GIB else 16 * MIB,
        "max_locks_per_transaction": locks,
        "work_mem": work_mem,
        "maintenance_work_mem": int(min(2047 * MIB, 128 * MIB * ram_gb)),
        "autovacuum_work_mem": -1,  # not set: PostgreSQL uses maintenance_work_mem
        "autovacuum_max_workers": 10,
        "max_parallel_workers": int(cpus),
        "timescaledb.max_background_workers": 16,
        "max_worker_processes": 3 + 16 + int(cpus),
        "hash_mem_multiplier": 2.0,  # not set: PostgreSQL's default
        "max_wal_senders": 10,  # not set: PostgreSQL's default
    }


def test_timescaledb_tune_work_mem_rule_matches_its_documented_examples():
    # tuning-anchors.md: ~10MB at 8GB/2 CPUs/100 connections with K=128MB; 16MB at 8GB/4 CPUs
    # with the K=400MB of PR #149.
    assert _timescaledb_tune(8 * GIB, 2)["work_mem"] // MIB == 10
    assert _timescaledb_tune(8 * GIB, 4, k=400 * MIB)["work_mem"] == 16 * MIB


def test_timescaledb_tune_full_config_does_not_fit_8g_4cpu_ours_does():
    memory = 8 * GIB
    theirs = budget.compute(memory, _timescaledb_tune(memory, 4))
    ours = _plan(memory, 4, "ssd", "analytics")
    # their 10 autovacuum workers each take maintenance_work_mem (1GB) on top of one manual
    # maintenance_work_mem: 11GB of maintenance alone on an 8GB host
    assert theirs.maintenance == 11 * GIB
    assert not theirs.fits
    assert ours.budget.fits
    # and ours does not get there by starving queries: at least their work_mem, either K
    for k in (128 * MIB, 400 * MIB):
        assert ours.parameters["work_mem"].value >= _timescaledb_tune(memory, 4, k=k)["work_mem"]


@pytest.mark.parametrize(
    "memory, cpus, profile, connections, k",
    [
        pytest.param(2 * GIB, 1, "oltp", 100, 128 * MIB, id="2G-1cpu-100conn-K128"),
        pytest.param(2 * GIB, 1, "oltp", 100, 400 * MIB, id="2G-1cpu-100conn-K400"),
        pytest.param(1 * GIB, 8, "oltp", 25, 400 * MIB, id="1G-8cpu-25conn-K400"),
    ],
)
def test_timescaledb_tune_work_mem_breaks_a_budget_ours_fits(memory, cpus, profile, connections, k):
    ours = _plan(memory, cpus, "ssd", profile, max_connections=connections)
    assert ours.budget.fits
    their_work_mem = _timescaledb_tune(memory, cpus, connections, k=k)["work_mem"]
    assert their_work_mem > ours.parameters["work_mem"].value
    # the same plan with only work_mem replaced by timescaledb-tune's rule
    theirs = budget.compute(memory, {**_values(ours), "work_mem": their_work_mem})
    assert theirs.total > memory
    assert not theirs.fits


def test_where_no_config_fits_ours_refuses_instead_of_risking_oom():
    # 1GiB, 8 CPUs, 100 connections: timescaledb-tune writes a config the model cannot hold
    memory = 1 * GIB
    theirs = _timescaledb_tune(memory, 8, 100)
    assert theirs["work_mem"] >= 64 * KIB
    assert not budget.compute(memory, theirs).fits
    with pytest.raises(PlanError, match=r"cannot hold the oltp profile with 100 connections"):
        _plan(memory, 8, "ssd", "oltp", max_connections=100)


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        pytest.param(
            dict(memory=256 * MIB, cpus=2),
            r"256\.0 MiB cannot hold the analytics profile with 20 connections.*"
            r"smallest useful work_mem \(4\.0 MiB\)",
            id="256MiB-analytics",
        ),
        pytest.param(dict(memory=8 * GIB, cpus=0), r"cpus must be more than 0, got 0", id="0-cpus"),
        pytest.param(dict(memory=8 * GIB, cpus=-2), r"cpus must be more than 0", id="neg-cpus"),
        pytest.param(dict(memory=-GIB, cpus=2), r"memory must be positive", id="neg-memory"),
        pytest.param(dict(memory=0, cpus=2), r"memory must be positive", id="zero-memory"),
        pytest.param(
            dict(memory=8 * GIB, cpus=2, storage="floppy"),
            r"storage 'floppy' is not one of hdd, ssd, nvme, san",
            id="unknown-storage",
        ),
        pytest.param(
            dict(memory=8 * GIB, cpus=2, profile="batch"),
            r"profile 'batch' is not one of analytics, mixed, oltp",
            id="unknown-profile",
        ),
        pytest.param(
            dict(memory=8 * GIB, cpus=2, pg=14),
            r"PostgreSQL 14 is not supported \(supported: 15, 16, 17\)",
            id="pg14",
        ),
        pytest.param(
            dict(memory=8 * GIB, cpus=2, wal=0), r"wal_disk must be positive", id="zero-wal-disk"
        ),
        pytest.param(
            dict(memory=8 * GIB, cpus=2, data=-1), r"data_disk must be positive", id="neg-data"
        ),
        pytest.param(
            dict(memory=8 * GIB, cpus=2, max_connections=0),
            r"max_connections must be 1\.\.10000, got 0",
            id="0-connections",
        ),
        pytest.param(
            dict(memory=8 * GIB, cpus=2, background_workers=1001),
            r"background_workers must be 0\.\.1000",
            id="too-many-background-workers",
        ),
        pytest.param(
            dict(memory=8 * GIB, cpus=4, overrides={"work_mem": "1kB"}),
            r"inventory override work_mem: 1kB is outside PostgreSQL's range 64kB",
            id="override-out-of-range",
        ),
        pytest.param(
            dict(memory=8 * GIB, cpus=4, overrides={"shared_buffers": "12kB"}),
            r"inventory override shared_buffers: '12kB' is not a whole number of 8kB",
            id="override-not-whole-unit",
        ),
        pytest.param(
            dict(memory=8 * GIB, cpus=4, overrides={"work_mem": "2GB"}),
            r"worst-case memory use .* exceeds the 8\.0 GiB limit.*"
            r"The inventory overrides work_mem: lower them",
            id="override-breaks-budget",
        ),
        pytest.param(
            dict(memory=8 * GIB, cpus=4, overrides={"max_conections": "50"}),
            r"inventory override max_conections: not a parameter this deployment manages",
            id="override-unknown-parameter",
        ),
        pytest.param(
            dict(memory=8 * GIB, cpus=4, overrides={"max_worker_processes": "22"}),
            r"max_worker_processes = 22 is too small: it must be at least 3 \+ "
            r"timescaledb.max_background_workers \(16\) \+ max_parallel_workers \(4\) = 23",
            id="override-worker-processes-below-minimum",
        ),
        pytest.param(
            dict(memory=8 * GIB, cpus=4, overrides={"max_parallel_workers_per_gather": "5"}),
            r"max_parallel_workers_per_gather = 5 exceeds max_parallel_workers = 4",
            id="override-gather-above-parallel",
        ),
        pytest.param(
            dict(memory=8 * GIB, cpus=4, wal=511 * MIB),
            r"the dedicated WAL disk \(511\.0 MiB\) leaves 255\.5 MiB for WAL; at least "
            r"256\.0 MiB is needed",
            id="wal-disk-just-too-small",
        ),
        pytest.param(
            dict(memory=8 * GIB, cpus=4, data=2559 * MIB),
            r"the data disk shared with WAL .* at least 256\.0 MiB is needed",
            id="shared-data-disk-just-too-small",
        ),
    ],
)
def test_plan_errors_name_the_problem(kwargs, pattern):
    kwargs = dict(kwargs)
    memory, cpus = kwargs.pop("memory"), kwargs.pop("cpus")
    with pytest.raises(PlanError, match=pattern):
        _plan(memory, cpus, **kwargs)


def test_budget_error_without_overrides_suggests_memory_or_connections():
    with pytest.raises(PlanError, match=r"Give PostgreSQL more memory or lower max_connections"):
        _plan(1 * GIB, 64, "ssd", "analytics")


@pytest.mark.parametrize(
    "disk, expected_max_wal",
    [
        pytest.param(dict(wal=512 * MIB), "256MB", id="512MiB-WAL-disk-at-the-floor"),
        pytest.param(dict(wal=1 * GIB), "512MB", id="1GiB-WAL-disk-half"),
        pytest.param(dict(wal=3 * GIB), "1GB", id="3GiB-WAL-disk-rounded-to-GB"),
        pytest.param(dict(wal=100 * GIB), "16GB", id="100GiB-WAL-disk-profile-target"),
        pytest.param(dict(data=2560 * MIB), "256MB", id="2.5GiB-data-disk-at-the-floor"),
        pytest.param(dict(data=50 * GIB), "5GB", id="50GiB-data-disk-tenth"),
        pytest.param(dict(data=50 * GIB, wal=4 * GIB), "2GB", id="dedicated-wins-over-data"),
        pytest.param({}, "4GB", id="unknown-disk"),
    ],
)
def test_max_wal_size_either_side_of_the_floor(disk, expected_max_wal):
    p = _plan(8 * GIB, 4, "ssd", "analytics", **disk)
    assert p.parameters["max_wal_size"].text == expected_max_wal


# --- overrides -------------------------------------------------------------------------------


def test_override_wins_and_says_so():
    default = _plan(8 * GIB, 4)
    p = _plan(8 * GIB, 4, overrides={"work_mem": "8MB"})
    planned = p.parameters["work_mem"]
    assert planned.value == 8 * MIB and planned.text == "8MB"
    assert planned.overridden
    assert "override" in planned.reason
    assert f"would set {default.parameters['work_mem'].text}" in planned.reason
    assert p.budget.fits
    assert [n for n, q in p.parameters.items() if q.overridden] == ["work_mem"]


@pytest.mark.parametrize(
    "raw, expected",
    [("on", True), (True, True), ("yes", True)],
    ids=["text-on", "python-bool", "text-yes"],
)
def test_override_of_a_bool_accepts_postgresql_spellings(raw, expected):
    p = _plan(8 * GIB, 4, overrides={"jit": raw})
    assert p.parameters["jit"].value is expected and p.parameters["jit"].text == "on"


def test_fewer_connections_give_each_more_work_mem():
    default = _plan(8 * GIB, 4)
    by_override = _plan(8 * GIB, 4, overrides={"max_connections": "20"})
    by_workload = _plan(8 * GIB, 4, max_connections=20)
    base = default.parameters["work_mem"].value
    assert default.parameters["max_connections"].value == 100
    assert by_override.parameters["max_connections"].value == 20
    assert by_override.parameters["work_mem"].value > base
    assert by_workload.parameters["work_mem"].value == by_override.parameters["work_mem"].value
    assert by_workload.parameters["max_connections"].reason == "inventory max_connections"
    # lock table follows the connection count too
    assert by_override.budget.shared_memory < default.budget.shared_memory


@pytest.mark.parametrize(
    "shared_buffers, direction",
    [
        pytest.param("1GB", 1, id="smaller-buffers-more-work_mem"),
        pytest.param("3GB", -1, id="larger-buffers-less-work_mem"),
    ],
)
def test_shared_buffers_override_moves_work_mem(shared_buffers, direction):
    base = _plan(8 * GIB, 4).parameters["work_mem"].value
    p = _plan(8 * GIB, 4, overrides={"shared_buffers": shared_buffers})
    assert p.parameters["shared_buffers"].text == shared_buffers
    assert (p.parameters["work_mem"].value - base) * direction > 0
    assert p.budget.fits


def test_worker_overrides_carry_into_max_worker_processes():
    p = _plan(8 * GIB, 4, overrides={"timescaledb.max_background_workers": "4"})
    assert p.parameters["max_worker_processes"].value == 3 + 4 + 4
    p = _plan(8 * GIB, 4, overrides={"max_parallel_workers": "2"})
    assert p.parameters["max_worker_processes"].value == 3 + 16 + 2
    p = _plan(8 * GIB, 4, background_workers=0)
    assert p.parameters["max_worker_processes"].value == 3 + 0 + 4


def test_autovacuum_workers_override_splits_autovacuum_memory():
    p = _plan(8 * GIB, 4, overrides={"autovacuum_max_workers": "8"})
    assert p.parameters["autovacuum_work_mem"].value == (8 * GIB // 16 // 8) // MIB * MIB
    assert "8 autovacuum workers" in p.parameters["autovacuum_work_mem"].reason


def test_work_mem_override_below_the_profile_floor_is_the_operators_call():
    # 1GiB with 8 CPUs cannot give analytics its 4MB floor; an explicit 1MB fits the budget
    with pytest.raises(PlanError, match="cannot hold the analytics profile"):
        _plan(1 * GIB, 8)
    p = _plan(1 * GIB, 8, overrides={"work_mem": "1MB"})
    assert p.parameters["work_mem"].value == MIB
    assert p.budget.fits


def test_max_wal_size_override_moves_min_wal_size():
    p = _plan(8 * GIB, 4, overrides={"max_wal_size": "8GB"})
    assert p.parameters["max_wal_size"].text == "8GB"
    assert p.parameters["min_wal_size"].text == "2GB"


def test_min_wal_size_never_exceeds_an_overridden_max_wal_size():
    p = _plan(8 * GIB, 4, overrides={"max_wal_size": "64MB"})
    assert p.parameters["min_wal_size"].value <= p.parameters["max_wal_size"].value


@pytest.mark.parametrize(
    "shared_buffers",
    ["300000kB", "1000", "262272kB"],
    ids=["kB-not-a-multiple-of-256kB", "8kB-pages", "256MB-plus-128kB"],
)
def test_any_valid_shared_buffers_override_plans(shared_buffers):
    PARAMETERS["shared_buffers"].parse(shared_buffers)  # valid for PostgreSQL
    p = _plan(8 * GIB, 4, overrides={"shared_buffers": shared_buffers})
    assert p.parameters["wal_buffers"].value % (8 * KIB) == 0


def test_autovacuum_work_mem_override_of_minus_one_is_accepted():
    p = _plan(8 * GIB, 4, overrides={"autovacuum_work_mem": "-1"})
    assert p.parameters["autovacuum_work_mem"].value == -1


@pytest.mark.parametrize("cpus", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_non_finite_cpus_is_a_plan_error(cpus):
    with pytest.raises(PlanError, match="cpus"):
        _plan(8 * GIB, cpus)


# --- determinism -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        pytest.param((8 * GIB, 4, "ssd", "analytics"), id="8G-4cpu"),
        pytest.param((1536 * MIB, 3, "san", "oltp"), id="1.5G-3cpu"),
        pytest.param((512 * GIB, 64, "nvme", "mixed"), id="512G-64cpu"),
    ],
)
def test_planning_twice_gives_identical_output(args):
    overrides = {"max_connections": "50"}
    first, second = _plan(*args, overrides=overrides), _plan(*args, overrides=overrides)
    assert first == second
    assert json.dumps(first.to_json()) == json.dumps(second.to_json())
    assert list(first.parameters) == list(second.parameters)
    assert overrides == {"max_connections": "50"}  # not consumed or mutated


def test_sections_cover_every_parameter_once_and_restart_list_is_postmaster():
    p = _plan(8 * GIB, 4)
    names = [q.name for _, params in p.sections() for q in params]
    assert sorted(names) == sorted(PARAMETERS)
    restart = set(p.restart_parameters())
    assert {"shared_buffers", "max_connections", "shared_preload_libraries"} <= restart
    assert not {"work_mem", "max_wal_size", "random_page_cost"} & restart


def test_plan_error_is_a_value_error_with_a_single_line_message():
    with pytest.raises(ValueError) as info:
        _plan(256 * MIB, 2)
    assert "\n" not in str(info.value)
    assert re.search(r"lower max_connections\.$", str(info.value))
