"""pgBackRest for point-in-time recovery: one stanza, WAL archived by PostgreSQL's
archive_command (planned), full backups weekly and differential daily from cron
(render/pgbackrest.py)."""

from __future__ import annotations

import hashlib

STANZA = "tsdb"
# What the last `pgbackrest check` that passed was run against (check_key): a deploy runs the
# check again only when that changed or the archiver failed since; the check switches WAL.
CHECKED_PATH = "/etc/tsdb-deploy/pgbackrest-checked"


def archive_command() -> str:
    return f"pgbackrest --stanza={STANZA} archive-push %p"


def check_key(pgbackrest_conf: str, archive_mode: str, archive_command: str) -> str:
    """What archiving end to end depends on that a deploy sets: pgBackRest's config and
    PostgreSQL's archive settings, as one digest."""
    text = "\x00".join((STANZA, pgbackrest_conf, archive_mode, archive_command))
    return hashlib.sha256(text.encode()).hexdigest()
