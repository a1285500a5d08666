"""PostgreSQL installed from apt and run by systemd: Debian's postgresql-common layout."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import apt
from .base import EXPORTER_PACKAGES, SOCKET_DIR, Runtime, RuntimeConfigError

# Debian 13 ships PostgreSQL 17 and an Apache-only TimescaleDB build (postgresql-17-timescaledb)
DISTRO_PACKAGES = {("debian", 13): 17}
CREATECLUSTER_CONF = "/etc/postgresql-common/createcluster.d/50-tsdb-deploy.conf"
POOLER_SERVICE = "pgbouncer"  # Debian's unit: runs as postgres, reloads on SIGHUP
POOLER_DROPIN = f"/etc/systemd/system/{POOLER_SERVICE}.service.d/tsdb-deploy.conf"
PIN_PATH = f"{apt.PREFERENCES_DIR}/tsdb-timescaledb"


def locations(pg_version: int) -> dict[str, str]:
    """File-location parameters of Debian's cluster `<version>/main`, as PostgreSQL sees them."""
    config_dir = f"/etc/postgresql/{pg_version}/main"
    return {
        "data_directory": f"/var/lib/postgresql/{pg_version}/main",
        "hba_file": f"{config_dir}/pg_hba.conf",
        "ident_file": f"{config_dir}/pg_ident.conf",
        "external_pid_file": f"{SOCKET_DIR}/{pg_version}-main.pid",
        "unix_socket_directories": SOCKET_DIR,
        "cluster_name": f"{pg_version}/main",
        "timezone": "UTC",
        "log_timezone": "UTC",
    }


@dataclass(frozen=True, eq=False)
class NativeRuntime(Runtime):
    name = "native"
    log_dir = "/var/log/postgresql"  # pg_ctlcluster: postgresql-<version>-main.log

    package_source: str
    pgdg_apt_url: str
    pgdg_key_url: str
    timescale_apt_url: str
    timescale_key_url: str | None
    timescaledb_release: str = field(metadata={"setting": "timescaledb_version"})

    @property
    def cluster(self) -> str:
        return f"{self.pg_version}-main"

    @property
    def service(self) -> str:
        return f"postgresql@{self.cluster}"

    @property
    def config_dir(self) -> str:
        return f"/etc/postgresql/{self.pg_version}/main"

    @property
    def data_directory(self) -> str:
        return f"/var/lib/postgresql/{self.pg_version}/main"

    @property
    def bindir(self) -> str:
        return f"/usr/lib/postgresql/{self.pg_version}/bin"

    def locations(self) -> dict[str, str]:
        return locations(self.pg_version)

    @property
    def cgroup_unit(self) -> str:
        return f"system.slice/system-postgresql.slice/{self.service}.service"

    @property
    def run_as_postgres(self) -> str:
        return "runuser -u postgres --"

    def validate_config(self, candidate: str) -> str:
        # `postgres -C` reads the whole file with the server's own parser and range checks,
        # without touching the running server.
        return (
            f"runuser -u postgres -- {self.bindir}/postgres --config-file={candidate} "
            f"-C data_directory >/dev/null"
        )

    def reload(self) -> str:
        return f"systemctl reload {self.service}"

    def restart(self) -> str:
        return f"systemctl restart {self.service}"

    def tsdb_pg_lines(self) -> list[str]:
        return [
            f"export PGHOST={SOCKET_DIR} PGPORT={self.port}",
            f'[ "$(id -u)" = 0 ] && exec {self.run_as_postgres} "$@"',
            '[ "$(id -un)" = postgres ] && exec "$@"',
            'echo "tsdb-pg: run as root or postgres" >&2',
            "exit 1",
        ]

    @property
    def pgbackrest_conf_dir(self) -> str:
        return "/etc/pgbackrest"

    @property
    def pooler_config_dir(self) -> str:
        return "/etc/pgbouncer"

    @property
    def pooler_log_file(self) -> str:
        return "/var/log/postgresql/pgbouncer.log"  # rotated with the server's logs

    @property
    def pooler_pid_file(self) -> str:
        return f"{SOCKET_DIR}/pgbouncer.pid"

    def pooler_reload(self) -> str:
        return f"systemctl try-reload-or-restart {POOLER_SERVICE}"

    def pooler_restart(self) -> str:
        return f"systemctl daemon-reload && systemctl try-restart {POOLER_SERVICE}"

    @property
    def pgbackrest_log_path(self) -> str:
        return "/var/log/pgbackrest"

    def tsdb_pitr_lines(self, stanza: str) -> list[str]:
        return [
            f"systemctl stop {self.service}",
            f"runuser -u postgres -- pgbackrest --stanza={stanza} --delta --type=time "
            '"--target=$target" --target-action=promote restore || { rc=$?; '
            f'[ $rc = "$NO_BACKUP_BEFORE_TARGET" ] && systemctl start {self.service}; exit $rc; }}',
            f"systemctl start {self.service}",
            self.wait_recovered(),
        ]

    @property
    def is_running(self) -> str:
        return f"systemctl is-active --quiet {self.service}"

    def wait_ready(self) -> str:
        return (
            f"for i in $(seq 60); do pg_isready -q -p {self.port} && exit 0; sleep 1; done; "
            f"echo 'PostgreSQL did not accept connections within 60s' >&2; exit 1"
        )

    # --- packages --------------------------------------------------------------------
    @property
    def upstream(self) -> bool:
        return self.package_source == "upstream"

    def packages(self) -> list[str]:
        v = self.pg_version
        timescaledb = f"timescaledb-2-postgresql-{v}" if self.upstream else (
            f"postgresql-{v}-timescaledb"
        )  # fmt: skip
        pitr = ["pgbackrest"] if self.pitr else []
        return [f"postgresql-{v}", timescaledb, f"postgresql-client-{v}", "pgbouncer",
                *EXPORTER_PACKAGES, *pitr]  # fmt: skip

    def check(self) -> None:
        """package_source 'distro' only where the distribution ships this PostgreSQL with
        TimescaleDB."""
        super().check()
        if self.upstream:
            return
        if DISTRO_PACKAGES.get((self.distro.name, self.distro.major)) != self.pg_version:
            raise RuntimeConfigError(
                f"package_source 'distro' needs a distribution that ships PostgreSQL "
                f"{self.pg_version} with TimescaleDB ({self.distro.name} {self.distro.major} "
                "does not; Debian 13 does): use package_source 'upstream'"
            )

    @property
    def timescaledb_version(self) -> str | None:
        """What the install step pins; the distribution's own version for `distro`."""
        return self.timescaledb_release if self.upstream else None

    def timescaledb_packages(self) -> list[str]:
        """Timescale's packages, held together at timescaledb_version (the main package
        depends on the loader of its exact version)."""
        v = self.pg_version
        return [f"timescaledb-2-postgresql-{v}", f"timescaledb-2-loader-postgresql-{v}"]

    def upstream_sources(self) -> list[apt.AptSource]:
        """PGDG and Timescale, laid out as each publishes its repository (package_source
        upstream)."""
        if not self.upstream:
            return []
        timescale, codename = self.timescale_apt_url, self.distro.codename
        return [
            apt.AptSource("pgdg", self.pgdg_apt_url, f"{codename}-pgdg", self.pgdg_key_url),
            apt.AptSource("timescaledb", f"{timescale}/{self.distro.name}/", codename,
                          self.timescale_key_url or f"{timescale}/gpgkey"),
        ]  # fmt: skip
