"""PgBouncer in front of the application role; the roles' own limits; query statistics.

The login check needs the application role's password: from $TSDB_APP_PASSWORD, or the file
--app-password-file names. It reaches the host on stdin (docker and local backends), never in a
command line; without a password, or over another backend, only that check is skipped, and the
checks that need no password still show SCRAM and TLS are demanded.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

PASSFILE = "/root/.tsdb-testinfra-pgpass"


def _pooler(deployed) -> dict:
    d = deployed.deployment
    return {"host": d["local_address"], "port": d["pgbouncer_port"], "dbname": d["database"],
            "user": d["app_user"]}  # fmt: skip


def _local_clients(deployed) -> None:
    if not deployed.deployment["local_clients_allowed"]:
        pytest.skip("app_networks lets no client on this host itself in (pg_hba.conf)")


def _conninfo(deployed, **extra) -> str:
    sslmode = "require" if deployed.deployment["tls"] else "disable"
    return " ".join(f"{k}={v}" for k, v in {**_pooler(deployed), "sslmode": sslmode,
                                              **extra}.items())  # fmt: skip


def test_pgbouncer_runs_and_listens_on_its_port(host, deployed):
    port = deployed.deployment["pgbouncer_port"]
    listening = host.socket.get_listening_sockets()
    assert any(s.endswith(f":{port}") for s in listening), listening
    # the database it serves (pools themselves appear with their first client)
    state = host.run("tsdb-pg psql -X -At -p %s -d pgbouncer -c 'SHOW DATABASES'", str(port))
    assert state.rc == 0, state.stderr
    databases = {row.split("|")[0]: row.split("|") for row in state.stdout.splitlines()}
    db = deployed.deployment["database"]
    assert databases[db][1:4] == ["/var/run/postgresql", str(deployed.deployment["port"]), db]
    planned = deployed.record["pooler"]["settings"]
    config = dict(
        line.split("|")[:2]
        for line in host.check_output(
            "tsdb-pg psql -X -At -p %s -d pgbouncer -c 'SHOW CONFIG'", str(port)
        ).splitlines()
    )
    wrong = {k: (config.get(k), v) for k, v in planned.items() if config.get(k) != v}
    assert not wrong, f"PgBouncer's live value differs from the plan (live, planned): {wrong}"


def test_pgbouncer_holds_the_verifier_postgresql_checks(host, deployed):
    """The userlist carries the role's stored SCRAM verifier, not a password: PgBouncer logs
    in to PostgreSQL with its client's proof, which only that very verifier accepts."""
    role = deployed.deployment["app_user"]
    stored = deployed.psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'")
    assert stored.startswith("SCRAM-SHA-256$")
    userlist = host.check_output(
        "cat %s", f"{deployed.deployment['pooler_config_dir']}/userlist.txt"
    )
    assert f'"{role}" "{stored}"' in userlist.splitlines()
    listed = host.file(f"{deployed.deployment['pooler_config_dir']}/userlist.txt")
    assert listed.mode & 0o007 == 0, "the userlist is readable by others"


def test_pgbouncer_refuses_a_wrong_password_and_a_client_without_tls(host, deployed):
    _local_clients(deployed)
    wrong = host.run(
        "PGPASSWORD=not-the-password psql -X -At %s -c 'SELECT 1'", _conninfo(deployed)
    )
    assert wrong.rc != 0
    assert "authentication failed" in wrong.stderr, wrong.stderr
    if deployed.deployment["tls"]:
        plain = host.run(
            "PGPASSWORD=not-the-password psql -X -At %s -c 'SELECT 1'",
            _conninfo(deployed, sslmode="disable"),
        )
        assert plain.rc != 0
        assert "SSL required" in plain.stderr, plain.stderr


@pytest.fixture(scope="module")
def app_password(pytestconfig) -> str:
    path = pytestconfig.getoption("--app-password-file")
    value = Path(path).read_text().rstrip("\n") if path else os.environ.get("TSDB_APP_PASSWORD")
    if not value:
        pytest.skip("needs the application role's password: $TSDB_APP_PASSWORD or "
                    "--app-password-file")  # fmt: skip
    return value


def _put_private(host, path: str, text: str) -> None:
    """A 0600 file on the host, its content on stdin: never in a command line."""
    backend = host.backend
    write = f"umask 077 && cat > {shlex.quote(path)}"
    if backend.NAME == "docker":
        command = ["docker", "exec", "-i", backend.name, "sh", "-c", write]
    elif backend.NAME == "local":
        command = ["sh", "-c", write]
    else:
        pytest.skip(f"no stdin channel for the password over the {backend.NAME} backend")
    subprocess.run(command, input=text, text=True, check=True)


def test_the_application_logs_in_through_pgbouncer_with_scram(host, deployed, app_password):
    _local_clients(deployed)
    p = _pooler(deployed)
    line = ":".join(str(p[k]) for k in ("host", "port", "dbname", "user"))
    _put_private(host, PASSFILE, f"{line}:{app_password}\n")
    try:
        result = host.run(
            "PGPASSFILE=%s psql -X -At %s -c %s",
            PASSFILE,
            _conninfo(deployed),
            "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        )
    finally:
        host.run("rm -f %s", PASSFILE)
    assert result.rc == 0, result.stderr
    # PgBouncer reached PostgreSQL on the socket as the application role (no TLS there)
    assert result.stdout.strip() == f"{p['user']}|f", result.stdout


def test_the_roles_own_limits_are_as_planned(deployed):
    rows = deployed.psql(
        "SELECT r.rolname || '|' || array_to_string(s.setconfig, ',') FROM pg_db_role_setting s "
        "JOIN pg_roles r ON r.oid = s.setrole WHERE s.setdatabase = 0"
    ).splitlines()
    live = {
        role: dict(item.split("=", 1) for item in config.split(","))
        for role, config in (row.split("|", 1) for row in rows)
    }
    for role, wanted in deployed.record["role_settings"].items():
        assert {k: live.get(role, {}).get(k) for k in wanted} == wanted, role


def test_pg_stat_statements_counts_statements(deployed):
    assert (
        deployed.psql("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'")
        == "1"
    )
    assert int(deployed.psql("SELECT count(*) FROM pg_stat_statements")) > 0
