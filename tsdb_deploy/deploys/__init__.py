"""Deploy steps, in the order converge() runs them. Each carries out part of a HostPlan."""

from __future__ import annotations

from collections.abc import Callable

from ..host_plan import HostPlan
from ..operations import deploy_lock, deploy_lock_released, staging_leftovers
from .backups import backups
from .monitoring import monitoring
from .pitr import point_in_time_recovery
from .pooler import connection_pooler
from .schema import analytics_schema
from .server import database_server


def converge(hp: HostPlan, then: Callable[[], None] | None = None) -> None:
    """Every step, under the host's deploy lock from the first operation to the last; `then`:
    steps of a larger run (a staging rebuild's) still under the lock."""
    deploy_lock(
        name="Hold this host's deploy lock",
        wait_s=hp.lock_wait_s,
        leftovers=staging_leftovers(hp.known_paths),
        _ignore_errors=False,  # a refusal stops the host, whatever its data says
    )
    database_server(hp)
    analytics_schema(hp)
    connection_pooler(hp)
    backups(hp)
    point_in_time_recovery(hp)
    monitoring(hp)
    if then is not None:
        then()
    deploy_lock_released(name="Release this host's deploy lock")


__all__ = [
    "analytics_schema",
    "backups",
    "connection_pooler",
    "converge",
    "database_server",
    "monitoring",
    "point_in_time_recovery",
]
