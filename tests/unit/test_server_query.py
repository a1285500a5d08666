"""The shell around every query that decides what a deploy does with the live server
(runtimes.base.Server.query), run by bash against a psql stand-in: a server that runs but
does not answer is an error with psql's message, never a server to start again."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tsdb_deploy.facts import MigrationLedger, PostgresServer
from tsdb_deploy.runtimes.base import NOT_RUNNING, Server

FAKE_PSQL = r"""#!/bin/bash
# fails its first $(cat fails) calls to the application database, as a server would that
# refuses a connection; answers the database check from db_exists
dir=$(dirname "$0")
case "$*" in
  *"FROM pg_database WHERE datname"*) cat "$dir/db_exists"; exit 0 ;;
esac
n=$(cat "$dir/fails"); if [ "$n" -gt 0 ]; then
  echo $((n - 1)) > "$dir/fails"
  echo 'psql: error: FATAL:  role "postgres" is not permitted to log in' >&2; exit 2
fi
echo "$dir" >> "$dir/answered"; cat "$dir/out"
"""


def run(command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)


def server(tmp_path: Path, *, fails: int, running: bool, db_exists: bool = True) -> Server:
    psql = tmp_path / "psql"
    psql.write_text(FAKE_PSQL)
    psql.chmod(0o755)
    (tmp_path / "fails").write_text(f"{fails}\n")
    (tmp_path / "out").write_text("row one\nrow two\n")
    (tmp_path / "db_exists").write_text("1\n" if db_exists else "")
    return Server(
        str(psql), "true" if running else "false", f"touch {tmp_path}/waited", "/sock", 5432
    )


@pytest.mark.parametrize(
    ("fails", "running", "db_exists", "status", "stdout", "waited"),
    [
        (0, True, True, 0, "row one\nrow two\n", False),  # answered: its rows
        (1, True, True, 0, "row one\nrow two\n", True),  # refused once: waited, asked again
        (5, True, True, 2, "", True),  # a running server that keeps refusing: psql's error
        (5, False, True, 0, f"{NOT_RUNNING}\n", False),  # a server that does not run
        (5, True, False, 0, "", True),  # the database is not created yet: nothing
    ],
)
def test_a_failed_query_is_told_apart(tmp_path, fails, running, db_exists, status, stdout, waited):
    srv = server(tmp_path, fails=fails, running=running, db_exists=db_exists)
    result = run(srv.query(f"{srv.psql} -d app -c 'SELECT 1'", database="app"))
    assert (result.returncode, result.stdout) == (status, stdout), result.stderr
    assert (tmp_path / "waited").exists() == waited
    if status:
        assert 'role "postgres" is not permitted to log in' in result.stderr


def test_without_a_database_a_refusing_server_is_an_error(tmp_path):
    srv = server(tmp_path, fails=5, running=True, db_exists=False)
    result = run(srv.query(f"{srv.psql} -d postgres -c 'SELECT 1'"))
    assert result.returncode == 2
    assert "not permitted to log in" in result.stderr


def test_the_live_server_fact_fails_rather_than_report_a_running_server_stopped(tmp_path):
    """None from PostgresServer makes the deploy start the server: only when it does not run."""
    running = server(tmp_path, fails=5, running=True)
    result = run(PostgresServer().command(server=running))
    assert result.returncode != 0 and NOT_RUNNING not in result.stdout

    stopped = server(tmp_path, fails=5, running=False)
    result = run(PostgresServer().command(server=stopped))
    assert result.returncode == 0
    assert PostgresServer().process(result.stdout.splitlines()) is None


def test_a_ledger_that_cannot_be_read_is_an_error_not_an_empty_ledger(tmp_path):
    """The ledger table exists and reading it fails: an empty ledger would apply every
    migration again."""
    srv = server(tmp_path, fails=0, running=True)
    (tmp_path / "out").write_text("t\n")
    (tmp_path / "psql").write_text(
        FAKE_PSQL.replace(
            'echo "$dir" >> "$dir/answered"; cat "$dir/out"',
            'case "$*" in *"schema_migrations ORDER"*) echo boom >&2; exit 1 ;; esac; '
            'cat "$dir/out"',
        )
    )
    result = run(MigrationLedger().command(server=srv, database="app"))
    assert result.returncode != 0, result.stdout
    assert "boom" in result.stderr
