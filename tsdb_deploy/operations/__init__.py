"""Custom pyinfra operations: each reads facts, compares with the plan, yields only what is needed.

They read facts through facts.batch, so a converged host answers every step's questions in
one command. pyinfra runs each operation's function when the operation executes, against the
host as it is then: a decision such as reload-or-restart is taken against the live server.
"""

from .backups import first_backup, pgbackrest_ready
from .config import differing_parameters, postgres_config
from .database import (
    database_and_role,
    monitoring_role,
    role_settings,
    timescaledb_extension,
)
from .files import files_absent, host_files, private_download, private_upload
from .lock import deploy_lock, deploy_lock_released, staging_leftovers
from .packages import packages_installed, upstream_packages
from .schema import (
    chunk_time_interval,
    maintenance_schedule,
    properties_index,
    schema_migrations,
)
from .services import service_config, service_running

__all__ = [
    "chunk_time_interval", "database_and_role", "deploy_lock", "deploy_lock_released",
    "staging_leftovers",
    "differing_parameters", "files_absent",
    "first_backup", "host_files", "maintenance_schedule", "monitoring_role", "packages_installed",
    "pgbackrest_ready", "postgres_config", "private_download", "private_upload",
    "properties_index", "role_settings", "schema_migrations",
    "service_config", "service_running", "timescaledb_extension", "upstream_packages",
]  # fmt: skip
