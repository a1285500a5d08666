"""What every runtime provides to the deploy steps."""

from __future__ import annotations

from abc import ABC, abstractmethod


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
    def conf_path(self) -> str:
        return f"{self.config_dir}/postgresql.conf"

    @property
    def hba_path(self) -> str:
        return f"{self.config_dir}/pg_hba.conf"

    @property
    @abstractmethod
    def data_directory(self) -> str: ...

    @abstractmethod
    def locations(self) -> dict[str, str]:
        """File-location parameters as PostgreSQL sees them, for the config header section."""

    @property
    def cgroup_unit(self) -> str:
        """cgroup path of the PostgreSQL service below the init system's, '' if none."""
        return ""

    # --- commands (shell) ------------------------------------------------------------
    @property
    @abstractmethod
    def psql(self) -> str:
        """Runs psql as the database superuser against the local instance."""

    @abstractmethod
    def validate_config(self, candidate: str) -> str:
        """Exits non-zero, printing PostgreSQL's complaint, if `candidate` would not load."""

    @abstractmethod
    def reload(self) -> str: ...

    @abstractmethod
    def restart(self) -> str: ...

    @abstractmethod
    def wait_ready(self) -> str:
        """Waits until the server accepts connections, or fails after a timeout."""

    # --- deploy steps (call pyinfra operations) ----------------------------------------
    @abstractmethod
    def install(self) -> None:
        """Install PostgreSQL and TimescaleDB; leave a cluster initialised."""

    @abstractmethod
    def ensure_service(self) -> None:
        """The database service is enabled at boot and running."""
