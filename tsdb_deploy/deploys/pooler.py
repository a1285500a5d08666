"""PgBouncer in front of the application role: its files, then its service."""

from __future__ import annotations

from pyinfra.api import deploy

from .. import operations
from ..host_plan import HostPlan
from ..operations import docker


@deploy("PgBouncer")
def connection_pooler(hp: HostPlan) -> None:
    rt = hp.runtime
    pool = hp.plan.pooler
    operations.service_config(
        name=f"PgBouncer's files: port {rt.pgbouncer_port}, {pool.server_pool} server "
        "connections as planned",
        files=hp.files_of("pooler"),
        reload=rt.pooler_reload(),
        restart=rt.pooler_restart(),
        known=hp.known_paths,
    )
    if rt.name == "native":
        operations.service_running(
            name="PgBouncer running, enabled at boot",
            service="pgbouncer",
            enabled=True,
            known=hp.services,
        )
        return
    docker.compose_service(
        name="PgBouncer container up to date and healthy",
        container=rt.pooler_container,
        compose_file=rt.compose_file,
        service=rt.pooler_service,
        image=rt.image,
        up=rt.pooler_up(),
        wait_ready=rt.pooler_wait_ready(),
    )
