"""systemd services running, and enabled at boot where asked; a service's files applied with
a reload, or a restart only where a reload cannot apply them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyinfra import host, logger
from pyinfra.api import operation

from ..facts import batch
from ..facts.host import ServiceStates
from .files import converge_files, file_states

if TYPE_CHECKING:
    from ..render import HostFile


@operation(is_idempotent=True)
def service_running(service: str, enabled: bool = False, known: list[str] = ()):
    """`service` active (started if not), and enabled at boot if `enabled`. `known`: every
    unit the deploy asks about, read in one command."""
    units = list(dict.fromkeys([*known, service]))
    state = batch.read(host, ServiceStates, units=units).get(service)
    todo = []
    if enabled and not (state and state.enabled):
        todo.append(f"systemctl enable {service}")
    if not (state and state.active):
        todo.append(f"systemctl start {service}")
    if not todo:
        host.noop(f"{service} runs" + (", enabled at boot" if enabled else ""))
        return
    yield from todo


@operation(is_idempotent=True)
def service_config(files: list[HostFile], reload: str, restart: str, known: list[str] = ()):
    """A running service's files as rendered, then the service reloaded, or restarted when a
    changed file is one it reads only at start (HostFile.restart); nothing when every file is
    as rendered, so its clients keep their connections."""
    todo, changed = converge_files(files, file_states(host, [f.path for f in files], known))
    yield from todo
    names = ", ".join(f.path.rsplit("/", 1)[-1] for f in changed)
    if any(f.restart for f in changed):
        host.log(f"Restarting for {names}", logger.warning)
        yield restart
    elif changed:
        host.log(f"Reloading for {names}", logger.info)
        yield reload
    else:
        host.noop(f"{', '.join(f.path.rsplit('/', 1)[-1] for f in files)}: as rendered")
