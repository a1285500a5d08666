"""pgBackRest for point-in-time recovery: one stanza, WAL archived by PostgreSQL's
archive_command (planned), full backups weekly and differential daily from cron
(render/pgbackrest.py)."""

from __future__ import annotations

STANZA = "tsdb"


def archive_command() -> str:
    return f"pgbackrest --stanza={STANZA} archive-push %p"
