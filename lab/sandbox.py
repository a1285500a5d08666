"""`make sandbox`: local test hosts, deployed with the real deploy, and what each one got.

They run what production runs: the native host installs PostgreSQL and TimescaleDB's
Community build through the upstream steps (signing keys, sources entries, pinned packages)
from the lab mirror; the docker host runs the Community image of the same release.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tsdb_deploy import known_issues
from tsdb_deploy.settings import SETTINGS
from tsdb_deploy.units import format_size

from . import credentials, images, mirror, testhosts, tls
from .testhosts import TestHost

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Sized like small production hosts, and well below this machine's memory so the plan
# visibly follows the limits, not the machine's: the native host's cgroup limit, and the
# docker host's database container limits (inside a 4g host).
NATIVE = TestHost("tsdb-sandbox-native", memory="4g", cpus=2)
DOCKER = TestHost("tsdb-sandbox-docker", memory="4g", cpus=2, docker_volume=True)
SANDBOX_HOSTS = [NATIVE, DOCKER]
MIRROR = "tsdb-sandbox-mirror"
# The release production deploys by default.
VERSION = SETTINGS["timescaledb_version"].default


def native_host_data() -> dict:
    """The native host installs from the sandbox's mirror (which `make sandbox` starts)."""
    return mirror.running(MIRROR).inventory_data(VERSION)


def docker_host_data() -> dict:
    return images.docker_host_data(VERSION)


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


def prepare_secrets() -> None:
    credentials.prepare()


def up() -> int:
    """Start missing hosts (running ones are kept and converged again), deploy, summarise."""
    missing = [h for h in SANDBOX_HOSTS if not testhosts.is_running(h.name)]
    testhosts.ensure_docker()
    if missing:
        testhosts.start_many(missing)
    for host in SANDBOX_HOSTS:  # kept hosts too: a certificate for their current address
        tls.issue(host.name, [testhosts.address(host.name)])
    mirror.serve(MIRROR)
    images.archive(VERSION)
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
    for name in testhosts.remove_all("tsdb-sandbox-"):  # the mirror too
        print(f"removed {name}")
    return 0


def _exec(name: str, *command: str) -> str:
    return subprocess.run(
        ["docker", "exec", name, *command], check=True, capture_output=True, text=True
    ).stdout


JOBS_SQL = (
    "SELECT j.application_name, coalesce(s.last_run_status, 'not run yet'), "
    "coalesce((SELECT e.err_message FROM timescaledb_information.job_errors e WHERE "
    "e.job_id = j.job_id ORDER BY e.start_time DESC LIMIT 1), '') FROM "
    "timescaledb_information.jobs j LEFT JOIN timescaledb_information.job_stats s "
    "USING (job_id) WHERE j.scheduled ORDER BY j.job_id"
)


def jobs(name: str) -> str:
    """One line on the host's TimescaleDB jobs: how many, and what their last runs say."""
    rows = [
        line.split("|", 2)
        for line in _exec(name, "tsdb-psql", "-X", "-At", "-c", JOBS_SQL).splitlines()
    ]
    if not rows:
        return "TimescaleDB jobs: none (cron runs the maintenance on the Apache build)"
    failed = [(job, error) for job, status, error in rows if status == "Failed"]
    line = f"TimescaleDB jobs: {len(rows)} scheduled, {len(rows) - len(failed)} without failure"
    if failed:
        why = known_issues.diagnose(failed[0][1]) or failed[0][1]
        line += f"; {len(failed)} failed their last run: {why}"
    return line


def pooler(name: str, record: dict) -> str:
    """PgBouncer's port and pool as planned, and whether it answers."""
    pool = record["pooler"]
    settings, port = pool["settings"], record["deployment"]["pgbouncer_port"]
    answers = subprocess.run(
        ["docker", "exec", name, "tsdb-pg", "psql", "-X", "-At", "-p", str(port), "-d",
         "pgbouncer", "-c", "SHOW VERSION"], capture_output=True, text=True,
    )  # fmt: skip
    state = answers.stdout.strip() if answers.returncode == 0 else "NOT ANSWERING"
    return (
        f"PgBouncer on port {port} ({state}): pool of {pool['server_pool']} server "
        f"connections ({settings['default_pool_size']} + {settings['reserve_pool_size']} "
        f"reserve) for {settings['max_client_conn']} clients, {settings['pool_mode']} pooling"
    )


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
            f"    {pooler(test_host.name, record)}",
            f"    {jobs(test_host.name)}",
            f"    connect: docker exec -it {test_host.name} tsdb-psql",
        ]
    lines.append("  again: make sandbox (converges them again); remove: make sandbox-down")
    return "\n".join(lines)
