"""Staging rebuilds (tsdb-deploy staging-rebuild): which backup, whether the target may take it,
and the report. Pure: the deploy files staging/source.py and staging/target.py read the hosts,
the host tool (tsdb-restore --rebuild) restores, masks and swaps.

    source (production, read only)      the newest backup that is verified (its metadata vouches
                                        for it) and restore-tested (tsdb-restore --test passed
                                        on this very sha256); copied to the deploy machine
    target (staging)                    refused unless its environment is staging or
                                        development, its TimescaleDB and migrations are the
                                        backup's and its disks hold the copy and the restore;
                                        then converged as any deploy, the copy uploaded, and
                                        tsdb-restore --rebuild run with masking.sql
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from .migrations import Migration
from .settings import REBUILDABLE
from .units import format_size

# on the target: the copy (beside the host's backups, in a directory of its own that backup
# rotation never reads), the masking script, the tool's report
INCOMING = "incoming"
MASKING_SQL = "/etc/tsdb-deploy/masking.sql"
REPORT = "/var/lib/tsdb-deploy/staging-rebuild.json"
# Room for the rebuild, in database sizes at backup time: the restore (1.2, tsdb-restore's
# RESTORE_SPACE_FACTOR: indexes are rebuilt at their size), the masking UPDATE's new row
# versions and index entries (up to 1 more where every row holds personal data), and VACUUM
# FULL's copy of the table it rewrites (the largest: 0.3 is the events' share and more).
# The database the previous rebuild kept is dropped before the restore, so it is not counted.
REBUILD_SPACE_FACTOR = 2.5
# the deploy machine's working directory: the pick, the copy, the report (env of both runs)
WORKDIR_ENV = "TSDB_STAGING_WORKDIR"
PICK_FILE = "pick.json"


def report_name(host: str) -> str:
    """The local file a target's report is fetched to (host names hold / and @)."""
    return f"report-{quote(host, safe='')}.json"


def report_host(name: str) -> str:
    return unquote(name[len("report-") : -len(".json")])


class StagingError(ValueError):
    """A refusal: one line, nothing on either host changed."""


@dataclass(frozen=True)
class Pick:
    """The backup a rebuild restores: where it is on the source, and its metadata."""

    source_host: str
    path: str  # on the source
    meta: dict

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def metadata_name(self) -> str:
        return Path(self.path).with_suffix(".json").name

    def to_json(self) -> str:
        return json.dumps({"source_host": self.source_host, "path": self.path, "meta": self.meta})

    @classmethod
    def from_json(cls, text: str) -> Pick:
        data = json.loads(text)
        return cls(data["source_host"], data["path"], data["meta"])


def target_allowed(host: str, environment: str) -> None:
    """A production host is never a target: no override exists."""
    if environment not in REBUILDABLE:
        raise StagingError(
            f"{host}: environment is {environment}; a staging rebuild only replaces the "
            f"database of a host whose environment is {' or '.join(REBUILDABLE)}"
        )


def recorded_environment_problem(host: str, backup_conf: str | None) -> str | None:
    """A host the deploy has set up before says what it serves in its backup.conf: the
    inventory's word is not enough to overwrite it (a staging entry that reaches a production
    machine). A deployed host that does not say counts as production."""
    if backup_conf is None:  # never deployed: nothing to overwrite
        return None
    said = [line.split("=", 1)[1].strip() for line in backup_conf.splitlines()
            if line.startswith("ENVIRONMENT=")]  # fmt: skip
    if said and said[-1] in REBUILDABLE:
        return None
    return (
        f"{host}: the host itself says ENVIRONMENT={said[-1] if said else '(nothing)'} in its "
        "backup.conf; only a host deployed as staging or development is rebuilt (deploy it "
        "with its environment first if it really is one)"
    )


def pick_backup(host: str, database: str, listing: dict | None) -> tuple[str, str]:
    """The newest backup of `database` in `tsdb-restore --list --json` that is verified and
    restore-tested: (path, why). StagingError when there is none."""
    if listing is None:
        raise StagingError(f"{host}: tsdb-restore --list gave no answer (is the host deployed?)")
    mine = [b for b in listing.get("backups", []) if b.get("database") == database]
    good = [b for b in mine if b.get("verified") and b.get("tested")]
    if not good:
        untested = [b for b in mine if b.get("verified")]
        hint = (
            f"; {len(untested)} verified but never restore-tested: run tsdb-restore --test "
            "latest on it first"
            if untested
            else ""
        )
        raise StagingError(
            f"{host}: no verified, restore-tested backup of {database} "
            f"({len(mine)} backups in all{hint})"
        )
    newest = max(good, key=lambda b: b["started_at"])
    return newest["path"], f"{newest['tier']} backup of {newest['started_at']}"


def schema_problems(
    meta: dict, migrations: list[Migration], timescaledb: str | None, roles: set[str] = frozenset()
) -> list[str]:
    """Why the target cannot take this backup: its TimescaleDB release and migrations must be
    the ones the target's deploy installs (a backup from another schema would be migrated, or
    refused, by the next deploy)."""
    problems = []
    # the roles the backup's objects belong to or are granted to: the target's deploy makes
    # `roles`; PostgreSQL's own (postgres, pg_*) exist everywhere
    missing = sorted(
        r for r in meta.get("roles") or []
        if r not in roles and r != "postgres" and not r.startswith("pg_")
    )  # fmt: skip
    if roles and missing:
        problems.append(
            f"the backup's objects need roles the target does not have: {', '.join(missing)} "
            "(app_user, owner_role, readonly_role, monitor_role must be production's)"
        )
    version = meta.get("timescaledb_version")
    if timescaledb is not None and version != timescaledb:
        problems.append(
            f"the backup has TimescaleDB {version}, the target installs {timescaledb} "
            "(timescaledb_version)"
        )
    theirs = {m["version"]: m["sha256"] for m in meta.get("migrations") or []}
    ours = {m.version: m.sha256 for m in migrations}
    if "migrations" not in meta:
        problems.append("the backup does not record its migrations (taken before this check)")
    elif theirs != ours:
        only_backup = sorted(set(theirs) - set(ours))
        only_here = sorted(set(ours) - set(theirs))
        changed = sorted(v for v in set(ours) & set(theirs) if ours[v] != theirs[v])
        parts = [
            f"{label} {', '.join(f'{v:04d}' for v in versions)}"
            for label, versions in (
                ("only in the backup:", only_backup),
                ("not yet in the backup:", only_here),
                ("changed since:", changed),
            )
            if versions
        ]
        problems.append("the backup's migrations differ from this checkout's: " + "; ".join(parts))
    return problems


def space_problems(meta: dict, copy_disk, data_disk) -> list[str]:
    """Whether the copy (on the backup directory's filesystem) and the restored database (on
    the data directory's) fit; one sum when both are the same filesystem. The disks are
    facts.host.Disk (mount, available_bytes)."""
    archive = int(meta.get("size_bytes") or 0)
    restore = math.ceil(int(meta.get("database_size_bytes") or 0) * REBUILD_SPACE_FACTOR)
    needs = {copy_disk.mount: archive}
    needs[data_disk.mount] = needs.get(data_disk.mount, 0) + restore
    free = {
        copy_disk.mount: copy_disk.available_bytes or 0,
        data_disk.mount: data_disk.available_bytes or 0,
    }
    return [
        f"{mount}: {format_size(free[mount])} free, the rebuild needs {format_size(need)} "
        f"(the copy {format_size(archive)} and/or restoring and masking "
        f"{format_size(restore)})"
        for mount, need in needs.items()
        if free[mount] < need
    ]


def report_lines(host: str, report: dict, phases: dict[str, float]) -> list[str]:
    """The rebuild's report for one target: a line per table, the values masked per rule, and
    the seconds of every phase (the deploy's and the host tool's)."""
    lines = [f"{host}: {report['database']} rebuilt from {Path(report['backup']).name} "
             f"(taken {report.get('backup_started_at')})"]  # fmt: skip
    width = max((len(t["table"]) for t in report["tables"]), default=10)
    lines.append(f"  {'table':<{width}}  {'backup rows':>12}  {'staging rows':>12}")
    for table in report["tables"]:
        same = "" if table["backup_rows"] == table["restored_rows"] else "  DIFFERENT"
        lines.append(
            f"  {table['table']:<{width}}  {table['backup_rows']:>12}  "
            f"{table['restored_rows']!s:>12}{same}"
        )
    width = max((len(rule) for rule in report["masked"]), default=10)
    lines.append(f"  {'masking rule':<{width}}  {'values':>8}")
    for rule, count in report["masked"].items():
        lines.append(f"  {rule:<{width}}  {count:>8}")
    timing = {**phases, **report["phases"]}
    lines.append(
        "  seconds: " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in timing.items())
    )
    if report.get("kept"):
        lines.append(f"  the previous staging database is kept as {report['kept']} until the "
                     "next rebuild")  # fmt: skip
    return lines
