"""The server's files (postgresql.conf, pg_hba.conf, the TLS certificate and key): validated,
installed atomically, reloaded or restarted as needed."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from io import StringIO
from typing import TYPE_CHECKING

from pyinfra import host, logger
from pyinfra.api import FileUploadCommand, StringCommand, operation
from pyinfra.api.exceptions import OperationError

from ..facts import FileStates, PostgresServer
from ..planner.parameters import PARAMETERS
from ._common import sha256, show_diff

if TYPE_CHECKING:  # runtimes use these operations; import the type only for checkers
    from ..runtimes import Runtime


@dataclass(frozen=True)
class ServerFile:
    """A file PostgreSQL reads from its config directory, as the deploy writes it."""

    path: str
    text: str = field(repr=False)
    validate: bool = False  # checked by the server's own parser before it replaces the live one
    secret: bool = False  # never shown: no diff, no content in any log (the TLS key)


def _install_file(
    path: str, text: str, owner: str, validate: str | None = None, secret: bool = False
):
    """Upload beside `path` under a name no other run uses, owner postgres and mode 0600,
    validate, then rename into place (atomic: the server never reads a half-written file).

    A secret over SSH with sudo: pyinfra first uploads as the login user to a temporary file,
    by default in /tmp with that user's umask (often world-readable); it goes to a directory
    only that user can enter instead, made without sudo and removed after."""
    token = secrets.token_hex(4)
    candidate = f"{path}.tsdb-new-{token}"
    if secret:
        private = f"/tmp/tsdb-upload-{token}"
        yield StringCommand("mkdir", "-m", "700", private, _sudo=False)
        yield FileUploadCommand(StringIO(text), candidate, remote_temp_filename=f"{private}/f")
        yield StringCommand("rm", "-rf", private, _sudo=False)
    else:
        yield FileUploadCommand(StringIO(text), candidate)
    yield f"chown {owner} {candidate} && chmod 600 {candidate}"
    if validate:
        # On a bad file: leave the running config alone, remove the candidate, fail loudly.
        yield f"{validate.format(candidate=candidate)} || {{ rm -f {candidate}; exit 1; }}"
    yield f"mv -f {candidate} {path}"


def _make_private(path: str, state, mode: int, owner: str):
    """The database user's alone (dev-sec postgres-10): fix the owner, group and mode if any
    differs. `owner` is user:group."""
    if state is not None and (f"{state.user}:{state.group}", state.mode) != (owner, mode):
        host.log(f"{path}: {state.user}:{state.group} {state.mode:o} -> {owner} {mode:o}",
                 logger.info)  # fmt: skip
        yield f"chown {owner} {path} && chmod {mode:o} {path}"


def differing_parameters(planned: dict[str, str], live) -> dict[str, tuple[str, str]]:
    """Planned parameters whose live value differs: name -> (live SHOW-style, planned)."""
    out = {}
    for name, text in planned.items():
        row = live.settings.get(name)
        param = PARAMETERS[name]
        if row is None:  # e.g. a library's parameter before the library is loaded
            out[name] = ("(not loaded)", text)
            continue
        if param.from_pg_settings(row.setting, row.unit) != param.parse(text):
            out[name] = (row.setting + (row.unit or ""), text)
    return out


@operation(is_idempotent=True)
def postgres_config(runtime: Runtime, files: list[ServerFile], planned: dict[str, str]):
    """The server's files as planned; reload if enough, restart only if needed.

    Restart when a parameter whose pg_settings.context is `postmaster` differs from the live
    server, or the server reports pending_restart; reload when other parameters or any other
    file (pg_hba.conf, a renewed certificate) change; nothing when the files and the live
    values already match the plan.
    """
    live = host.get_fact(PostgresServer, psql=runtime.psql)
    if live is not None:
        drifted = sorted(set(live.auto_conf) & set(planned))
        if drifted:
            raise OperationError(
                f"ALTER SYSTEM overrides planned parameters ({', '.join(drifted)}) in "
                f"postgresql.auto.conf: run ALTER SYSTEM RESET for them, or set them as "
                "postgres_overrides in the inventory"
            )

    states = host.get_fact(FileStates, paths=[runtime.config_dir, *(f.path for f in files)])
    yield from _make_private(runtime.config_dir, states[runtime.config_dir], 0o700,
                             runtime.config_owner)  # fmt: skip
    changed = [f for f in files if (states[f.path] or None) is None
               or states[f.path].sha256 != sha256(f.text)]  # fmt: skip
    for f in files:
        if f not in changed:  # the content is right: its owner and mode may not be
            yield from _make_private(f.path, states[f.path], 0o600, runtime.config_owner)
    for f in changed:
        if not f.secret:
            show_diff(f.path, f.text)
        validate = runtime.validate_config("{candidate}") if f.validate else None
        yield from _install_file(f.path, f.text, runtime.config_owner, validate, f.secret)
    conf_changed = any(f.validate for f in changed)
    others_changed = [f.path.rsplit("/", 1)[-1] for f in changed if not f.validate]

    if live is None:
        host.log("PostgreSQL is not running: starting it with the planned config", logger.info)
        yield runtime.restart()
        yield runtime.wait_ready()
        return

    differing = differing_parameters(planned, live)
    needs_restart = sorted(
        name
        for name in differing
        if (live.settings[name].context if name in live.settings else PARAMETERS[name].context)
        == "postmaster"
    )
    pending = live.pending_restart
    if needs_restart or pending:
        reasons = (
            ", ".join(f"{n}: {differing[n][0]} -> {differing[n][1]}" for n in needs_restart)
            or f"pending restart for {', '.join(pending)}"
        )
        host.log(f"Restarting PostgreSQL: {reasons}", logger.warning)
        yield runtime.restart()
        yield runtime.wait_ready()
    elif differing or others_changed:
        what = ", ".join(f"{n}: {old} -> {new}" for n, (old, new) in differing.items())
        host.log(f"Reloading PostgreSQL: {what or ', '.join(others_changed) + ' changed'}",
                 logger.info)  # fmt: skip
        yield runtime.reload()
    elif not conf_changed:
        host.noop(f"{len(planned)} planned parameters match the live server")
