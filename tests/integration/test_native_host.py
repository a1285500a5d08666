"""A bare Debian 13 host becomes a sized TimescaleDB server; changes converge safely.

One test host for the module, started with --memory 2g --cpus 1 on a machine with far more,
so the plan must come from the container's cgroup limits. It installs as production does:
PGDG and Timescale's repositories (the lab mirror), TimescaleDB's Community build pinned at
the default release. Tests run in order: each leaves the host converged for the next.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab import testhosts
from lab.testhosts import TestHost
from tsdb_deploy.formats import pg_conf_unstring
from tsdb_deploy.planner import Hardware, PlanError, Workload, plan
from tsdb_deploy.render import postgresql_conf
from tsdb_deploy.runtimes import native
from tsdb_deploy.settings import SETTINGS
from tsdb_deploy.units import GIB

from .conftest import PASSWORD_FILE, ROOT, make_target
from .helpers import assert_testinfra_passes, assert_the_session_answers_as_each_fact_alone

# tsdb-status's checks every runtime's module runs, on its own `target` (monitoring.py)
from .monitoring import (  # noqa: F401
    test_a_disk_past_its_threshold_is_critical_and_named,
    test_a_stale_backup_is_critical_and_named,
    test_tsdb_status_is_ok_on_a_healthy_host,
)

# PgBouncer under more clients than max_connections (pooling.py)
from .pooling import (  # noqa: F401
    test_more_clients_than_connection_slots_all_get_through_pgbouncer,
)

# the security checks every runtime's module runs, on its own `target` (security.py)
from .security import (  # noqa: F401
    test_certificate_renewal_reloads_never_restarts,
    test_network_clients_need_tls_and_a_verified_certificate,
    test_only_app_networks_get_in,
    test_the_application_connects_through_pgbouncer_with_scram_and_tls,
    test_the_application_role_cannot_escalate,
)

HOST = TestHost("tsdb-it-native", memory="2g", cpus=1)


@pytest.fixture(scope="module")
def target(request, tmp_path_factory, lab_mirror):
    base = lab_mirror.inventory_data(SETTINGS["timescaledb_version"].default)
    target = make_target(request, tmp_path_factory, HOST, base)
    target.base |= testhosts.app_client_data("native", HOST.name)
    first = target.deploy()
    assert first.returncode == 0, first.output[-5000:]
    assert first.changed > 0
    return target


def test_sized_for_the_container_not_the_machine(target):
    record = target.plan_record()
    assert record["hardware"]["memory_bytes"] == 2 * GIB
    assert record["hardware"]["cpus"] == 1
    assert any("cgroup limit 2.0 GiB" in note for note in record["hardware"]["notes"])
    # 25% of 2 GiB, live on the server; one CPU => no parallel gather
    assert target.show("shared_buffers") == "512MB"
    assert target.show("max_parallel_workers_per_gather") == "0"
    assert record["budget"]["fits"] and record["budget"]["worst_case_total"] <= 2 * GIB


def test_installed_through_the_upstream_steps(target):
    """The signing keys, the sources entries, the pin and the Community build from them."""
    version = SETTINGS["timescaledb_version"].default
    sources = target.run("sh", "-c", "cat /etc/apt/sources.list.d/*.list")
    assert "/pgdg trixie-pgdg main" in sources and "/timescale/debian/ trixie main" in sources
    for keyring in ("/etc/apt/keyrings/pgdg.asc", "/etc/apt/keyrings/timescaledb.asc"):
        assert "BEGIN PGP PUBLIC KEY BLOCK" in target.run("cat", keyring)
    policy = target.run("apt-cache", "policy", "timescaledb-2-postgresql-17")
    assert f"Installed: {version}~debian13" in policy, policy
    assert "/timescale/debian trixie/main" in policy  # from Timescale's repository layout
    assert f"Pin: version {version}~*" in target.run(
        "cat", "/etc/apt/preferences.d/tsdb-timescaledb"
    )
    # PGDG's repository is one of the origins apt has for PostgreSQL itself
    assert "/pgdg trixie-pgdg/main" in target.run("apt-cache", "policy", "postgresql-17")
    assert target.show("timescaledb.license") == "timescale"
    assert target.psql("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'") == (
        version
    )


def test_testinfra_suite_passes(target):
    assert_testinfra_passes(target)


def test_second_run_changes_nothing(target):
    again = target.deploy()
    assert again.returncode == 0, again.output[-5000:]
    assert again.changed == 0, again.output[-5000:]


def test_the_database_facts_answer_alike_in_one_session(target):
    assert_the_session_answers_as_each_fact_alone(target)


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(
    values=st.dictionaries(
        st.sampled_from(["log_line_prefix", "ssl_ciphers", "shared_preload_libraries"]),
        st.text(alphabet=st.sampled_from(list("'\\\"#%=, \t\n;$`_aZ09:!+-.")), max_size=30),
        min_size=1,
    )
)
def test_generated_values_read_back_by_the_server_itself(target, values):
    """A sample of tests/unit/test_properties.py's inputs, read by `postgres -C` on the host:
    each value either is refused in one line, or the server reads back what was planned."""
    try:
        planned = plan(Hardware(2 * GIB, 1), Workload(), values)
    except PlanError as exc:
        assert "\n" not in str(exc)
        return
    text = postgresql_conf(
        planned, host_name="sample", runtime="native", locations=native.locations(17)
    )
    target.run("sh", "-c", "cat > /tmp/sample.conf && chmod 644 /tmp/sample.conf", stdin=text)
    for name in values:
        read = target.run(
            "runuser", "-u", "postgres", "--", "/usr/lib/postgresql/17/bin/postgres",
            "--config-file=/tmp/sample.conf", "-C", name,
        )  # fmt: skip
        wanted = planned.parameters[name].text
        wanted = pg_conf_unstring(wanted) if wanted.startswith("'") else wanted
        assert read.removesuffix("\n") == wanted, (name, read, wanted)


def test_application_role_logs_in_with_its_password(target):
    """The SCRAM verifier computed by the deploy accepts the secret, and only the secret."""
    secret = (ROOT / PASSWORD_FILE).read_text().strip()
    # the password travels on stdin, never on a command line
    connect = (
        "read -r PGPASSWORD && export PGPASSWORD && "
        "psql -X -At -h 127.0.0.1 -U klaviyo -d klaviyo_analytics -c 'SELECT current_user'"
    )
    assert target.run("sh", "-c", connect, stdin=secret + "\n").strip() == "klaviyo"
    denied = target.run("sh", "-c", connect, stdin="wrong-password-123\n", check=False)
    assert denied == ""


def test_reload_only_change_keeps_the_postmaster(target):
    started = target.postmaster_started()
    result = target.deploy({"postgres_overrides": {"work_mem": "6MB"}})
    assert result.returncode == 0, result.output[-5000:]
    assert result.changed >= 1
    assert "Reloading PostgreSQL" in result.output
    assert target.show("work_mem") == "6MB"
    assert target.postmaster_started() == started


def test_restart_change_restarts_once(target):
    started = target.postmaster_started()
    data = {"postgres_overrides": {"work_mem": "6MB", "shared_buffers": "384MB"}}
    result = target.deploy(data)
    assert result.returncode == 0, result.output[-5000:]
    assert "Restarting PostgreSQL: shared_buffers: " in result.output
    assert target.show("shared_buffers") == "384MB"
    restarted = target.postmaster_started()
    assert restarted != started
    # converged: the same data again neither restarts nor changes anything
    again = target.deploy(data)
    assert again.changed == 0, again.output[-5000:]
    assert target.postmaster_started() == restarted


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"work_mem": "1kB"}, "work_mem: 1kB is outside PostgreSQL's range"),
        ({"work_mem": "1GB"}, "exceeds the 2.0 GiB limit"),
        ({"max_worker_processes": "4"}, "max_worker_processes = 4 is too small"),
        ({"no_such_parameter": "1"}, "not a parameter this deployment manages"),
    ],
    ids=["out-of-range", "over-budget", "too-few-workers", "unknown"],
)
def test_invalid_override_is_refused_before_any_change(target, overrides, message):
    conf = target.plan_record()["deployment"]["conf_path"]
    before = (target.sha256(conf), target.postmaster_started(), target.show("work_mem"))
    result = target.deploy({"postgres_overrides": overrides})
    assert result.returncode != 0
    assert message in result.output
    assert result.totals is None or result.totals["success"] == 0
    after = (target.sha256(conf), target.postmaster_started(), target.show("work_mem"))
    assert after == before


def test_invalid_inventory_data_is_refused(target):
    result = target.deploy({"max_connections": "many", "profile": "warehouse"})
    assert result.returncode != 0
    assert "max_connections = 'many'" in result.output
    assert "profile = 'warehouse'" in result.output
