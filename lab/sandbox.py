"""`make sandbox`: local test hosts, deployed with the real deploy, and what each one got."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tsdb_deploy import secrets
from tsdb_deploy.units import format_size

from . import testhosts
from .testhosts import TestHost

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PASSWORD_FILE = ".sandbox/secrets/app_password"
# Sized like small production hosts, and well below this machine's memory so the plan
# visibly follows the limits, not the machine's: the native host's cgroup limit, and the
# docker host's database container limits (inside a 4g host).
NATIVE = TestHost("tsdb-sandbox-native", memory="4g", cpus=2)
DOCKER = TestHost("tsdb-sandbox-docker", memory="4g", cpus=2, docker_volume=True)
SANDBOX_HOSTS = [NATIVE, DOCKER]


def docker_host_data(container_memory: str = "2GiB", container_cpus: float = 1) -> dict:
    """Inventory data of a docker-runtime test host: the locally built TimescaleDB image,
    shipped as an archive (no registry is reachable here), and the container's limits."""
    return {
        "timescaledb_image": testhosts.timescaledb_image_tag(),
        "timescaledb_image_archive": str(testhosts.timescaledb_archive()),
        "container_memory": container_memory,
        "container_cpus": container_cpus,
    }


KEY_PARAMETERS = (
    "max_connections",
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "maintenance_work_mem",
    "max_wal_size",
    "max_parallel_workers",
    "timescaledb.max_background_workers",
)


def prepare_secrets() -> Path:
    return secrets.generate_if_missing(PASSWORD_FILE)


def up() -> int:
    """Start missing hosts (running ones are kept and converged again), deploy, summarise."""
    missing = [h for h in SANDBOX_HOSTS if not testhosts.is_running(h.name)]
    testhosts.ensure_docker()
    if missing:
        testhosts.start_many(missing)
    testhosts.ensure_timescaledb_archive()
    prepare_secrets()
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", "-y", "inventory/sandbox.py", "deploy.py"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    if result.returncode != 0:
        print("sandbox: the deploy failed (see above); hosts are left running", file=sys.stderr)
        return result.returncode
    print(summary())
    return 0


def down() -> int:
    for name in testhosts.remove_all("tsdb-sandbox-"):
        print(f"removed {name}")
    return 0


def _exec(name: str, *command: str) -> str:
    return subprocess.run(
        ["docker", "exec", name, *command], check=True, capture_output=True, text=True
    ).stdout


def summary() -> str:
    lines = ["", "Sandbox hosts:"]
    for test_host in SANDBOX_HOSTS:
        record = json.loads(_exec(test_host.name, "cat", "/etc/tsdb-deploy/plan.json"))
        hw, params, budget = record["hardware"], record["parameters"], record["budget"]
        live = _exec(
            test_host.name,
            "tsdb-psql",
            "-X",
            "-At",
            "-c",
            "SELECT current_setting('server_version') || ', timescaledb ' || extversion || "
            "' (' || current_setting('timescaledb.license') || ' license)' "
            "FROM pg_extension WHERE extname = 'timescaledb'",
        ).strip()
        deployment = record["deployment"]
        where = (
            f"container {deployment['container']}, port on {', '.join(deployment['published'])}"
            if deployment["runtime"] == "docker"
            else f"port {deployment['port']} on {params['listen_addresses']}"
        )
        lines += [
            f"  {test_host.name} ({deployment['runtime']} runtime, {where}): PostgreSQL {live}",
            f"    sized for {format_size(hw['memory_bytes'])} memory, {hw['cpus']:g} CPUs, "
            f"{hw['storage']} storage ({record['workload']['profile']} profile)",
            "    " + ", ".join(f"{k} = {params[k]}" for k in KEY_PARAMETERS),
            f"    worst-case memory {format_size(budget['worst_case_total'])} of "
            f"{format_size(budget['memory_limit'])}",
            f"    connect: docker exec -it {test_host.name} tsdb-psql",
        ]
    lines.append("  again: make sandbox (converges them again); remove: make sandbox-down")
    return "\n".join(lines)
