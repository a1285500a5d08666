"""PgBouncer: sized from the plan's max_connections within the memory budget, its files
rendered for its own parsers, the application role's verifier kept while it matches."""

from __future__ import annotations

import pytest

from tsdb_deploy import formats, host_plan, scram
from tsdb_deploy.facts.postgres import DatabaseState, parse_database_state
from tsdb_deploy.planner import Hardware, PlanError, Workload, plan
from tsdb_deploy.planner import pooler as pooler_plan
from tsdb_deploy.planner.budget import POOLER_BASE, POOLER_PER_CLIENT
from tsdb_deploy.render import pooler
from tsdb_deploy.settings import SettingsError, resolve
from tsdb_deploy.units import GIB

RESERVED = 3 + 3 + 2  # superuser, maintenance, monitoring


@pytest.mark.parametrize(
    "memory, max_connections, pool, reserve",
    [
        (1 * GIB, None, 20 - RESERVED, 2),  # the planner's 20 connections at 1 GiB
        (2 * GIB, None, 40 - RESERVED, 6),
        (16 * GIB, None, 100 - RESERVED, 18),
        (4 * GIB, 10, 2, 1),  # the smallest pool worth having
    ],
)
def test_the_server_pool_is_what_max_connections_leaves(memory, max_connections, pool, reserve):
    p = plan(Hardware(memory, 2), Workload(max_connections=max_connections))
    values = p.pooler.values()
    assert p.pooler.server_pool == pool
    assert int(values["max_db_connections"]) == pool
    assert int(values["reserve_pool_size"]) == reserve
    assert int(values["default_pool_size"]) + reserve == pool
    assert int(values["min_pool_size"]) <= int(values["default_pool_size"])
    # every value carries its reason, as postgresql.conf's do
    assert all(s.reason for s in p.pooler.settings)


def test_a_max_connections_that_leaves_no_pool_is_refused():
    with pytest.raises(PlanError, match=r"max_connections 9 leaves 1 server connections"):
        plan(Hardware(4 * GIB, 2), Workload(max_connections=9))


@pytest.mark.parametrize("clients", [10, 500, 20000])
def test_pgbouncer_is_in_the_memory_budget_and_its_file_limit(clients):
    p = plan(Hardware(8 * GIB, 2), Workload(pooler_max_client_conn=clients))
    # the console's sessions (the exporter, tsdb-status, an operator) count as clients too
    limit = {st.name: st.value for st in p.pooler.settings}["max_client_conn"]
    assert limit == clients + pooler_plan.CONSOLE_CLIENTS
    assert (
        p.budget.pooler == POOLER_BASE + (clients + pooler_plan.CONSOLE_CLIENTS) * POOLER_PER_CLIENT
    )
    assert p.budget.total <= 8 * GIB
    assert p.pooler.open_files > clients + p.pooler.server_pool


def test_more_clients_leave_less_work_mem():
    few = plan(Hardware(2 * GIB, 1), Workload(pooler_max_client_conn=10))
    many = plan(Hardware(2 * GIB, 1), Workload(pooler_max_client_conn=20000))
    assert many.parameters["work_mem"].value < few.parameters["work_mem"].value


@pytest.mark.parametrize(
    "statement_s, idle_s, wait, idle",
    [(30, 30, "30", "30"), (0, 60, "120", "60"), (5, 0, "5", "0")],
)
def test_the_timeouts_follow_the_application_roles(statement_s, idle_s, wait, idle):
    w = Workload(app_statement_timeout_s=statement_s, app_idle_in_transaction_timeout_s=idle_s)
    values = pooler_plan.plan(40, w).values()
    assert (values["query_wait_timeout"], values["idle_transaction_timeout"]) == (wait, idle)


def _ini(**kw) -> str:
    p = plan(Hardware(2 * GIB, 1), Workload())
    tls = ("/etc/tsdb/server.crt", "/etc/tsdb/server.key")
    args = dict(host_name="db1", database="analytics", port=5432, config_dir="/etc/pgbouncer",
                log_file="", tls_files=tls, stats_user="monitor")  # fmt: skip
    return pooler.pgbouncer_ini(p.pooler, **{**args, **kw})


def test_pgbouncer_ini_serves_the_database_over_the_socket_with_tls_for_clients():
    lines = [line for line in _ini().splitlines() if line and not line.startswith("#")]
    assert "analytics = host=/var/run/postgresql port=5432 dbname=analytics" in lines
    assert "%include /etc/pgbouncer/listen.ini" in lines
    for expected in ("auth_type = hba", "client_tls_sslmode = require", "pool_mode = transaction",
                     "client_tls_key_file = /etc/tsdb/server.key", "admin_users = postgres",
                     "stats_users = monitor"):  # fmt: skip
        assert expected in lines
    assert "client_tls_sslmode" not in _ini(tls_files=None)


@pytest.mark.parametrize("bad", ["db; x", "db\nadmin_users = x", "a b", "#x"])
def test_a_value_pgbouncer_would_misread_is_refused(bad):
    with pytest.raises(formats.FormatError, match="PgBouncer"):
        _ini(database=bad)


def test_the_hba_file_mirrors_pg_hba_for_the_application_role():
    """The application role as in pg_hba.conf; PgBouncer's console for postgres by peer, and
    for the monitoring role from this host's own address alone."""
    text = pooler.pgbouncer_hba(host_name="db1", database="analytics", app_user="app",
                                networks=["10.0.0.0/8", "::1/128"], tls=True,
                                monitor_role="monitor", monitor_network="::1/128")  # fmt: skip
    rules = [line.split() for line in text.splitlines() if not line.startswith("#")]
    assert rules == [
        ["local", "pgbouncer", "postgres", "peer"],
        ["hostssl", "pgbouncer", "monitor", "::1/128", "scram-sha-256"],
        ["local", "analytics", "app", "scram-sha-256"],
        ["hostssl", "analytics", "app", "10.0.0.0/8", "scram-sha-256"],
        ["hostssl", "analytics", "app", "::1/128", "scram-sha-256"],
    ]


def test_the_userlist_holds_the_verifier_quoted():
    verifier = scram.make_verifier("a-password-of-some-length", salt=b"0123456789abcdef")
    text = pooler.userlist(app_user="app", verifier=verifier, monitor_role="monitor",
                           monitor_verifier="SCRAM-SHA-256$4096:m")  # fmt: skip
    assert text.splitlines() == [
        f'"app" "{verifier}"', '"monitor" "SCRAM-SHA-256$4096:m"', '"postgres" ""'
    ]  # fmt: skip
    assert formats.pooler_userlist_entry('we"ird', "x") == '"we""ird" "x"'


PASSWORD = "correct-horse-battery-staple"


def test_the_stored_verifier_is_kept_while_it_matches_the_password():
    stored = scram.make_verifier(PASSWORD)
    state = DatabaseState(("db",), {"app": stored}, {}, None)
    assert host_plan.verifier_for(PASSWORD, state, "app") == stored


@pytest.mark.parametrize("state", [None, DatabaseState((), {}, {}, None),
                                   DatabaseState((), {"app": "md5abc"}, {}, None)])  # fmt: skip
def test_a_new_role_or_a_changed_password_gets_a_new_verifier(state):
    verifier = host_plan.verifier_for(PASSWORD, state, "app")
    assert verifier.startswith("SCRAM-SHA-256$") and scram.verify(PASSWORD, verifier)
    if state is not None and state.roles:
        assert verifier != state.roles["app"]


def test_role_settings_are_read_back_per_role():
    state = parse_database_state([
        "D\x1fdb\x1f", "R\x1fapp\x1fSCRAM", "S\x1fapp\x1fstatement_timeout=30s\x1elock_timeout=10s",
        "S\x1freadonly\x1fstatement_timeout=2min",
    ])  # fmt: skip
    assert state.role_settings == {
        "app": {"statement_timeout": "30s", "lock_timeout": "10s"},
        "readonly": {"statement_timeout": "2min"},
    }


BASE = {"runtime": "native", "database": "analytics", "app_user": "app", "tls": False,
        "acknowledge_unsafe": ["ssl"]}  # fmt: skip


def test_role_settings_come_from_the_settings_in_seconds():
    settings = resolve({**BASE, "app_statement_timeout": 45, "readonly_statement_timeout": 0})
    assert host_plan.role_settings(settings) == {
        "app": {"statement_timeout": "45s", "lock_timeout": "10s",
                "idle_in_transaction_session_timeout": "30s"},
        "klaviyo_readonly": {"statement_timeout": "0s"},
        # the exporters': a scrape never outlives its timeout nor queues behind a lock
        "tsdb_monitor": {"statement_timeout": "10s", "lock_timeout": "1s"},
    }  # fmt: skip


@pytest.mark.parametrize(
    "data, message",
    [
        ({"pgbouncer_port": 5432}, "PgBouncer and PostgreSQL need a port each"),
        (
            {"pgbouncer_exporter_listen_address": "127.0.0.1:9187"},
            "each exporter needs an address:port of its own",
        ),
        ({"pgbouncer_max_client_conn": 5}, "pgbouncer_max_client_conn = 5: must be in 10..100000"),
        ({"app_statement_timeout": -1}, "app_statement_timeout = -1"),
        ({"status_thresholds": {"disk_free_warn": 3}}, "unknown threshold"),
        ({"status_thresholds": {"disk_free_warning_pct": 5}}, "below the critical one"),
        ({"status_thresholds": {"rollback_critical_pct": "x"}}, "must be an integer in 0..100"),
    ],
)
def test_bad_pooler_and_status_settings_are_refused(data, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve({**BASE, **data})
