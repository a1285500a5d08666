"""The native runtime's package choices and repository lines (the path CI cannot install)."""

from __future__ import annotations

import ipaddress

import pytest

from tsdb_deploy.host_plan import runtime_for
from tsdb_deploy.runtimes import Distro, RuntimeConfigError
from tsdb_deploy.runtimes.native import NativeRuntime
from tsdb_deploy.settings import resolve


def runtime(distro=("debian", 13, "trixie"), **data) -> NativeRuntime:
    base = {"runtime": "native", "database": "klaviyo_analytics", "app_user": "klaviyo",
            "tls_cert_file": "c", "tls_key_file": "k"}  # fmt: skip
    return runtime_for(resolve({**base, **data}), Distro(*distro))


def test_upstream_packages_are_timescales_community_build():
    assert runtime().packages() == [
        "postgresql-17",
        "timescaledb-2-postgresql-17",
        "postgresql-client-17",
        "pgbouncer",
        "prometheus-postgres-exporter",
        "prometheus-pgbouncer-exporter",
        "prometheus-node-exporter",
        "pgbackrest",
    ]


def test_distro_packages_are_debians():
    assert runtime(package_source="distro", pg_version=16).packages() == [
        "postgresql-16",
        "postgresql-16-timescaledb",
        "postgresql-client-16",
        "pgbouncer",
        "prometheus-postgres-exporter",
        "prometheus-pgbouncer-exporter",
        "prometheus-node-exporter",
        "pgbackrest",
    ]


def test_upstream_sources_for_ubuntu_noble():
    sources = {s.name: s.line() for s in runtime(("ubuntu", 24, "noble")).upstream_sources()}
    assert sources["pgdg"] == (
        "deb [signed-by=/etc/apt/keyrings/pgdg.asc] "
        "https://apt.postgresql.org/pub/repos/apt noble-pgdg main"
    )
    assert sources["timescaledb"] == (
        "deb [signed-by=/etc/apt/keyrings/timescaledb.asc] "
        "https://packagecloud.io/timescale/timescaledb/ubuntu/ noble main"
    )


def test_upstream_keys_are_where_each_project_publishes_them():
    pgdg, timescale = runtime().upstream_sources()
    assert pgdg.key_url == "https://www.postgresql.org/media/keys/ACCC4CF8.asc"
    assert timescale.key_url == "https://packagecloud.io/timescale/timescaledb/gpgkey"


def test_mirrors_from_inventory():
    r = runtime(pgdg_apt_url="http://mirror.local/pgdg/", timescale_apt_url="http://m/ts")
    pgdg, timescale = r.upstream_sources()
    assert "http://mirror.local/pgdg trixie-pgdg main" in pgdg.line()
    assert timescale.key_url == "http://m/ts/gpgkey"
    assert "http://m/ts/debian/ trixie main" in timescale.line()


def test_mirror_keys_from_inventory():
    r = runtime(pgdg_key_url="http://m/pgdg.asc", timescale_key_url="http://m/ts.asc")
    pgdg, timescale = r.upstream_sources()
    assert (pgdg.key_url, timescale.key_url) == ("http://m/pgdg.asc", "http://m/ts.asc")


def test_timescale_packages_are_held_together():
    assert runtime().timescaledb_packages() == [
        "timescaledb-2-postgresql-17",
        "timescaledb-2-loader-postgresql-17",
    ]


def test_debian_layout():
    r = runtime()
    assert r.conf_path == "/etc/postgresql/17/main/postgresql.conf"
    assert r.locations()["data_directory"] == "/var/lib/postgresql/17/main"
    assert r.cgroup_unit.endswith("postgresql@17-main.service")
    assert "postgres -C" not in r.validate_config("/x")  # full path to the binary
    assert "/usr/lib/postgresql/17/bin/postgres --config-file=/x -C" in r.validate_config("/x")


@pytest.mark.parametrize(
    "listen, ok",
    [("*", True), ("localhost", True), ("10.1.2.3", True), ("::", True), ("db1.example", False)],
)
def test_the_exporters_source_address_must_be_an_ip(listen, ok):
    """pg_hba.conf names the address the exporters connect from: a host name would not load."""
    rt = runtime(listen_addresses=listen)
    if ok:
        rt.check()
        ipaddress.ip_address(rt.local_client_source())
    else:
        with pytest.raises(RuntimeConfigError, match="db1.example.*must be an IP address"):
            rt.check()
