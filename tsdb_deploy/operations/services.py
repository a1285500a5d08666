"""systemd services running, and enabled at boot where asked."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import operation

from ..facts import batch
from ..facts.host import ServiceStates


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
