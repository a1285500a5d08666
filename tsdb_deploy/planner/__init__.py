"""The planner: hardware + workload + overrides -> postgresql.conf parameters with reasons.

Pure: no I/O. Each settings group lives in its own module; the parameter table
(parameters.py) validates every value; the memory budget (budget.py) must fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..units import format_size
from . import (
    autovacuum,
    budget,
    chunks,
    connections,
    memory,
    observability,
    pooler,
    query_planner,
    security,
    wal,
    workers,
)
from .draft import Draft, Planned
from .inputs import PROFILES, Hardware, PlanError, Workload
from .parameters import PARAMETERS, ParameterError

__all__ = [
    "PROFILES",
    "Hardware",
    "ParameterError",
    "Plan",
    "PlanError",
    "Planned",
    "Workload",
    "plan",
]

# Order matters: memory sizes work_mem from the connection, worker, autovacuum and WAL
# sender counts.
_GROUPS = (connections, security, workers, autovacuum, wal, memory, query_planner, observability)
SECTION_TITLES = {
    "connections": "Connections and sessions",
    "tls": "TLS",
    "memory": "Memory",
    "planner": "Query planner",
    "workers": "Parallel query and background workers",
    "wal": "WAL and checkpoints",
    "durability": "Durability",
    "archiving": "WAL archiving (point-in-time recovery)",
    "autovacuum": "Autovacuum (append-heavy hypertables)",
    "logging": "Logging and statistics",
    "libraries": "Preloaded libraries",
}


@dataclass(frozen=True)
class Plan:
    hardware: Hardware
    workload: Workload
    parameters: dict[str, Planned]
    budget: budget.Budget
    chunk: chunks.ChunkInterval  # the events hypertable's chunk interval, with its reason
    pooler: pooler.PoolerPlan  # PgBouncer's pool and timeouts, from the same max_connections

    def values(self) -> dict[str, str]:
        """Each parameter exactly as written in postgresql.conf."""
        return {name: p.text for name, p in self.parameters.items()}

    def sections(self) -> list[tuple[str, list[Planned]]]:
        return [
            (title, [p for p in self.parameters.values() if p.group == group])
            for group, title in SECTION_TITLES.items()
        ]

    def restart_parameters(self) -> list[str]:
        return [name for name in self.parameters if PARAMETERS[name].needs_restart]

    def to_json(self) -> dict[str, Any]:
        return {
            "parameters": self.values(),
            "reasons": {name: p.reason for name, p in self.parameters.items()},
            "budget": self.budget.describe(),
            "pooler": self.pooler.to_json(),
            "hardware": self.hardware.describe(),
            "workload": {
                "profile": self.workload.profile,
                "pg_version": self.workload.pg_version,
            },
        }


def plan(
    hardware: Hardware, workload: Workload | None = None, overrides=None, acknowledged=()
) -> Plan:
    """Every planned parameter with its value and reason, or PlanError saying what to change.
    An override that weakens durability or authentication (security.UNSAFE) is refused unless
    `acknowledged` names it."""
    workload = workload or Workload()
    draft = Draft(hardware, workload, overrides or {})
    security.check_overrides(
        {**draft.overrides, **({} if workload.tls else {"ssl": False})}, acknowledged
    )
    for group in _GROUPS:
        group.plan(draft)
    unused = draft.unused_overrides()
    if unused:  # every table entry is planned, so this is a bug guard
        raise PlanError(f"overrides for parameters the planner does not set: {', '.join(unused)}")
    values = {name: p.value for name, p in draft.params.items()}
    clients = pooler.client_limit(workload.pooler_max_client_conn)
    result = budget.compute(hardware.memory_bytes, values, clients)
    if not result.fits:
        overridden = [p.name for p in draft.params.values() if p.overridden]
        hint = (
            f" The inventory overrides {', '.join(overridden)}: lower them."
            if overridden
            else " Give PostgreSQL more memory or lower max_connections."
        )
        raise PlanError(
            f"the worst-case memory use ({format_size(result.total)}) exceeds the "
            f"{format_size(hardware.memory_bytes)} limit: {result.summary()}.{hint}"
        )
    chunk = chunks.chunk_interval(
        workload.events_per_day,
        shared_buffers=values["shared_buffers"],
        policies=dict(workload.chunk_policies),
    )
    pool = pooler.plan(values["max_connections"], workload)
    return Plan(hardware, workload, dict(draft.params), result, chunk, pool)
