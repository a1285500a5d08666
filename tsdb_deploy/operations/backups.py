"""pgBackRest readiness and the first logical backup."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pyinfra import host, logger, state
from pyinfra.api import operation
from pyinfra.api.exceptions import OperationError
from pyinfra.facts.server import Command

from ..facts import PgbackrestInfo, TimescaledbVersions, batch

if TYPE_CHECKING:
    from ..runtimes import Runtime


@operation(is_idempotent=True)
def pgbackrest_ready(runtime: Runtime, stanza: str):
    """The stanza exists, has a full backup to recover from, and `pgbackrest check` passes
    (archiving works end to end). A check that fails stops the deploy with its message."""
    run = f"{runtime.run_as_postgres} pgbackrest --stanza={stanza}"
    info = batch.read(host, PgbackrestInfo, run_as_postgres=runtime.run_as_postgres, stanza=stanza)
    if info is None and state.is_executing:
        raise OperationError("pgbackrest info gave no answer: is pgBackRest installed?")
    if info is None or info.status_code == 1:  # missing stanza
        host.log(f"pgBackRest: creating stanza {stanza}", logger.info)
        yield f"{run} stanza-create"
        yield f"{run} check"
    if info is None or info.backups == 0:
        host.log("pgBackRest: first full backup (point-in-time recovery starts here)")
        yield f"{run} --type=full backup"
        return
    check = batch.read(host, Command, command=f"{run} check 2>&1 && echo TSDB_CHECK_OK || true")
    if not (check or "").endswith("TSDB_CHECK_OK"):
        raise OperationError(f"pgbackrest check failed: {(check or '').strip()[-500:]}")
    host.noop(f"pgBackRest: {info.backups} backups, check passed")


BACKUP_STATUS = "tsdb-backup --status --json 2>/dev/null || true"


@operation(is_idempotent=True)
def first_backup(runtime: Runtime, database: str, tier: str = "daily"):
    """A verified logical backup of the database as it is now: a new host gets one at once, not
    at the first cron run, and so does a host whose TimescaleDB was just upgraded (a logical
    backup restores only into the TimescaleDB version it was taken with)."""
    found = batch.read(host, TimescaledbVersions, server=runtime.server, database=database)
    timescaledb = found.installed.get(database) if found else None
    status = batch.read(host, Command, command=BACKUP_STATUS)
    try:
        tiers = json.loads(status or "")["tiers"]
    except (ValueError, KeyError):
        tiers = None  # tsdb-backup not installed yet (planning a new host)
    newest = [t["newest"] for t in (tiers or {}).values() if t["newest"]]
    if newest and (timescaledb is None or any(
        n.get("timescaledb_version") == timescaledb for n in newest
    )):  # fmt: skip
        host.noop("a verified logical backup of this TimescaleDB version exists")
        return
    if newest:
        host.log(
            f"Taking a logical backup of TimescaleDB {timescaledb} ({tier}): the older ones "
            "restore only into the version they were taken with",
            logger.warning,
        )
    else:
        host.log(f"Taking the first logical backup ({tier})", logger.info)
    yield f"runuser -u postgres -- tsdb-backup {tier}"
