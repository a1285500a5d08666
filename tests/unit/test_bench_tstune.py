"""timescaledb-tune's rules (tuning-anchors.md) as variant B applies them."""

from lab.bench import tstune
from tsdb_deploy.units import GIB


def test_eight_gib_two_cpus_matches_the_anchors():
    rec = tstune.recommend(8 * GIB, 2)
    assert rec["shared_buffers"] == "2097152kB"  # RAM/4
    assert rec["effective_cache_size"] == "6291456kB"  # RAM*3/4
    assert rec["maintenance_work_mem"] == "1048576kB"  # 128MB per GB
    # "about 10MB at 8GB, 2 CPUs, 100 connections" with K = 128MB
    assert rec["work_mem"] == "10485kB"
    assert rec["max_connections"] == "100"
    assert rec["max_locks_per_transaction"] == "256"
    assert rec["wal_buffers"] == "16384kB"
    assert (rec["max_wal_size"], rec["min_wal_size"]) == ("1048576kB", "524288kB")
    assert rec["max_worker_processes"] == "21"  # 3 + 16 + CPUs
    assert rec["max_parallel_workers"] == "2"
    assert rec["max_parallel_workers_per_gather"] == "1"
    assert rec["shared_preload_libraries"] == "timescaledb"


def test_one_cpu_gets_nothing_parallel():
    rec = tstune.recommend(4 * GIB, 1)
    assert "max_parallel_workers" not in rec
    assert "max_parallel_workers_per_gather" not in rec
    assert rec["max_connections"] == "50"


def test_small_memory_tiers_and_work_mem_floor():
    rec = tstune.recommend(1 * GIB, 64)
    assert rec["max_connections"] == "25"
    assert rec["max_locks_per_transaction"] == "128"
    assert rec["wal_buffers"] == "7864kB"  # RAM_GB * 7864kB below 2GB
    assert rec["work_mem"] == "163kB"  # 1 GiB * 128MB / 25 connections / 32
    assert tstune.recommend(256 * 1024 * 1024, 64, max_connections=1000)["work_mem"] == "64kB"


def test_cpu_factor_rounds_halves_up_like_go():
    assert tstune._go_round(0.5) == 1
    assert tstune._go_round(1.5) == 2
    assert tstune._go_round(2.5) == 3
    assert tstune.recommend(8 * GIB, 3)["max_parallel_workers_per_gather"] == "2"
    assert tstune.recommend(32 * GIB, 16)["max_locks_per_transaction"] == "1024"
    assert tstune.recommend(64 * GIB, 16)["maintenance_work_mem"] == f"{2047 * 1024}kB"
