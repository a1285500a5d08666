"""What a host is: its effective resources, disks, and the live PostgreSQL state.

Each fact runs one shell command and hands the raw lines to a pure parser (tested on recorded
outputs in tests/fixtures/). Facts report; they never decide. Where a value has to be assumed,
the fact says so in its `notes`, which end up in the plan and the rendered config header.
"""

from .docker import ContainerState, DockerContainer, DockerImageId, parse_container
from .host import Disk, DiskFacts, EffectiveResources, Resources, parse_disk, parse_resources
from .postgres import (
    NOT_RUNNING,
    BackrestStanza,
    DatabaseState,
    HypertableDimensions,
    LiveServer,
    LiveSetting,
    MigrationLedger,
    PgbackrestInfo,
    PostgresDatabase,
    PostgresServer,
    TableIndexes,
    parse_backrest_info,
    parse_database_state,
    parse_dimensions,
    parse_ledger,
    parse_live_server,
    parse_table_indexes,
)

__all__ = [
    "NOT_RUNNING", "BackrestStanza", "ContainerState", "DatabaseState", "Disk", "DiskFacts",
    "DockerContainer", "DockerImageId", "EffectiveResources", "HypertableDimensions",
    "LiveServer", "LiveSetting", "MigrationLedger", "PgbackrestInfo", "PostgresDatabase",
    "PostgresServer", "Resources", "TableIndexes", "parse_backrest_info", "parse_container",
    "parse_database_state", "parse_dimensions", "parse_disk", "parse_ledger",
    "parse_live_server", "parse_resources", "parse_table_indexes",
]  # fmt: skip
