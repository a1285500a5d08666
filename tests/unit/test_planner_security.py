"""The planner's security rules: TLS planned, logging per the baseline, downgrades refused
unless acknowledged by name, the libraries TimescaleDB needs kept."""

from __future__ import annotations

import pytest

from tsdb_deploy.formats import pg_conf_unstring
from tsdb_deploy.planner import Hardware, PlanError, Workload, plan
from tsdb_deploy.planner.security import UNSAFE
from tsdb_deploy.units import GIB

HW = Hardware(8 * GIB, 4)

DOWNGRADES = [
    ("fsync", "off"),
    ("full_page_writes", "off"),
    ("synchronous_commit", "off"),
    ("password_encryption", "md5"),
    ("ssl", "off"),
    ("ssl_min_protocol_version", "TLSv1"),
    ("ssl_ciphers", "HIGH:MEDIUM:+3DES:!aNULL"),
    ("log_connections", "off"),
    ("log_disconnections", "off"),
    ("log_statement", "none"),
    ("log_line_prefix", "%m [%p] "),
]


def test_every_downgrade_rule_is_tested():
    assert {name for name, _ in DOWNGRADES} == set(UNSAFE)


@pytest.mark.parametrize("name, value", DOWNGRADES)
def test_a_downgrade_is_refused_naming_it(name, value):
    with pytest.raises(PlanError, match=rf"unsafe: {name} = .* name {name} in acknowledge_unsafe"):
        plan(HW, Workload(), {name: value})


@pytest.mark.parametrize("name, value", DOWNGRADES)
def test_a_downgrade_named_in_the_acknowledgement_is_planned(name, value):
    planned = plan(HW, Workload(), {name: value}, acknowledged=[name])
    assert pg_conf_unstring(planned.parameters[name].text) == value
    assert planned.parameters[name].overridden


@pytest.mark.parametrize(
    "name, value",
    [
        ("synchronous_commit", "local"),
        ("fsync", "on"),
        ("ssl_min_protocol_version", "TLSv1.3"),
        ("ssl_ciphers", "ECDHE+AESGCM:!aNULL:-MD5"),
        ("ssl_ciphers", "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305"),
        ("ssl_ciphers", "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES:@STRENGTH"),
        ("log_statement", "mod"),
        ("log_line_prefix", "%t %u@%d %r "),
    ],
)
def test_safe_values_of_the_same_parameters_need_no_acknowledgement(name, value):
    assert pg_conf_unstring(plan(HW, Workload(), {name: value}).parameters[name].text) == value


def test_acknowledging_the_wrong_name_does_not_help():
    with pytest.raises(PlanError, match="unsafe: fsync"):
        plan(HW, Workload(), {"fsync": "off"}, acknowledged=["ssl"])


def test_an_acknowledgement_no_rule_covers_is_an_error():
    with pytest.raises(PlanError, match="acknowledge_unsafe names everything"):
        plan(HW, Workload(), {}, acknowledged=["everything"])


def test_tls_off_in_the_inventory_is_a_downgrade_too():
    with pytest.raises(PlanError, match="unsafe: ssl = False"):
        plan(HW, Workload(tls=False))
    assert plan(HW, Workload(tls=False), acknowledged=["ssl"]).parameters["ssl"].text == "off"


def test_tls_is_planned_with_modern_protocols_and_strong_suites():
    p = plan(HW, Workload(ssl_cert_file="/etc/tsdb/server.crt")).parameters
    assert p["ssl"].text == "on"
    assert p["ssl_cert_file"].text == "'/etc/tsdb/server.crt'"
    assert p["ssl_min_protocol_version"].text == "TLSv1.2"
    for weak in ("!aNULL", "!MD5", "!RC4", "!3DES"):
        assert weak in p["ssl_ciphers"].text


def test_logging_names_who_did_what_from_where():
    """dev-sec postgres-16 and the CIS logging items."""
    p = plan(HW, Workload()).parameters
    assert p["log_connections"].text == "on" and p["log_disconnections"].text == "on"
    assert p["log_lock_waits"].text == "on"
    assert p["log_statement"].text == "ddl"
    prefix = p["log_line_prefix"].text
    for escape in ("%m", "%p", "%u", "%d", "%a", "%h"):  # time, pid, user, db, app, client
        assert escape in prefix


@pytest.mark.parametrize(
    "libraries", ["pg_stat_statements", "timescaledb_toolkit", "pg_cron,auto_explain"]
)
def test_preload_libraries_without_timescaledb_are_refused(libraries):
    with pytest.raises(PlanError, match="leaves out timescaledb"):
        plan(HW, Workload(), {"shared_preload_libraries": libraries})


def test_preload_libraries_may_add_to_timescaledb():
    libs = "timescaledb,pg_stat_statements,auto_explain"
    planned = plan(HW, Workload(), {"shared_preload_libraries": libs})
    assert planned.parameters["shared_preload_libraries"].text == f"'{libs}'"


@pytest.mark.parametrize(
    "ciphers",
    [
        "HIGH:NULL-SHA256",  # a NULL suite by its name
        "HIGH:!aNULL:ADH-AES128-SHA",  # anonymous Diffie-Hellman by its name
        "kRSA",  # static RSA key exchange: no forward secrecy
        "AES128-SHA",  # the same, by a suite's name
        "HIGH:+3DES",  # + moves suites to the end: they stay in
        "ECDHE+AESGCM:ALL",
        "ECDHE+RC4",
    ],
)
def test_cipher_lists_outside_the_strong_set_need_acknowledgement(ciphers):
    with pytest.raises(PlanError, match="unsafe: ssl_ciphers"):
        plan(HW, Workload(), {"ssl_ciphers": ciphers})
