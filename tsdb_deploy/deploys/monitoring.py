"""What operators and monitoring read: tsdb-status (the documents' monitoring list, with Nagios
exit codes); prometheus-postgres-exporter and prometheus-pgbouncer-exporter, logging in as the
monitoring role; prometheus-node-exporter, for the host and tsdb-backup's metrics."""

from __future__ import annotations

from pyinfra.api import deploy

from .. import operations
from ..host_plan import HostPlan
from ..render import exporter

# Each exporter: its files' step, and how a changed file takes effect (none reloads: a new
# command line or password needs a new process; a new unit file, systemd reading it first).
EXPORTERS = (
    (exporter.SERVICE, "exporter", f"systemctl restart {exporter.SERVICE}"),
    (exporter.POOLER_SERVICE, "pooler_exporter",
     f"systemctl daemon-reload && systemctl restart {exporter.POOLER_SERVICE}"),
    (exporter.NODE_SERVICE, "node_exporter", f"systemctl restart {exporter.NODE_SERVICE}"),
)  # fmt: skip


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
    operations.role_settings(
        name=f"Monitoring role {hp.monitor_role}'s own limits (statement and lock timeouts)",
        runtime=hp.runtime,
        database=hp.database,
        wanted={hp.monitor_role: hp.role_settings[hp.monitor_role]},
    )
    for service, step, restart in EXPORTERS:
        operations.service_config(
            name=f"{service}'s configuration",
            files=hp.files_of(step),
            reload=restart,
            restart=restart,
            known=hp.known_paths,
        )
        operations.service_running(
            name=f"{service} running, enabled at boot",
            service=service,
            enabled=True,
            known=hp.services,
        )
