"""The host's command-line tools: tsdb-pg (runtime-specific), tsdb-psql on top of it, and
tsdb-pitr (pgBackRest's point-in-time restore, per runtime)."""

from __future__ import annotations

from .text import render


def tsdb_pg(*, runtime: str, lines: list[str]) -> str:
    return render("tsdb-pg.j2", runtime=runtime, lines=lines)


def tsdb_psql(*, database: str) -> str:
    return render("tsdb-psql.j2", database=database)


def tsdb_pitr(*, runtime: str, lines: list[str]) -> str:
    return render("tsdb-pitr.j2", runtime=runtime, lines=lines)
