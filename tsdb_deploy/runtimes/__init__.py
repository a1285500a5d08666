"""The seam between where PostgreSQL runs (natively, or in a container) and every deploy step.

Each step talks to a Runtime: where the config lives, how to install, validate, reload,
restart and run psql. A step that differs between runtimes differs only in here.
"""

from __future__ import annotations

from .base import Runtime
from .docker import DockerRuntime
from .native import NativeRuntime

RUNTIMES: dict[str, type[Runtime]] = {"native": NativeRuntime, "docker": DockerRuntime}


def for_settings(settings: dict) -> Runtime:
    try:
        return RUNTIMES[settings["runtime"]](settings)
    except KeyError:
        raise NotImplementedError(
            f"runtime {settings['runtime']!r} is not implemented yet (available: "
            f"{', '.join(RUNTIMES)})"
        ) from None


__all__ = ["RUNTIMES", "Runtime", "for_settings"]
