"""What every runtime provides to the deploy steps."""

from __future__ import annotations

from abc import ABC, abstractmethod

from pyinfra import host
from pyinfra.api.exceptions import PyinfraError
from pyinfra.facts.server import LinuxDistribution

SOCKET_DIR = "/var/run/postgresql"  # the same on the host and in the container


def initdb_args(pg_version: int, checksums: bool) -> list[str]:
    """How every new cluster is initialised, on either runtime.

    UTF-8 with code-point collation: byte-order sorting (fast, and stable across libc
    upgrades, which can silently corrupt indexes on libc collations); from 17 the builtin
    provider gives it, with Unicode-aware character classes, without libc. Data checksums
    detect silent corruption.
    """
    locale = (
        ["--locale-provider=builtin", "--builtin-locale=C.UTF-8"]
        if pg_version >= 17
        else ["--locale=C.UTF-8"]
    )
    return ["--encoding=UTF8", *locale, *(["--data-checksums"] if checksums else [])]


class Runtime(ABC):
    name: str

    def __init__(self, settings: dict):
        self.settings = settings
        self.pg_version: int = settings["pg_version"]
        self.port: int = settings["port"]

    # --- where things are ------------------------------------------------------------
    @property
    @abstractmethod
    def config_dir(self) -> str:
        """Directory on the host holding postgresql.conf and pg_hba.conf."""

    @property
    def server_config_dir(self) -> str:
        """The config directory as PostgreSQL sees it."""
        return self.config_dir

    @property
    def conf_path(self) -> str:
        return f"{self.config_dir}/postgresql.conf"

    def tls_path(self, name: str) -> str:
        """Where a TLS file (tls.CERT_NAME, tls.KEY_NAME) is, on the host."""
        return f"{self.config_dir}/{name}"

    def server_tls_path(self, name: str) -> str:
        """Where PostgreSQL reads it (ssl_cert_file, ssl_key_file)."""
        return f"{self.server_config_dir}/{name}"

    @property
    def hba_path(self) -> str:
        return f"{self.config_dir}/pg_hba.conf"

    @property
    def ident_path(self) -> str:
        return f"{self.config_dir}/pg_ident.conf"

    @property
    @abstractmethod
    def data_directory(self) -> str:
        """PGDATA as PostgreSQL sees it."""

    @property
    def data_path_on_host(self) -> str:
        """PGDATA as the host sees it (for disk facts and checks)."""
        return self.data_directory

    @property
    def config_owner(self) -> str:
        """Owner and group of the config directory and files: postgres (on a docker host, the
        user and group the deploy made with the image's ids)."""
        return "postgres:postgres"

    @abstractmethod
    def locations(self) -> dict[str, str]:
        """File-location parameters as PostgreSQL sees them, for the config header section."""

    @property
    def cgroup_unit(self) -> str:
        """cgroup path of the PostgreSQL service below the init system's, '' if none."""
        return ""

    def resource_limits(self) -> tuple[int | None, float | None]:
        """Memory and CPU limits the runtime itself imposes on PostgreSQL, if any."""
        return None, None

    def listen_addresses(self) -> str:
        return self.settings["listen_addresses"]

    def hba_networks(self) -> list[str]:
        """Networks the application role may connect from, as PostgreSQL sees them."""
        return self.settings["app_networks"]

    # where the server's log goes: a directory of files on the host, or None (the runtime's
    # log driver keeps it)
    log_dir: str | None = None

    def record(self) -> dict:
        """What checks need to know about this runtime (written to plan.json)."""
        return {"runtime": self.name, "packages": self.packages(), "log_dir": self.log_dir}

    @property
    @abstractmethod
    def timescaledb_version(self) -> str | None:
        """The TimescaleDB release this runtime installs, None where the distribution decides."""

    @abstractmethod
    def packages(self) -> list[str]:
        """The apt packages this runtime installs on the host."""

    # --- commands (shell) ------------------------------------------------------------
    @property
    @abstractmethod
    def run_as_postgres(self) -> str:
        """Shell prefix (for root) running a command as postgres where PostgreSQL runs."""

    @property
    def psql(self) -> str:
        """Runs psql as the database superuser against the local instance."""
        return f"{self.run_as_postgres} psql -h {SOCKET_DIR} -p {self.port}"

    @abstractmethod
    def validate_config(self, candidate: str) -> str:
        """Exits non-zero, printing PostgreSQL's complaint, if `candidate` would not load."""

    @abstractmethod
    def reload(self) -> str: ...

    @abstractmethod
    def restart(self) -> str:
        """Restarts PostgreSQL, starting it if it is not running."""

    @abstractmethod
    def wait_ready(self) -> str:
        """Waits until the server accepts connections, or fails after a timeout."""

    @property
    @abstractmethod
    def is_running(self) -> str:
        """Exits 0 while the database service runs."""

    def wait_recovered(self) -> str:
        """Waits until the server has finished recovery and accepts writes. A recovering
        server accepts read-only connections long before (hot standby), so being ready is
        not being recovered; fails if the server stops meanwhile (e.g. the recovery target
        was not reached)."""
        return (
            "echo 'waiting for the recovery to reach the target and promote...' >&2; "
            f"while r=$({self.psql} -X -A -t -d postgres -c 'SELECT pg_is_in_recovery()' "
            '2>/dev/null); [ "$r" != f ]; do '
            f"{self.is_running} || {{ echo 'PostgreSQL stopped during the recovery: see its "
            "log' >&2; exit 1; }; sleep 1; done"
        )

    @property
    @abstractmethod
    def pgbackrest_conf_dir(self) -> str:
        """Host directory of pgbackrest.conf (PostgreSQL's pgBackRest reads it there)."""

    @property
    @abstractmethod
    def pgbackrest_log_path(self) -> str: ...

    @abstractmethod
    def tsdb_pitr_lines(self, stanza: str) -> list[str]:
        """Body of tsdb-pitr (after `target="$1"`): stop, pgBackRest restore, start, wait."""

    @abstractmethod
    def tsdb_pg_lines(self) -> list[str]:
        """The body of /usr/local/bin/tsdb-pg: run a client tool (psql, pg_dump, pg_restore,
        pgbackrest) as the superuser against the local instance, for root or postgres."""

    # --- deploy steps (call pyinfra operations) ----------------------------------------
    @abstractmethod
    def install(self) -> None:
        """Install PostgreSQL and TimescaleDB; leave a cluster initialised."""

    def prepare_service(self, plan) -> None:  # noqa: B027 - most runtimes need nothing here
        """Anything the service needs before its config is converged (e.g. a compose file)."""

    @abstractmethod
    def ensure_service(self) -> None:
        """The database service is enabled at boot and running as declared."""

    # --- shared helpers --------------------------------------------------------------
    def distribution(self) -> tuple[str, int | None, str]:
        """(debian|ubuntu, major version, codename) of the host, or an error."""
        distro = host.get_fact(LinuxDistribution) or {}
        name = (distro.get("name") or "").lower().split(" ")[0]
        codename = (distro.get("release_meta") or {}).get("VERSION_CODENAME", "")
        if name not in ("debian", "ubuntu"):
            raise PyinfraError(f"{host.name}: {name or 'unknown OS'} is not Debian or Ubuntu")
        return name, distro.get("major"), codename
