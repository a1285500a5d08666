"""postgresql.conf and pg_hba.conf: validated, installed atomically, reloaded or restarted as
needed."""

from __future__ import annotations

from io import StringIO
from typing import TYPE_CHECKING

from pyinfra import host, logger
from pyinfra.api import FileUploadCommand, operation
from pyinfra.api.exceptions import OperationError
from pyinfra.facts.files import Sha256File

from ..facts import (
    PostgresServer,
)
from ..planner.parameters import PARAMETERS
from ._common import sha256, show_diff

if TYPE_CHECKING:  # runtimes use these operations; import the type only for checkers
    from ..runtimes import Runtime


def _install_file(path: str, text: str, owner: str, validate: str | None = None):
    """Upload next to `path`, set owner and mode 0640, validate, then rename into place."""
    candidate = f"{path}.tsdb-new"
    yield FileUploadCommand(StringIO(text), candidate)
    yield f"chown {owner} {candidate} && chmod 640 {candidate}"
    if validate:
        # On a bad file: leave the running config alone, remove the candidate, fail loudly.
        yield f"{validate.format(candidate=candidate)} || {{ rm -f {candidate}; exit 1; }}"
    yield f"mv -f {candidate} {path}"


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
def postgres_config(runtime: Runtime, conf_text: str, hba_text: str, planned: dict[str, str]):
    """postgresql.conf and pg_hba.conf as planned; reload if enough, restart only if needed.

    Restart when a parameter whose pg_settings.context is `postmaster` differs from the live
    server, or the server reports pending_restart; reload when other parameters or pg_hba
    change; nothing when the files and the live values already match the plan.
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

    hba_changed = host.get_fact(Sha256File, path=runtime.hba_path) != sha256(hba_text)
    conf_changed = host.get_fact(Sha256File, path=runtime.conf_path) != sha256(conf_text)
    if hba_changed:
        show_diff(runtime.hba_path, hba_text)
        yield from _install_file(runtime.hba_path, hba_text, runtime.config_owner)
    if conf_changed:
        show_diff(runtime.conf_path, conf_text)
        yield from _install_file(
            runtime.conf_path,
            conf_text,
            runtime.config_owner,
            validate=runtime.validate_config("{candidate}"),
        )

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
    elif differing or hba_changed:
        what = ", ".join(f"{n}: {old} -> {new}" for n, (old, new) in differing.items())
        host.log(f"Reloading PostgreSQL: {what or 'pg_hba.conf changed'}", logger.info)
        yield runtime.reload()
    elif not conf_changed:
        host.noop(f"{len(planned)} planned parameters match the live server")
