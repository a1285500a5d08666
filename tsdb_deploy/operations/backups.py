"""pgBackRest readiness and the first logical backup."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pyinfra import host, logger, state
from pyinfra.api import operation
from pyinfra.api.exceptions import OperationError
from pyinfra.facts.server import Command

from ..facts import PgbackrestInfo, PostgresServer, TimescaledbVersions, batch
from ..pgbackrest import CHECKED_PATH
from ._common import sha256
from .files import file_states

if TYPE_CHECKING:
    from ..runtimes import Runtime


def pgbackrest_version(runtime: Runtime) -> str:
    """The command printing the version of the pgBackRest PostgreSQL archives with."""
    return f"{runtime.run_as_postgres} pgbackrest version 2>/dev/null || true"


@operation(is_idempotent=True)
def pgbackrest_ready(runtime: Runtime, stanza: str, check_key: str, known: list[str] = ()):
    """The stanza exists, has a full backup to recover from, and archiving works end to end.

    `pgbackrest check` proves the last (it switches WAL and waits for the segment in the
    repository), so it runs when there is something to prove: a new stanza, pgBackRest's
    config, the archive settings or pgBackRest's version changed since the check that passed
    last (`check_key` with the version, recorded at CHECKED_PATH), or the archiver failed
    since its last success. A converged
    host is not made to archive a segment on every deploy. A check that fails stops the
    deploy with pgBackRest's message and records nothing."""
    run = f"{runtime.run_as_postgres} pgbackrest --stanza={stanza}"
    # the pgBackRest that runs is part of what a check proves: an upgrade is checked again
    version = batch.read(host, Command, command=pgbackrest_version(runtime))
    check_key = sha256(f"{check_key}\n{version}")
    record = f"printf '%s\\n' {check_key} > {CHECKED_PATH}"
    info = batch.read(host, PgbackrestInfo, run_as_postgres=runtime.run_as_postgres, stanza=stanza)
    if info is None and state.is_executing:
        raise OperationError("pgbackrest info gave no answer: is pgBackRest installed?")
    if info is None or info.status_code == 1:  # missing stanza
        host.log(f"pgBackRest: creating stanza {stanza}", logger.info)
        yield f"{run} stanza-create"
        yield f"{run} check 2>&1 && {record}"
    if info is None or info.status_code in (1, 2) or (info.status_code == 0 and not info.backups):
        host.log("pgBackRest: first full backup (point-in-time recovery starts here)")
        yield f"{run} --type=full backup && {record}"  # waits for its WAL in the archive
        return
    recorded = file_states(host, [CHECKED_PATH], known).get(CHECKED_PATH)
    live = batch.read(host, PostgresServer, server=runtime.server)
    failure = live.archive_failure if live else None
    if info.status_code != 0:  # e.g. a repository it cannot read: the check says why
        reason = f"pgbackrest info reports {info.message!r} (status {info.status_code})"
    elif failure:
        reason = f"the archiver failed ({failure}) and has not succeeded since"
    elif recorded is None or recorded.sha256 != sha256(f"{check_key}\n"):
        reason = "pgBackRest's config or the archive settings changed since the last check"
    else:
        host.noop(f"pgBackRest: {info.backups} backups; archiving checked, no failure since")
        return
    host.log(f"pgBackRest: check: {reason}", logger.info)
    yield f"{run} check 2>&1 && {record}"


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
