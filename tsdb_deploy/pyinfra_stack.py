"""pyinfra orders operations by the call stack of each one, for every host: `inspect.stack()`
and `getframeinfo()`, which also read a line of source for every frame (findsource, then
getmodule over sys.modules). pyinfra uses only each frame's file name and line number, so
reading no source gives it the same order. Profiled on 8 hosts' no-change run: 1.0 s of the
controller's CPU (bench/results/findings.md, "Deploy timing")."""

from __future__ import annotations

import inspect
from functools import partial

import pyinfra.api.util

# partials, not functions: a frame of ours would join the stack pyinfra reads
STACK = partial(inspect.stack, context=0)
FRAME_INFO = partial(inspect.getframeinfo, context=0)


def install() -> None:
    """pyinfra's stack readers without source lines (pyinfra.api.util's own globals)."""
    pyinfra.api.util.stack = STACK
    pyinfra.api.util.getframeinfo = FRAME_INFO
