"""The docker runtime's least-privilege pieces, as data: who may connect through the bridge,
what the container may do, whose files follow the postgres user's ids."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile

import pytest
from pyinfra.api.exceptions import OperationError

from tsdb_deploy.facts import parse_ids
from tsdb_deploy.host_plan import runtime_for
from tsdb_deploy.operations.docker import align_postgres_ids_script, archive_image_id
from tsdb_deploy.planner import Hardware, Workload, plan
from tsdb_deploy.render.docker import compose_project
from tsdb_deploy.runtimes import Distro
from tsdb_deploy.runtimes.docker import DockerRuntime
from tsdb_deploy.settings import resolve
from tsdb_deploy.units import GIB

BASE = {"database": "analytics", "app_user": "app", "runtime": "docker", "tls": False,
        "acknowledge_unsafe": ["ssl"]}  # fmt: skip


def runtime(**data) -> DockerRuntime:
    return runtime_for(resolve({**BASE, **data}), Distro("debian", 13, "trixie"))


@pytest.mark.parametrize(
    "networks, gateway_allowed",
    [
        (["127.0.0.1/32", "::1/128"], True),  # the host's own clients, through docker-proxy
        (["10.0.0.0/8"], False),  # only remote clients: they keep their addresses
        (["10.0.0.0/8", "127.0.0.1/32"], True),
    ],
)
def test_the_gateway_stands_for_the_hosts_own_clients_only(networks, gateway_allowed):
    rt = runtime(app_networks=networks)
    hba = rt.hba_networks()
    assert hba[: len(networks)] == networks
    assert ("172.30.57.1/32" in hba) is gateway_allowed
    assert len(hba) == len(networks) + gateway_allowed


def test_published_beyond_loopback_the_gateway_is_never_trusted():
    """The proxy may then carry remote clients too: only app_networks lets anyone in."""
    rt = runtime(app_networks=["127.0.0.1/32"], publish_addresses=["127.0.0.1", "10.0.0.5"])
    assert rt.hba_networks() == ["127.0.0.1/32"]


def test_host_networking_never_adds_the_gateway():
    rt = runtime(docker_network="host", app_networks=["127.0.0.1/32"])
    assert rt.hba_networks() == ["127.0.0.1/32"]


def test_the_container_runs_with_least_privilege():
    rt = runtime()
    service = compose_project(rt, plan(Hardware(4 * GIB, 2), Workload()))["services"]["timescaledb"]
    assert service["user"] == "postgres"
    assert service["cap_drop"] == ["ALL"] and "cap_add" not in service
    assert "no-new-privileges:true" in service["security_opt"]
    assert service["read_only"] is True
    assert 100 < service["pids_limit"] < 2000
    config = next(v for v in service["volumes"] if v["target"] == "/etc/tsdb")
    assert config["read_only"] is True


def test_postgres_owned_paths_follow_the_settings():
    rt = runtime(pitr=True, BACKUP_DIR="/srv/backups", data_volume="/srv/pg")
    assert rt.postgres_owned_paths() == [
        "/srv/pg", "/etc/tsdb-deploy/postgres", "/etc/tsdb-deploy/docker/pgbouncer", "/srv/backups",
        "/var/lib/pgbackrest/log", "/var/lib/pgbackrest",
    ]  # fmt: skip
    assert runtime().postgres_owned_paths()[0] == "/var/lib/docker/volumes/tsdb_pgdata/_data"


def test_ids_fact_parser():
    ids = parse_ids(["image 70 70", "holders - postgres", "host 101 102", "groups postgres docker"])
    assert ids.image == (70, 70) and ids.host == (101, 102) and ids.in_docker_group
    assert ids.holders == ("", "postgres")
    fresh = parse_ids([])
    assert fresh.image is None and fresh.host is None and not fresh.in_docker_group
    assert fresh.holders == ("", "")


def test_align_script_quotes_every_path():
    script = align_postgres_ids_script("img:1", ["db", "pool"], ["/srv/a b", "/srv/$x"])
    assert "for path in '/srv/a b' '/srv/$x'; do" in script
    assert "docker stop db pool" in script


def test_align_script_is_valid_shell_and_moves_files_before_the_accounts():
    """Files first, accounts last: a run cut short is finished by the next one, which still
    sees the old ids; on any failure after the stop the database is started again."""
    script = align_postgres_ids_script("img:1", ["db", "pool"], ["/srv/a b"])
    subprocess.run(["sh", "-n", "-c", script], check=True)
    assert script.index("chown -R") < script.index("groupmod") < script.index("usermod")
    assert script.index("trap 'docker start db") < script.index("docker stop db")
    assert script.rstrip().endswith("trap - EXIT")


def test_an_archive_is_known_by_its_digest_and_a_manifest_without_one_is_refused(tmp_path):
    digest = "a" * 64
    archive = tmp_path / "img;id>x $(reboot).tar"
    with tarfile.open(archive, "w") as tar:
        data = json.dumps([{"Config": f"blobs/sha256/{digest}"}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert archive_image_id(str(archive)) == f"sha256:{digest}"
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tar:
        data = json.dumps([{"Config": "x;reboot.json"}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(OperationError, match="names no image digest"):
        archive_image_id(str(bad))
