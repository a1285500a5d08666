"""What operators and monitoring read: tsdb-status (the documents' monitoring list, with Nagios
exit codes); prometheus-postgres-exporter and prometheus-pgbouncer-exporter, logging in as the
monitoring role; prometheus-node-exporter, for the host and tsdb-backup's metrics."""

from __future__ import annotations

from pyinfra.api import deploy

from .. import operations
from ..host_plan import HostPlan
from ..render import exporter


@deploy("Monitoring")
def monitoring(hp: HostPlan) -> None:
    operations.host_files(
        name="tsdb-status and its thresholds",
        files=hp.files_of("monitoring"),
        known=hp.known_paths,
    )
    operations.monitoring_role(
        name=f"Monitoring role {hp.monitor_role} (pg_monitor)",
        runtime=hp.runtime,
        database=hp.database,
        role=hp.monitor_role,
        verifier=hp.monitor_verifier,
    )
    restart = f"systemctl restart {exporter.SERVICE}"  # it has no reload
    operations.service_config(
        name="prometheus-postgres-exporter's environment, password and queries",
        files=hp.files_of("exporter"),
        reload=restart,
        restart=restart,
        known=hp.known_paths,
    )
    operations.service_running(
        name="prometheus-postgres-exporter running, enabled at boot",
        service=exporter.SERVICE,
        enabled=True,
        known=hp.services,
    )
    restart = f"systemctl daemon-reload && systemctl restart {exporter.POOLER_SERVICE}"
    operations.service_config(
        name="prometheus-pgbouncer-exporter's unit and environment",
        files=hp.files_of("pooler_exporter"),
        reload=restart,
        restart=restart,
        known=hp.known_paths,
    )
    operations.service_running(
        name="prometheus-pgbouncer-exporter running, enabled at boot",
        service=exporter.POOLER_SERVICE,
        enabled=True,
        known=hp.services,
    )
    restart = f"systemctl restart {exporter.NODE_SERVICE}"  # a new ARGS needs a new process
    operations.service_config(
        name="prometheus-node-exporter's environment",
        files=hp.files_of("node_exporter"),
        reload=restart,
        restart=restart,
        known=hp.known_paths,
    )
    operations.service_running(
        name="prometheus-node-exporter running, enabled at boot",
        service=exporter.NODE_SERVICE,
        enabled=True,
        known=hp.services,
    )
