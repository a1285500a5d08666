"""What every runtime provides to the deploy: where things are and which shell commands do
what. A runtime holds values and builds strings: it runs nothing itself.

Each runtime is a frozen dataclass whose fields are the settings it depends on, under the
settings' own names (host_plan.runtime_for fills them from the settings table), so what a
runtime reads is declared in one place and typed.
"""

from __future__ import annotations

import ipaddress
import shlex
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from ..formats import sql_literal

NOT_RUNNING = "__TSDB_NOT_RUNNING__"  # what a query prints when the server does not run
SOCKET_DIR = "/var/run/postgresql"  # the same on the host and in the container
# Debian's exporters, on the host whatever the runtime (render/exporter.py configures them)
EXPORTER_PACKAGES = (
    "prometheus-postgres-exporter", "prometheus-pgbouncer-exporter", "prometheus-node-exporter",
)  # fmt: skip


class RuntimeConfigError(ValueError):
    """Settings this runtime cannot carry out on this host (e.g. packages its distribution
    does not ship); found while the host's plan is built, before any change."""


@dataclass(frozen=True)
class Distro:
    """The host's distribution, as the LinuxDistribution fact reports it."""

    name: str  # debian | ubuntu
    major: int | None
    codename: str


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


def loopback_for(address: str) -> str:
    """A listen address as a local client dials it: a wildcard is reached on loopback."""
    loopback = {"*": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1", "localhost": "127.0.0.1"}
    return loopback.get(address, address)


@dataclass(frozen=True)
class Server:
    """How the deploy asks the live server: psql as its superuser, the runtime's test of
    whether the server runs, and its wait until the server accepts connections."""

    psql: str
    running: str
    ready: str
    host: str  # where psql connects: the socket directory
    port: int

    def query(self, body: str, database: str | None = None) -> str:
        """`body` (psql commands; exits non-zero when one fails), its failure told apart:
        a server that does not run prints NOT_RUNNING; `database` absent prints nothing.
        A running server that fails to answer is waited for and asked once more, then the
        failure is the command's own, with psql's message: a server that runs is never
        taken for one that does not (a deploy would start it again)."""
        absent = ""
        if database is not None:
            check = shlex.quote(
                f"SELECT 1 FROM pg_database WHERE datname = {sql_literal(database)}"
            )
            absent = (
                f'x=$({self.psql} -X -A -t -d postgres -c {check} 2>/dev/null) && [ -z "$x" ] '
                "&& exit 0; "
            )
        return (
            f"out=$( ( {body} ) 2>/dev/null ) && "
            f'{{ [ -z "$out" ] || printf "%s\\n" "$out"; exit 0; }}; '
            f"{self.running} || {{ echo {NOT_RUNNING}; exit 0; }}; "
            f"( {self.ready} ) >/dev/null 2>&1; {absent}( {body} )"
        )


# eq=False: identity hashing, as the runtime is passed to operations as an argument
@dataclass(frozen=True, eq=False)
class Runtime(ABC):
    name: ClassVar[str]
    # where the server's log goes: a directory of files on the host, or None (the runtime's
    # log driver keeps it)
    log_dir: ClassVar[str | None] = None

    distro: Distro
    pg_version: int
    port: int
    listen_addresses: str
    app_networks: list[str]
    pitr: bool
    data_checksums: bool
    pgbouncer_port: int

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

    def server_listen_addresses(self) -> str:
        return self.listen_addresses

    def local_address(self) -> str:
        """Where a client on this host reaches the database's and PgBouncer's TCP ports."""
        return loopback_for(self.listen_addresses.split(",")[0].strip())

    def local_client_source(self) -> str:
        """The address a client on this host appears from, dialling local_address()."""
        return self.local_address()

    def local_client_network(self) -> str:
        """local_client_source() as the one-address network pg_hba.conf and PgBouncer's hba
        file name (/32 or /128)."""
        return str(ipaddress.ip_network(self.local_client_source()))

    def local_clients_allowed(self) -> bool:
        """Whether pg_hba (and PgBouncer's) let the application role in from this host."""
        try:
            source = ipaddress.ip_address(self.local_client_source())
        except ValueError:  # a host name: localhost resolves to loopback
            source = ipaddress.ip_address("127.0.0.1")
        return any(source in ipaddress.ip_network(n) for n in self.hba_networks())

    def hba_networks(self) -> list[str]:
        """Networks the application role may connect from, as PostgreSQL sees them."""
        return self.app_networks

    def check(self) -> None:
        """Raises RuntimeConfigError for settings this runtime cannot carry out on this host.
        Every runtime: the exporters' pg_hba and PgBouncer rules name the address they come
        from, which must be an IP address (a rule on a host name would not load)."""
        try:
            ipaddress.ip_address(self.local_client_source())
        except ValueError:
            raise RuntimeConfigError(
                f"listen_addresses {self.listen_addresses!r}: the host's exporters connect to "
                f"{self.local_address()!r}, which must be an IP address, '*' or localhost, so "
                "that pg_hba.conf can name the address they come from"
            ) from None

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

    @property
    @abstractmethod
    def pgbackrest_conf_dir(self) -> str:
        """Host directory of pgbackrest.conf (PostgreSQL's pgBackRest reads it there)."""

    @property
    @abstractmethod
    def pgbackrest_log_path(self) -> str: ...

    # --- PgBouncer ----------------------------------------------------------------------
    @property
    @abstractmethod
    def pooler_config_dir(self) -> str:
        """Host directory of pgbouncer.ini, its listen file, hba file and userlist."""

    @property
    def pooler_server_config_dir(self) -> str:
        """That directory as PgBouncer sees it."""
        return self.pooler_config_dir

    @property
    def pooler_log_file(self) -> str:
        """PgBouncer's log file as it sees it; '' logs to stderr (the runtime keeps it)."""
        return ""

    @property
    def pooler_pid_file(self) -> str:
        return ""

    @abstractmethod
    def pooler_reload(self) -> str:
        """Makes a running PgBouncer re-read its files (SIGHUP); nothing if it is stopped."""

    @abstractmethod
    def pooler_restart(self) -> str:
        """Restarts a running PgBouncer (for what a reload cannot change: where it listens,
        its file limit); nothing if it is stopped: it reads its files when started."""

    # --- commands (shell) ------------------------------------------------------------
    @property
    @abstractmethod
    def run_as_postgres(self) -> str:
        """Shell prefix (for root) running a command as postgres where PostgreSQL runs."""

    @property
    def psql(self) -> str:
        """Runs psql as the database superuser against the local instance."""
        return f"{self.run_as_postgres} psql -h {SOCKET_DIR} -p {self.port}"

    @property
    def server(self) -> Server:
        """What facts ask the live server with."""
        return Server(self.psql, self.is_running, self.wait_ready(), SOCKET_DIR, self.port)

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

    @abstractmethod
    def tsdb_pitr_lines(self, stanza: str) -> list[str]:
        """Body of tsdb-pitr (after `target="$1"`): stop, pgBackRest restore, start, wait."""

    @abstractmethod
    def tsdb_pg_lines(self) -> list[str]:
        """The body of /usr/local/bin/tsdb-pg: run a client tool (psql, pg_dump, pg_restore,
        pgbackrest) as the superuser against the local instance, for root or postgres."""
