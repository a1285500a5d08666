"""Point-in-time recovery end to end: write rows, note the time T, write more and drop a
table, restore the cluster to T: the rows from before T are there, those after are not, and
the dropped table is back."""

from __future__ import annotations

import time

import pytest

from lab import sandbox
from lab.testhosts import TestHost

from .conftest import make_target

HOSTS = {
    "native": (TestHost("tsdb-it-pitr-native", memory="2g", cpus=1), {}),
    "docker": (
        TestHost("tsdb-it-pitr-docker", memory="3g", cpus=1, docker_volume=True),
        sandbox.docker_host_data(container_memory="2GiB", container_cpus=1),
    ),
}


@pytest.fixture(scope="module", params=list(HOSTS))
def target(request, tmp_path_factory):
    if request.param == "docker":
        from lab import testhosts

        testhosts.ensure_timescaledb_archive()
    test_host, data = HOSTS[request.param]
    target = make_target(request, tmp_path_factory, test_host)
    first = target.deploy(data, group=request.param)
    assert first.returncode == 0, first.output[-5000:]
    target.data, target.group = data, request.param
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
    result = target.deploy(target.data, group=target.group)
    assert result.returncode == 0, result.output[-5000:]
    again = target.deploy(target.data, group=target.group)
    assert again.changed == 0, again.output[-5000:]
    target.run("tsdb-pg", "pgbackrest", "--stanza=tsdb", "check")
