"""Point-in-time recovery end to end: write rows, note the time T, write more and drop a
table, restore the cluster to T: the rows from before T are there, those after are not, and
the dropped table is back. On the Apache build (Debian's packages); test_community.py does
the same on both runtimes on the Community build, with compressed chunks."""

from __future__ import annotations

import time

import pytest

from lab.testhosts import TestHost

from .conftest import DISTRO, make_target

HOST = TestHost("tsdb-it-pitr-native", memory="2g", cpus=1)


@pytest.fixture(scope="module")
def target(request, tmp_path_factory):
    target = make_target(request, tmp_path_factory, HOST, DISTRO)
    first = target.deploy()
    assert first.returncode == 0, first.output[-5000:]
    return target


def test_restore_to_a_moment(target):
    target.psql(
        "CREATE TABLE pitr_probe (i int); INSERT INTO pitr_probe SELECT generate_series(1, 100)"
    )
    time.sleep(1.5)
    moment = target.psql("SELECT now()")
    time.sleep(1.5)
    target.psql("INSERT INTO pitr_probe SELECT generate_series(101, 200)")
    target.psql("DROP TABLE klaviyo_forms CASCADE")
    target.psql("SELECT pg_switch_wal()")  # the WAL past T is archived (archive_timeout bounds it)
    result = target.run("tsdb-pitr", moment, check=False)
    assert "completed successfully" in result, result[-3000:]
    assert target.psql("SELECT count(*), max(i) FROM pitr_probe") == "100|100"
    assert target.psql("SELECT to_regclass('klaviyo_forms') IS NOT NULL") == "t"
    assert target.psql("SELECT pg_is_in_recovery()") == "f"


def test_after_recovery_the_deploy_converges_and_archiving_goes_on(target):
    result = target.deploy()
    assert result.returncode == 0, result.output[-5000:]
    again = target.deploy()
    assert again.changed == 0, again.output[-5000:]
    target.run("tsdb-pg", "pgbackrest", "--stanza=tsdb", "check")


ARCHIVE = "/var/lib/pgbackrest/archive/tsdb/17-1"  # the stanza's WAL, PostgreSQL 17's first


def archiver_failing(target) -> bool:
    return (
        target.psql(
            "SELECT coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false) "
            "FROM pg_stat_archiver"
        )
        == "t"
    )


def test_archiving_is_checked_after_it_failed_not_on_every_deploy(target):
    """A converged deploy runs no `pgbackrest check` (it would switch and archive a WAL
    segment every time). After the archiver failed, the deploy runs it and stops with
    pgBackRest's reason; with the repository writable again it converges, then changes
    nothing."""
    quiet = target.deploy()
    assert quiet.changed == 0, quiet.output[-5000:]
    assert "pgBackRest: check" not in quiet.output  # said when it runs (below)
    # pgBackRest runs as postgres: it can read the stanza, and write no segment
    target.run("chmod", "-R", "a-w", ARCHIVE)
    try:
        target.psql("CREATE TABLE archive_probe AS SELECT 1 AS n")
        target.psql("SELECT pg_switch_wal()")
        deadline = time.monotonic() + 90
        while not archiver_failing(target):
            assert time.monotonic() < deadline, "the archiver did not fail"
            time.sleep(1)
        failed = target.deploy()
    finally:
        target.run("chmod", "-R", "u+w", ARCHIVE)
    assert failed.returncode != 0
    assert "pgBackRest: check: the archiver failed (" in failed.output, failed.output[-5000:]
    assert "was not archived before the" in failed.output, failed.output[-5000:]  # its reason
    healed = target.deploy()
    assert healed.returncode == 0, healed.output[-5000:]
    assert not archiver_failing(target)
    assert target.deploy().changed == 0
