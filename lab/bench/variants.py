"""The four variants and how the server is switched between them.

  A  the documents' schema on stock postgresql.conf (Debian's defaults, which are
     PostgreSQL's built-in ones for every planned parameter, + shared_preload_libraries)
  B  the documents' schema with timescaledb-tune's recommendations (tstune.py)
  C  the documents' schema with this project's planner config: C vs B compares configs only
  D  what this project deploys: the planner config, sql/ migrations, its aggregates refresh
     and its ingest (idempotent INSERTs, attribution columns)

One server serves all four: a variant's parameters are applied with ALTER SYSTEM (every
parameter any variant sets, stock where this variant leaves it alone) and a restart, so no
variant inherits another's settings. Durability parameters are never touched by any variant
except to keep them on (the planner states fsync, full_page_writes, synchronous_commit = on).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tsdb_deploy.formats import pg_conf_unstring
from tsdb_deploy.planner import Hardware, Plan, Workload, plan

from . import tstune
from .host import BenchError, BenchHost

# Parameters that make the server reachable and its clients' traffic private, not faster:
# left as the deploy set them (its certificate is where the deploy put it).
CONNECTIVITY = ("listen_addresses", "port")
CONNECTIVITY_GROUPS = ("tls",)
LIST_PARAMETERS = (
    "shared_preload_libraries",
    "session_preload_libraries",
    "local_preload_libraries",
)
DURABILITY = {"fsync": "on", "full_page_writes": "on", "synchronous_commit": "on"}
# What the `SHOW`s in the report list for each variant.
SHOWN = (
    "shared_buffers",
    "work_mem",
    "maintenance_work_mem",
    "effective_cache_size",
    "max_wal_size",
    "wal_buffers",
    "wal_compression",
    "checkpoint_timeout",
    "max_parallel_workers_per_gather",
    "default_statistics_target",
    "random_page_cost",
    "jit",
    "autovacuum_max_workers",
    "shared_preload_libraries",
    "fsync",
    "full_page_writes",
    "synchronous_commit",
)


@dataclass(frozen=True)
class Variant:
    key: str
    title: str
    schema: str  # "documents" or "project" (a workload shape)
    config: dict[str, str] = field(repr=False)

    @property
    def db(self) -> str:
        return f"bench_{self.key.lower()}"


def planner_config(the_plan: Plan) -> dict[str, str]:
    return {
        name: pg_conf_unstring(p.text)
        for name, p in the_plan.parameters.items()
        if name not in CONNECTIVITY and p.group not in CONNECTIVITY_GROUPS
    }


def hardware_from_record(record: dict) -> Hardware:
    """The hardware the deploy sized the bench host for (/etc/tsdb-deploy/plan.json)."""
    hw = record["hardware"]
    return Hardware(
        memory_bytes=hw["memory_bytes"],
        cpus=hw["cpus"],
        storage=hw["storage"],
        data_disk_bytes=hw["data_disk_bytes"],
        wal_disk_bytes=hw["wal_disk_bytes"],
    )


def build(hardware: Hardware) -> tuple[list[Variant], Plan]:
    the_plan = plan(hardware, Workload())
    planned = planner_config(the_plan)
    tuned = tstune.recommend(hardware.memory_bytes, hardware.whole_cpus)
    variants = [
        Variant(
            "A",
            "documents' schema, stock config",
            "documents",
            {"shared_preload_libraries": "timescaledb"},
        ),
        Variant("B", "documents' schema, timescaledb-tune", "documents", tuned),
        Variant("C", "documents' schema, planner config", "documents", planned),
        Variant("D", "project: planner config + sql/ + aggregates + ingest", "project", planned),
    ]
    for v in variants:
        for name, value in DURABILITY.items():
            if v.config.get(name, value) != value:
                raise BenchError(f"variant {v.key} would set {name} = {v.config[name]}")
    return variants, the_plan


def all_keys(variants: list[Variant]) -> list[str]:
    return sorted({k for v in variants for k in v.config})


def stock_values(host: BenchHost, keys: list[str]) -> dict[str, str]:
    """PostgreSQL's built-in values (in the parameter's base unit), read before any change."""
    rows = host.json_query(
        "SELECT name, boot_val FROM pg_settings WHERE name IN ("
        + ", ".join(f"'{k}'" for k in keys)
        + ")"
    )
    found = {r["name"]: r["boot_val"] for r in rows}
    missing = sorted(set(keys) - set(found))
    if missing:
        raise BenchError(f"parameters unknown to the server: {', '.join(missing)}")
    return found


def apply(host: BenchHost, variant: Variant, keys: list[str], stock: dict[str, str]) -> dict:
    """Switch the server to `variant`: ALTER SYSTEM for every key, restart, check nothing is
    left pending. Returns the SHOW values the report lists."""
    host.psql("ALTER SYSTEM RESET ALL")
    for key in keys:
        value = variant.config.get(key, stock[key])
        # A list parameter takes one quoted string per element: 'a,b' would be one library.
        items = value.split(",") if key in LIST_PARAMETERS and value else [value]
        literal = ", ".join("'" + item.strip().replace("'", "''") + "'" for item in items)
        host.psql(f'ALTER SYSTEM SET "{key}" = {literal}')
    host.restart()
    pending = host.psql("SELECT string_agg(name, ', ') FROM pg_settings WHERE pending_restart")
    if pending:
        raise BenchError(f"variant {variant.key}: still pending a restart: {pending}")
    rows = host.json_query(
        "SELECT name, current_setting(name) AS value FROM pg_settings WHERE name IN ("
        + ", ".join(f"'{k}'" for k in SHOWN)
        + ")"
    )
    return {r["name"]: r["value"] for r in rows}


def reset(host: BenchHost) -> None:
    """Back to the deployed postgresql.conf (the deploy refuses ALTER SYSTEM overrides)."""
    host.psql("ALTER SYSTEM RESET ALL")
    host.restart()
