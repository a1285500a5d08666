"""The per-host deploy lock: what it holds, the shell that takes, renews and frees it on the
host, how a run takes it, and when a holder counts as gone. No pyinfra here:
operations/lock.py runs it through a pyinfra connection, the unit tests through a local shell.

One deploy at a time changes a host. The lock is a file under /run (tmpfs: a reboot frees
it) naming its holder: who, from which machine and process, since when. Its mtime is the
holder's heartbeat. Every change to it happens under flock(1) on a guard file, so of two runs
that look at once exactly one takes it. A holder is gone, and its lock is taken over with a
line saying so, when its heartbeat is older than STALE_AFTER_S, or at once when it ran in the
same process space as this run (same kernel boot, same PID namespace) and its process no
longer exists (a deploy killed with SIGKILL, or whose terminal closed).
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

LOCK_PATH = "/run/tsdb-deploy.lock"
GUARD_PATH = "/run/tsdb-deploy.lock.guard"  # flock(1) target: never removed, never read

# A holder renews its heartbeat every HEARTBEAT_S; one silent for STALE_AFTER_S (six missed
# beats: a long pause of the controller, not a slow command) is taken to be gone.
HEARTBEAT_S = 10
STALE_AFTER_S = 60
# While waiting for another holder (setting deploy_lock_wait), look again this often.
RETRY_S = 2
# flock on the guard is held for a few commands; a guard busy this long means a stuck shell.
GUARD_WAIT_S = 10

HELD_EXIT = 3  # the acquire script's exit status when another run holds the lock

_FIELDS = ("token", "who", "controller", "space", "pid", "started")
_UNSAFE = re.compile(r"[^A-Za-z0-9@._:+ -]")


@dataclass(frozen=True)
class Holder:
    token: str  # random, per run: only its holder renews or frees the lock
    who: str  # user@host the deploy runs from
    controller: str  # that machine's host name (for people to read)
    space: str  # kernel boot and PID namespace of its process: where `pid` means something
    pid: int  # the deploy's process
    started: int  # epoch seconds

    def text(self) -> str:
        return "".join(f"{name}={_UNSAFE.sub('_', str(getattr(self, name)))}\n"
                       for name in _FIELDS)  # fmt: skip

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started))
        return f"{self.who} (pid {self.pid}) since {since}"


def process_space() -> str:
    """This kernel boot and PID namespace: two processes that share it see the same pids."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return "unknown"
    return _UNSAFE.sub("_", f"{boot}/{namespace}")


def this_run(token: str, now: float | None = None) -> Holder:
    """The holder this process writes: who runs it, from where, since now."""
    controller = socket.gethostname()
    try:
        user = os.getlogin()
    except OSError:  # no controlling terminal (CI, cron)
        import pwd

        user = pwd.getpwuid(os.getuid()).pw_name
    return Holder(token, f"{user}@{controller}", controller, process_space(), os.getpid(),
                  int(now or time.time()))  # fmt: skip


def parse_holder(lines: list[str]) -> Holder | None:
    """The holder a lock file names, or None for anything unreadable (taken over as gone: a
    lock this module wrote always parses). The first line of each field counts."""
    fields: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.rstrip("\r").partition("=")
        if sep and name in _FIELDS:
            fields.setdefault(name, value)
    try:
        return Holder(*(fields[n] for n in _FIELDS[:4]), int(fields["pid"]),
                      int(fields["started"]))  # fmt: skip
    except (KeyError, ValueError):
        return None


def _guarded(body: str) -> str:
    """`body` under the guard's flock, with $lock, $current (the lock's first token line, as
    parse_holder reads it) and $mtime (its heartbeat, epoch seconds) set."""
    return (
        f"exec 9>>{GUARD_PATH} && flock -w {GUARD_WAIT_S} 9 || "
        "{ echo 'deploy lock: its guard file is busy' >&2; exit 1; }; "
        f"lock={LOCK_PATH}; "
        "current=$(sed -n '/^token=/{s///p;q}' \"$lock\" 2>/dev/null); "
        'mtime=$(stat -c %Y "$lock" 2>/dev/null); '
        f"{body}"
    )


@dataclass(frozen=True)
class Observed:
    """What a refused acquire saw holding the lock."""

    token: str  # its first token line ("" if none)
    mtime: str  # its heartbeat as the host's clock has it
    holder: Holder | None  # None: a lock file that does not parse
    age_s: int  # seconds since that heartbeat

    def who(self) -> str:
        return self.holder.describe() if self.holder else "an unknown run"


def acquire_command(holder: Holder, replace: Observed | None = None, leftovers=()) -> str:
    """Take the lock for `holder`: when it is free, or exactly as `replace` saw it (the same
    token, no heartbeat since: a holder judged gone). Otherwise exit HELD_EXIT, printing the
    heartbeat, its age and the lock. Once taken, remove `leftovers` (globs of staging files
    killed runs left: no other run can be using them while this one holds the lock)."""
    held = '[ -e "$lock" ]'
    if replace is not None:
        held += (f' && {{ [ "$current" != {shlex.quote(replace.token)} ] || '
                 f'[ "$mtime" != {shlex.quote(replace.mtime)} ]; }}')  # fmt: skip
    sweep = f"rm -rf -- {' '.join(leftovers)}; " if leftovers else ""
    return _guarded(
        f"if {held}; then "
        'echo "mtime=$mtime"; echo "age=$(( $(date +%s) - mtime ))"; cat "$lock"; '
        f"exit {HELD_EXIT}; fi; "
        f'{{ printf %s {shlex.quote(holder.text())} > "$lock.$$" && mv -f "$lock.$$" "$lock"; }} '
        '|| { rm -f "$lock.$$"; exit 1; }; '
        f"{sweep}echo {shlex.quote(_acquired(holder))}"
    )


def _acquired(holder: Holder) -> str:
    return f"acquired {holder.token}"


def heartbeat_command(token: str) -> str:
    """Renew the holder's heartbeat; `lost` when the lock is no longer this holder's."""
    return _guarded(f'if [ "$current" = {shlex.quote(token)} ]; then touch "$lock"; '
                    "else echo lost; fi")  # fmt: skip


def release_command(token: str) -> str:
    """Free the lock if this holder still holds it (a taken-over lock is someone else's)."""
    return _guarded(f'if [ "$current" = {shlex.quote(token)} ]; then rm -f "$lock"; fi')


def parse_acquire(lines: list[str], holder: Holder) -> Observed | None:
    """None when `holder` took the lock, else what holds it (acquire_command's output)."""
    lines = [line.rstrip("\r") for line in lines]
    if _acquired(holder) in lines:
        return None

    def value(name: str) -> str:
        return next((line[len(name) + 1 :] for line in lines if line.startswith(f"{name}=")), "")

    age = value("age")
    return Observed(value("token"), value("mtime"), parse_holder(lines),
                    int(age) if age.lstrip("-").isdigit() else 0)  # fmt: skip


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, someone else's
        return True
    return True


def gone_because(seen: Observed, me: Holder, ours=frozenset(), alive=pid_alive) -> str | None:
    """Why the holder `seen` is taken to be gone, or None while it may be alive. `ours`: the
    tokens this process takes or holds (one per host of its inventory): a lock with one of
    them is this very run's, alive (a host named twice, by alias and by address)."""
    holder = seen.holder
    if holder is None:
        return "its lock file is unreadable"
    if seen.token in ours:
        return None
    if seen.age_s > STALE_AFTER_S:
        return f"no heartbeat for {seen.age_s} s"
    same_space = holder.space == me.space and holder.space != "unknown"
    # its pid reused by this process, under a token not ours, also means that holder died
    if same_space and (holder.pid == me.pid or not alive(holder.pid)):
        return f"its process {holder.pid} on {holder.controller} no longer exists"
    return None


def refusal(seen: Observed, wait_s: int) -> str:
    """The one line a run that cannot take the lock ends with."""
    who = seen.who()
    waited = f"waited {wait_s} s (deploy_lock_wait)" if wait_s else "deploy_lock_wait is 0"
    return (
        f"another deploy holds this host's lock: {who}, heartbeat {seen.age_s} s ago; "
        f"{waited}; nothing was changed"
    )


@dataclass(frozen=True)
class Reply:
    ok: bool
    stdout: list[str]
    stderr: str


def take(
    run: Callable[[str], Reply],
    me: Holder,
    wait_s: int,
    log: Callable[[str], None],
    *,
    ours=frozenset(),
    leftovers=(),
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str | None:
    """Take the lock for `me` through `run` (a shell command on the host -> Reply): None once
    held, else the one line the run fails with. A holder judged gone is taken over, once per
    state of its lock: if it is seen again unchanged, it is waited for like a live one.
    `ours`: the tokens of this process (gone_because)."""
    deadline = clock() + wait_s
    tried: set[tuple[str, str]] = set()
    waiting = False
    replace: Observed | None = None
    while True:
        reply = run(acquire_command(me, replace, leftovers))
        seen = parse_acquire(reply.stdout, me)
        if reply.ok and seen is None:
            return None
        if seen is None or not any(line.startswith("age=") for line in reply.stdout):
            first = (reply.stderr.strip().splitlines() or ["no answer"])[0]
            return f"deploy lock: {first}"
        if seen.token in ours:
            return ("this run already holds this host's lock for another of its inventory "
                    "entries (the host is named twice?)")  # fmt: skip
        reason = gone_because(seen, me, ours)
        if reason and (seen.token, seen.mtime) not in tried:
            log(f"taking over the deploy lock of {seen.who()}: {reason}")
            tried.add((seen.token, seen.mtime))
            replace = seen
            continue
        if clock() >= deadline:
            return refusal(seen, wait_s)
        if not waiting:
            log(f"waiting up to {wait_s} s for the deploy lock of {seen.who()}")
            waiting = True
        sleep(min(RETRY_S, max(0.0, deadline - clock())))
