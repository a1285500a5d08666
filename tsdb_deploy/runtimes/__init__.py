"""Where PostgreSQL runs (natively, or in a container): paths and shell commands.

Every deploy step is shared; a step that differs between runtimes differs only in a path or a
command it takes from here. host_plan.runtime_for builds the host's runtime from its settings.
"""

from __future__ import annotations

from .base import Distro, Runtime, RuntimeConfigError
from .docker import DockerRuntime
from .native import NativeRuntime

RUNTIMES: dict[str, type[Runtime]] = {"native": NativeRuntime, "docker": DockerRuntime}

__all__ = ["RUNTIMES", "Distro", "DockerRuntime", "NativeRuntime", "Runtime", "RuntimeConfigError"]
