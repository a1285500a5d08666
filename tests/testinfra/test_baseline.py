"""The security baseline: dev-sec's postgres-baseline controls (postgres-02 .. postgres-20,
github.com/dev-sec/postgres-baseline, controls/postgres_spec.rb) and the CIS PostgreSQL and
Docker items the deploy takes on, each check named after the control it ports.

Where a control is ported with an adaptation, or cannot apply, conftest.BASELINE_NOT_APPLIED
says so and why; the suite prints that list at the end of the run. Everything else is checked
as the control states it, on both runtimes.
"""

from __future__ import annotations

import json
import re
import ssl

import pytest


def _rows(deployed, sql: str) -> list[list[str]]:
    out = deployed.psql(sql)
    return [line.split("|") for line in out.splitlines()] if out else []


def _mode(f) -> int:
    return f.mode & 0o777


# --- dev-sec postgres-baseline ------------------------------------------------------------


def test_postgres_02_a_stable_supported_release(deployed):
    version = deployed.psql("SHOW server_version")
    assert int(deployed.psql("SHOW server_version_num")) >= 130000, version
    assert not re.search(r"devel|beta|rc", version, re.I), version


def test_postgres_03_one_instance_on_the_host(host):
    rows = host.run("ps -eo pid=,ppid=,comm=").stdout.split("\n")
    procs = {int(p[0]): (int(p[1]), p[2]) for p in (r.split(None, 2) for r in rows) if len(p) == 3}
    postmasters = [
        pid
        for pid, (ppid, comm) in procs.items()
        if comm == "postgres" and procs.get(ppid, (0, ""))[1] != "postgres"
    ]
    assert len(postmasters) == 1, postmasters


def test_postgres_04_no_untrusted_language_but_c_and_internal(deployed):
    sql = (
        "SELECT lanname FROM pg_language "
        "WHERE NOT lanpltrusted AND lanname NOT IN ('internal', 'c')"
    )
    assert deployed.psql(sql) == ""


def test_postgres_05_no_language_beyond_the_defaults(deployed):
    sql = "SELECT lanname FROM pg_language WHERE lanname NOT IN ('internal', 'c', 'sql', 'plpgsql')"
    assert deployed.psql(sql) == ""


def test_postgres_06_roles_without_password_have_no_password_less_way_in(deployed):
    """Adapted (BASELINE_NOT_APPLIED): a login role without a password is one that no
    network rule names."""
    without = {r[0] for r in _rows(deployed, "SELECT usename FROM pg_shadow WHERE passwd IS NULL")}
    assert without <= {"postgres", deployed.deployment["owner_role"]}, without
    rules = _rows(
        deployed,
        "SELECT type, array_to_string(user_name, ','), auth_method FROM pg_hba_file_rules "
        "WHERE error IS NULL",
    )
    for kind, users, method in rules:
        names = set(users.split(","))
        if kind == "local":
            assert method == "peer" or not (names & without), (kind, users, method)
        else:
            assert not (names & (without | {"all"})), (kind, users, method)


def test_postgres_07_passwords_are_salted_scram(deployed):
    assert deployed.psql("SHOW password_encryption") == "scram-sha-256"
    stored = _rows(deployed, "SELECT usename, passwd FROM pg_shadow WHERE passwd IS NOT NULL")
    assert stored, "no role has a password"
    assert all(p.startswith("SCRAM-SHA-256$") for _, p in stored), [u for u, _ in stored]


def test_postgres_08_only_the_dba_can_create_roles_or_databases(deployed):
    sql = "SELECT rolname FROM pg_roles WHERE rolsuper OR rolcreaterole OR rolcreatedb"
    assert deployed.psql(sql) == "postgres"


def test_postgres_09_only_the_dba_reads_pg_authid(deployed):
    sql = (
        "SELECT DISTINCT grantee FROM information_schema.role_table_grants "
        "WHERE table_name = 'pg_authid'"
    )
    assert deployed.psql(sql) == "postgres"


def test_postgres_10_config_belongs_to_the_database_user_alone(host, deployed):
    d = deployed.deployment
    data = host.file(d["data_directory"])
    config = host.file(d["config_dir"])
    assert config.is_directory and _mode(config) == 0o700, oct(_mode(config))
    assert (config.uid, config.gid) == (data.uid, data.gid)
    for path in (d["conf_path"], d["hba_path"], d.get("tls_key_path")):
        if path:
            f = host.file(path)
            assert (f.uid, _mode(f)) == (data.uid, 0o600), (path, f.uid, oct(_mode(f)))


def test_postgres_11_ssl_is_on(deployed):
    if not deployed.deployment["tls"]:
        pytest.fail("tls is off for this host (acknowledged in its inventory)")
    assert deployed.psql("SHOW ssl") == "on"
    assert deployed.psql("SHOW ssl_min_protocol_version") in ("TLSv1.2", "TLSv1.3")


def test_postgres_12_no_weak_cipher_suite(deployed):
    """OpenSSL's own expansion of ssl_ciphers holds no ADH, LOW, EXP, MD5 (or NULL, RC4)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers(deployed.psql("SHOW ssl_ciphers"))
    suites = [c for c in context.get_ciphers() if c["protocol"] != "TLSv1.3"]
    assert suites
    weak = [
        c["name"]
        for c in suites
        if c["strength_bits"] < 128
        or re.search(r"ADH|AECDH|NULL|EXP|MD5|RC4|DES-CBC3", c["name"])
        or c.get("auth") == "auth-null"
    ]
    assert not weak, weak


def _hba(deployed, user: bool = False) -> list[list[str]]:
    """pg_hba.conf's rules as the server read them: type and method (and the user, one per
    rule: the deploy writes no user lists)."""
    assert deployed.psql("SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL") == "0"
    users = "array_to_string(user_name, ','), " if user else ""
    return _rows(deployed, f"SELECT type, {users}auth_method FROM pg_hba_file_rules")


def test_postgres_13_local_clients_use_peer(deployed):
    """Adapted (BASELINE_NOT_APPLIED): the application role on the socket uses SCRAM."""
    app = deployed.deployment["app_user"]
    local = [(u, m) for t, u, m in _hba(deployed, user=True) if t == "local"]
    assert local and all(m == "peer" for u, m in local if u != app), local
    assert [m for u, m in local if u == app] == ["scram-sha-256"], local


def test_postgres_14_network_clients_use_scram(deployed):
    network = [m for t, m in _hba(deployed) if t != "local"]
    assert network and all(m == "scram-sha-256" for m in network), network


def test_postgres_15_no_rule_without_tls(deployed):
    kinds = {t for t, _ in _hba(deployed)}
    assert kinds <= {"local", "hostssl"}, kinds


def test_postgres_16_connections_and_sessions_are_logged(deployed):
    for name in ("log_connections", "log_disconnections"):
        assert deployed.psql(f"SHOW {name}") == "on", name
    prefix = deployed.psql("SHOW log_line_prefix")
    for escape, what in [("%m", "time"), ("%p", "pid"), ("%u", "user"), ("%d", "database"),
                         ("%a", "application"), ("%h", "client")]:  # fmt: skip
        assert escape in prefix, f"log_line_prefix {prefix!r} does not log the {what}"
    assert int(deployed.psql("SELECT setting FROM pg_settings "
                             "WHERE name = 'log_min_duration_statement'")) >= 0  # fmt: skip


# every table-like object's ACL entries, read from the catalog: information_schema shows
# only the grants that involve the current role
GRANTS = (
    "SELECT n.nspname, c.relname, a.grantee, a.is_grantable, c.relowner "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a "
    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
)


def test_postgres_17_no_table_is_granted_to_public(deployed):
    """In the deployment's schemas (BASELINE_NOT_APPLIED: TimescaleDB's catalogs)."""
    sql = (
        f"SELECT DISTINCT g.nspname || '.' || g.relname FROM ({GRANTS}) g "
        "WHERE g.grantee = 0 AND g.nspname IN ('public', 'tsdb_deploy')"
    )
    assert deployed.psql(sql) == ""


def test_postgres_18_no_grant_option_but_the_owners(deployed):
    sql = (
        f"SELECT DISTINCT g.nspname || '.' || g.relname || ' to ' || g.grantee::regrole "
        f"FROM ({GRANTS}) g WHERE g.is_grantable AND g.grantee <> g.relowner "
        "AND g.grantee <> 'postgres'::regrole"
    )
    assert deployed.psql(sql) == ""


def test_postgres_19_no_security_definer_function_of_ours(deployed):
    sql = (
        "SELECT p.oid::regprocedure FROM pg_proc p WHERE p.prosecdef AND NOT EXISTS "
        "(SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid "
        "AND d.deptype = 'e') AND p.pronamespace NOT IN (SELECT oid FROM pg_namespace "
        "WHERE nspname LIKE 'pg\\_%' OR nspname = 'information_schema')"
    )
    assert deployed.psql(sql) == ""


def test_postgres_20_data_and_logs_are_the_database_users(host, deployed):
    data = host.file(deployed.deployment["data_directory"])
    assert data.is_directory and _mode(data) == 0o700 and data.uid != 0
    log_dir = deployed.deployment.get("log_dir")
    if not log_dir:
        return  # the docker runtime: the log driver's files (BASELINE_NOT_APPLIED)
    logs = host.run("find %s -maxdepth 1 -type f -name 'postgresql-*'", log_dir).stdout.split()
    assert logs, f"no server log in {log_dir}"
    for path in logs:
        f = host.file(path)
        assert f.user == "postgres" and not _mode(f) & 0o007, (path, oct(_mode(f)))
    directory = host.file(log_dir)
    assert not _mode(directory) & 0o002, oct(_mode(directory))  # no one else writes there


# --- CIS PostgreSQL ---------------------------------------------------------------------


def test_cis_ddl_and_lock_waits_are_logged(deployed):
    assert deployed.psql("SHOW log_statement") in ("ddl", "mod", "all")
    assert deployed.psql("SHOW log_lock_waits") == "on"


def test_cis_the_application_role_owns_nothing_and_cannot_administer(deployed):
    app, owner = deployed.deployment["app_user"], deployed.deployment["owner_role"]
    assert (
        deployed.psql(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        )
        == owner
    )
    owned = deployed.psql(
        f"SELECT (SELECT count(*) FROM pg_class WHERE relowner = '{app}'::regrole)"
        f" + (SELECT count(*) FROM pg_proc WHERE proowner = '{app}'::regrole)"
        f" + (SELECT count(*) FROM pg_namespace WHERE nspowner = '{app}'::regrole)"
    )
    assert owned == "0", f"{app} owns {owned} objects"
    flags = deployed.psql(
        "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls "
        f"FROM pg_roles WHERE rolname = '{app}'"
    )
    assert flags == "f"
    members = deployed.psql(f"SELECT count(*) FROM pg_auth_members WHERE member = '{app}'::regrole")
    assert members == "0"


def test_cis_the_public_schema_is_not_writable_by_others(deployed):
    sql = (
        "SELECT r.rolname FROM pg_roles r WHERE has_schema_privilege(r.oid, 'public', 'CREATE') "
        "AND NOT r.rolsuper AND r.rolname NOT LIKE 'pg\\_%'"
    )
    assert deployed.psql(sql).split() == [deployed.deployment["owner_role"]]


def test_maintenance_runs_as_the_owner_never_the_superuser(host, deployed):
    """TimescaleDB's jobs run as their owner; the Apache build's cron job connects as the owner
    role itself (local peer, mapped from the OS user postgres). Either way the code the
    maintenance runs is the owner's, which the application cannot change, in a session that
    has no superuser to return to."""
    owner = deployed.deployment["owner_role"]
    owners = deployed.psql(
        "SELECT DISTINCT owner FROM timescaledb_information.jobs WHERE job_id >= 1000"
    ).split()
    assert set(owners) <= {owner}, owners
    cron = host.file("/etc/cron.d/tsdb-maintenance")
    if cron.exists:
        jobs = [line for line in cron.content_string.splitlines()
                if "klaviyo_" in line and not line.startswith("#")]  # fmt: skip
        assert jobs and all(f" -U {owner} " in job for job in jobs), jobs
        assert not any("SET ROLE" in job for job in jobs), jobs
    superuser = deployed.psql(f"SELECT rolsuper FROM pg_roles WHERE rolname = '{owner}'")
    assert superuser == "f"


# --- the docker runtime (CIS Docker Benchmark, section 5) ---------------------------------


@pytest.fixture(scope="module")
def container(host, deployed):
    name = deployed.deployment.get("container")
    if not name:
        pytest.skip("the native runtime has no container")
    return json.loads(host.run("docker inspect %s", name).stdout)[0]


def test_cis_docker_5_3_capabilities_dropped(container):
    config = container["HostConfig"]
    assert config["CapDrop"] == ["ALL"] or "ALL" in (config["CapDrop"] or []), config["CapDrop"]
    assert not config["CapAdd"], config["CapAdd"]
    assert not config["Privileged"]


def test_cis_docker_5_25_no_new_privileges(container):
    assert "no-new-privileges:true" in (container["HostConfig"]["SecurityOpt"] or [])


def test_cis_docker_5_28_pids_limited(container):
    assert (container["HostConfig"]["PidsLimit"] or 0) > 0


def test_cis_docker_5_12_root_filesystem_read_only(container):
    assert container["HostConfig"]["ReadonlyRootfs"] is True


def test_cis_docker_runs_as_postgres_not_root(container):
    assert container["Config"]["User"] == "postgres"


def test_host_postgres_ids_are_its_own(host, deployed):
    """The host user postgres shares no group with another account (a gid taken from the
    docker group would give PostgreSQL's files to every docker user)."""
    if deployed.deployment["runtime"] != "docker":
        pytest.skip("the native runtime's postgres is Debian's")
    gid = host.user("postgres").gid
    assert host.group("postgres").gid == gid
    assert host.run("getent group %s", str(gid)).stdout.split(":")[0] == "postgres"
