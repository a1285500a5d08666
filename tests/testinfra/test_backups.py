"""Logical backups on a deployed host: tools, schedule as postgres, fresh verified backups."""

from __future__ import annotations

import json

# the longest a tier's newest backup may be old: its period plus the run's own time
MAX_AGE = {"hourly": 2 * 3600, "daily": 26 * 3600, "weekly": 8 * 86400, "monthly": 32 * 86400}


def test_tools_installed(host):
    for tool in ("tsdb-backup", "tsdb-restore", "tsdb-pg", "tsdb-psql"):
        f = host.file(f"/usr/local/bin/{tool}")
        assert f.is_file and f.mode == 0o755, tool


def test_every_tier_scheduled_as_postgres_and_a_weekly_restore_test(host):
    cron = host.file("/etc/cron.d/tsdb-backup")
    assert cron.user == "root" and cron.mode == 0o644
    jobs = [line.split() for line in cron.content_string.splitlines() if line[:1].isdigit()]
    assert all(job[5] == "postgres" for job in jobs)
    backups = [job for job in jobs if job[6] == "tsdb-backup"]
    assert {job[7] for job in backups} == set(MAX_AGE)
    tests = [job[6:9] for job in jobs if job[6] == "tsdb-restore"]
    assert tests == [["tsdb-restore", "--test", "weekly/latest"]]
    assert len(jobs) == len(backups) + 1


def test_backup_directory_private_to_postgres(host):
    status = json.loads(host.check_output("tsdb-backup --status --json"))
    directory = host.file(status["backup_dir"])
    assert directory.user == "postgres" and directory.mode == 0o700


def test_newest_backups_verified_and_younger_than_their_period(host):
    status = json.loads(host.check_output("tsdb-backup --status --json"))
    tiers = status["tiers"]
    assert any(t["verified"] for t in tiers.values()), "no verified backup at all"
    for name, tier in tiers.items():
        if tier["newest"]:
            assert tier["newest"]["age_seconds"] < MAX_AGE[name], (name, tier["newest"])
            assert tier["count"] <= tier["keep"], (name, tier)
