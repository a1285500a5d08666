"""What monitoring reads: the exporters' metrics (PostgreSQL's and PgBouncer's), and
tsdb-status's verdict."""

from __future__ import annotations

import json

import pytest

FETCH = (
    "python3 -c 'import sys, urllib.request; "
    'sys.stdout.write(urllib.request.urlopen("http://" + sys.argv[1] + "/metrics", '
    "timeout=20).read().decode())' %s"
)


def test_the_exporter_answers_with_pg_up_and_timescaledb_jobs(host, deployed):
    listen = deployed.deployment["exporter_listen_address"]
    assert host.service("prometheus-postgres-exporter").is_running
    metrics = host.check_output(FETCH, listen).splitlines()
    assert "pg_up 1" in metrics, [m for m in metrics if m.startswith("pg_up")]
    jobs = [m for m in metrics if m.startswith("tsdb_timescaledb_job_runs{")]
    assert jobs, "no TimescaleDB job metrics"
    assert any('proc_name="policy_compression"' in m or 'proc_name="policy_retention"' in m
               or "policy_job_stat_history_retention" in m for m in jobs), jobs  # fmt: skip
    assert [m for m in metrics if m.startswith("tsdb_timescaledb_chunks_chunks{")]
    # the statements collector reads pg_stat_statements (sql/0012) as the monitoring role
    assert [m for m in metrics if m.startswith("pg_stat_statements_calls_total{")]


def test_the_pgbouncer_exporter_reads_pgbouncers_console(host, deployed):
    """Logged in to PgBouncer's console as the monitoring role: PgBouncer's configuration as
    planned, and the application's database."""
    listen = deployed.deployment["pgbouncer_exporter_listen_address"]
    assert host.service("prometheus-pgbouncer-exporter").is_running
    metrics = host.check_output(FETCH, listen).splitlines()
    assert "pgbouncer_up 1" in metrics, [m for m in metrics if m.startswith("pgbouncer_up")]
    max_clients = deployed.record["pooler"]["settings"]["max_client_conn"]
    assert f"pgbouncer_config_max_client_connections {max_clients}" in metrics, [
        m for m in metrics if m.startswith("pgbouncer_config_")
    ]
    database = deployed.deployment["database"]
    assert [m for m in metrics if m.startswith("pgbouncer_databases_") and
            f'name="{database}"' in m], [m for m in metrics if "databases" in m]  # fmt: skip
    # its environment holds the monitoring role's password
    env = host.file("/etc/default/prometheus-pgbouncer-exporter")
    assert (env.user, env.group, env.mode) == ("root", "prometheus", 0o640)


def test_the_node_exporter_serves_the_disks_and_the_backups_age(host, deployed):
    """The host's filesystems, and tsdb-backup's metrics (its textfile): the deploy's first
    backup is a verified daily one, a few hours old at most on a fresh host."""
    listen = deployed.deployment["node_exporter_listen_address"]
    assert host.service("prometheus-node-exporter").is_running
    metrics = host.check_output(FETCH, listen).splitlines()
    assert [m for m in metrics if m.startswith("node_filesystem_avail_bytes{")]
    database = deployed.deployment["database"]
    daily = [
        m
        for m in metrics
        if m.startswith(
            f'tsdb_backup_newest_verified_timestamp_seconds{{database="{database}",tier="daily"}}'
        )
    ]
    assert daily, [m for m in metrics if m.startswith("tsdb_backup_")]
    started = float(daily[0].rsplit(" ", 1)[1])
    now = float(host.check_output("date +%s"))
    assert 0 <= now - started < 26 * 3600, (now, started)  # fmt: skip


@pytest.mark.parametrize(
    "key",
    [
        "exporter_listen_address",
        "pgbouncer_exporter_listen_address",
        "node_exporter_listen_address",
    ],
)
def test_the_exporters_listen_only_where_they_are_told(host, deployed, key):
    listen = deployed.deployment[key]
    port = listen.rsplit(":", 1)[1]
    mine = [s for s in host.socket.get_listening_sockets() if s.endswith(f":{port}")]
    assert mine == [f"tcp://{listen}"], mine


def test_the_monitoring_role_holds_pg_monitor_only(deployed):
    role = deployed.deployment["monitor_role"]
    row = deployed.psql(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, "
        "pg_has_role(rolname, 'pg_monitor', 'USAGE'), "
        "(SELECT string_agg(g.rolname, ',' ORDER BY g.rolname) FROM pg_auth_members m "
        f"JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid) FROM pg_roles r "
        f"WHERE rolname = '{role}'"
    )
    assert row == "f|f|f|t|t|pg_monitor", row


def test_tsdb_status_reports_the_hosts_state(host, deployed):
    """Exit 0 on a healthy host. The one state it may report on a host that works as deployed
    is failing TimescaleDB jobs (the upstream defect test_schema's jobs check names): WARNING,
    exit 1, for that check alone."""
    result = host.run("tsdb-status --json")
    report = json.loads(result.stdout)
    bad = {c["name"]: c["summary"] for c in report["checks"] if c["level"] != "OK"}
    assert set(bad) <= {"timescaledb_jobs"}, bad
    assert result.rc == (1 if bad else 0), report
    text = host.run("tsdb-status").stdout.splitlines()
    assert text[0] == ("TSDB OK: all checks passed" if not bad else
                       f"TSDB WARNING: timescaledb_jobs: {bad['timescaledb_jobs']}")  # fmt: skip
    assert len(text) == 1 + len(report["checks"])
