"""PostgreSQL installed from apt and run by systemd: Debian's postgresql-common layout."""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api.exceptions import PyinfraError
from pyinfra.operations import files, systemd

from ..operations import packages_installed
from .base import SOCKET_DIR, Runtime, initdb_args

# Debian 13 ships PostgreSQL 17 and an Apache-only TimescaleDB build (postgresql-17-timescaledb)
DISTRO_PACKAGES = {("debian", 13): 17}
PGDG_KEY_URL = "https://www.postgresql.org/media/keys/ACCC4CF8.asc"
KEYRING_DIR = "/etc/apt/keyrings"


class NativeRuntime(Runtime):
    name = "native"

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
        return {
            "data_directory": self.data_directory,
            "hba_file": self.hba_path,
            "ident_file": f"{self.config_dir}/pg_ident.conf",
            "external_pid_file": f"/var/run/postgresql/{self.cluster}.pid",
            "unix_socket_directories": "/var/run/postgresql",
            "cluster_name": f"{self.pg_version}/main",
            "timezone": "UTC",
            "log_timezone": "UTC",
        }

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
    def pgbackrest_log_path(self) -> str:
        return "/var/log/pgbackrest"

    def tsdb_pitr_lines(self, stanza: str) -> list[str]:
        return [
            f"systemctl stop {self.service}",
            f"runuser -u postgres -- pgbackrest --stanza={stanza} --delta --type=time "
            '"--target=$target" --target-action=promote restore || { rc=$?; '
            f'[ $rc = "$NO_BACKUP_BEFORE_TARGET" ] && systemctl start {self.service}; exit $rc; }}',
            f"systemctl start {self.service}",
            self.wait_ready(),
        ]

    def wait_ready(self) -> str:
        return (
            f"for i in $(seq 60); do pg_isready -q -p {self.port} && exit 0; sleep 1; done; "
            f"echo 'PostgreSQL did not accept connections within 60s' >&2; exit 1"
        )

    # --- install ---------------------------------------------------------------------
    def packages(self) -> list[str]:
        v = self.pg_version
        timescaledb = (
            f"postgresql-{v}-timescaledb"
            if self.settings["package_source"] == "distro"
            else f"timescaledb-2-postgresql-{v}"
        )
        pitr = ["pgbackrest"] if self.settings["pitr"] else []
        return [f"postgresql-{v}", timescaledb, f"postgresql-client-{v}", *pitr]

    def _check_distro(self) -> tuple[str, str]:
        name, major, codename = self.distribution()
        if self.settings["package_source"] == "distro":
            shipped = DISTRO_PACKAGES.get((name, major))
            if shipped != self.pg_version:
                raise PyinfraError(
                    f"{host.name}: package_source 'distro' needs a distribution that ships "
                    f"PostgreSQL {self.pg_version} with TimescaleDB ({name} {major} does not; "
                    "Debian 13 does): use package_source 'upstream'"
                )
        return name, codename

    def install(self) -> None:
        distro, codename = self._check_distro()
        packages_installed(
            name="Install apt prerequisites",
            packages=["ca-certificates", "gnupg", "curl", "postgresql-common"],
        )
        if self.settings["package_source"] == "upstream":
            self._upstream_repositories(distro, codename)
        # New clusters get data checksums: Debian's postgresql-common reads this drop-in
        # when the package creates the main cluster.
        files.put(
            name="Cluster creation options (encoding, collation, data checksums)",
            src=StringIO(
                "# written by tsdb-deploy: options for clusters that postgresql-common creates\n"
                "initdb_options = '"
                + " ".join(initdb_args(self.pg_version, self.settings["data_checksums"]))
                + "'\n"
            ),
            dest="/etc/postgresql-common/createcluster.d/50-tsdb-deploy.conf",
            mode="644",
        )
        packages_installed(
            name=f"Install PostgreSQL {self.pg_version} and TimescaleDB",
            packages=self.packages(),
        )

    def upstream_sources(self, distro: str, codename: str) -> list[tuple[str, str, str, str]]:
        """(name, signing key URL, keyring path, apt source line) for PGDG and Timescale."""
        pgdg = self.settings["pgdg_apt_url"].rstrip("/")
        timescale = self.settings["timescale_apt_url"].rstrip("/")
        pgdg_key, ts_key = f"{KEYRING_DIR}/pgdg.asc", f"{KEYRING_DIR}/timescaledb.asc"
        return [
            ("pgdg", PGDG_KEY_URL, pgdg_key,
             f"deb [signed-by={pgdg_key}] {pgdg} {codename}-pgdg main"),
            ("timescaledb", f"{timescale}/gpgkey", ts_key,
             f"deb [signed-by={ts_key}] {timescale}/{distro}/ {codename} main"),
        ]  # fmt: skip

    def _upstream_repositories(self, distro: str, codename: str) -> None:
        # The package install refreshes apt when anything is missing, so no update step here.
        files.directory(name="apt keyring directory", path=KEYRING_DIR, mode="755")
        for name, key_url, keyring, line in self.upstream_sources(distro, codename):
            files.download(name=f"{name} signing key", src=key_url, dest=keyring, mode="644")
            files.put(
                name=f"{name} apt repository",
                src=StringIO(line + "\n"),
                dest=f"/etc/apt/sources.list.d/{name}.list",
                mode="644",
            )

    def ensure_service(self) -> None:
        # postgresql.service starts every cluster at boot; the instance unit is the cluster.
        systemd.service(
            name="PostgreSQL enabled at boot",
            service="postgresql",
            running=True,
            enabled=True,
        )
        systemd.service(name=f"{self.service} running", service=self.service, running=True)
