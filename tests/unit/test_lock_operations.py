"""The deploy lock's pyinfra side: what frees it, what stops a run that lost it, what a run
sweeps once it holds it."""

from __future__ import annotations

import subprocess
import time
from types import SimpleNamespace

import pytest
from pyinfra.api.exceptions import PyinfraError

from tsdb_deploy.operations import lock as ops


class FakeHost:
    name = "db1"

    def __init__(self):
        self.commands = []

    def run_shell_command(self, command, print_output=False, **arguments):
        self.commands.append((command.get_raw_value(), arguments))
        return True, SimpleNamespace(stdout_lines=[], stderr="")


class FakeState:
    def __init__(self, ignore_errors: bool):
        self.ignore_errors = ignore_errors

    def get_op_data_for_host(self, host, op_hash):
        return SimpleNamespace(global_arguments={"_ignore_errors": self.ignore_errors})


@pytest.fixture
def held():
    """A lock this run holds on FakeHost (its heartbeat a stand-in)."""
    host, state = FakeHost(), FakeState(ignore_errors=False)
    beat = SimpleNamespace(killed=False)
    beat.kill = lambda block: setattr(beat, "killed", True)
    ours = SimpleNamespace(token="t0k3n", arguments={"_sudo": True}, beat=beat, lost=False,
                           renewed=time.monotonic(), beats=0)  # fmt: skip

    def beat_now():
        ours.beats += 1

    ours.beat_now = beat_now
    ops._ours[(id(state), host.name)] = ours
    yield host, state, ours
    ops._ours.pop((id(state), host.name), None)


def test_a_failed_operation_frees_the_lock_with_the_runs_own_arguments(held):
    host, state, ours = held
    ops.ReleaseOnFailure.operation_host_error(state, host, "op")
    ((command, arguments),) = host.commands
    assert "t0k3n" in command and 'rm -f "$lock"' in command
    assert arguments == {"_sudo": True} and ours.beat.killed
    ops.ReleaseOnFailure.host_disconnect(state, host)  # already freed: nothing more
    assert len(host.commands) == 1


def test_an_ignored_error_keeps_the_lock(held):
    host, state, _ = held
    state.ignore_errors = True
    ops.ReleaseOnFailure.operation_host_error(state, host, "op")
    assert host.commands == []


def test_a_run_that_lost_its_lock_stops_before_its_next_operation(held):
    host, state, ours = held
    ops.ReleaseOnFailure.operation_host_start(state, host, "op")  # still ours: goes on
    assert ours.beats == 0  # a recent heartbeat: nothing asked
    ours.lost = True
    with pytest.raises(PyinfraError, match="took this host's deploy lock over"):
        ops.ReleaseOnFailure.operation_host_start(state, host, "op")


def test_after_a_pause_the_lock_is_checked_before_the_next_operation(held):
    """No heartbeat got through for a while (a suspended laptop): the next operation first
    asks the host, and stops if the lock went to another run meanwhile."""
    host, state, ours = held
    ours.renewed -= 3 * ops.lock.HEARTBEAT_S

    def beat_now():
        ours.beats += 1
        ours.lost = True  # the host says: lost

    ours.beat_now = beat_now
    with pytest.raises(PyinfraError):
        ops.ReleaseOnFailure.operation_host_start(state, host, "op")
    assert ours.beats == 1


def test_leftover_globs_match_only_staging_names(tmp_path):
    live = tmp_path / "it's.conf"
    live.write_text("live")
    (tmp_path / "it's.conf.tsdb-new-0a1b2c3d").write_text("half")
    (tmp_path / "it's.conf.bak").write_text("keep")
    globs = ops.staging_leftovers([str(live)])
    subprocess.run(["sh", "-c", f"rm -rf -- {globs[0]}"], check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["it's.conf", "it's.conf.bak"]
    assert "/root/.tsdb-deploy-*.sql" in globs and "/tmp/tsdb-upload-*" in globs
