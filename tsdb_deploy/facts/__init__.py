"""What a host is: its effective resources, disks, and the live PostgreSQL state.

Each fact runs one shell command and hands the raw lines to a pure parser (tested on recorded
outputs in tests/fixtures/). Facts report; they never decide. Where a value has to be assumed,
the fact says so in its `notes`, which end up in the plan and the rendered config header.
"""

from .apt import AptRepositoryProbe, RepositoryProbe, parse_probe
from .docker import (
    ContainerState,
    DockerContainer,
    DockerImageContents,
    DockerImageId,
    Ids,
    ImageContents,
    PostgresIds,
    parse_container,
    parse_ids,
    parse_image_contents,
)
from .host import (
    Disk,
    DiskFacts,
    EffectiveResources,
    FileState,
    FileStates,
    Resources,
    parse_disk,
    parse_resources,
    parse_states,
)
from .postgres import (
    NOT_RUNNING,
    BackrestStanza,
    DatabaseState,
    FailingJobs,
    HypertableDimensions,
    LiveServer,
    LiveSetting,
    MigrationLedger,
    PgbackrestInfo,
    PostgresDatabase,
    PostgresServer,
    RunningBackups,
    TableIndexes,
    TimescaledbState,
    TimescaledbVersions,
    parse_backrest_info,
    parse_database_state,
    parse_dimensions,
    parse_ledger,
    parse_live_server,
    parse_table_indexes,
    parse_timescaledb_state,
)

__all__ = [
    "AptRepositoryProbe", "BackrestStanza", "ContainerState", "DatabaseState", "Disk", "DiskFacts",
    "DockerContainer", "DockerImageContents", "DockerImageId", "EffectiveResources", "FailingJobs",
    "FileState", "FileStates", "HypertableDimensions", "Ids", "ImageContents",
    "LiveServer", "LiveSetting", "MigrationLedger", "NOT_RUNNING", "PgbackrestInfo",
    "PostgresDatabase", "PostgresIds", "PostgresServer", "RepositoryProbe", "Resources",
    "RunningBackups",
    "TableIndexes", "TimescaledbState", "TimescaledbVersions", "parse_backrest_info",
    "parse_container", "parse_database_state", "parse_dimensions", "parse_disk",
    "parse_ids", "parse_image_contents", "parse_ledger", "parse_live_server", "parse_probe",
    "parse_resources", "parse_states", "parse_table_indexes", "parse_timescaledb_state"
]  # fmt: skip
