"""PostgreSQL in a container, run by Docker Compose, sized to the container's limits.

The image contract is small on purpose: `postgres`, `initdb`, `pg_ctl`, `pg_isready` and
`psql` on PATH and a `postgres` user (true of timescale/timescaledb, timescaledb-ha and the
test image). The deploy initialises the data directory itself and runs `postgres` with an
explicit config file, so no image's entrypoint script is involved.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
from io import StringIO

import yaml
from pyinfra.operations import files, systemd

from ..operations import packages_installed
from ..planner.container import pids_limit, shm_size
from . import docker_ops
from .base import SOCKET_DIR, Runtime, initdb_args

PROJECT = "tsdb"
SERVICE = "timescaledb"
STATE_DIR = "/etc/tsdb-deploy/docker"
COMPOSE_FILE = f"{STATE_DIR}/compose.yaml"
CONTAINER_CONFIG_DIR = "/etc/tsdb"
VOLUME_MOUNT = "/var/lib/postgresql/data"
PGDATA = f"{VOLUME_MOUNT}/pgdata"  # a subdirectory: the mount point itself belongs to root
PGBACKREST_HINT = "use an image that ships it (timescale/timescaledb-ha does) or pitr: false"


class DockerRuntime(Runtime):
    name = "docker"

    @property
    def container(self) -> str:
        return self.settings["container_name"]

    @property
    def image(self) -> str:
        return self.settings["timescaledb_image"] or (
            f"timescale/timescaledb:{self.timescaledb_version}-pg{self.pg_version}"
        )

    @property
    def timescaledb_version(self) -> str:
        """The image ships it (checked before the container runs on the image)."""
        return self.settings["timescaledb_version"]

    @property
    def bridge(self) -> bool:
        return self.settings["docker_network"] == "bridge"

    # --- where things are ------------------------------------------------------------
    @property
    def config_dir(self) -> str:
        return "/etc/tsdb-deploy/postgres"

    @property
    def server_config_dir(self) -> str:
        return CONTAINER_CONFIG_DIR

    @property
    def data_directory(self) -> str:
        return PGDATA

    @property
    def volume_is_path(self) -> bool:
        return self.settings["data_volume"].startswith("/")

    @property
    def data_path_on_host(self) -> str:
        volume = self.settings["data_volume"]
        base = volume if self.volume_is_path else f"/var/lib/docker/volumes/{volume}/_data"
        return f"{base}/pgdata"

    def locations(self) -> dict[str, str]:
        return {
            "data_directory": PGDATA,
            "hba_file": f"{CONTAINER_CONFIG_DIR}/pg_hba.conf",
            "ident_file": f"{CONTAINER_CONFIG_DIR}/pg_ident.conf",
            "unix_socket_directories": SOCKET_DIR,
            "cluster_name": PROJECT,
            "timezone": "UTC",
            "log_timezone": "UTC",
        }

    def resource_limits(self) -> tuple[int | None, float | None]:
        return self.settings["container_memory"], self.settings["container_cpus"]

    def listen_addresses(self) -> str:
        # On its own bridge network the container's only outside path is the published port,
        # which `publish_addresses` restricts; inside, PostgreSQL listens on its interface.
        return "*" if self.bridge else self.settings["listen_addresses"]

    @property
    def subnet(self) -> str:
        return self.settings["docker_subnet"]

    @property
    def gateway(self) -> str:
        return str(next(ipaddress.ip_network(self.subnet).hosts()))

    def hba_networks(self) -> list[str]:
        """app_networks as the container sees them. Remote clients keep their addresses
        (Docker forwards a published port by DNAT), but clients on the host reach a port
        published on loopback through docker-proxy, so they arrive from the bridge's gateway.
        The gateway stands for "clients on this host" only when that is all it can carry:
        app_networks holds a loopback network and the port is published on loopback alone
        (published elsewhere too, the proxy could carry remote clients as well, e.g. over
        IPv6 or with Docker's iptables off)."""
        networks = list(self.settings["app_networks"])
        local_only = all(
            ipaddress.ip_address(a).is_loopback for a in self.settings["publish_addresses"]
        )
        if (
            self.bridge
            and local_only
            and any(ipaddress.ip_network(n).is_loopback for n in networks)
        ):
            networks.append(f"{self.gateway}/32")
        return networks

    def record(self) -> dict:
        return {
            **super().record(),
            "container": self.container,
            "image": self.image,
            "published": [f"{a}:{self.port}" for a in self.settings["publish_addresses"]]
            if self.bridge
            else [],
        }

    # --- commands --------------------------------------------------------------------
    @property
    def run_as_postgres(self) -> str:
        return f"docker exec -i -u postgres {self.container}"

    def _compose(self, *args: str) -> str:
        return shlex.join(["docker", "compose", "-f", COMPOSE_FILE, *args])

    def validate_config(self, candidate: str) -> str:
        # `postgres -C` in a throwaway container of the same image, with the data directory
        # mounted read-only: the server's own parser and range checks on the new file.
        volume = self.settings["data_volume"]
        return shlex.join([
            "docker", "run", "--rm", "--user", "postgres", "--entrypoint", "postgres",
            "-v", f"{volume}:{VOLUME_MOUNT}:ro",
            "-v", f"{candidate}:{CONTAINER_CONFIG_DIR}/postgresql.conf:ro",
            self.image, f"--config-file={CONTAINER_CONFIG_DIR}/postgresql.conf",
            "-C", "data_directory",
        ]) + " >/dev/null"  # fmt: skip

    def reload(self) -> str:
        return f"docker exec -u postgres {self.container} pg_ctl reload -D {PGDATA}"

    def restart(self) -> str:
        # Recreating applies the compose file too, so a restart is never done twice.
        return self._compose("up", "--detach", "--force-recreate", SERVICE)

    @property
    def is_running(self) -> str:
        state = f"docker inspect --format '{{{{.State.Running}}}}' {self.container}"
        return f'[ "$({state} 2>/dev/null)" = true ]'

    def wait_ready(self) -> str:
        # healthy = the container's own pg_isready check passed: what docker and checks see
        health = f"docker inspect --format '{{{{.State.Health.Status}}}}' {self.container}"
        return (
            f'for i in $(seq 120); do [ "$({health} 2>/dev/null)" = healthy ] && exit 0; '
            f"sleep 1; done; echo '{self.container} did not become healthy within 120s' >&2; "
            f"docker logs --tail 20 {self.container} >&2; exit 1"
        )

    @property
    def pgbackrest_conf_dir(self) -> str:
        return f"{STATE_DIR}/pgbackrest"

    @property
    def pgbackrest_log_path(self) -> str:
        return f"{self.settings['pgbackrest_repo_path']}/log"

    def postgres_owned_paths(self) -> list[str]:
        """Host paths whose files belong to postgres: they follow its ids if those change."""
        volume = self.settings["data_volume"]
        paths = [
            volume if self.volume_is_path else f"/var/lib/docker/volumes/{volume}/_data",
            self.config_dir,
            self.settings["BACKUP_DIR"],
        ]
        if self.settings["pitr"]:
            repos = [self.settings["pgbackrest_repo_path"], self.settings["pgbackrest_repo2_path"]]
            paths += [self.pgbackrest_log_path, *filter(None, repos)]
        return paths

    def pgbackrest_mounts(self) -> list[dict]:
        """The config (read-only) and the repositories, at the same paths as on the host."""
        if not self.settings["pitr"]:
            return []
        mounts = [{"type": "bind", "source": self.pgbackrest_conf_dir,
                   "target": "/etc/pgbackrest", "read_only": True}]  # fmt: skip
        for key in ("pgbackrest_repo_path", "pgbackrest_repo2_path"):
            if self.settings[key]:
                mounts.append({"type": "bind", "source": self.settings[key],
                               "target": self.settings[key]})  # fmt: skip
        return mounts

    def tsdb_pitr_lines(self, stanza: str) -> list[str]:
        volume = self.settings["data_volume"]
        mounts = [
            arg
            for m in self.pgbackrest_mounts()
            for arg in (
                "-v",
                f"{m['source']}:{m['target']}" + (":ro" if m.get("read_only") else ""),
            )
        ]
        restore = shlex.join([
            "docker", "run", "--rm", "--user", "postgres", "-v", f"{volume}:{VOLUME_MOUNT}",
            *mounts, "--entrypoint", "pgbackrest", self.image, f"--stanza={stanza}", "--delta",
            "--type=time", "--target=TARGET", "--target-action=promote", "restore",
        ]).replace("--target=TARGET", '"--target=$target"')  # fmt: skip
        start = self._compose("start", SERVICE)
        return [
            self._compose("stop", SERVICE),
            f'{restore} || {{ rc=$?; [ $rc = "$NO_BACKUP_BEFORE_TARGET" ] && {start}; exit $rc; }}',
            start,
            f"({self.wait_ready()})",
            self.wait_recovered(),
        ]

    def tsdb_pg_lines(self) -> list[str]:
        # the host user postgres may run it too: it is in the docker group (see install)
        env = f"-e PGHOST={SOCKET_DIR} -e PGPORT={self.port} -e PGDATABASE"
        return [
            'tty=""; [ -t 0 ] && [ -t 1 ] && tty="-t"',
            f'exec docker exec -i $tty -u postgres {env} {self.container} "$@"',
        ]

    def image_tools(self) -> dict[str, str]:
        """Programs the image must have besides PostgreSQL's -> what to do if it has not."""
        return {"pgbackrest": PGBACKREST_HINT} if self.settings["pitr"] else {}

    # --- deploy steps ----------------------------------------------------------------
    def packages(self) -> list[str]:
        if self.settings["docker_source"] == "upstream":
            return ["docker-ce", "docker-ce-cli", "containerd.io", "docker-compose-plugin"]
        distro, _, _ = self.distribution()
        return ["docker.io", "docker-compose-v2" if distro == "ubuntu" else "docker-compose"]

    def install(self) -> None:
        distro, _, codename = self.distribution()
        if self.settings["docker_source"] == "upstream":
            docker_ops.upstream_repository(self.settings["docker_apt_url"], distro, codename)
        packages_installed(name="Install Docker", packages=self.packages())
        daemon = {**docker_ops.DAEMON_DEFAULTS, **self.settings["docker_daemon"]}
        docker_ops.docker_daemon(
            name="Docker daemon configuration",
            daemon_json=json.dumps(daemon, indent=2, sort_keys=True) + "\n",
            environment=self.settings["docker_daemon_environment"],
        )
        systemd.service(name="Docker running, enabled at boot", service="docker",
                        running=True, enabled=True)  # fmt: skip
        docker_ops.image(
            name=f"TimescaleDB image {self.image}",
            ref=self.image,
            archive=self.settings["timescaledb_image_archive"],
            timescaledb=self.timescaledb_version,
            tools=self.image_tools(),
        )
        docker_ops.host_postgres_user(
            name="Host user postgres (the image's ids)",
            image=self.image,
            container=self.container,
            owned=self.postgres_owned_paths(),
        )
        docker_ops.data_directory(
            name="Data directory initialised",
            image=self.image,
            volume=self.settings["data_volume"],
            pgdata_on_host=self.data_path_on_host,
            initdb_args=[
                *initdb_args(self.pg_version, self.settings["data_checksums"]),
                "--auth-local=peer",
                "--auth-host=scram-sha-256",
                "--username=postgres",
            ],  # fmt: skip
        )
        files.directory(name="Config directory (postgres only: dev-sec postgres-10)",
                        path=self.config_dir, user="postgres", group="postgres",
                        mode="700")  # fmt: skip

    def compose_project(self, plan) -> dict:
        """The compose project, as data (rendered with PyYAML)."""
        memory = plan.hardware.memory_bytes
        service = {
            "image": self.image,
            "container_name": self.container,
            "user": "postgres",
            "entrypoint": ["postgres", "-c", f"config_file={CONTAINER_CONFIG_DIR}/postgresql.conf"],
            "command": [],
            "restart": "unless-stopped",
            # SIGINT is PostgreSQL's fast shutdown: clients are disconnected, a checkpoint is
            # written; the grace period must cover that checkpoint.
            "stop_signal": "SIGINT",
            "stop_grace_period": f"{self.settings['stop_grace_period']}s",
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
            "tmpfs": [f"{SOCKET_DIR}:mode=1777", "/tmp:mode=1777"],
            "volumes": [
                {"type": "bind", "source": self.settings["data_volume"], "target": VOLUME_MOUNT}
                if self.volume_is_path
                else {"type": "volume", "source": "pgdata", "target": VOLUME_MOUNT},
                # the directory, not the files: a file mount keeps the inode it was given, and
                # the deploy replaces config files by renaming new ones into place
                {
                    "type": "bind",
                    "source": self.config_dir,
                    "target": CONTAINER_CONFIG_DIR,
                    "read_only": True,
                },
                *self.pgbackrest_mounts(),
            ],
            "healthcheck": {
                "test": ["CMD", "pg_isready", "-q", "-h", SOCKET_DIR, "-p", str(self.port)],
                "interval": "5s",
                "timeout": "5s",
                "retries": 6,
                "start_period": "60s",
            },
            "labels": {"tsdb-deploy.plan-memory": str(memory)},
        }
        project: dict = {"name": PROJECT, "services": {SERVICE: service}}
        if self.bridge:
            service["ports"] = [
                f"{address}:{self.port}:{self.port}"
                if ":" not in address
                else f"[{address}]:{self.port}:{self.port}"
                for address in self.settings["publish_addresses"]
            ]
            service["networks"] = ["db"]
            project["networks"] = {"db": {"ipam": {"config": [{"subnet": self.subnet}]}}}
        else:
            service["network_mode"] = "host"
        if not self.volume_is_path:
            project["volumes"] = {
                "pgdata": {"name": self.settings["data_volume"], "external": True}
            }
        return project

    def prepare_service(self, plan) -> None:
        files.directory(name="Compose project directory", path=STATE_DIR, mode="755")
        text = "# written by tsdb-deploy from the plan; do not edit by hand\n" + yaml.safe_dump(
            self.compose_project(plan), sort_keys=False, default_flow_style=False
        )
        files.put(name="Compose project", src=StringIO(text), dest=COMPOSE_FILE, mode="644")

    def ensure_service(self) -> None:
        docker_ops.compose_service(
            name="Database container up to date and healthy",
            container=self.container,
            compose_file=COMPOSE_FILE,
            service=SERVICE,
            image=self.image,
            up=self._compose("up", "--detach", SERVICE),
            wait_ready=self.wait_ready(),
        )
