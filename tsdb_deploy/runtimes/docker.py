"""PostgreSQL in a container, run by Docker Compose, sized to the container's limits.

The image contract is small on purpose: `postgres`, `initdb`, `pg_ctl`, `pg_isready` and
`psql` on PATH and a `postgres` user (true of timescale/timescaledb, timescaledb-ha and the
test image). The deploy initialises the data directory itself and runs `postgres` with an
explicit config file, so no image's entrypoint script is involved.
"""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass, field

from .. import apt
from .base import EXPORTER_PACKAGES, SOCKET_DIR, Runtime, initdb_args, loopback_for

PROJECT = "tsdb"
SERVICE = "timescaledb"
STATE_DIR = "/etc/tsdb-deploy/docker"
COMPOSE_FILE = f"{STATE_DIR}/compose.yaml"
CONTAINER_CONFIG_DIR = "/etc/tsdb"
VOLUME_MOUNT = "/var/lib/postgresql/data"
PGDATA = f"{VOLUME_MOUNT}/pgdata"  # a subdirectory: the mount point itself belongs to root
PGBACKREST_HINT = "use an image that ships it (timescale/timescaledb-ha does) or pitr: false"
POOLER_HINT = "PgBouncer runs on the database image: use one that ships it (timescaledb-ha does)"
POOLER_SERVICE = "pgbouncer"
POOLER_CONTAINER = f"{PROJECT}_pgbouncer"
POOLER_CONFIG_DIR = "/etc/pgbouncer"  # in the container
SOCKETS_VOLUME = f"{PROJECT}_sockets"  # the socket directory both containers share


def wait_healthy(container: str, seconds: int) -> str:
    """Waits until the container's own health check passes, or fails showing its log."""
    health = f"docker inspect --format '{{{{.State.Health.Status}}}}' {container}"
    return (
        f'for i in $(seq {seconds}); do [ "$({health} 2>/dev/null)" = healthy ] && exit 0; '
        f"sleep 1; done; echo '{container} did not become healthy within {seconds}s' >&2; "
        f"docker logs --tail 20 {container} >&2; exit 1"
    )


@dataclass(frozen=True, eq=False)
class DockerRuntime(Runtime):
    name = "docker"

    container: str = field(metadata={"setting": "container_name"})
    timescaledb_image: str | None
    timescaledb_release: str = field(metadata={"setting": "timescaledb_version"})
    docker_network: str
    docker_subnet: str
    publish_addresses: list[str]
    data_volume: str
    container_memory: int | None
    container_cpus: float | None
    stop_grace_period: int
    docker_source: str
    docker_apt_url: str
    backup_dir: str = field(metadata={"setting": "BACKUP_DIR"})
    pgbackrest_repo_path: str
    pgbackrest_repo2_path: str | None

    @property
    def image(self) -> str:
        return self.timescaledb_image or (
            f"timescale/timescaledb:{self.timescaledb_version}-pg{self.pg_version}"
        )

    @property
    def timescaledb_version(self) -> str:
        """The image ships it (checked before the container runs on the image)."""
        return self.timescaledb_release

    @property
    def bridge(self) -> bool:
        return self.docker_network == "bridge"

    @property
    def compose_file(self) -> str:
        return COMPOSE_FILE

    @property
    def compose_service(self) -> str:
        return SERVICE

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
        return self.data_volume.startswith("/")

    @property
    def data_path_on_host(self) -> str:
        volume = self.data_volume
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
        return self.container_memory, self.container_cpus

    def server_listen_addresses(self) -> str:
        # On its own bridge network the container's only outside path is the published port,
        # which `publish_addresses` restricts; inside, PostgreSQL listens on its interface.
        return "*" if self.bridge else self.listen_addresses

    def local_client_source(self) -> str:
        # a port published on loopback is reached through docker-proxy, from the gateway
        return self.gateway if self.bridge else super().local_client_source()

    def local_address(self) -> str:
        if not self.bridge:
            return super().local_address()
        return loopback_for(self.publish_addresses[0])

    @property
    def subnet(self) -> str:
        return self.docker_subnet

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
        networks = list(self.app_networks)
        local_only = all(ipaddress.ip_address(a).is_loopback for a in self.publish_addresses)
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
            "published": [f"{a}:{self.port}" for a in self.publish_addresses]
            if self.bridge
            else [],
            "pooler_container": POOLER_CONTAINER,
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
        volume = self.data_volume
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
        return wait_healthy(self.container, 120)

    @property
    def pgbackrest_conf_dir(self) -> str:
        return f"{STATE_DIR}/pgbackrest"

    @property
    def pgbackrest_log_path(self) -> str:
        return f"{self.pgbackrest_repo_path}/log"

    @property
    def pooler_container(self) -> str:
        return POOLER_CONTAINER

    @property
    def pooler_service(self) -> str:
        return POOLER_SERVICE

    @property
    def pooler_config_dir(self) -> str:
        return f"{STATE_DIR}/pgbouncer"

    @property
    def pooler_server_config_dir(self) -> str:
        return POOLER_CONFIG_DIR

    def _if_pooler_runs(self, command: str) -> str:
        running = f"docker inspect --format '{{{{.State.Running}}}}' {POOLER_CONTAINER}"
        return f'if [ "$({running} 2>/dev/null)" = true ]; then {command}; fi'

    def pooler_reload(self) -> str:
        return self._if_pooler_runs(f"docker kill --signal HUP {POOLER_CONTAINER} >/dev/null")

    def pooler_restart(self) -> str:
        return self._if_pooler_runs(self._compose("restart", POOLER_SERVICE))

    def pooler_up(self) -> str:
        return self._compose("up", "--detach", POOLER_SERVICE)

    def pooler_wait_ready(self) -> str:
        return wait_healthy(POOLER_CONTAINER, 60)

    def postgres_owned_paths(self) -> list[str]:
        """Host paths whose files belong to postgres: they follow its ids if those change."""
        volume = self.data_volume
        paths = [
            volume if self.volume_is_path else f"/var/lib/docker/volumes/{volume}/_data",
            self.config_dir,
            self.pooler_config_dir,
            self.backup_dir,
        ]
        if self.pitr:
            repos = [self.pgbackrest_repo_path, self.pgbackrest_repo2_path]
            paths += [self.pgbackrest_log_path, *filter(None, repos)]
        return paths

    def pgbackrest_mounts(self) -> list[dict]:
        """The config (read-only) and the repositories, at the same paths as on the host."""
        if not self.pitr:
            return []
        mounts = [{"type": "bind", "source": self.pgbackrest_conf_dir,
                   "target": "/etc/pgbackrest", "read_only": True}]  # fmt: skip
        for repo in filter(None, (self.pgbackrest_repo_path, self.pgbackrest_repo2_path)):
            mounts.append({"type": "bind", "source": repo, "target": repo})
        return mounts

    def tsdb_pitr_lines(self, stanza: str) -> list[str]:
        volume = self.data_volume
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
        return {"pgbouncer": POOLER_HINT, **({"pgbackrest": PGBACKREST_HINT} if self.pitr else {})}

    # --- packages and the data directory --------------------------------------------
    def packages(self) -> list[str]:
        # psql on the host: clients and checks reach PostgreSQL and PgBouncer as the
        # application does, through the published ports; the exporters do the same
        client = ["postgresql-client", *EXPORTER_PACKAGES]
        if self.docker_source == "upstream":
            return ["docker-ce", "docker-ce-cli", "containerd.io", "docker-compose-plugin",
                    *client]  # fmt: skip
        compose = "docker-compose-v2" if self.distro.name == "ubuntu" else "docker-compose"
        return ["docker.io", compose, *client]

    def upstream_sources(self) -> list[apt.AptSource]:
        """Docker's own repository, when docker_source is upstream."""
        if self.docker_source != "upstream":
            return []
        base = f"{self.docker_apt_url.rstrip('/')}/{self.distro.name}"
        return [apt.AptSource("docker", base, self.distro.codename, f"{base}/gpg", "stable")]

    def initdb_args(self) -> list[str]:
        """initdb's arguments for a new data directory (the image's entrypoint is not used)."""
        return [
            *initdb_args(self.pg_version, self.data_checksums),
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
            "--username=postgres",
        ]

    def up(self) -> str:
        """Creates or recreates the container as the compose file declares, and starts it."""
        return self._compose("up", "--detach", SERVICE)
