"""tsdb-status on a deployed host, and what makes it alert: imported by both runtimes' modules
(test_native_host.py, test_docker_host.py), each on its own `target`."""

from __future__ import annotations

import json

from tsdb_deploy import known_issues

BACKUP_DIR = "/var/backups/tsdb"


def status(target) -> tuple[dict, int]:
    proc = target.run("tsdb-status", "--json", check=False)
    return json.loads(proc), _exit(target)


def _exit(target) -> int:
    return int(target.run("sh", "-c", "tsdb-status >/dev/null; echo $?").strip())


def not_ok(report: dict) -> dict[str, dict]:
    return {c["name"]: c for c in report["checks"] if c["level"] != "OK"}


def test_tsdb_status_is_ok_on_a_healthy_host(target):
    """Exit 0; where TimescaleDB's scheduler cannot run jobs on this PostgreSQL (a known
    upstream defect, known_issues.py), exit 1 for that check alone, with the job's error."""
    report, code = status(target)
    bad = not_ok(report)
    if set(bad) == {"timescaledb_jobs"}:
        assert code == 1 and report["status"] == "WARNING"
        assert known_issues.diagnose(bad["timescaledb_jobs"]["summary"]), bad
    else:
        assert (code, bad) == (0, {}), report
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["pool"]["data"]["pool_size"] == target.plan_record()["pooler"]["server_pool"]
    assert checks["backups"]["data"]["age_s"]["daily"] is not None  # the deploy's first backup


def test_a_stale_backup_is_critical_and_named(target):
    """The daily backups made three days older: tsdb-backup --status exits 1, tsdb-status 2,
    naming the tier; put back, both are content again."""
    shift = (
        "import json, glob, datetime as dt, sys\n"
        "days = int(sys.argv[1])\n"
        f"for p in glob.glob('{BACKUP_DIR}/daily/*.json'):\n"
        "    m = json.load(open(p))\n"
        "    t = dt.datetime.fromisoformat(m['started_at']) + dt.timedelta(days=days)\n"
        "    m['started_at'] = t.isoformat()\n"
        "    json.dump(m, open(p, 'w'))\n"
    )
    target.run("python3", "-c", shift, "-3")
    try:
        backup = target.run("sh", "-c", "tsdb-backup --status; echo rc=$?")
        assert "rc=1" in backup and "STALE" in backup, backup
        report, code = status(target)
        assert code == 2 and report["status"] == "CRITICAL"
        summary = not_ok(report)["backups"]["summary"]
        assert "daily: newest verified backup is 3.0d old" in summary, summary
        first = target.run("sh", "-c", "tsdb-status | head -1")
        assert first.startswith("TSDB CRITICAL:") and "backups: stale" in first, first
    finally:
        target.run("python3", "-c", shift, "3")
    assert "rc=0" in target.run("sh", "-c", "tsdb-backup --status; echo rc=$?")


def test_a_disk_past_its_threshold_is_critical_and_named(target):
    """The backup directory on a 16 MiB filesystem filled to 95%: tsdb-status exits 2 naming
    the disk and the path."""
    script = (
        'set -e; d=$(mktemp -d); mount -t tmpfs -o size=16m tmpfs "$d"; '
        f'cp -a {BACKUP_DIR}/. "$d"/ ; chown --reference={BACKUP_DIR} "$d"; '
        f'chmod --reference={BACKUP_DIR} "$d"; mount --move "$d" {BACKUP_DIR}; rmdir "$d"; '
        f"avail=$(df --output=avail -B1K {BACKUP_DIR} | tail -1); "
        f"dd if=/dev/zero of={BACKUP_DIR}/filler bs=1K count=$((avail - 700)) status=none"
    )
    target.run("sh", "-c", script)
    try:
        report, code = status(target)
        disk = not_ok(report)["disk"]
        assert code == 2 and disk["level"] == "CRITICAL", report
        assert "backups" in disk["summary"] and f"CRITICAL ({BACKUP_DIR})" in disk["summary"]
        assert disk["data"]["backups"]["free_pct"] < 10
    finally:
        target.run("umount", BACKUP_DIR)
    report, _ = status(target)
    assert "disk" not in not_ok(report)
