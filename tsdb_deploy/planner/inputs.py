"""What the planner is given: the hardware PostgreSQL runs on and the workload it serves.

Validated here, once, so every settings group can trust its inputs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..units import GIB, MIB, format_size

STORAGE_CLASSES = ("hdd", "ssd", "nvme", "san")
PG_VERSIONS = (15, 16, 17)


class PlanError(ValueError):
    """Input or a resulting plan that cannot be used; the message says what to change."""


@dataclass(frozen=True)
class Profile:
    """Per-workload constants. Each is cited where it is used."""

    name: str
    description: str
    connections_per_gib: int  # default max_connections grows with memory ...
    connections_min: int
    connections_max: int  # ... up to this
    work_mem_floor: int  # bytes; below this the profile's queries spill to disk
    work_mem_cap: int  # bytes
    statistics_target: int
    gather_cap: int  # max_parallel_workers_per_gather
    max_wal_target: int  # bytes; time-driven checkpoints for this write rate
    partitionwise: bool


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "analytics",
            "dashboard default: steady ingest into hypertables plus aggregate queries",
            connections_per_gib=20,
            connections_min=20,
            connections_max=100,
            work_mem_floor=4 * MIB,
            work_mem_cap=512 * MIB,
            # PostgreSQL's default. 500 was measured to cost ingest (+22% without it, bench
            # findings): autovacuum re-ANALYZEs the chunk being written, sampling 300 x target
            # rows each time, and the skewed columns gain nothing (tens of metric ids fit a
            # 100-entry MCV list). A column that needs more gets it in a migration.
            statistics_target=100,
            gather_cap=8,
            max_wal_target=16 * GIB,
            partitionwise=True,
        ),
        Profile(
            "mixed",
            "ingest, dashboards and application reads and writes on one server",
            connections_per_gib=20,
            connections_min=20,
            connections_max=200,
            work_mem_floor=2 * MIB,
            work_mem_cap=256 * MIB,
            statistics_target=200,
            gather_cap=4,
            max_wal_target=8 * GIB,
            partitionwise=True,
        ),
        Profile(
            "oltp",
            "many short transactions, small result sets",
            connections_per_gib=25,
            connections_min=25,
            connections_max=300,
            work_mem_floor=1 * MIB,
            work_mem_cap=64 * MIB,
            statistics_target=100,
            gather_cap=2,
            max_wal_target=8 * GIB,
            partitionwise=False,
        ),
    )
}


@dataclass(frozen=True)
class Hardware:
    """The resources PostgreSQL may use: the cgroup limits where it runs, not host totals."""

    memory_bytes: int
    cpus: float  # may be a fractional CPU quota, e.g. 1.5
    storage: str = "ssd"
    data_disk_bytes: int | None = None  # None: unknown
    wal_disk_bytes: int | None = None  # None: WAL lives on the data disk
    notes: tuple[str, ...] = field(default=(), compare=False)  # how each value was found

    def __post_init__(self):
        if self.memory_bytes <= 0:
            raise PlanError(f"memory must be positive, got {self.memory_bytes} bytes")
        if not isinstance(self.cpus, int | float) or not math.isfinite(self.cpus) or self.cpus <= 0:
            raise PlanError(f"cpus must be more than 0, got {self.cpus}")
        if self.storage not in STORAGE_CLASSES:
            raise PlanError(f"storage {self.storage!r} is not one of {', '.join(STORAGE_CLASSES)}")
        for name in ("data_disk_bytes", "wal_disk_bytes"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise PlanError(f"{name.replace('_bytes', '')} must be positive, got {value}")

    @property
    def whole_cpus(self) -> int:
        """CPUs a parallel plan can really use: a 1.5 quota runs one worker at full speed."""
        return max(1, int(self.cpus))

    @property
    def wal_disk_is_dedicated(self) -> bool:
        return self.wal_disk_bytes is not None

    def describe(self) -> dict:
        out = asdict(self)
        out["memory"] = format_size(self.memory_bytes)
        out["notes"] = list(self.notes)
        return out


@dataclass(frozen=True)
class Workload:
    profile: str = "analytics"
    pg_version: int = 17
    max_connections: int | None = None  # None: from memory and profile
    background_workers: int | None = None  # timescaledb.max_background_workers; None: sized
    listen_addresses: str = "localhost"
    port: int = 5432
    archive_command: str | None = None  # None: no WAL archiving
    archive_timeout_s: int = 60  # the RPO bound while archiving
    tls: bool = True  # TLS for network clients (off only when the inventory acknowledges it)
    ssl_cert_file: str = "server.crt"  # as PostgreSQL sees them; relative: in PGDATA
    ssl_key_file: str = "server.key"
    events_per_day: int | None = None  # expected ingest; None: unknown (chunks.py)
    # whole-chunk policies ((setting, interval) pairs: retention, compress_after) that bound
    # the chunk interval
    chunk_policies: tuple[tuple[str, str], ...] = ()
    # PgBouncer in front of the application role (pooler.py)
    pooler_max_client_conn: int = 500
    app_statement_timeout_s: int = 30  # the documents' DB_STATEMENT_TIMEOUT; 0: none
    app_idle_in_transaction_timeout_s: int = 30

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise PlanError(f"profile {self.profile!r} is not one of {', '.join(PROFILES)}")
        if self.pg_version not in PG_VERSIONS:
            raise PlanError(
                f"PostgreSQL {self.pg_version} is not supported (supported: "
                f"{', '.join(map(str, PG_VERSIONS))})"
            )
        if self.max_connections is not None and not 1 <= self.max_connections <= 10000:
            raise PlanError(f"max_connections must be 1..10000, got {self.max_connections}")
        if self.background_workers is not None and not 0 <= self.background_workers <= 1000:
            raise PlanError(f"background_workers must be 0..1000, got {self.background_workers}")

    @property
    def settings(self) -> Profile:
        return PROFILES[self.profile]
