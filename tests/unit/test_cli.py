"""tsdb-deploy plan on the command line: output formats, and one-line errors for bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tsdb_deploy.cli import main
from tsdb_deploy.planner.parameters import PARAMETERS

ROOT = Path(__file__).resolve().parents[2]
BASE = ["plan", "--memory", "8GiB", "--cpus", "4", "--storage", "ssd"]


def _json(capsys, *extra):
    assert main([*BASE, "--format", "json", *extra]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return json.loads(out)


def test_plan_json(capsys):
    out = _json(capsys)
    assert {"parameters", "budget", "hardware"} <= set(out)
    assert set(out["parameters"]) == set(PARAMETERS)
    assert all(isinstance(v, str) for v in out["parameters"].values())
    assert out["parameters"]["shared_buffers"] == "2GB"
    assert out["parameters"]["effective_cache_size"] == "6GB"
    assert out["parameters"]["max_parallel_workers"] == "4"
    assert out["budget"]["fits"] is True
    assert out["budget"]["worst_case_total"] <= out["budget"]["memory_limit"] == 8 * 1024**3
    assert out["hardware"]["memory"] == "8.0 GiB"
    assert out["hardware"]["cpus"] == 4.0
    assert out["hardware"]["storage"] == "ssd"
    assert out["hardware"]["notes"] == ["given on the command line"]
    assert out["workload"] == {"profile": "analytics", "pg_version": 17}
    assert all(out["reasons"][name] for name in PARAMETERS)


def test_plan_json_options_reach_the_plan(capsys):
    out = _json(
        capsys,
        "--profile",
        "oltp",
        "--pg-version",
        "16",
        "--max-connections",
        "60",
        "--background-workers",
        "4",
        "--data-disk",
        "500GiB",
        "--wal-disk",
        "20GiB",
        "--set",
        "work_mem=16MB",
        "--set",
        " jit = on ",
    )
    params = out["parameters"]
    assert out["workload"] == {"profile": "oltp", "pg_version": 16}
    assert params["max_connections"] == "60"
    assert params["timescaledb.max_background_workers"] == "4"
    assert params["max_worker_processes"] == str(3 + 4 + 4)
    assert params["max_wal_size"] == "8GB"  # oltp target; half the 20GiB WAL disk is 10GiB
    assert params["work_mem"] == "16MB"
    assert params["jit"] == "on"
    assert "override" in out["reasons"]["work_mem"]
    assert out["hardware"]["data_disk_bytes"] == 500 * 1024**3
    assert out["hardware"]["wal_disk_bytes"] == 20 * 1024**3


def test_plan_conf(capsys):
    assert main([*BASE, "--pg-version", "16"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert any(line.startswith("shared_buffers = 2GB ") for line in lines)
    assert "shared_buffers = 2GB" in out
    assert "data_directory = '/var/lib/postgresql/16/main'" in out
    assert "# Sized for: 8.0 GiB memory, 4 CPUs, ssd storage," in out
    assert "#   given on the command line" in out
    assert "PostgreSQL 16." in out
    assert sum(line.startswith("work_mem = ") for line in lines) == 1


@pytest.mark.parametrize(
    "args, pattern",
    [
        pytest.param(["--memory", "8XB"], "not a size: '8XB'", id="bad-memory-unit"),
        pytest.param(["--cpus", "0"], "cpus must be more than 0", id="zero-cpus"),
        pytest.param(["--cpus", "many"], "--cpus must be a number, got 'many'", id="cpus-text"),
        pytest.param(
            ["--memory", "256MiB"], "cannot hold the analytics profile", id="256MiB-analytics"
        ),
        pytest.param(
            ["--set", "work_mem=1kB"],
            "inventory override work_mem: 1kB is outside PostgreSQL's range",
            id="override-out-of-range",
        ),
        pytest.param(
            ["--set", "no_such=1"], "no_such: not a parameter", id="override-unknown-parameter"
        ),
        pytest.param(
            ["--set", "work_mem=2GB"], "The inventory overrides work_mem", id="override-budget"
        ),
        pytest.param(["--set", "fsync=off"], "name fsync in acknowledge_unsafe", id="unsafe"),
        pytest.param(
            ["--set", "hash_mem_multiplier=nan"], "not a finite number", id="override-nan"
        ),
        pytest.param(
            ["--set", "log_line_prefix=x\nssl = off"], "control character", id="override-newline"
        ),
        pytest.param(["--storage", "floppy"], "storage 'floppy' is not one of", id="storage"),
        pytest.param(["--profile", "batch"], "profile 'batch' is not one of", id="profile"),
        pytest.param(["--pg-version", "14"], "PostgreSQL 14 is not supported", id="pg14"),
        pytest.param(["--pg-version", "17.1"], "--pg-version must be a whole number", id="pg17.1"),
        pytest.param(
            ["--max-connections", "lots"], "--max-connections must be a whole number", id="conns"
        ),
        pytest.param(["--wal-disk", "100MiB"], "leaves 50.0 MiB for WAL", id="small-wal-disk"),
        pytest.param(["--data-disk=-5GiB"], "a size cannot be negative", id="negative-disk"),
    ],
)
@pytest.mark.parametrize("fmt", ["conf", "json"])
def test_bad_input_is_one_line_on_stderr(capsys, args, pattern, fmt):
    # later options win in argparse, so each bad value replaces the good one in BASE
    assert main([*BASE, "--format", fmt, *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("tsdb-deploy: error: ")
    assert pattern in err
    assert "Traceback" not in err


@pytest.mark.parametrize("cpus", ["nan", "inf"])
def test_non_finite_cpus_is_one_line_on_stderr(capsys, cpus):
    assert main([*BASE, "--cpus", cpus]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("tsdb-deploy: error: ") and err.count("\n") == 1


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["plan", "--cpus", "4"], id="missing-memory"),
        pytest.param([*BASE, "--format", "xml"], id="bad-format"),
        pytest.param([*BASE, "--set", "work_mem"], id="override-without-equals"),
        pytest.param([], id="no-command"),
    ],
)
def test_usage_errors_exit_2_with_one_line(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "error: " in err, err
    assert err.startswith("tsdb-deploy")
    assert "usage:" not in err and "Traceback" not in err


def test_module_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "tsdb_deploy", *BASE, "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout)["parameters"]["shared_buffers"] == "2GB"


def test_module_entry_point_error():
    result = subprocess.run(
        [sys.executable, "-m", "tsdb_deploy", *BASE, "--memory", "8XB"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("tsdb-deploy: error: not a size: '8XB'")
    assert result.stderr.count("\n") == 1


def test_an_acknowledged_downgrade_is_planned(capsys):
    assert main([*BASE, "--set", "fsync=off", "--acknowledge-unsafe", "fsync"]) == 0
    out, _ = capsys.readouterr()
    assert re.search(r"^fsync = off\b", out, re.M)
