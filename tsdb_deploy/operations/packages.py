"""apt packages, installed only when missing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt

if TYPE_CHECKING:  # runtimes use these operations; import the type only for checkers
    pass


@operation(is_idempotent=True)
def packages_installed(packages: list[str]):
    """apt packages present; the package lists are refreshed only when one must be installed,
    so a converged host stays unchanged however long ago apt last updated."""
    installed = host.get_fact(DebPackages) or {}
    missing = [name for name in packages if name not in installed]
    if not missing:
        host.noop(f"installed: {', '.join(packages)}")
        return
    yield from apt.packages._inner(packages=missing, update=True)
