"""The maintenance schedule where TimescaleDB cannot schedule it (the Apache-only build)."""

from __future__ import annotations

from .text import cron_file

MAINTENANCE_MINUTE = 7  # past each hour: clear of the backups' minutes (render/backups.py)


def maintenance_cron(*, owner_role: str) -> str:
    # A session of the owner role itself (local peer, mapped from the OS user postgres), not a
    # superuser's session that SET ROLE: code the maintenance runs could RESET ROLE in that.
    job = (
        f"{MAINTENANCE_MINUTE} * * * * postgres tsdb-psql -X -q -At -v ON_ERROR_STOP=1 "
        f"-U {owner_role} -c 'SELECT klaviyo_run_maintenance()' 2>&1 "
        "| logger -t tsdb-maintenance"
    )
    return cron_file(
        "the Apache-only TimescaleDB build cannot schedule jobs, so cron runs the aggregate "
        "refresh and retention (klaviyo_run_maintenance) hourly, as the schema's owner role",
        [job],
    )
