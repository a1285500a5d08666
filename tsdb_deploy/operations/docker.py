"""Operations only the docker runtime needs: the engine, the image, the data directory and
the compose service. Each reads the host first and yields only what is needed."""

from __future__ import annotations

import json
import re
import secrets
import shlex
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

from pyinfra import host, logger
from pyinfra.api import FileUploadCommand, operation
from pyinfra.api.exceptions import OperationError
from pyinfra.facts.files import File

from ..facts import (
    DockerContainer,
    DockerImageContents,
    DockerImageId,
    PostgresIds,
    batch,
)
from ._common import sha256
from .config import guarded
from .files import file_states, install_file

if TYPE_CHECKING:
    from ..restart_guard import RestartGuard
    from ..runtimes import Runtime

IMAGE_UPLOAD_DIR = "/var/lib/tsdb-deploy/images"


@operation(is_idempotent=True)
def docker_daemon(files: dict[str, str], known: list[str] = ()):
    """dockerd's files (path -> text: daemon.json, its environment's drop-in); dockerd restarts
    only when one changed."""
    changed = []
    states = file_states(host, list(files), known)
    for path, text in files.items():
        if states[path] is None or states[path].sha256 != sha256(text):
            changed.append(path)
            yield f"mkdir -p {shlex.quote(str(Path(path).parent))}"
            yield from install_file(path, text, "root:root", "644")
    if not changed:
        host.noop("daemon.json and dockerd's environment are as declared")
        return
    host.log(f"Restarting dockerd for {', '.join(changed)} (live-restore keeps containers)")
    yield "systemctl daemon-reload && systemctl restart docker"


def archive_image_id(path: str) -> str:
    """The image ID (config digest) of a `docker save` archive, read locally."""
    try:
        with tarfile.open(path) as archive:
            manifest = json.load(archive.extractfile("manifest.json"))
    except (OSError, KeyError, tarfile.TarError, json.JSONDecodeError) as exc:
        raise OperationError(f"{path} is not a `docker save` archive: {exc}") from None
    config = manifest[0]["Config"]  # "<hex>.json" (legacy) or "blobs/sha256/<hex>" (OCI)
    digest = Path(config).name.removesuffix(".json")
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise OperationError(f"{path}: its manifest names no image digest ({config!r})")
    return "sha256:" + digest


CONTROL_FILE = re.compile(
    r"^(\./)?usr/(local/)?share/postgresql/(\d+/)?extension/timescaledb\.control$"
)
DEFAULT_VERSION = re.compile(r"^default_version\s*=\s*'([^']+)'", re.MULTILINE)


def archive_timescaledb_version(path: str) -> str | None:
    """The TimescaleDB version an image archive ships, read locally from its newest layer
    holding the extension's control file (None when no layer has one)."""
    try:
        with tarfile.open(path) as archive:
            layers = json.load(archive.extractfile("manifest.json"))[0]["Layers"]
            for layer in reversed(layers):
                with tarfile.open(fileobj=archive.extractfile(layer), mode="r|*") as files:
                    for member in files:
                        if member.isfile() and CONTROL_FILE.match(member.name):
                            text = files.extractfile(member).read().decode(errors="replace")
                            found = DEFAULT_VERSION.search(text)
                            return found.group(1) if found else None
    except (OSError, KeyError, IndexError, tarfile.TarError, json.JSONDecodeError) as exc:
        raise OperationError(f"{path} is not a `docker save` archive: {exc}") from None
    return None


def image_contents_check(ref: str, timescaledb: str, tools: dict[str, str]) -> str:
    """Fails, saying why, unless image `ref` ships TimescaleDB `timescaledb` and `tools` (tool
    -> what to do about it). Run right after the image arrives, before anything uses it."""
    read = DockerImageContents().command(image=ref, tools=list(tools))
    checks = [
        f'echo "$out" | grep -qx {shlex.quote(f"timescaledb {timescaledb}")} || {{ echo '
        f"{shlex.quote(f'{ref} does not ship TimescaleDB {timescaledb} (timescaledb_version)')}"
        " >&2; exit 1; }"
    ] + [
        f'echo "$out" | grep -qx {shlex.quote(f"tool {tool}")} || {{ echo '
        f"{shlex.quote(f'{ref} has no {tool}: {hint}')} >&2; exit 1; }}"
        for tool, hint in tools.items()
    ]
    return f"out=$({read}); " + "; ".join(checks)


@operation(is_idempotent=True)
def image(ref: str, archive: str | None, timescaledb: str, tools: dict[str, str]):
    """`ref` present: loaded from `archive` (uploaded) when given, else pulled; a new image is
    checked for the TimescaleDB release and the tools the deploy relies on before anything
    runs on it (an image already present was checked by the deploy's preflight)."""
    present = batch.read(host, DockerImageId, ref=ref)
    if archive:
        wanted = archive_image_id(archive)
        if present == wanted:
            host.noop(f"{ref} is present ({wanted[:19]})")
            return
        # named by the image it holds: the inventory's file name never reaches the shell
        # and by this run: another run's upload of the same image is never cut short
        remote = (
            f"{IMAGE_UPLOAD_DIR}/{wanted.removeprefix('sha256:')[:32]}-{secrets.token_hex(4)}.tar"
        )
        yield f"mkdir -p {IMAGE_UPLOAD_DIR}"
        yield FileUploadCommand(archive, remote)
        check = f"docker image inspect --format '{{{{.Id}}}}' {shlex.quote(ref)}"
        missing = shlex.quote(f"the archive {Path(archive).name} does not hold {ref} ({wanted})")
        yield (
            f"docker load --quiet -i {remote}; rc=$?; rm -f {remote}; [ $rc = 0 ] || exit $rc; "
            f'[ "$({check} 2>/dev/null)" = {shlex.quote(wanted)} ] || '
            f"{{ echo {missing} >&2; exit 1; }}"
        )
    elif present:
        host.noop(f"{ref} is present")
        return
    else:
        yield f"docker pull --quiet {shlex.quote(ref)}"
    yield image_contents_check(ref, timescaledb, tools)


@operation(is_idempotent=True)
def data_directory(image: str, volume: str, pgdata_on_host: str, initdb_args: list[str]):
    """An initialised PGDATA on the volume; never touches one that has PG_VERSION."""
    if batch.read(host, File, path=f"{pgdata_on_host}/PG_VERSION"):
        host.noop("the data directory is initialised")
        return
    mount = "/var/lib/postgresql/data"
    if not volume.startswith("/"):
        yield f"docker volume inspect {volume} >/dev/null 2>&1 || docker volume create {volume}"
    else:
        yield f"mkdir -p {shlex.quote(volume)}"
    run = ["docker", "run", "--rm", "-v", f"{volume}:{mount}"]
    # the mount point belongs to root; PGDATA below it belongs to postgres
    yield shlex.join([*run, "--entrypoint", "chown", image, "postgres:postgres", mount])
    yield shlex.join(
        [*run, "--user", "postgres", "--entrypoint", "initdb", image, "-D", f"{mount}/pgdata",
         *initdb_args]
    ) + " >/dev/null"  # fmt: skip


@operation(is_idempotent=True)
def compose_service(
    container: str,
    compose_file: str,
    service: str,
    image: str,
    up: str,
    wait_ready: str,
    restart: tuple[Runtime, RestartGuard] | None = None,
):
    """The container exists, runs the current image and compose file, and is healthy.

    Compose records a hash of the service's configuration on the container; when the file
    changed since (limits, ports, image), `up` recreates it, once. `restart`: the container
    runs the database, so recreating a running one waits for running backups (restart_guard).
    """
    state = batch.read(
        host, DockerContainer, container=container, compose=compose_file, service=service
    )
    image_id = batch.read(host, DockerImageId, ref=image)
    reasons = []
    if state is None:
        reasons.append("the container does not exist")
    else:
        if not state.running:
            reasons.append("the container is not running")
        if state.config_hash != state.wanted_hash:
            reasons.append("the compose file changed")
        if image_id and state.image_id != image_id:
            reasons.append(f"{image} is a new image")
    if not reasons:
        host.noop(f"{container} runs the current image and compose file")
        return
    host.log(f"Updating {container}: {'; '.join(reasons)}", logger.warning)
    if restart and state is not None and state.running:
        runtime, guard = restart
        yield from guarded(runtime, guard, "; ".join(reasons), f"{up} && ({wait_ready})")
        return
    yield up
    yield wait_ready


def align_postgres_ids_script(image: str, containers: list[str], owned: list[str]) -> str:
    """Shell (as root): give the host user postgres the image's uid and gid.

    Creates the user if missing. A host user or group that already holds one of those ids is
    an error naming both (sharing a gid with, say, docker would give PostgreSQL that group's
    rights). A host user postgres with other ids, from an earlier image, is moved: the
    container is stopped (the one restart; compose starts it again on the new image), the
    user and group take the new ids, and the files under `owned` follow them. `containers`:
    every container running as postgres (the database first, then PgBouncer).
    """
    q = shlex.quote
    paths = " ".join(q(p) for p in owned)
    names = " ".join(q(c) for c in containers)
    return "\n".join(
        [
            "set -eu",
            f"ids=$(docker run --rm --entrypoint sh {q(image)} -c "
            "'u=$(id -u postgres) && g=$(id -g postgres) && echo \"$u $g\"')",
            "set -- $ids",
            "uid=${1:-}; gid=${2:-}",
            'case "$uid:$gid" in *[!0-9:]*|:*|*:) echo "the image has no user postgres with'
            " numeric ids (got '$ids')\" >&2; exit 1;; esac",
            'user=$(getent passwd "$uid" | cut -d: -f1)',
            'group=$(getent group "$gid" | cut -d: -f1)',
            '[ -z "$user" ] || [ "$user" = postgres ] || { echo "the image runs PostgreSQL as uid'
            " $uid, which is the host's user $user: use an image with other ids, or free that uid\""
            " >&2; exit 1; }",
            '[ -z "$group" ] || [ "$group" = postgres ] || { echo "the image runs PostgreSQL as gid'
            " $gid, which is the host's group $group: the host user postgres would share its files"
            ' and rights; use an image with other ids, or free that gid" >&2; exit 1; }',
            "if ! id postgres >/dev/null 2>&1; then",
            '  [ -n "$group" ] || groupadd --system --gid "$gid" postgres',
            '  exec useradd --system --uid "$uid" --gid "$gid" --home-dir /var/lib/postgresql'
            " --no-create-home --shell /usr/sbin/nologin postgres",
            "fi",
            "old_uid=$(id -u postgres); old_gid=$(id -g postgres)",
            '[ "$old_uid:$old_gid" != "$uid:$gid" ] || exit 0',
            "echo \"host user postgres: uid/gid $old_uid/$old_gid -> $uid/$gid (the image's);"
            f' stopping {", ".join(containers)} to move its files"',
            # whatever fails from here on, the database is started again as it was
            f"trap 'docker start {names} >/dev/null 2>&1 || true' EXIT",
            f"docker stop {names} >/dev/null 2>&1 || true",
            # nothing may still run as the old ids (a backup from cron): usermod would refuse
            # halfway, after the group moved
            'busy=$(for d in /proc/[0-9]*; do [ "$(stat -c %u "$d" 2>/dev/null)" = "$old_uid" ]'
            ' && echo "${d#/proc/}"; done || true)',
            '[ -z "$busy" ] || { echo "processes of postgres still run (pids $(echo $busy)):'
            ' the ids were not changed; deploy again when they have ended" >&2; exit 1; }',
            # the files first, the accounts last: a run cut short anywhere is finished by the
            # next, which still finds the old ids on the account
            f"for path in {paths}; do",
            '  [ -e "$path" ] || continue',
            '  chown -R --from="$old_uid" "$uid" "$path"',
            '  chown -R --from=":$old_gid" ":$gid" "$path"',
            "done",
            'if getent group postgres >/dev/null; then groupmod --gid "$gid" postgres;'
            ' else groupadd --system --gid "$gid" postgres; fi',
            'usermod --uid "$uid" --gid "$gid" postgres',
            "trap - EXIT",  # compose starts it on the new image
        ]
    )


@operation(is_idempotent=True)
def host_postgres_user(image: str, containers: list[str], owned: list[str]):
    """A host user `postgres` with the image's postgres uid and gid, in the docker group.

    With the same ids, files the container's PostgreSQL reads or writes (config, the
    pgBackRest repository) and the backups the host's cron jobs write are owned by
    `postgres` on both sides. The docker group lets the backup jobs reach the container
    (it is root-equivalent on the host, as running `docker exec` is).
    """
    ids = batch.read(host, PostgresIds, image=image)
    own = ids.holders == ("postgres", "postgres")  # no other account holds the image's ids
    if ids.host == ids.image and ids.image is not None and ids.in_docker_group and own:
        host.noop(f"host user postgres has the image's ids {ids.image[0]}/{ids.image[1]}, "
                  "in the docker group")  # fmt: skip
        return
    if ids.host and ids.image and ids.host != ids.image:
        host.log(
            f"host user postgres has uid/gid {ids.host[0]}/{ids.host[1]}, the image "
            f"{ids.image[0]}/{ids.image[1]}: moving it and its files (stops "
            f"{', '.join(containers)} once)",
            logger.warning,
        )
    yield align_postgres_ids_script(image, containers, owned)
    yield "usermod -aG docker postgres"
