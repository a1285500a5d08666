"""A deployed TimescaleDB host is what its plan says: packages, service, config, roles."""

from __future__ import annotations

import re


def test_packages_installed(host, deployed):
    packages = deployed.deployment["packages"]
    assert packages
    missing = [name for name in packages if not host.package(name).is_installed]
    assert not missing, missing


def test_server_version_is_the_planned_major(deployed):
    version = deployed.psql("SHOW server_version_num")
    assert int(version) // 10000 == deployed.record["workload"]["pg_version"]


def test_port_listening(host, deployed):
    port = deployed.deployment["port"]
    listening = host.socket.get_listening_sockets()
    assert any(s.endswith(f":{port}") for s in listening), listening


def test_timescaledb_extension_in_database(deployed):
    version = deployed.psql("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
    assert re.match(r"^2\.\d+", version), version
    libraries = deployed.psql("SHOW shared_preload_libraries")
    assert "timescaledb" in libraries


def test_every_planned_parameter_is_live(deployed):
    """Each parameter's SHOW value is exactly what postgresql.conf says."""
    names = list(deployed.parameters)
    rows = deployed.psql(
        "SELECT name || '=' || current_setting(name) FROM unnest(ARRAY["
        + ",".join(f"'{n}'" for n in names)
        + "]) AS name"
    ).splitlines()
    live = dict(row.split("=", 1) for row in rows)
    if live.get("archive_mode") == "off":  # PostgreSQL shows an unused archive_command so
        live["archive_command"] = deployed.parameters.get("archive_command", "").strip("'")
    wrong = {
        name: (live.get(name), text.strip("'"))
        for name, text in deployed.parameters.items()
        if live.get(name) != text.strip("'")
    }
    assert not wrong, f"live value differs from the plan (live, planned): {wrong}"
    assert deployed.psql("SELECT count(*) FROM pg_settings WHERE pending_restart") == "0"


def test_pg_hba_rules(host, deployed):
    hba = host.file(deployed.deployment["hba_path"])
    rules = [line.split() for line in hba.content_string.splitlines() if line and line[0] != "#"]
    assert ["local", "all", "postgres", "peer"] in rules
    assert all(rule[3 if rule[0] == "local" else 4] in ("peer", "scram-sha-256") for rule in rules)
    owner = deployed.deployment["owner_role"]
    app_user = deployed.deployment["app_user"]
    database = deployed.deployment["database"]
    # the owner by peer through the map; the application role (PgBouncer) by SCRAM
    assert [r for r in rules if r[0] == "local" and r[2] != "postgres"] == [
        ["local", database, owner, "peer", "map=tsdb_owner"],
        ["local", database, app_user, "scram-sha-256"],
    ]
    network = "hostssl" if deployed.deployment["tls"] else "host"
    host_rules = [rule for rule in rules if rule[0] == network]
    assert host_rules and all(rule[1] == database for rule in host_rules)
    # the application role from its networks; the monitoring role from this host alone
    monitor = [rule for rule in host_rules if rule[2] == deployed.deployment["monitor_role"]]
    assert len(monitor) == 1 and monitor[0][3].endswith(("/32", "/128")), monitor
    assert all(rule[2] == app_user for rule in host_rules if rule not in monitor)
    # the server itself parsed every line without error
    assert deployed.psql("SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL") == "0"


def test_application_role_has_scram_password(deployed):
    role = deployed.deployment["app_user"]
    stored = deployed.psql(
        f"SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = '{role}'"
    )
    assert stored == "t"


def test_data_checksums_enabled(deployed):
    assert deployed.psql("SHOW data_checksums") == "on"


def test_tsdb_psql_installed(host):
    tool = host.file("/usr/local/bin/tsdb-psql")
    assert tool.is_file
    assert tool.mode & 0o111


def test_database_is_utf8_with_code_point_collation(deployed):
    row = deployed.psql(
        "SELECT pg_encoding_to_char(encoding) || ' ' || datcollate FROM pg_database "
        "WHERE datname = current_database()"
    )
    assert row in ("UTF8 C.UTF-8", "UTF8 C"), row
