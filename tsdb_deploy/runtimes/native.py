"""PostgreSQL installed from apt and run by systemd: Debian's postgresql-common layout."""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api.exceptions import PyinfraError
from pyinfra.operations import files, systemd

from .. import apt, render
from ..operations import packages_installed, upstream_packages
from .base import SOCKET_DIR, Runtime, initdb_args

# Debian 13 ships PostgreSQL 17 and an Apache-only TimescaleDB build (postgresql-17-timescaledb)
DISTRO_PACKAGES = {("debian", 13): 17}


class NativeRuntime(Runtime):
    name = "native"
    log_dir = "/var/log/postgresql"  # pg_ctlcluster: postgresql-<version>-main.log

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

    def check_distro(self) -> tuple[str, str]:
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
        distro, codename = self.check_distro()
        packages_installed(
            name="Install apt prerequisites",
            packages=["ca-certificates", "gnupg", "curl", "postgresql-common"],
        )
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
        what = f"PostgreSQL {self.pg_version} and TimescaleDB"
        if self.settings["package_source"] == "distro":
            packages_installed(name=f"Install {what}", packages=self.packages())
            return
        upstream_packages(
            name=f"Install {what} {self.timescaledb_version} from PGDG and Timescale (pinned)",
            **self.upstream_install(distro, codename),
        )

    def upstream_install(self, distro: str, codename: str) -> dict:
        """What the upstream install converges: the repositories, their sources entries and
        the pin, the packages, and the pinned release (upstream_packages' arguments)."""
        sources = self.upstream_sources(distro, codename)
        held = self.timescaledb_packages()
        version = self.settings["timescaledb_version"]
        return {
            "sources": sources,
            "files": {
                **{s.list_path: render.apt_source_file(s) for s in sources},
                self.pin_path: render.apt_pin_file(held, version, "timescaledb_version"),
            },
            "packages": self.packages(),
            "pinned": dict.fromkeys(held, version),
            "setting": "timescaledb_version",
        }

    @property
    def timescaledb_version(self) -> str | None:
        """What the install step pins; the distribution's own version for `distro`."""
        upstream = self.settings["package_source"] == "upstream"
        return self.settings["timescaledb_version"] if upstream else None

    def timescaledb_packages(self) -> list[str]:
        """Timescale's packages, held together at timescaledb_version (the main package
        depends on the loader of its exact version)."""
        v = self.pg_version
        return [f"timescaledb-2-postgresql-{v}", f"timescaledb-2-loader-postgresql-{v}"]

    @property
    def pin_path(self) -> str:
        return f"{apt.PREFERENCES_DIR}/tsdb-timescaledb"

    def upstream_sources(self, distro: str, codename: str) -> list[apt.AptSource]:
        """PGDG and Timescale, laid out as each publishes its repository."""
        timescale = self.settings["timescale_apt_url"]
        return [
            apt.AptSource("pgdg", self.settings["pgdg_apt_url"], f"{codename}-pgdg",
                          self.settings["pgdg_key_url"]),
            apt.AptSource("timescaledb", f"{timescale}/{distro}/", codename,
                          self.settings["timescale_key_url"] or f"{timescale}/gpgkey"),
        ]  # fmt: skip

    def ensure_service(self) -> None:
        # postgresql.service starts every cluster at boot; the instance unit is the cluster.
        systemd.service(
            name="PostgreSQL enabled at boot",
            service="postgresql",
            running=True,
            enabled=True,
        )
        systemd.service(name=f"{self.service} running", service=self.service, running=True)
