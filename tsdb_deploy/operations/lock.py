"""The per-host deploy lock (deploy_lock.py) in a pyinfra run: taken as the run's first
operation executes, renewed while it runs, freed by its last operation, when an operation
fails on the host, or as pyinfra disconnects.

Taking the lock is not a change to the host, so it yields no command: a converged host still
reports no change. It is taken when the run executes, never while pyinfra prepares, so --dry
takes no lock. A run that cannot take it fails on that host with one line naming the holder,
before anything on the host has changed; the run's other hosts go on. A run whose lock was
taken over by another (it was judged gone) stops at its next operation.
"""

from __future__ import annotations

import secrets
import shlex
import time

import gevent
from pyinfra import host, logger, state
from pyinfra.api import FunctionCommand, StringCommand, operation
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.state import BaseStateCallback

from .. import deploy_lock as lock
from ._common import SQL_STAGING_PREFIX
from .docker import IMAGE_UPLOAD_DIR
from .files import PRIVATE_TRANSFER_PREFIX, PRIVATE_UPLOAD_PREFIX, STAGING_INFIX


class _Ours:
    """A lock this run holds on one host."""

    def __init__(self, host, token: str, arguments: dict):
        self.host, self.token, self.arguments = host, token, arguments
        self.lost = False
        self.renewed = time.monotonic()  # the last heartbeat the host confirmed
        self.beat = gevent.spawn(self._heartbeats)

    def beat_now(self) -> None:
        """Renew the heartbeat; a lock found to be someone else's is marked lost."""
        try:
            reply = _run(self.host, lock.heartbeat_command(self.token), self.arguments)
        except Exception as exc:  # noqa: BLE001 - a failed beat is tried again
            logger.warning(f"{self.host.name}: deploy lock heartbeat failed: {exc}")
            return
        if reply.ok and "lost" in reply.stdout:
            self.lost = True
        elif reply.ok:
            self.renewed = time.monotonic()

    def _heartbeats(self) -> None:
        while not self.lost:
            gevent.sleep(lock.HEARTBEAT_S)
            self.beat_now()


# (pyinfra state, host name) -> the lock this run holds there
_ours: dict[tuple[int, str], _Ours] = {}
# every token this process has taken or is taking: a lock bearing one is this run's own
_tokens: set[str] = set()


def staging_leftovers(paths: list[str]) -> list[str]:
    """Shell globs of what a killed run may have left: files being installed beside `paths`
    (the files the deploy manages), uploaded SQL, secrets' upload directories, image archives.
    Names carry a run's token, so while this run holds the lock none is another's."""
    return [
        *(f"{shlex.quote(path)}{STAGING_INFIX}*" for path in paths),
        f"{SQL_STAGING_PREFIX}*.sql",
        f"{PRIVATE_UPLOAD_PREFIX}*",
        f"{PRIVATE_TRANSFER_PREFIX}*",
        f"{IMAGE_UPLOAD_DIR}/*.tar",
    ]


def _run(host, command: str, arguments: dict) -> lock.Reply:
    ok, output = host.run_shell_command(StringCommand(command), print_output=False, **arguments)
    return lock.Reply(ok, [line.rstrip("\r") for line in output.stdout_lines], output.stderr)


def _refuse(state, host, message: str) -> bool:
    host.log_styled(message, fg="red", log_func=logger.error)
    return False


@operation(is_idempotent=True)
def deploy_lock(wait_s: int, leftovers: list[str] = ()):
    """This run holds the host's deploy lock from here on: taken when free or when its holder
    is gone; else waited for up to `wait_s` seconds, then refused. Once taken, the staging
    files of killed runs (`leftovers`, globs) are removed."""
    # the objects behind pyinfra's context proxies: the heartbeat runs outside this context,
    # and callbacks are handed the real state
    real_state, real_host = state._get_module(), host._get_module()
    key = (id(real_state), real_host.name)
    if not state.is_executing or key in _ours:
        return
    # what this operation's commands would run with (sudo...), as pyinfra derives it
    arguments = {k: v for k, v in (host.current_op_global_arguments or {}).items()
                 if k in CONNECTOR_ARGUMENT_KEYS}  # fmt: skip
    me = lock.this_run(secrets.token_hex(8))
    _tokens.add(me.token)
    refused = lock.take(
        lambda command: _run(real_host, command, arguments),
        me,
        wait_s,
        lambda line: real_host.log_styled(line, fg="yellow", log_func=logger.warning),
        ours=_tokens,
        leftovers=leftovers,
        sleep=gevent.sleep,
    )
    if refused:
        yield FunctionCommand(_refuse, (refused,), {})
        return
    _ours[key] = _Ours(real_host, me.token, arguments)
    _install(real_state)


def release(state, host) -> None:
    """Free the host's lock if this run holds it."""
    ours = _ours.pop((id(state), host.name), None)
    if ours is None:
        return
    ours.beat.kill(block=False)
    try:
        _run(host, lock.release_command(ours.token), ours.arguments)
    except Exception as exc:  # noqa: BLE001 - the connection is gone: the lock goes stale
        logger.warning(f"{host.name}: deploy lock not freed ({exc}); the next run takes it over")


@operation(is_idempotent=True)
def deploy_lock_released():
    """The run is done with the host: its lock is freed."""
    if state.is_executing:
        release(state._get_module(), host._get_module())
    yield from ()


class ReleaseOnFailure(BaseStateCallback):
    """Keeps the lock's promises between the first operation and the last: a run whose lock
    was taken over stops (the whole run: pyinfra has no way to stop one host from here)
    before its next operation, checked there when no heartbeat got through lately (a paused
    controller); a host whose operation failed runs nothing more, so its lock is freed at
    once; a run that ends on an exception frees it as pyinfra disconnects (where the
    connection still works; else the next run finds it gone)."""

    @staticmethod
    def operation_host_start(state, host, op_hash):
        ours = _ours.get((id(state), host.name))
        if ours is None:
            return
        if not ours.lost and time.monotonic() - ours.renewed > 2 * lock.HEARTBEAT_S:
            ours.beat_now()
        if ours.lost:
            raise PyinfraError(
                f"{host.name}: another run took this host's deploy lock over (this run was "
                "silent for too long); stopped before changing anything more"
            )

    @staticmethod
    def operation_host_error(state, host, op_hash, retry_attempt=0, max_retries=0):
        if not state.get_op_data_for_host(host, op_hash).global_arguments["_ignore_errors"]:
            release(state, host)

    @staticmethod
    def host_disconnect(state, host):
        release(state, host)


def _install(state) -> None:
    if not any(isinstance(h, ReleaseOnFailure) for h in state.callback_handlers):
        state.add_callback_handler(ReleaseOnFailure())
