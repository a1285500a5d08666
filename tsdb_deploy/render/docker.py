"""Files only the docker runtime has: the compose project, daemon.json and dockerd's
environment (a systemd drop-in)."""

from __future__ import annotations

import json

import yaml

from .. import formats
from ..planner import Plan
from ..planner.container import pids_limit, shm_size
from ..runtimes.base import SOCKET_DIR
from ..runtimes.docker import (
    CONTAINER_CONFIG_DIR,
    POOLER_CONFIG_DIR,
    POOLER_CONTAINER,
    POOLER_SERVICE,
    PROJECT,
    SERVICE,
    SOCKETS_VOLUME,
    VOLUME_MOUNT,
    DockerRuntime,
)
from .text import header

# daemon.json unless the inventory's docker_daemon replaces a key: bounded logs, and
# live-restore so restarting dockerd (e.g. for this file) does not stop the database.
DAEMON_DEFAULTS = {
    "log-driver": "json-file",
    "log-opts": {"max-size": "50m", "max-file": "5"},
    "live-restore": True,
}


def daemon_json(overrides: dict) -> str:
    """JSON has no comments: this file carries no header."""
    return json.dumps({**DAEMON_DEFAULTS, **overrides}, indent=2, sort_keys=True) + "\n"


def dockerd_dropin(environment: dict) -> str:
    lines = formats.systemd_environment(environment)
    return header("dockerd's environment") + "[Service]\n" + "".join(line + "\n" for line in lines)


def compose_yaml(rt: DockerRuntime, plan: Plan) -> str:
    return header("the compose project, from the plan; do not edit by hand") + yaml.safe_dump(
        compose_project(rt, plan), sort_keys=False, default_flow_style=False
    )


def compose_project(rt: DockerRuntime, plan: Plan) -> dict:
    """The compose project, as data (rendered with PyYAML)."""
    memory = plan.hardware.memory_bytes
    service = {
        "image": rt.image,
        "container_name": rt.container,
        "user": "postgres",
        "entrypoint": ["postgres", "-c", f"config_file={CONTAINER_CONFIG_DIR}/postgresql.conf"],
        "command": [],
        "restart": "unless-stopped",
        # SIGINT is PostgreSQL's fast shutdown: clients are disconnected, a checkpoint is
        # written; the grace period must cover that checkpoint.
        "stop_signal": "SIGINT",
        "stop_grace_period": f"{rt.stop_grace_period}s",
        "shm_size": shm_size(plan),
        "mem_limit": memory,
        "memswap_limit": memory,  # no swap: a swapping database is a down database
        "cpus": plan.hardware.cpus,
        # Least privilege: PostgreSQL runs as postgres from the start and needs no
        # capability; it can gain none (no setuid), fork only so far, and write only to
        # its data volume, the socket directory and /tmp (dev-sec/CIS Docker 5.3, 5.25,
        # 5.28, 5.12).
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "pids_limit": pids_limit(plan),
        "read_only": True,
        "tmpfs": ["/tmp:mode=1777"],
        "volumes": [
            dict(SOCKETS),
            {"type": "bind", "source": rt.data_volume, "target": VOLUME_MOUNT}
            if rt.volume_is_path
            else {"type": "volume", "source": "pgdata", "target": VOLUME_MOUNT},
            # the directory, not the files: a file mount keeps the inode it was given, and
            # the deploy replaces config files by renaming new ones into place
            {
                "type": "bind",
                "source": rt.config_dir,
                "target": CONTAINER_CONFIG_DIR,
                "read_only": True,
            },
            *rt.pgbackrest_mounts(),
        ],
        "healthcheck": {
            "test": ["CMD", "pg_isready", "-q", "-h", SOCKET_DIR, "-p", str(rt.port)],
            "interval": "5s",
            "timeout": "5s",
            "retries": 6,
            "start_period": "60s",
        },
        "labels": {"tsdb-deploy.plan-memory": str(memory)},
    }
    pool = pooler_service(rt, plan)
    project: dict = {"name": PROJECT, "services": {SERVICE: service, POOLER_SERVICE: pool}}
    if rt.bridge:
        service["ports"] = _published(rt, rt.port)
        pool["ports"] = _published(rt, rt.pgbouncer_port)
        service["networks"], pool["networks"] = ["db"], ["db"]
        project["networks"] = {"db": {"ipam": {"config": [{"subnet": rt.subnet}]}}}
    else:
        service["network_mode"] = pool["network_mode"] = "host"
    # the socket directory, shared: PgBouncer reaches PostgreSQL on its Unix socket, as on a
    # native host; tmpfs, as a socket directory is
    project["volumes"] = {"sockets": {"name": SOCKETS_VOLUME, "driver_opts": {
        "type": "tmpfs", "device": "tmpfs", "o": "mode=1777"}}}  # fmt: skip
    if not rt.volume_is_path:
        project["volumes"]["pgdata"] = {"name": rt.data_volume, "external": True}
    return project


SOCKETS = {"type": "volume", "source": "sockets", "target": SOCKET_DIR}


def _published(rt: DockerRuntime, port: int) -> list[str]:
    return [
        f"{address}:{port}:{port}" if ":" not in address else f"[{address}]:{port}:{port}"
        for address in rt.publish_addresses
    ]


def pooler_service(rt: DockerRuntime, plan: Plan) -> dict:
    """PgBouncer on the database image, as postgres, with the same confinement; its config
    and PostgreSQL's TLS pair read-only."""
    files = plan.pooler.open_files
    return {
        "image": rt.image,
        "container_name": POOLER_CONTAINER,
        "user": "postgres",
        "entrypoint": ["pgbouncer", f"{POOLER_CONFIG_DIR}/pgbouncer.ini"],
        "command": [],
        "restart": "unless-stopped",
        # SIGINT is PgBouncer's safe shutdown: it waits for the transactions in flight
        "stop_signal": "SIGINT",
        "stop_grace_period": f"{rt.stop_grace_period}s",
        "ulimits": {"nofile": {"soft": files, "hard": files}},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "pids_limit": 32,
        "read_only": True,
        "tmpfs": ["/tmp:mode=1777"],
        "volumes": [
            dict(SOCKETS),
            {
                "type": "bind",
                "source": rt.pooler_config_dir,
                "target": POOLER_CONFIG_DIR,
                "read_only": True,
            },
            {
                "type": "bind",
                "source": rt.config_dir,
                "target": CONTAINER_CONFIG_DIR,
                "read_only": True,
            },
        ],  # fmt: skip
        "healthcheck": {
            "test": ["CMD", "pg_isready", "-q", "-h", SOCKET_DIR, "-p", str(rt.pgbouncer_port)],
            "interval": "5s",
            "timeout": "5s",
            "retries": 6,
            "start_period": "10s",
        },
    }
