"""What several integration modules do on a test host: run its tools, read its databases."""

from __future__ import annotations

import shutil
import subprocess
import time

from tsdb_deploy import known_issues, migrations

from .conftest import ROOT

DB = "klaviyo_analytics"
JOBS_CHECK = "test_timescaledb_jobs_run_without_failing"  # tests/testinfra/test_schema.py


def assert_testinfra_passes(target) -> str:
    """The testinfra suite passes on the host; its output. One exception, asserted as such:
    where TimescaleDB's scheduler cannot run jobs on this PostgreSQL (known_issues), the
    jobs check, and only it, fails, naming the cause a scheduled run on the host shows."""
    # every scheduled job has run once (they start as soon as they are created), so that the
    # suite and this test see the same outcome
    never = (
        "SELECT count(*) FROM timescaledb_information.jobs j LEFT JOIN "
        "timescaledb_information.job_stats s USING (job_id) "
        "WHERE j.scheduled AND coalesce(s.total_runs, 0) = 0"
    )
    deadline = time.monotonic() + 120
    while target.psql(never) != "0" and time.monotonic() < deadline:
        time.sleep(2)
    result = target.testinfra()
    errors = target.psql(
        "SELECT DISTINCT err_message FROM timescaledb_information.job_errors e JOIN "
        "timescaledb_information.jobs j USING (job_id) WHERE j.scheduled"
    ).splitlines()
    known = sorted({why for why in map(known_issues.diagnose, errors) if why})
    if not known:
        assert result.returncode == 0, result.stdout[-5000:]
        return result.stdout
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED ")]
    assert len(failed) == 1 and JOBS_CHECK in failed[0], result.stdout[-5000:]
    assert known[0] in " ".join(result.stdout.split()), result.stdout[-3000:]
    return result.stdout


def sh(target, *command: str, user: str | None = None, env: dict | None = None):
    """Run a command on the host (as `user` via runuser, with `env`); the CompletedProcess."""
    prefix = ["runuser", "-u", user, "--"] if user else []
    envs = ["env", *(f"{k}={v}" for k, v in (env or {}).items())] if env else []
    return subprocess.run(
        ["docker", "exec", target.name, *prefix, *envs, *command],
        capture_output=True,
        text=True,
        timeout=900,
    )


def backup(target, tier: str, *, user: str | None = "postgres", env: dict | None = None):
    """tsdb-backup TIER as cron runs it (as postgres)."""
    return sh(target, "tsdb-backup", tier, user=user, env=env)


def restore(target, *args: str, env: dict | None = None):
    return sh(target, "tsdb-restore", *args, env=env)


def psql_in(target, database: str, sql: str) -> str:
    return target.run(
        "tsdb-psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql
    ).strip()


def tables_of(target, database: str = DB) -> list[str]:
    sql = (
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
        "WHERE schemaname IN ('public', 'tsdb_deploy') ORDER BY 1"
    )
    return psql_in(target, database, sql).split()


def content_checksums(target, database: str = DB) -> dict[str, str]:
    """Per table: row count and md5 of all its rows, in a deterministic order."""
    result = {}
    for table in tables_of(target, database):
        result[table] = psql_in(
            target,
            database,
            f"SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), "
            f"'')) FROM {table} t",
        )
    return result


def databases(target) -> dict[str, str]:
    """name -> datallowconn ('true'/'false') of every database."""
    out = psql_in(target, "postgres", "SELECT datname || '=' || datallowconn FROM pg_database")
    return dict(line.split("=") for line in out.split())


def project_copy(tmp_path, extra: dict[str, str] | None = None, change: str | None = None):
    """This project in tmp_path, importable first, with sql/ files added or one changed."""
    copy = tmp_path / "project"
    shutil.copytree(
        ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "*.pyc", "__pycache__")
    )
    for name, text in (extra or {}).items():
        (copy / "sql" / name).write_text(text)
    if change:
        path = copy / "sql" / change
        path.write_text(path.read_text() + "\n-- an edit after it was applied\n")
    return copy


def next_migration(what: str) -> str:
    """The name the next file of sql/ takes (versions have no gaps)."""
    return f"{len(migrations.discover()) + 1:04d}_{what}"


def assert_the_session_answers_as_each_fact_alone(target) -> None:
    """The database facts asked in one psql session (facts.batch, facts.session) answer on
    this host exactly as each fact's own command does, and the session answers them all."""
    from tsdb_deploy.facts import batch
    from tsdb_deploy.facts.postgres import (
        FailingJobs,
        HypertableDimensions,
        MigrationLedger,
        PostgresDatabase,
        PostgresServer,
        TableIndexes,
        TimescaledbVersions,
    )
    from tsdb_deploy.migrations import EVENTS
    from tsdb_deploy.runtimes.base import SOCKET_DIR, Server

    deployment = target.plan_record()["deployment"]
    runner = (
        f"docker exec -i -u postgres {deployment['container']}"
        if deployment["runtime"] == "docker"
        else "runuser -u postgres --"
    )
    psql = f"{runner} psql -h {SOCKET_DIR} -p {deployment['port']}"
    server = Server(psql, "true", "true", SOCKET_DIR, deployment["port"])
    on = {"server": server, "database": deployment["database"]}
    requests = [
        (PostgresServer, {"server": server}),
        (PostgresDatabase, on),
        (TimescaledbVersions, on),
        (MigrationLedger, on),
        (HypertableDimensions, on),
        (TableIndexes, {**on, "table": EVENTS}),
        (FailingJobs, on),
    ]
    command = batch.Snapshot().command(requests=requests, marker="M")
    sections = batch.split_sections(
        target.run("bash", "-c", command).splitlines(), "M", len(requests)
    )
    assert sorted(sections) == list(range(len(requests))), sections
    for i, (cls, kwargs) in enumerate(requests):
        fact = cls()
        lines = target.run("bash", "-c", batch._command_text(cls, kwargs)).splitlines()
        alone = fact.process(lines) if lines else fact.default()
        shared = fact.process(sections[i]) if sections[i] else fact.default()
        if cls is PostgresServer:  # the same server, not the same moment
            alone, shared = alone.parameters, shared.parameters
        assert shared == alone, cls.__name__
    assert sections[3], "the ledger holds the applied migrations"
    assert sections[2], "TimescaleDB's versions"
