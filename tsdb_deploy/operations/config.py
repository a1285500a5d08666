"""The server's files (postgresql.conf, pg_hba.conf, the TLS certificate and key): validated,
installed atomically, reloaded or restarted as needed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyinfra import host, logger
from pyinfra.api import operation
from pyinfra.api.exceptions import OperationError

from ..facts import PostgresServer, RunningBackups, batch
from ..planner.parameters import PARAMETERS
from .files import converge_files, file_states, fix_owner_and_mode

if TYPE_CHECKING:
    from ..render import HostFile
    from ..restart_guard import RestartGuard
    from ..runtimes import Runtime


def differing_parameters(planned: dict[str, str], live) -> dict[str, tuple[str, str]]:
    """Planned parameters whose live value differs: name -> (live, planned), both as
    postgresql.conf spells them (shared_buffers 320MB, not pg_settings' 40960 of 8kB)."""
    out = {}
    for name, text in planned.items():
        row = live.parameters.get(name)
        param = PARAMETERS[name]
        if row is None:  # e.g. a library's parameter before the library is loaded
            out[name] = ("(not loaded)", text)
            continue
        value = param.from_pg_settings(row.setting, row.unit)
        if value != param.parse(text):
            out[name] = (param.render(value) if param.kind != "string" else value, text)
    return out


@operation(is_idempotent=True)
def postgres_config(
    runtime: Runtime,
    files: list[HostFile],
    planned: dict[str, str],
    guard: RestartGuard,
    known: list[str] = (),
):
    """The server's files as planned; reload if enough, restart only if needed.

    Restart when a parameter whose pg_settings.context is `postmaster` differs from the live
    server, or the server reports pending_restart; reload when other parameters or any other
    file (pg_hba.conf, a renewed certificate) change; nothing when the files and the live
    values already match the plan. A restart first waits for running backups (`guard`).
    """
    live = batch.read(host, PostgresServer, server=runtime.server)
    if live is not None:
        drifted = sorted(set(live.auto_conf) & set(planned))
        if drifted:
            raise OperationError(
                f"ALTER SYSTEM overrides planned parameters ({', '.join(drifted)}) in "
                f"postgresql.auto.conf: run ALTER SYSTEM RESET for them, or set them as "
                "postgres_overrides in the inventory"
            )

    states = file_states(host, [runtime.config_dir, *(f.path for f in files)], known)
    # the database user's alone (dev-sec postgres-10)
    yield from fix_owner_and_mode(runtime.config_dir, states[runtime.config_dir],
                                  runtime.config_owner, "700")  # fmt: skip
    todo, changed = converge_files(
        files, states, lambda f: runtime.validate_config("{candidate}") if f.validate else None
    )
    yield from todo
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
        if (live.parameters[name].context if name in live.parameters else PARAMETERS[name].context)
        == "postmaster"
    )
    pending = live.pending_restart
    if needs_restart or pending:
        reasons = (
            ", ".join(f"{n}: {differing[n][0]} -> {differing[n][1]}" for n in needs_restart)
            or f"pending restart for {', '.join(pending)}"
        )
        host.log(f"Restarting PostgreSQL: {reasons}", logger.warning)
        yield from guarded(runtime, guard, reasons)
    elif differing or others_changed:
        what = ", ".join(f"{n}: {old} -> {new}" for n, (old, new) in differing.items())
        host.log(f"Reloading PostgreSQL: {what or ', '.join(others_changed) + ' changed'}",
                 logger.info)  # fmt: skip
        yield runtime.reload()
    elif not conf_changed:
        host.noop(f"{len(planned)} planned parameters match the live server")


def guarded_command(
    runtime: Runtime, guard: RestartGuard, reason: str, command: str | None = None
) -> str:
    """`command` (default: the runtime's restart, then its wait until ready) once no backup
    runs (restart_guard)."""
    command = command or f"{runtime.restart()} && ({runtime.wait_ready()})"
    return guard.around(command, runtime.psql, runtime.is_running, reason)


def guarded(runtime: Runtime, guard: RestartGuard, reason: str, command: str | None = None):
    """The guarded command, said first what it will wait for."""
    running = host.get_fact(RunningBackups, psql=runtime.psql, backup_lock=guard.backup_lock)
    if running:
        host.log(
            f"The restart waits up to {guard.wait_s} s for running backups: {'; '.join(running)}",
            logger.warning,
        )
    yield guarded_command(runtime, guard, reason, command)
