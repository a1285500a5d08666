"""The server's own files: postgresql.conf (the plan, sectioned, each value with its reason),
pg_hba.conf and pg_ident.conf."""

from __future__ import annotations

from ..planner import Plan
from ..units import format_size
from .text import render

OWNER_MAP = "tsdb_owner"  # pg_ident.conf's map: the OS user postgres -> the owner role


def postgresql_conf(plan: Plan, *, host_name: str, runtime: str, locations: dict) -> str:
    hw = plan.hardware
    return render(
        "postgresql.conf.j2",
        host_name=host_name,
        runtime=runtime,
        hardware=hw.describe(),
        data_disk=format_size(hw.data_disk_bytes) if hw.data_disk_bytes else "unknown",
        wal_disk=format_size(hw.wal_disk_bytes) if hw.wal_disk_bytes else "the data disk",
        workload=plan.workload,
        budget_summary=plan.budget.summary(),
        locations=locations,
        sections=plan.sections(),
    )


def pg_hba_conf(
    *,
    host_name: str,
    database: str,
    app_user: str,
    owner_role: str,
    networks: list[str],
    tls: bool,
    monitor_role: str,
    monitor_network: str,
) -> str:
    """`monitor_network`: the one address the exporters on this host connect from (the
    monitoring role's only line)."""
    entries = [{"database": database, "user": app_user, "network": n} for n in networks]
    entries.append({"database": database, "user": monitor_role, "network": monitor_network})
    return render(
        "pg_hba.conf.j2",
        host_name=host_name,
        database=database,
        owner_role=owner_role,
        app_user=app_user,
        owner_map=OWNER_MAP,
        host_entries=entries,
        host_type="hostssl" if tls else "host",
    )


def pg_ident_conf(*, host_name: str, owner_role: str) -> str:
    return render(
        "pg_ident.conf.j2", host_name=host_name, owner_role=owner_role, owner_map=OWNER_MAP
    )
