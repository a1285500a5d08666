"""The docker runtime: the same database as natively, in a container sized to its limits.

The test host (4g, 2 CPUs) runs Docker; the inventory limits the database container to
2 GiB and 1 CPU, so the plan must follow the container, not the host. The image is the
locally built TimescaleDB image, shipped as an archive (no registry is reachable here).
"""

from __future__ import annotations

import json

import pytest

from lab import sandbox, testhosts
from lab.testhosts import TestHost
from tsdb_deploy.units import GIB

from .conftest import make_target

HOST = TestHost("tsdb-it-docker", memory="4g", cpus=2, docker_volume=True)
DATA = sandbox.docker_host_data(container_memory="2GiB", container_cpus=1)


@pytest.fixture(scope="module")
def target(request, tmp_path_factory):
    testhosts.ensure_timescaledb_archive()
    target = make_target(request, tmp_path_factory, HOST)
    first = target.deploy(DATA, group="docker")
    assert first.returncode == 0, first.output[-5000:]
    return target


def container(target) -> dict:
    return json.loads(target.run("docker", "inspect", "tsdb_timescaledb"))[0]


def test_sized_for_the_container_limits(target):
    record = target.plan_record()
    assert record["hardware"]["memory_bytes"] == 2 * GIB
    assert record["hardware"]["cpus"] == 1
    assert target.show("shared_buffers") == "512MB"
    inspected = container(target)["HostConfig"]
    assert inspected["Memory"] == 2 * GIB
    assert inspected["NanoCpus"] == 10**9
    assert inspected["ShmSize"] >= 256 * 1024**2


def test_testinfra_suite_passes(target):
    result = target.testinfra()
    assert result.returncode == 0, result.stdout[-5000:]
    assert "passed" in result.stdout


def test_second_run_changes_nothing(target):
    again = target.deploy(DATA, group="docker")
    assert again.returncode == 0, again.output[-5000:]
    assert again.changed == 0, again.output[-5000:]


def test_reload_only_change_keeps_container_and_postmaster(target):
    before = (container(target)["Id"], target.postmaster_started())
    data = {**DATA, "postgres_overrides": {"work_mem": "6MB"}}
    result = target.deploy(data, group="docker")
    assert result.returncode == 0, result.output[-5000:]
    assert "Reloading PostgreSQL" in result.output
    assert target.show("work_mem") == "6MB"
    assert (container(target)["Id"], target.postmaster_started()) == before


def test_restart_change_restarts_once(target):
    before = (container(target)["Id"], target.postmaster_started())
    data = {**DATA, "postgres_overrides": {"work_mem": "6MB", "shared_buffers": "384MB"}}
    result = target.deploy(data, group="docker")
    assert result.returncode == 0, result.output[-5000:]
    assert result.output.count("Restarting PostgreSQL") == 1
    assert "Updating tsdb_timescaledb" not in result.output  # recreated once, not twice
    assert target.show("shared_buffers") == "384MB"
    after = (container(target)["Id"], target.postmaster_started())
    assert after[1] != before[1]
    again = target.deploy(data, group="docker")
    assert again.changed == 0, again.output[-5000:]
    assert (container(target)["Id"], target.postmaster_started()) == after


def test_container_limit_change_recreates_it_with_a_new_plan(target):
    data = {**DATA, "container_memory": "1536MiB"}
    result = target.deploy(data, group="docker")
    assert result.returncode == 0, result.output[-5000:]
    assert container(target)["HostConfig"]["Memory"] == 1536 * 1024**2
    assert target.show("shared_buffers") == "384MB"  # 25% of 1.5 GiB
    assert target.deploy(data, group="docker").changed == 0


@pytest.mark.parametrize(
    "data, message",
    [
        (
            {"timescaledb_image_archive": "/nonexistent/timescaledb.tar"},
            "/nonexistent/timescaledb.tar",
        ),
        (
            {"timescaledb_image": "tsdb-timescaledb-test:no-such-tag",
             "timescaledb_image_archive": None},
            "no-such-tag",
        ),
        ({"timescaledb_image": "timescale/timescaledb:latest"}, "not 'latest'"),
        ({"container_memory": "64GiB"}, "exceeds the"),
    ],
    ids=["missing-archive", "unknown-image", "latest-tag", "limit-above-host"],
)  # fmt: skip
def test_bad_image_or_limits_fail_before_the_database_is_touched(target, data, message):
    before = (
        container(target)["Id"],
        target.postmaster_started(),
        target.sha256("/etc/tsdb-deploy/docker/compose.yaml"),
    )
    result = target.deploy({**DATA, **data}, group="docker")
    assert result.returncode != 0
    assert message in result.output, result.output[-3000:]
    after = (
        container(target)["Id"],
        target.postmaster_started(),
        target.sha256("/etc/tsdb-deploy/docker/compose.yaml"),
    )
    assert after == before


def test_tsdb_psql_works_on_the_host(target):
    out = target.run("tsdb-psql", "-At", "-c", "SELECT current_database(), current_user")
    assert out.strip() == "klaviyo_analytics|postgres"
