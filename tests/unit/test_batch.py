"""Batched facts: many facts' own commands in one shell, each section handed to its own
parser, answered from the snapshot until the host changes. Run for real with a local shell."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import pytest
from pyinfra.api.exceptions import OperationError
from pyinfra.facts.server import Command

from tsdb_deploy.facts import FileStates, batch, session
from tsdb_deploy.facts.batch import Snapshot, split_sections
from tsdb_deploy.runtimes.base import Server


class LocalHost:
    """Answers get_fact by running the fact's command in a local bash, as pyinfra would on a
    host: the section's lines to the fact's parser, its default when there are none."""

    def __init__(self, name: str):
        self.name = name
        self.state = SimpleNamespace(current_stage="execute")
        self.commands: list[str] = []

    def get_fact(self, cls, **kwargs):
        fact = cls()
        command = batch._command_text(cls, kwargs)
        self.commands.append(command)
        out = subprocess.run(["bash", "-c", command], capture_output=True, text=True)
        lines = out.stdout.splitlines()
        if out.returncode != 0:
            raise RuntimeError(f"{cls.__name__} failed: {out.stderr}")
        return fact.process(lines) if lines else fact.default()


def test_sections_of_failed_commands_are_left_out():
    lines = ["M:begin:0", "a", "b", "M:end:0:0", "M:begin:1", "c", "M:end:1:3", "M:begin:2",
             "M:end:2:0"]  # fmt: skip
    assert split_sections(lines, "M", 3) == {0: ["a", "b"], 2: []}


def test_output_without_a_final_newline_keeps_its_last_line():
    lines = ["M:begin:0", '{"a": 1}M:end:0:0', "M:begin:1", "x", "M:end:1:0"]
    assert split_sections(lines, "M", 2) == {0: ['{"a": 1}'], 1: ["x"]}


def test_expected_facts_are_read_in_one_command_and_equal_their_own_reads(tmp_path):
    (tmp_path / "a").write_text("one\n")
    paths = [str(tmp_path / "a"), str(tmp_path / "missing")]
    requests = [
        (FileStates, {"paths": paths}),
        (Command, {"command": "echo hi; echo there"}),
        (Command, {"command": "exit 4"}),
        (Command, {"command": "printf last"}),
    ]
    host = LocalHost("batch-test-1")
    batch.expect(host.name, requests)
    try:
        states = batch.read(host, FileStates, paths=paths)
        said = batch.read(host, Command, command="echo hi; echo there")
        assert batch.read(host, Command, command="printf last") == "last"
        assert len(host.commands) == 1  # all from the one snapshot
        alone = LocalHost("alone")
        assert states == alone.get_fact(FileStates, paths=paths)
        assert said == alone.get_fact(Command, command="echo hi; echo there") == "hi\nthere"
        assert (
            states[paths[1]] is None
            and states[paths[0]].mode == (tmp_path / "a").stat().st_mode & 0o777
        )
        # a failed section is read on its own, as pyinfra reads (and fails) it
        try:
            batch.read(host, Command, command="exit 4")
        except RuntimeError as exc:
            assert "Command failed" in str(exc)
        assert len(host.commands) == 2
    finally:
        batch.forget(host.name)
        batch.expect(host.name, [])


def test_a_change_drops_the_snapshot_and_unexpected_facts_are_read_alone(tmp_path):
    path = str(tmp_path / "f")
    host = LocalHost("batch-test-2")
    batch.expect(host.name, [(FileStates, {"paths": [path]})])
    try:
        assert batch.read(host, FileStates, paths=[path])[path] is None
        (tmp_path / "f").write_text("x")
        assert batch.read(host, FileStates, paths=[path])[path] is None  # the snapshot
        batch.forget(host.name)  # what the callback does after an operation changed the host
        assert batch.read(host, FileStates, paths=[path])[path] is not None
        assert batch.read(host, Command, command="echo alone") == "alone"
        assert [c for c in host.commands if "echo alone" in c] == ["echo alone"]
    finally:
        batch.forget(host.name)
        batch.expect(host.name, [])


def test_the_snapshot_command_frames_each_fact():
    command = Snapshot().command([(Command, {"command": "true"})], marker="MK")
    assert command == "echo MK:begin:0; ( true ) </dev/null; echo MK:end:0:$?"


FAKE_PSQL = r"""#!/bin/bash
# psql's part the session relies on: runs its input in order, prints what \echo says and the
# rows a line `ROW x` gives, and stops at the first line `FAIL` (ON_ERROR_STOP)
while IFS= read -r line; do
  case "$line" in
    '\echo '*) echo "${line#\\echo }" ;;
    'ROW '*) echo "${line#ROW }" ;;
    FAIL) echo 'ERROR:  it failed' >&2; exit 3 ;;
  esac
done
"""


class Asks(Command):
    """A database fact: its rows through the shared session, or alone by its command."""

    def command(self, server, rows):
        return " ; ".join(f"echo {row}" for row in rows.split())

    def session(self, server, rows):
        return session.psql_input(*(row if row == "FAIL" else f"ROW {row}" for row in rows.split()))


def test_database_facts_share_one_session_and_a_failure_leaves_the_rest_to_their_own_reads(
    tmp_path,
):
    psql = tmp_path / "psql"
    psql.write_text(FAKE_PSQL)
    psql.chmod(0o755)
    server = Server(str(psql), "true", "true", "/sock", 5432)
    requests = [
        (Asks, {"server": server, "rows": "a b"}),
        (Command, {"command": "echo shell"}),
        (Asks, {"server": server, "rows": "c"}),
        (Asks, {"server": server, "rows": "d FAIL"}),
        (Asks, {"server": server, "rows": "e"}),
    ]
    command = Snapshot().command(requests=requests, marker="M")
    assert command.count(f"| {psql} ") == 1  # one session for the four
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True)
    sections = split_sections(out.stdout.splitlines(), "M", len(requests))
    # before the failure: answered; the failing fact and those after it: left to their own
    # commands (read alone, as pyinfra would)
    assert sections == {0: ["a", "b"], 1: ["shell"], 2: ["c"]}
    assert out.returncode == 0  # a failing session fails no other fact


def test_a_host_without_psql_yet_leaves_the_database_facts_unread(tmp_path):
    """A bare host (planning its first deploy): no psql, no postgres user; the snapshot
    still answers the other facts."""
    server = Server(str(tmp_path / "no-psql"), "true", "true", "/sock", 5432)
    requests = [(Asks, {"server": server, "rows": "a"}), (Command, {"command": "echo shell"})]
    command = Snapshot().command(requests=requests, marker="M")
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True)
    assert out.returncode == 0
    assert split_sections(out.stdout.splitlines(), "M", 2) == {1: ["shell"]}


def test_a_fact_whose_command_failed_is_an_error_not_its_default():
    """pyinfra marks the host failed and returns the fact's default (None, []): with other
    hosts left the operation would go on with it, e.g. take None for a stopped server."""

    class FailingHost(LocalHost):
        def get_fact(self, cls, **kwargs):
            self.state.failed_hosts.add(self)
            return cls().default()

    host = FailingHost("batch-test-failed")
    host.state.failed_hosts = set()
    batch.expect(host.name, [])
    with pytest.raises(OperationError, match="could not read Command"):
        batch.read(host, Command, command="exit 1")
