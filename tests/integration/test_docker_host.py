"""The docker runtime: the same database as natively, in a container sized to its limits.

The test host (4g, 2 CPUs) runs Docker; the inventory limits the database container to
2 GiB and 1 CPU, so the plan must follow the container, not the host. The image is the lab's
Community TimescaleDB image of the default release, shipped as an archive (no registry is
reachable here), as an air-gapped site ships timescale/timescaledb.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from lab import images, testhosts, vendor
from lab.testhosts import TestHost
from tsdb_deploy.deploy_lock import LOCK_PATH
from tsdb_deploy.settings import SETTINGS
from tsdb_deploy.units import GIB

from .conftest import make_target
from .helpers import (
    assert_testinfra_passes,
    assert_the_session_answers_as_each_fact_alone,
    content_checksums,
    sh,
)

# tsdb-status's checks every runtime's module runs, on its own `target` (monitoring.py)
from .monitoring import (  # noqa: F401
    test_a_disk_past_its_threshold_is_critical_and_named,
    test_a_stale_backup_is_critical_and_named,
    test_tsdb_status_is_ok_on_a_healthy_host,
)

# PgBouncer under more clients than max_connections (pooling.py)
from .pooling import (  # noqa: F401
    test_more_clients_than_connection_slots_all_get_through_pgbouncer,
)

# the security checks every runtime's module runs, on its own `target` (security.py)
from .security import (  # noqa: F401
    test_certificate_renewal_reloads_never_restarts,
    test_network_clients_need_tls_and_a_verified_certificate,
    test_only_app_networks_get_in,
    test_the_application_connects_through_pgbouncer_with_scram_and_tls,
    test_the_application_role_cannot_escalate,
)

HOST = TestHost("tsdb-it-docker", memory="4g", cpus=2, docker_volume=True)
VERSION = SETTINGS["timescaledb_version"].default
OLD = next(v for v in vendor.RELEASES if v != VERSION)


@pytest.fixture(scope="module")
def target(request, tmp_path_factory):
    base = images.docker_host_data(VERSION, container_memory="2GiB", container_cpus=1)
    target = make_target(request, tmp_path_factory, HOST, base, group="docker")
    # its address is known once it runs
    target.base |= testhosts.app_client_data("docker", HOST.name)
    first = target.deploy()
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
    assert_testinfra_passes(target)


def test_second_run_changes_nothing(target):
    again = target.deploy()
    assert again.returncode == 0, again.output[-5000:]
    assert again.changed == 0, again.output[-5000:]


def test_the_database_facts_answer_alike_in_one_session(target):
    assert_the_session_answers_as_each_fact_alone(target)


def test_reload_only_change_keeps_container_and_postmaster(target):
    before = (container(target)["Id"], target.postmaster_started())
    data = {"postgres_overrides": {"work_mem": "6MB"}}
    result = target.deploy(data)
    assert result.returncode == 0, result.output[-5000:]
    assert "Reloading PostgreSQL" in result.output
    assert target.show("work_mem") == "6MB"
    assert (container(target)["Id"], target.postmaster_started()) == before


def test_restart_change_restarts_once(target):
    before = (container(target)["Id"], target.postmaster_started())
    data = {"postgres_overrides": {"work_mem": "6MB", "shared_buffers": "384MB"}}
    result = target.deploy(data)
    assert result.returncode == 0, result.output[-5000:]
    assert result.output.count("Restarting PostgreSQL") == 1
    assert "Updating tsdb_timescaledb" not in result.output  # recreated once, not twice
    assert target.show("shared_buffers") == "384MB"
    after = (container(target)["Id"], target.postmaster_started())
    assert after[1] != before[1]
    again = target.deploy(data)
    assert again.changed == 0, again.output[-5000:]
    assert (container(target)["Id"], target.postmaster_started()) == after


def test_container_limit_change_recreates_it_with_a_new_plan(target):
    data = {"container_memory": "1536MiB"}
    result = target.deploy(data)
    assert result.returncode == 0, result.output[-5000:]
    assert container(target)["HostConfig"]["Memory"] == 1536 * 1024**2
    assert target.show("shared_buffers") == "384MB"  # 25% of 1.5 GiB
    assert target.deploy(data).changed == 0


@pytest.mark.parametrize(
    "data, message",
    [
        (
            {"timescaledb_image_archive": "/nonexistent/timescaledb.tar"},
            "/nonexistent/timescaledb.tar",
        ),
        (
            {"timescaledb_image": "tsdb-lab-timescaledb:no-such-tag",
             "timescaledb_image_archive": None},
            "no-such-tag",
        ),
        (
            "the older release's image",
            f"ships TimescaleDB {OLD}, but timescaledb_version is {VERSION}",
        ),
        ({"timescaledb_image": "timescale/timescaledb:latest"}, "not 'latest'"),
        ({"container_memory": "64GiB"}, "exceeds the"),
    ],
    ids=["missing-archive", "unknown-image", "other-version", "latest-tag", "limit-above-host"],
)  # fmt: skip
def test_bad_image_or_limits_fail_before_the_database_is_touched(target, data, message):
    if data == "the older release's image":
        older = images.docker_host_data(OLD)
        data = {k: older[k] for k in ("timescaledb_image", "timescaledb_image_archive")}
    before = (
        container(target)["Id"],
        target.postmaster_started(),
        target.sha256("/etc/tsdb-deploy/docker/compose.yaml"),
    )
    result = target.deploy(data)
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


# When the container restarts: as the deploy starts (its facts and plan), or once it holds
# the deploy lock (its operations); and the change each deploy has to make meanwhile.
RESTART_WHEN = {
    "while-planning": ("sleep 0.5", "7MB"),
    "while-converging": (f"until [ -e {LOCK_PATH} ]; do sleep 0.1; done", "5MB"),
}


@pytest.mark.parametrize("when", list(RESTART_WHEN))
def test_a_deploy_while_the_container_restarts_ends_cleanly_and_converges(target, when):
    """The fault suite's docker case (docs/reliability.md): the database container restarts
    (an operator, a crash) during a deploy that has a change to make. The deploy succeeds or
    stops with pyinfra's error, never a traceback; once the container is back, the next
    deploy converges, the one after changes nothing, and no row went missing."""
    wait, work_mem = RESTART_WHEN[when]
    data = {"postgres_overrides": {"work_mem": work_mem}}
    before = content_checksums(target)
    target.run("sh", "-c", f"({wait}; docker restart tsdb_timescaledb) >/dev/null 2>&1 &")
    during = target.deploy(data)
    ended = time.time()
    assert "Traceback" not in during.output, during.output[-5000:]
    if during.returncode != 0:
        assert "pyinfra error" in during.output or "Error:" in during.output, during.output
    deadline = time.monotonic() + 120
    while not _ready(target):
        assert time.monotonic() < deadline, "the container did not come back"
        time.sleep(1)
    started = container(target)["State"]["StartedAt"]  # RFC 3339, nanoseconds, UTC
    restarted = datetime.fromisoformat(started[:26].rstrip("Z") + "+00:00").timestamp()
    assert restarted <= ended, f"the restart ({started}) came after the deploy ended"
    converge = target.deploy(data)
    assert converge.returncode == 0, converge.output[-5000:]
    again = target.deploy(data)
    assert again.returncode == 0 and again.changed == 0, again.output[-5000:]
    assert target.show("work_mem") == work_mem
    assert content_checksums(target) == before


def _ready(target) -> bool:
    return sh(target, "docker", "exec", "tsdb_timescaledb", "pg_isready", "-q").returncode == 0
