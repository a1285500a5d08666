"""The deploy lock's shell, run for real against a temporary directory, and its decisions."""

from __future__ import annotations

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsdb_deploy import deploy_lock as lock

SPACE = "boot-1_pid:_4026531836_"


def holder(token: str, who: str = "ops@laptop", pid: int = 4242, started: int = 1_764_000_000,
           space: str = SPACE) -> lock.Holder:  # fmt: skip
    return lock.Holder(token, who, who.rsplit("@", 1)[-1], space, pid, started)


@pytest.fixture
def sh(tmp_path):
    """Runs a lock command with its /run paths moved under tmp_path: a Reply, as on a host."""

    def run(command: str) -> lock.Reply:
        command = command.replace(lock.LOCK_PATH, str(tmp_path / "lock"))
        proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
        return lock.Reply(proc.returncode == 0, proc.stdout.splitlines(), proc.stderr)

    run.lock = tmp_path / "lock"
    return run


def age(path, seconds: int) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_a_free_lock_is_taken_and_names_its_holder(sh):
    me = holder("aaaa")
    reply = sh(lock.acquire_command(me))
    assert reply.ok and lock.parse_acquire(reply.stdout, me) is None
    assert lock.parse_holder(sh.lock.read_text().splitlines()) == me


def test_a_held_lock_is_refused_with_its_holder_heartbeat_and_age(sh):
    sh(lock.acquire_command(holder("aaaa")))
    age(sh.lock, 30)
    reply = sh(lock.acquire_command(holder("bbbb", "ci@runner")))
    assert not reply.ok
    seen = lock.parse_acquire(reply.stdout, holder("bbbb"))
    assert seen.holder == holder("aaaa") and seen.token == "aaaa"
    assert seen.mtime == str(int(sh.lock.stat().st_mtime))
    assert 29 <= seen.age_s <= 35
    assert lock.parse_holder(sh.lock.read_text().splitlines()) == holder("aaaa")


def test_takeover_replaces_only_the_lock_as_it_was_judged(sh):
    sh(lock.acquire_command(holder("aaaa")))
    age(sh.lock, 100)
    seen = lock.parse_acquire(sh(lock.acquire_command(holder("bbbb"))).stdout, holder("bbbb"))
    # the holder beat once more after it was judged gone: it is not replaced
    age(sh.lock, 5)
    assert not sh(lock.acquire_command(holder("bbbb"), replace=seen)).ok
    # someone else took it over in between: not replaced either
    sh.lock.write_text(holder("cccc").text())
    assert not sh(lock.acquire_command(holder("bbbb"), replace=seen)).ok
    # as it was seen: replaced
    sh.lock.write_text(holder("aaaa").text())
    age(sh.lock, 100)
    seen = lock.parse_acquire(sh(lock.acquire_command(holder("bbbb"))).stdout, holder("bbbb"))
    assert sh(lock.acquire_command(holder("bbbb"), replace=seen)).ok
    assert lock.parse_holder(sh.lock.read_text().splitlines()).token == "bbbb"


def test_a_lock_file_cannot_fake_an_acquire_or_a_token(sh):
    """Lines a foreign file could hold: another `acquired`, a second token line."""
    sh.lock.write_text("acquired aaaa\ntoken=x\ntoken=y\n")
    me = holder("aaaa")
    seen = lock.parse_acquire(sh(lock.acquire_command(me)).stdout, holder("bbbb"))
    assert seen is not None and seen.token == "x" and seen.holder is None
    assert lock.gone_because(seen, me) == "its lock file is unreadable"
    assert sh(lock.acquire_command(holder("bbbb"), replace=seen)).ok  # the shell read x too


def test_only_the_holder_renews_or_frees_it(sh):
    sh(lock.acquire_command(holder("aaaa")))
    age(sh.lock, 100)
    assert sh(lock.heartbeat_command("bbbb")).stdout == ["lost"]
    assert sh.lock.stat().st_mtime < time.time() - 90
    assert sh(lock.heartbeat_command("aaaa")).stdout == []
    assert sh.lock.stat().st_mtime > time.time() - 10
    sh(lock.release_command("bbbb"))
    assert sh.lock.exists()
    sh(lock.release_command("aaaa"))
    assert not sh.lock.exists()
    assert sh(lock.release_command("aaaa")).ok  # freeing a free lock is fine


def test_of_many_runs_at_once_exactly_one_takes_it(sh):
    with ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(lambda i: sh(lock.acquire_command(holder(f"t{i:03d}"))),
                                range(12)))  # fmt: skip
    assert sorted(r.ok for r in replies) == [False] * 11 + [True]
    winner = next(i for i, r in enumerate(replies) if r.ok)
    assert lock.parse_holder(sh.lock.read_text().splitlines()).token == f"t{winner:03d}"


def test_a_lock_that_cannot_be_written_is_not_taken(tmp_path):
    """No `acquired` unless the lock file is in place, sweep or not (a full /run)."""
    command = lock.acquire_command(holder("aaaa"), leftovers=[f"{tmp_path}/x.tsdb-new-*"])
    command = command.replace(lock.GUARD_PATH, str(tmp_path / "guard"))
    command = command.replace(lock.LOCK_PATH, str(tmp_path / "missing" / "lock"))
    proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
    assert proc.returncode == 1 and "acquired" not in proc.stdout
    reply = lock.Reply(False, proc.stdout.splitlines(), proc.stderr)
    refused = lock.take(lambda c: reply, holder("aaaa"), 0, lambda line: None)
    assert refused.startswith("deploy lock: ") and "\n" not in refused


def test_a_lock_of_this_very_run_is_never_taken_over(sh):
    """One run, one host named twice (alias and address): the second entry finds the first's
    lock, with this process's pid, and refuses instead of taking it over."""
    me_first = lock.this_run("first")
    sh(lock.acquire_command(me_first))
    me_second = lock.this_run("second")
    refused = lock.take(sh, me_second, 0, lambda line: None, ours={"first", "second"})
    assert refused.startswith("this run already holds this host's lock")
    assert lock.parse_holder(sh.lock.read_text().splitlines()).token == "first"


def test_taking_the_lock_sweeps_the_leftovers_given(sh, tmp_path):
    (tmp_path / "x.conf.tsdb-new-1a2b").write_text("half")
    (tmp_path / "x.conf").write_text("live")
    sh(lock.acquire_command(holder("aaaa"), leftovers=[f"'{tmp_path}/x.conf'.tsdb-new-*"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock", "lock.guard", "x.conf"]


ME = holder("mine", "ops@laptop", pid=os.getpid())


@pytest.mark.parametrize(
    ("seen", "alive", "reason"),
    [
        (lock.Observed("a", "1", holder("a"), 5), True, None),
        (lock.Observed("a", "1", holder("a"), lock.STALE_AFTER_S + 1), True,
         f"no heartbeat for {lock.STALE_AFTER_S + 1} s"),
        (lock.Observed("a", "1", holder("a", pid=77), 5), False,
         "its process 77 on laptop no longer exists"),
        # its pid is this run's own: that holder is gone, whatever the process table says
        (lock.Observed("a", "1", holder("a", pid=os.getpid()), 5), True,
         f"its process {os.getpid()} on laptop no longer exists"),
        # another process space's pids say nothing here, even under the same host name
        (lock.Observed("a", "1", holder("a", pid=77, space="boot-2/pid:[1]"), 5), False, None),
        (lock.Observed("a", "1", holder("a", pid=77, space="unknown"), 5), False, None),
        (lock.Observed("", "1", None, 0), True, "its lock file is unreadable"),
    ],
)  # fmt: skip
def test_when_a_holder_counts_as_gone(seen, alive, reason):
    assert lock.gone_because(seen, ME, alive=lambda pid: alive) == reason


def test_a_live_process_is_alive_and_a_reaped_one_is_not():
    assert lock.pid_alive(os.getpid())
    child = subprocess.Popen(["true"])
    child.wait()
    assert not lock.pid_alive(child.pid)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def take(sh, me, wait_s=0, before_sleep=None):
    clock, lines = Clock(), []

    def sleep(seconds):
        if before_sleep:
            before_sleep(clock.now)
        clock.sleep(seconds)

    refused = lock.take(sh, me, wait_s, lines.append, sleep=sleep, clock=clock)
    return refused, lines, clock.now


def test_take_a_free_lock(sh):
    assert take(sh, holder("aaaa")) == (None, [], 0.0)


def test_take_refuses_a_live_holder_at_once_in_one_line(sh):
    sh(lock.acquire_command(holder("aaaa", "ops@elsewhere", space="other")))
    refused, lines, waited = take(sh, holder("bbbb"))
    assert refused.startswith("another deploy holds this host's lock: ops@elsewhere (pid 4242)")
    assert "\n" not in refused and lines == [] and waited == 0


def test_take_waits_for_a_holder_that_finishes(sh):
    sh(lock.acquire_command(holder("aaaa", "ops@elsewhere", space="other")))
    free_at = 7.0

    def holder_finishes(now):
        if now >= free_at:
            sh(lock.release_command("aaaa"))

    refused, lines, waited = take(sh, holder("bbbb"), 60, holder_finishes)
    assert refused is None and free_at <= waited <= free_at + 2 * lock.RETRY_S
    assert lines == ["waiting up to 60 s for the deploy lock of ops@elsewhere (pid 4242) "
                     "since 2025-11-24 16:00:00 UTC"]  # fmt: skip


def test_take_gives_up_after_the_wait(sh):
    sh(lock.acquire_command(holder("aaaa", "ops@elsewhere", space="other")))
    refused, _, waited = take(sh, holder("bbbb"), 30)
    assert "waited 30 s (deploy_lock_wait)" in refused and waited == 30


def test_take_over_a_killed_run_with_a_line(sh):
    child = subprocess.Popen(["true"])
    child.wait()
    sh(lock.acquire_command(holder("aaaa", pid=child.pid, space=lock.process_space())))
    me = lock.this_run("bbbb")
    refused, lines, _ = take(sh, me)
    assert refused is None
    assert lines == [f"taking over the deploy lock of ops@laptop (pid {child.pid}) since "
                     f"2025-11-24 16:00:00 UTC: its process {child.pid} on laptop no longer "
                     "exists"]  # fmt: skip
    assert lock.parse_holder(sh.lock.read_text().splitlines()) == me


def test_take_over_is_tried_once_per_state_of_the_lock():
    """A lock that reads as gone yet is not replaced (a host whose shell sees it otherwise)
    gets one takeover attempt, then the wait and the refusal: never a spin."""
    calls = []

    def run(command):
        calls.append(command)
        return lock.Reply(False, ["mtime=5", "age=100", "garbage"], "")

    lines = []
    refused = lock.take(run, holder("bbbb"), 0, lines.append, sleep=lambda s: None)
    assert refused is not None and "an unknown run" in refused
    assert len(calls) == 2 and len(lines) == 1 and "unreadable" in lines[0]


def test_take_reports_a_broken_shell_in_one_line(sh):
    reply = lock.Reply(False, [], "flock: command not found\nmore\n")
    refused = lock.take(lambda command: reply, holder("aaaa"), 0, lambda line: None)
    assert refused == "deploy lock: flock: command not found"


def test_the_refusal_is_one_line_naming_holder_start_and_wait():
    seen = lock.Observed("a", "1", holder("a", "ops@laptop", started=1_764_000_000), 3)
    line = lock.refusal(seen, 0)
    assert "\n" not in line
    assert "ops@laptop (pid 4242) since 2025-11-24 16:00:00 UTC" in line
    assert "heartbeat 3 s ago" in line and "deploy_lock_wait is 0" in line
    assert "waited 30 s (deploy_lock_wait)" in lock.refusal(seen, 30)


@given(who=st.text(min_size=1, max_size=40), pid=st.integers(1, 2**22))
def test_any_holder_text_reads_back_as_one_field_per_line(who, pid):
    h = lock.Holder("abcd", who, "laptop", SPACE, pid, 1_764_000_000)
    text = h.text()
    assert text.count("\n") == 6
    back = lock.parse_holder(text.splitlines())
    assert back.token == "abcd" and back.pid == pid and back.space == SPACE
    assert not lock._UNSAFE.search(back.who)


def test_this_run_names_this_process():
    h = lock.this_run("abcd", now=1_764_000_000)
    assert h.pid == os.getpid() and h.started == 1_764_000_000
    assert h.who.endswith("@" + h.controller) and h.space == lock.process_space() != "unknown"
