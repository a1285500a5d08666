"""What operators and monitoring read: tsdb-status (the documents' monitoring list, with Nagios
exit codes) and its thresholds."""

from __future__ import annotations

from pyinfra.api import deploy

from .. import operations
from ..host_plan import HostPlan


@deploy("Monitoring")
def monitoring(hp: HostPlan) -> None:
    operations.host_files(
        name="tsdb-status and its thresholds",
        files=hp.files_of("monitoring"),
        known=hp.known_paths,
    )
