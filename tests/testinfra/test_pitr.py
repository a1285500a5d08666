"""Point-in-time recovery on a deployed host: WAL archived by pgBackRest, scheduled backups."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(autouse=True)
def _only_with_pitr(deployed):
    """A host deployed with pitr off (staging: docs/staging.md) has none of this."""
    if deployed.parameters.get("archive_mode", "off").strip("'") != "on":
        pytest.skip("pitr is off on this host (archive_mode off)")


def test_wal_is_archived_by_pgbackrest(deployed):
    assert deployed.psql("SHOW archive_mode") == "on"
    assert deployed.psql("SHOW archive_command").startswith("pgbackrest --stanza=tsdb")
    failed = deployed.psql("SELECT failed_count FROM pg_stat_archiver")
    last_ok = deployed.psql("SELECT last_archived_time IS NOT NULL FROM pg_stat_archiver")
    assert last_ok == "t", "nothing archived yet"
    assert failed.isdigit()


def test_pgbackrest_check_passes(host):
    result = host.run("tsdb-pg pgbackrest --stanza=tsdb check")
    assert result.rc == 0, result.stderr


def test_a_full_backup_exists(host):
    info = json.loads(host.check_output("tsdb-pg pgbackrest --stanza=tsdb --output=json info"))
    (stanza,) = info
    assert stanza["status"]["code"] == 0, stanza["status"]
    assert any(b["type"] == "full" for b in stanza["backup"])


def test_backups_scheduled_as_postgres(host):
    cron = host.file("/etc/cron.d/tsdb-pgbackrest")
    assert cron.exists and cron.user == "root" and cron.mode == 0o644
    jobs = [line.split() for line in cron.content_string.splitlines() if line[:1].isdigit()]
    assert {" ".join(job[9:11]) for job in jobs} == {"--type=full backup", "--type=diff backup"}
    assert all(job[5] == "postgres" for job in jobs)


def test_pitr_tool_installed(host):
    tool = host.file("/usr/local/sbin/tsdb-pitr")
    assert tool.is_file and tool.mode == 0o755
