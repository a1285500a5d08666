"""tsdb-status (files/tsdb-status): each check's verdict from what the server and the tools say,
and Nagios's exit codes. The server's answers come from stand-in tsdb-pg and tsdb-backup
scripts printing what PostgreSQL and PgBouncer print; the real ones run in the integration tests.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.unit.test_backup_tools import load
from tsdb_deploy import render
from tsdb_deploy.settings import STATUS_THRESHOLDS

ROOT = Path(__file__).resolve().parents[2]
st = load("tsdb_status", ROOT / "files" / "tsdb-status")
SEP = "\x1f"


def conf(tmp_path, **over) -> dict:
    text = render.status.status_conf(
        database="analytics", pgbouncer_port=6432, pool_size=10, data_dir=str(tmp_path),
        backup_dir=str(tmp_path), pgbackrest_repo=None,
        thresholds={k: v[0] for k, v in STATUS_THRESHOLDS.items()},
        tsdb_pg=str(tmp_path / "tsdb-pg"),
    )  # fmt: skip
    path = tmp_path / "status.conf"
    path.write_text(text)
    (tmp_path / "pg_wal").mkdir(exist_ok=True)
    return {**st.load_config(str(path)), **over}


def stand_in(path: Path, answers: dict[str, str], rc: int = 0) -> None:
    """An executable printing the answer whose key appears in its arguments."""
    cases = []
    for n, (key, value) in enumerate(answers.items()):
        answer = path.with_name(f"{path.name}.answer{n}")
        answer.write_text(value)
        cases.append(f'  *"{key}"*) cat "{answer}" ;;')
    path.write_text('#!/bin/sh\ncase "$*" in\n' + "\n".join(cases) + f"\nesac\nexit {rc}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def pools(active: int, waiting: int, maxwait: int, clients: int = 3) -> str:
    row = ["analytics", "app", clients, waiting, 0, 0, active, 0, 0, 1, 0, 0, 0, maxwait, 0,
           "transaction", ""]  # fmt: skip
    admin = ["pgbouncer", "pgbouncer", 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "statement", ""]
    return "\n".join(SEP.join(map(str, r)) for r in (row, admin)) + "\n"


@pytest.mark.parametrize(
    "active, waiting, maxwait, level",
    [
        (2, 0, 0, st.OK),
        (8, 0, 0, st.WARNING),  # 80% of the pool of 10
        (10, 0, 0, st.CRITICAL),
        (3, 4, 2, st.WARNING),  # clients wait 2 s
        (3, 4, 6, st.CRITICAL),  # past the documents' 5 s connection timeout
        (3, 0, 9, st.OK),  # a stale maxwait with nobody waiting
    ],
)
def test_pool_use_and_waiting_clients(tmp_path, active, waiting, maxwait, level):
    stand_in(tmp_path / "tsdb-pg", {"SHOW POOLS": pools(active, waiting, maxwait)})
    check = st.check_pool(conf(tmp_path))
    assert check.level == level, check.summary
    assert f"{active}/10 server connections" in check.summary


def test_no_pool_before_the_first_client_is_ok(tmp_path):
    admin = SEP.join(["pgbouncer", "pgbouncer", *["0"] * 13, "statement", ""])
    stand_in(tmp_path / "tsdb-pg", {"SHOW POOLS": admin + "\n"})
    check = st.check_pool(conf(tmp_path))
    assert check.level == st.OK and check.data == {"server_active": 0, "pool_size": 10}


def test_pgbouncer_down_is_critical(tmp_path):
    stand_in(tmp_path / "tsdb-pg", {"SHOW POOLS": ""}, rc=2)
    check = st.check_pool(conf(tmp_path))
    assert check.level == st.CRITICAL and "does not answer" in check.summary


@pytest.mark.parametrize(
    "commits, rollbacks, checksums, level",
    [
        (99000, 1000, 0, st.OK),
        (9000, 1000, 0, st.WARNING),
        (7000, 3000, 0, st.CRITICAL),
        (70, 30, 0, st.OK),  # too few transactions to judge
        (10000, 0, 1, st.CRITICAL),  # a checksum failure, whatever the rest
    ],
)
def test_rollback_rate_and_checksum_failures(tmp_path, monkeypatch, commits, rollbacks,
                                            checksums, level):  # fmt: skip
    monkeypatch.setattr(st, "STATE_FILE", str(tmp_path / "state" / "counters.json"))
    row = SEP.join(map(str, [commits, rollbacks, 0, checksums, 0, "2026-12-01"]))
    stand_in(tmp_path / "tsdb-pg", {"pg_stat_database": row + "\n"})
    check = st.check_rollbacks(conf(tmp_path))
    assert check.level == level, check.summary


def test_the_rollback_rate_is_taken_since_the_last_check(tmp_path):
    state = str(tmp_path / "counters.json")
    first = st.rollback_window({"commits": 90000, "rollbacks": 10000, "reset": "r"}, state)
    assert first == (90000, 10000, "since r")
    later = st.rollback_window({"commits": 95000, "rollbacks": 10050, "reset": "r"}, state)
    assert later == (5000, 50, "since the last check")
    # counters reset: the window starts again at the reset
    reset = st.rollback_window({"commits": 10, "rollbacks": 1, "reset": "r2"}, state)
    assert reset == (10, 1, "since r2")


@pytest.mark.parametrize("lag, level", [(0.5, st.OK), (45, st.WARNING), (900, st.CRITICAL)])
def test_replica_lag(tmp_path, lag, level):
    stand_in(tmp_path / "tsdb-pg", {"pg_stat_replication": f"replica1{SEP}streaming{SEP}{lag}\n"})
    assert st.check_replicas(conf(tmp_path)).level == level


def test_no_replicas_is_ok(tmp_path):
    stand_in(tmp_path / "tsdb-pg", {"pg_stat_replication": ""})
    assert st.check_replicas(conf(tmp_path)).summary == "no replicas"


@pytest.mark.parametrize("free, level", [(50.0, st.OK), (15.0, st.WARNING), (5.0, st.CRITICAL)])
def test_disk_free(tmp_path, monkeypatch, free, level):
    class Vfs:
        f_blocks, f_frsize = 1000, 4096
        f_bavail = int(free * 10)

    monkeypatch.setattr(st.os, "statvfs", lambda path: Vfs)
    check = st.check_disks(conf(tmp_path))
    assert check.level == level
    assert f"data {free:.0f}% free" in check.summary


def test_a_missing_disk_path_is_unknown_not_ok(tmp_path):
    stand_in(tmp_path / "tsdb-pg", {})
    c = conf(tmp_path, BACKUP_DIR=str(tmp_path / "gone"))
    (result,) = [x for x in st.run_checks(c) if x.name == "disk"]
    assert result.level == st.UNKNOWN and "backups" in result.summary


def test_every_check_is_named_as_its_verdicts_are(tmp_path):
    """A check that cannot run is UNKNOWN under the same name its verdicts carry."""
    stand_in(tmp_path / "tsdb-pg", {}, rc=2)
    names = [c.name for c in st.run_checks(conf(tmp_path, PITR="1"))]
    assert names == list(st.CHECKS)


def test_a_stale_backup_tier_is_critical_and_named(tmp_path, monkeypatch):
    report = {"tiers": {
        "hourly": {"newest": {"age_seconds": 600}, "stale": None},
        "daily": {"newest": {"age_seconds": 300000}, "stale": "newest verified backup is 3.5d old"},
    }}  # fmt: skip
    stand_in(tmp_path / "tsdb-backup", {"--status": json.dumps(report)}, rc=1)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    check = st.check_backups(conf(tmp_path))
    assert check.level == st.CRITICAL
    assert check.summary == "stale: daily: newest verified backup is 3.5d old"


def test_failed_jobs_warn_with_their_error(tmp_path):
    rows = f"1002{SEP}policy_compression{SEP}events{SEP}portal trouble\n"
    stand_in(tmp_path / "tsdb-pg", {"job_stats": rows})
    check = st.check_jobs(conf(tmp_path))
    assert check.level == st.WARNING and "1002 policy_compression" in check.summary
    assert "portal trouble" in check.summary


@pytest.mark.parametrize(
    "row, level, words",
    [
        ([10, 0, "", 30, "f"], st.OK, "30s ago"),
        ([10, 0, "", 4000, "f"], st.WARNING, "4000s ago"),
        ([10, 3, "000000010000000000000007", 5, "t"], st.CRITICAL, "archiving fails"),
    ],
)
def test_wal_archiving(tmp_path, row, level, words):
    stand_in(tmp_path / "tsdb-pg", {"pg_stat_archiver": SEP.join(map(str, row)) + "\n"})
    check = st.check_archiving(conf(tmp_path, PITR="1"))
    assert check.level == level and words in check.summary


def test_the_exit_code_is_the_worst_check_and_the_first_line_names_the_causes():
    checks = [st.Check("pool", st.OK, "fine"), st.Check("disk", st.CRITICAL, "backups 5% free"),
              st.Check("errors", st.WARNING, "6% rolled back")]  # fmt: skip
    level, text = st.report(checks)
    assert level == st.CRITICAL
    first = text.splitlines()[0]
    assert first.startswith("TSDB CRITICAL:") and "disk: backups 5% free" in first
    assert "pool" not in first
    level, text = st.report([st.Check("pool", st.OK, "fine")])
    assert (level, text.splitlines()[0]) == (st.OK, "TSDB OK: all checks passed")


def test_status_conf_holds_every_threshold_the_tool_reads(tmp_path):
    c = conf(tmp_path)
    source = (ROOT / "files" / "tsdb-status").read_text()
    for name in STATUS_THRESHOLDS:
        assert name.upper() in c
        assert f'"{name.upper()}"' in source, f"tsdb-status never reads {name}"
