"""What can refuse a deploy, checked from facts before any step runs.

pyinfra runs a deploy's steps one after the other (`pyinfra -y` plans nothing ahead), so a
step that refuses halfway would leave the steps before it done. What the TimescaleDB install
can be refused for is therefore checked here, in pyinfra's prepare stage, from facts alone:
- the upstream repositories: unreachable, signed with another key than the one named, or
  without the pinned release (apt checks them in a scratch directory, AptRepositoryProbe);
- a downgrade: the pinned release below the installed packages, or below the extension in
  any database;
- the docker image: another TimescaleDB version than timescaledb_version (read from the image
  when the host has it, else from the `docker save` archive on this machine);
- a data directory or pg_wal whose filesystem is (nearly) full: the deploy's own steps would stop a
  running server there (pgbackrest check switches to a new WAL segment; PostgreSQL stops
  when it cannot create one), so nothing is done.
The steps check again when they run; a converged host reads no repository and no archive.
"""

from __future__ import annotations

from typing import Protocol

from pyinfra.api.exceptions import OperationError

from .apt import AptError, check_no_downgrade, choose_versions, release
from .facts import AptRepositoryProbe, DiskFacts, DockerImageContents, TimescaledbVersions, batch
from .operations.docker import archive_timescaledb_version
from .operations.packages import upstream_pending
from .restart_guard import MIN_DATA_FREE
from .runtimes import Runtime
from .units import MIB


class HostPlan(Protocol):
    """What the preflight reads of host_plan.HostPlan (which calls it, so not imported)."""

    runtime: Runtime
    database: str
    app_user: str
    owner_role: str
    image_archive: str | None

    @property
    def known_paths(self) -> list[str]: ...

    def apt_install(self) -> dict: ...


class PreflightError(ValueError):
    """The deploy must not start; the message says why, in one line."""


def check(host, hp: HostPlan) -> None:
    runtime = hp.runtime
    data = runtime.data_path_on_host
    for path in (data, f"{data}/pg_wal"):  # pg_wal may be a link to a WAL disk
        _room_on_the_data_disk(batch.read(host, DiskFacts, path=path))
    found = batch.read(host, TimescaledbVersions, server=runtime.server, database=hp.database)
    if found:
        _database_owner(found.owners, hp)
    expected = runtime.timescaledb_version
    if expected:
        _no_database_ahead(found, expected)
    if runtime.upstream_sources():
        _upstream_repositories(host, hp.apt_install())
    if runtime.name == "docker":
        _image_version(host, runtime, hp.image_archive)


def _room_on_the_data_disk(disk) -> None:
    free = disk.available_bytes
    if free is None or free >= MIN_DATA_FREE:
        return
    raise PreflightError(
        f"the data disk is full: the filesystem of {disk.path} ({disk.mount}) has "
        f"{free // MIB} MiB free, under the {MIN_DATA_FREE // MIB} MiB a running "
        "PostgreSQL needs to create WAL segments; free space there first (nothing was changed)"
    )


def _database_owner(owners: dict[str, str], hp: HostPlan) -> None:
    """The application database belongs to the owner role (sql/0011), or still to the
    application role (0011 not yet applied); to anyone else, owner_role names the wrong role."""
    owner = owners.get(hp.database)
    if owner is None or owner in (hp.owner_role, hp.app_user):
        return
    raise PreflightError(
        f"the database {hp.database} belongs to the role {owner}, but owner_role is "
        f"{hp.owner_role}: set owner_role to {owner}, or rename that role "
        f"(ALTER ROLE {owner} RENAME TO {hp.owner_role})"
    )


def _no_database_ahead(found, expected: str) -> None:
    ahead = {
        db: v for db, v in (found.installed if found else {}).items()
        if (release(v) or (0,)) > (release(expected) or (0,))
    }  # fmt: skip
    if ahead:
        listed = ", ".join(f"{db} has {v}" for db, v in sorted(ahead.items()))
        raise PreflightError(
            f"timescaledb_version {expected} is older than the extension in the databases "
            f"({listed}): downgrades are refused"
        )


def _upstream_repositories(host, install: dict) -> None:
    installed, _, todo = upstream_pending(
        host, install["sources"], install["files"], install["packages"], install["pinned"]
    )
    try:
        check_no_downgrade(installed, install["pinned"], install["setting"])
        if todo:
            probe = batch.read(
                host,
                AptRepositoryProbe,
                sources=install["sources"],
                packages=[*install["packages"], *install["pinned"]],
            )
            choose_versions(probe.errors, probe.available, install["pinned"], install["setting"])
    except AptError as exc:
        raise PreflightError(str(exc)) from None


def _image_version(host, runtime, archive: str | None) -> None:
    tools = runtime.image_tools()
    contents = batch.read(host, DockerImageContents, image=runtime.image, tools=list(tools))
    if contents is not None:
        shipped = contents.timescaledb
        for tool, hint in tools.items():
            if tool not in contents.tools:
                raise PreflightError(f"{runtime.image} has no {tool}: {hint}")
    elif archive:
        try:
            shipped = archive_timescaledb_version(archive)
        except OperationError as exc:
            raise PreflightError(str(exc)) from None
    else:
        return  # pulled by its step, then checked before the container runs on it
    if shipped != runtime.timescaledb_version:
        raise PreflightError(
            f"{runtime.image} ships TimescaleDB {shipped or '(none)'}, but timescaledb_version "
            f"is {runtime.timescaledb_version}: use an image of that version, or set "
            "timescaledb_version to the image's"
        )
