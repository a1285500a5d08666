"""Rendered files and their directories onto the host: one fact reads every path's state
(owner, mode, hash), and only what differs is written. Every write is atomic."""

from __future__ import annotations

import secrets
import shlex
from io import StringIO
from typing import TYPE_CHECKING

from pyinfra import host, logger
from pyinfra.api import FileDownloadCommand, FileUploadCommand, StringCommand, operation

from ..facts import FileStates, batch
from ._common import sha256, show_diff

if TYPE_CHECKING:
    from ..render import Directory, HostFile


def file_states(host, paths: list[str], known: list[str] = ()) -> dict:
    """The state of each of `paths`: read with every path the deploy manages (`known`,
    HostPlan.known_paths), which is the one read every step shares (facts.batch)."""
    return batch.read(host, FileStates, paths=list(dict.fromkeys([*known, *paths])))


STAGING_INFIX = ".tsdb-new-"  # a file being installed: <path>.tsdb-new-<token>
PRIVATE_UPLOAD_PREFIX = "/tmp/tsdb-upload-"  # a secret's upload directory: <prefix><token>
# a large private file's transfer directory: on disk (/tmp may be memory), <prefix><token>
PRIVATE_TRANSFER_PREFIX = "/var/tmp/tsdb-transfer-"


def install_file(
    path: str,
    text: str | None,
    owner: str,
    mode: str,
    validate: str | None = None,
    secret: bool = False,
    source: str | None = None,
    private_prefix: str = PRIVATE_UPLOAD_PREFIX,
):
    """Upload beside `path` under a name no other run uses, with its owner and mode, validate,
    then rename into place (atomic: no reader sees a half-written file).

    A secret over SSH with sudo: pyinfra first uploads as the login user to a temporary file,
    by default in /tmp with that user's umask (often world-readable); it goes to a directory
    only that user can enter instead (under `private_prefix`), made without sudo and removed
    after. `source`: a local file's path to upload instead of `text`."""
    token = secrets.token_hex(4)
    candidate = f"{path}{STAGING_INFIX}{token}"
    content = source if source is not None else StringIO(text)
    if secret:
        private = f"{private_prefix}{token}"
        yield StringCommand("mkdir", "-m", "700", private, _sudo=False)
        yield FileUploadCommand(content, candidate, remote_temp_filename=f"{private}/f")
        yield StringCommand("rm", "-rf", private, _sudo=False)
    else:
        yield FileUploadCommand(content, candidate)
    yield f"chown {owner} {candidate} && chmod {mode} {candidate}"
    if validate:
        # On a bad file: leave the live one alone, remove the candidate, fail loudly.
        yield f"{validate.format(candidate=candidate)} || {{ rm -f {candidate}; exit 1; }}"
    yield f"mv -f {candidate} {path}"


def fix_owner_and_mode(path: str, state, owner: str, mode: str):
    """chown and chmod `path` if either differs (`owner` is user:group, `mode` octal text)."""
    if state is not None and (f"{state.user}:{state.group}", state.mode) != (owner, int(mode, 8)):
        host.log(f"{path}: {state.user}:{state.group} {state.mode:o} -> {owner} {mode}",
                 logger.info)  # fmt: skip
        yield f"chown {owner} {path} && chmod {mode} {path}"


def converge_files(files: list[HostFile], states: dict, validate=None) -> tuple[list, list]:
    """The commands that make `files` as rendered (changed ones shown as a diff unless secret,
    installed atomically, validated with `validate(file)`'s command if it gives one; the others'
    owner and mode fixed), and the files whose content changed."""
    todo, changed = [], []
    for f in files:
        state = states[f.path]
        if state is None or state.sha256 != sha256(f.text):
            changed.append(f)
            if not f.secret:
                show_diff(f.path, f.text)
            todo.append(f"mkdir -p {shlex.quote(f.path.rsplit('/', 1)[0])}")
            check = validate(f) if validate else None
            todo += install_file(f.path, f.text, f.owner, f.mode, check, secret=f.secret)
        else:
            todo += fix_owner_and_mode(f.path, state, f.owner, f.mode)
    return todo, changed


@operation(is_idempotent=True)
def host_files(files: list[HostFile], directories: list[Directory] = (), known: list[str] = ()):
    """`directories`, then `files` as rendered, each with its owner and mode.

    `known`: every path the deploy manages (HostPlan.known_paths), read in one command that
    the other steps share (facts.batch); without it, just these."""
    ours = [*(d.path for d in directories), *(f.path for f in files)]
    states = file_states(host, ours, known)
    todo = []
    for d in directories:
        if states[d.path] is None:
            path = shlex.quote(d.path)
            todo.append(f"mkdir -p {path} && chown {d.owner} {path} && chmod {d.mode} {path}")
        else:
            todo += fix_owner_and_mode(d.path, states[d.path], d.owner, d.mode)
    todo += converge_files(files, states)[0]
    if not todo:
        host.noop(f"{', '.join(p.rsplit('/', 1)[-1] for p in ours)}: as rendered")
        return
    yield from todo


@operation(is_idempotent=True)
def files_absent(paths: list[str], known: list[str] = ()):
    """None of `paths` exists (what a setting turned off leaves behind)."""
    states = file_states(host, paths, known)
    present = [p for p in paths if states[p] is not None]
    if not present:
        host.noop(f"absent: {', '.join(paths)}")
        return
    yield f"rm -f {' '.join(shlex.quote(p) for p in present)}"


@operation(is_idempotent=False)
def private_download(src: str, dest: str):
    """`src` on the host (root's to read) to the local path `dest`, with no readable copy on
    the host along the way: over SSH with sudo, pyinfra copies the file first (by default to
    /tmp, readable by everyone); that copy goes into a directory the login user makes
    without sudo and alone can enter, removed after (a killed run's goes with the next
    deploy lock, operations/lock.py)."""
    private = f"{PRIVATE_TRANSFER_PREFIX}{secrets.token_hex(4)}"
    yield StringCommand("mkdir", "-m", "700", private, _sudo=False)
    yield FileDownloadCommand(src, dest, remote_temp_filename=f"{private}/f")
    yield StringCommand("rm", "-rf", private, _sudo=False)


@operation(is_idempotent=False)
def private_upload(src: str, dest: str, owner: str, mode: str):
    """The local file `src` to `dest` on the host, with `owner` (user:group) and `mode`,
    through a private directory on disk (a large file: /tmp may be memory)."""
    yield from install_file(dest, None, owner, mode, secret=True, source=src,
                            private_prefix=PRIVATE_TRANSFER_PREFIX)  # fmt: skip
