"""pyinfra, killed with SIGKILL as soon as its Nth operation has ended: a deploy interrupted
uncleanly at a known point between two operations, as a `kill -9` of the operator's process
would (the host is told nothing).

    python -m lab.interrupt --after N [pyinfra arguments...]

With N beyond the run's operations the run completes; with --count it prints, at the end of
a complete run, `operations: M` on stderr (the points a test can stop at).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import pyinfra_cli  # noqa: F401  (gevent's monkey patching comes first)
from pyinfra.api.state import BaseStateCallback, State

KILLED = -signal.SIGKILL  # a subprocess's returncode after it


class _KillAfter(BaseStateCallback):
    after: int | None = None
    ended = 0

    @classmethod
    def operation_end(cls, state, op_hash):
        cls.ended += 1
        if cls.after is not None and cls.ended >= cls.after:
            sys.stderr.write(f"lab.interrupt: SIGKILL after operation {cls.ended}\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="lab.interrupt", add_help=False)
    parser.add_argument("--after", type=int)
    parser.add_argument("--count", action="store_true")
    ours, rest = parser.parse_known_args(argv)
    _KillAfter.after = ours.after
    init = State.init  # where pyinfra sets up the state's callback handlers

    def with_killer(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.add_callback_handler(_KillAfter())

    State.init = with_killer
    if ours.count:
        import atexit

        atexit.register(lambda: sys.stderr.write(f"operations: {_KillAfter.ended}\n"))
    from pyinfra_cli.main import main as pyinfra_main

    sys.argv = ["pyinfra", *rest]
    pyinfra_main()


if __name__ == "__main__":
    main(sys.argv[1:])
