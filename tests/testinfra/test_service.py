"""The database service runs and starts at boot, whatever the runtime."""

from __future__ import annotations

import json

import pytest


def test_native_service_running_and_enabled(host, deployed):
    if deployed.deployment["runtime"] != "native":
        pytest.skip("native runtime only")
    assert host.service("postgresql").is_enabled
    version = deployed.record["workload"]["pg_version"]
    assert host.service(f"postgresql@{version}-main").is_running


@pytest.fixture
def container(host, deployed):
    if deployed.deployment["runtime"] != "docker":
        pytest.skip("docker runtime only")
    out = host.check_output("docker inspect %s", deployed.deployment["container"])
    return json.loads(out)[0]


def test_docker_running_and_enabled(host, container):
    docker = host.service("docker")
    assert docker.is_running
    assert docker.is_enabled


def test_container_healthy_and_restarted_by_docker(container, deployed):
    assert container["State"]["Running"]
    assert container["State"]["Health"]["Status"] == "healthy"
    assert container["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert container["Config"]["Image"] == deployed.deployment["image"]


def test_container_sized_by_the_plan(container, deployed):
    hardware = deployed.record["hardware"]
    assert container["HostConfig"]["Memory"] == hardware["memory_bytes"]
    assert container["HostConfig"]["NanoCpus"] == int(hardware["cpus"] * 1e9)
    assert container["HostConfig"]["ShmSize"] >= 256 * 1024**2  # never Docker's 64MB default


def test_port_published_only_where_configured(host, container, deployed):
    published = deployed.deployment["published"]
    if not published:
        assert container["HostConfig"]["NetworkMode"] == "host"
        return
    bindings = container["HostConfig"]["PortBindings"]
    bound = sorted(f"{b['HostIp']}:{b['HostPort']}" for ports in bindings.values() for b in ports)
    assert bound == sorted(published)
    assert not any(b.startswith(("0.0.0.0:", ":::")) for b in bound)
    listening = host.socket.get_listening_sockets()
    for address in published:
        assert f"tcp://{address}" in listening, (address, listening)
