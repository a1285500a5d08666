"""Custom pyinfra operations: each reads facts, compares with the plan, yields only what is needed.

They run twice per deploy, as every pyinfra operation does: once while planning (for
`--dry`/change counts) and again at execution time with fresh facts, so a decision such as
reload-or-restart is taken against the server as it is when the step runs.
"""

from .backups import first_backup, pgbackrest_ready
from .config import differing_parameters, postgres_config
from .database import database_and_role, timescaledb_extension
from .packages import packages_installed, upstream_packages
from .schema import (
    chunk_time_interval,
    maintenance_cron_text,
    maintenance_schedule,
    properties_index,
    schema_migrations,
)

__all__ = [
    "chunk_time_interval", "database_and_role", "differing_parameters", "first_backup",
    "maintenance_cron_text", "maintenance_schedule", "packages_installed", "pgbackrest_ready",
    "postgres_config", "properties_index", "schema_migrations", "timescaledb_extension",
    "upstream_packages",
]  # fmt: skip
