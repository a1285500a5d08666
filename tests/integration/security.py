"""A deployed host's defences, tried from the network as a client would: the test_ functions
at the end are imported by both runtimes' modules (test_native_host.py, test_docker_host.py),
which collect them on their own `target` host.

The client is this machine, on Docker's bridge: the host must listen there and allow this
machine's address (`testhosts.app_client_data`). Connections go to the host's address with
sslmode=verify-full against the lab CA, so the certificate's name and chain are checked too.
"""

from __future__ import annotations

import socket
import ssl
import struct

import psycopg
import pytest
from psycopg import errors

from lab import testhosts, tls

from .conftest import PASSWORD_FILE, ROOT
from .helpers import DB

APP = "klaviyo"
SSL_REQUEST = struct.pack("!ii", 8, 80877103)  # PostgreSQL's SSLRequest message


def app_password() -> str:
    return (ROOT / PASSWORD_FILE).read_text().strip()


def connect(target, *, sslmode: str = "verify-full", password: str | None = None, **kw):
    return psycopg.connect(
        host=testhosts.address(target.name),
        port=kw.pop("port", 5432),
        dbname=DB,
        user=kw.pop("user", APP),
        password=app_password() if password is None else password,
        sslmode=sslmode,
        sslrootcert=str(tls.CA_CERT),
        connect_timeout=15,
        autocommit=True,
        **kw,
    )


def served_certificate(target, port: int = 5432) -> bytes:
    """The certificate the server (or PgBouncer) presents (DER), read with PostgreSQL's own
    SSLRequest."""
    address = testhosts.address(target.name)
    with socket.create_connection((address, port), timeout=15) as sock:
        sock.sendall(SSL_REQUEST)
        assert sock.recv(1) == b"S", "the server declined TLS"
        context = ssl.create_default_context(cafile=str(tls.CA_CERT))
        with context.wrap_socket(sock, server_hostname=address) as secured:
            return secured.getpeercert(binary_form=True)


def assert_tls_verified(target) -> None:
    """The application connects with verify-full, on TLS 1.2 or later."""
    with connect(target) as conn:
        row = conn.execute(
            "SELECT ssl, version, current_user FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone()
    assert row[0] is True and row[1] in ("TLSv1.2", "TLSv1.3") and row[2] == APP, row


def assert_plain_connection_refused(target) -> None:
    """Without TLS the server has no rule for a network client, even with the password."""
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        connect(target, sslmode="disable").close()


def assert_only_app_networks_get_in(target) -> None:
    """With this machine's address out of app_networks, it is refused, right password and TLS
    notwithstanding: no gateway or proxy lets it in by another address."""
    without = {"app_networks": ["127.0.0.1/32", "::1/128"]}
    result = target.deploy(without)
    assert result.returncode == 0, result.output[-5000:]
    try:
        with pytest.raises(psycopg.OperationalError, match="no pg_hba.conf entry for host"):
            connect(target).close()
    finally:
        back = target.deploy()
        assert back.returncode == 0, back.output[-5000:]
    assert_tls_verified(target)


def assert_wrong_password_refused(target) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(target, password="not-the-password-0").close()


def _refused(conn, sql: str, *expected: type[Exception]) -> str:
    """Run `sql` as the application; it must fail with one of `expected`; the message."""
    with pytest.raises(expected or (errors.InsufficientPrivilege,)) as info:
        conn.execute(sql)
    return str(info.value).splitlines()[0]


def assert_escalation_refused(target) -> list[str]:
    """Holding only the application's password: each way to run code as a more privileged
    role fails. Returns one line per attempt (what the server said), for the report."""
    owner = target.plan_record()["schema"]["owner_role"]
    # every function the maintenance may run: the schema's own, all the owner's
    definitions = target.psql(
        "SELECT pg_get_functiondef(p.oid) || E'\\n;' FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' "
        f"AND pg_get_userbyid(p.proowner) = '{owner}' AND p.prokind = 'f' "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')",
        db=DB,
    )
    before = target.psql(
        "SELECT md5(string_agg(pg_get_functiondef(p.oid), '' ORDER BY p.oid)) FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' "
        f"AND pg_get_userbyid(p.proowner) = '{owner}' AND p.prokind = 'f'",
        db=DB,
    )
    functions = [d.strip().rstrip(";").strip() for d in definitions.split("\n;") if d.strip()]
    assert any("klaviyo_" in f for f in functions), definitions[:500]
    signatures = target.psql(
        "SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        f"WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) = '{owner}' "
        "AND p.prokind = 'f' AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid "
        "AND d.deptype = 'e')",
        db=DB,
    ).splitlines()
    assert len(signatures) == len(functions)
    jobs = target.psql(
        "SELECT job_id FROM timescaledb_information.jobs WHERE job_id >= 1000", db=DB
    ).split()
    lines = []
    with connect(target) as conn:
        for definition in functions:
            name = definition.split("(", 1)[0].split()[-1]
            # the schema is closed to it before the function's ownership is even looked at
            message = _refused(conn, definition)
            assert "permission denied for schema public" in message, (name, message)
            lines.append(f"CREATE OR REPLACE {name}: {message}")
        for signature in signatures:  # ALTER needs no CREATE: ownership decides
            message = _refused(conn, f"ALTER FUNCTION {signature} SECURITY DEFINER")
            assert "must be owner of function" in message, (signature, message)
            lines.append(f"ALTER FUNCTION {signature.split('(')[0]}: {message}")
        for job in jobs:
            for call in (f"SELECT alter_job({job}, scheduled => false)",
                         f"SELECT delete_job({job})", f"CALL run_job({job})"):  # fmt: skip
                message = _refused(conn, call)
                assert "insufficient permissions to" in message, (call, message)
                lines.append(f"{call}: {message}")
        attempts = {
            "CREATE TABLE public.x (i int)": "permission denied for schema public",
            "CREATE TABLE _timescaledb_internal.x (i int)": "permission denied for schema",
            "CREATE SCHEMA mine": "permission denied for database",
            "ALTER SYSTEM SET work_mem = '1MB'": "permission denied to set parameter",
            "COPY (SELECT 1) TO PROGRAM 'id'": "permission denied to COPY to or from an external",
            f'SET ROLE "{owner}"': "permission denied to set role",
            "SET ROLE postgres": "permission denied to set role",
            "ALTER TABLE klaviyo_events ADD COLUMN x int": "must be owner of",
            "TRUNCATE klaviyo_metrics": "permission denied for table",
            "CREATE TRIGGER t BEFORE INSERT ON klaviyo_metrics FOR EACH ROW "
            "EXECUTE FUNCTION suppress_redundant_updates_trigger()": "permission denied for table",
            "SELECT klaviyo_run_maintenance()": "permission denied for function",
        }
        for sql, expected in attempts.items():
            if "klaviyo_run_maintenance" in sql and not any(
                "klaviyo_run_maintenance" in f for f in functions
            ):
                continue  # the Community build's maintenance is TimescaleDB's jobs
            message = _refused(conn, sql)
            assert expected in message, (sql, message)
            lines.append(f"{sql.split(' (')[0][:60]}: {message}")
        # what the application is for still works: write and read its tables
        conn.execute(
            "INSERT INTO klaviyo_metrics (id, name, created_at, updated_at) "
            "VALUES ('sec-check', 'security check', now(), now()) ON CONFLICT (id) DO NOTHING"
        )
        conn.execute(
            'INSERT INTO klaviyo_events (id, metric_id, profile_id, "timestamp", properties, '
            "raw_data) VALUES ('sec-check', 'sec-check', 'p', now(), '{}', '{}')"
        )
        count = conn.execute(
            "SELECT count(*) FROM klaviyo_events WHERE metric_id = 'sec-check'"
        ).fetchone()[0]
        assert count >= 1
        conn.execute("DELETE FROM klaviyo_events WHERE metric_id = 'sec-check'")
        conn.execute("DELETE FROM klaviyo_metrics WHERE id = 'sec-check'")
        # what the maintenance derives, it may read but not write
        # (a table on the Apache build; on the Community build a view over the continuous
        # aggregates, which nobody can write: there the privilege is what is checked)
        message = _refused(
            conn,
            "DELETE FROM klaviyo_aggregated_metrics",
            errors.InsufficientPrivilege,
            errors.ObjectNotInPrerequisiteState,
        )
        writable = conn.execute(
            "SELECT has_table_privilege('klaviyo_aggregated_metrics', 'INSERT, UPDATE, DELETE')"
        ).fetchone()[0]
        assert writable is False
        lines.append(f"DELETE FROM klaviyo_aggregated_metrics: {message}")
    after = target.psql(
        "SELECT md5(string_agg(pg_get_functiondef(p.oid), '' ORDER BY p.oid)) FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' "
        f"AND pg_get_userbyid(p.proowner) = '{owner}' AND p.prokind = 'f'",
        db=DB,
    )
    assert after == before, "a function of the owner's changed"
    return lines


def assert_renewal_reloads(target) -> None:
    """A renewed certificate is installed with a reload: the postmaster stays, and new
    connections get the new certificate, from PgBouncer too (reloaded, not restarted)."""
    before, started = served_certificate(target), target.postmaster_started()
    assert served_certificate(target, 6432) == before
    cert, _ = tls.host_files(target.name)
    cert.unlink()  # the lab CA issues a new one (and key), as a renewal would
    tls.issue(target.name, [testhosts.address(target.name)])
    result = target.deploy()
    assert result.returncode == 0, result.output[-5000:]
    assert "Reloading PostgreSQL" in result.output, result.output[-3000:]
    assert target.postmaster_started() == started
    served = served_certificate(target)
    assert served != before and served == ssl.PEM_cert_to_DER_cert(cert.read_text())
    assert "Reloading for pgbouncer.ini" in result.output, result.output[-3000:]
    assert "Restarting for" not in result.output
    assert served_certificate(target, 6432) == served
    assert_tls_verified(target)
    again = target.deploy()
    assert again.changed == 0, again.output[-5000:]


# --- the tests each runtime's module imports -------------------------------------------


def test_network_clients_need_tls_and_a_verified_certificate(target):
    assert_tls_verified(target)
    assert_plain_connection_refused(target)
    assert_wrong_password_refused(target)


def test_the_application_connects_through_pgbouncer_with_scram_and_tls(target):
    """Through PgBouncer's port: verify-full TLS, SCRAM with the same password, the role's own
    statement timeout in force; no TLS or a wrong password refused."""
    with connect(target, port=6432) as conn:
        user, timeout = conn.execute("SELECT current_user, current_setting('statement_timeout')"
                                     ).fetchone()  # fmt: skip
        assert (user, timeout) == (APP, "30s")
        assert conn.info.parameter_status("server_version")
    with pytest.raises(psycopg.OperationalError, match="SSL required"):
        connect(target, port=6432, sslmode="disable").close()
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        connect(target, port=6432, password="not-the-password-0").close()


def test_only_app_networks_get_in(target):
    assert_only_app_networks_get_in(target)


def test_the_application_role_cannot_escalate(target):
    for line in assert_escalation_refused(target):
        print(line)


def test_certificate_renewal_reloads_never_restarts(target):
    assert_renewal_reloads(target)
