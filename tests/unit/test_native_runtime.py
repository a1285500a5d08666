"""The native runtime's package choices and repository lines (the path CI cannot install)."""

from __future__ import annotations

from tsdb_deploy.runtimes.native import NativeRuntime
from tsdb_deploy.settings import resolve


def runtime(**data) -> NativeRuntime:
    base = {"runtime": "native", "database": "klaviyo_analytics", "app_user": "klaviyo"}
    return NativeRuntime(resolve({**base, **data}))


def test_upstream_packages_are_timescales_community_build():
    assert runtime().packages() == [
        "postgresql-17",
        "timescaledb-2-postgresql-17",
        "postgresql-client-17",
        "pgbackrest",
    ]


def test_distro_packages_are_debians():
    assert runtime(package_source="distro", pg_version=16).packages() == [
        "postgresql-16",
        "postgresql-16-timescaledb",
        "postgresql-client-16",
        "pgbackrest",
    ]


def test_upstream_sources_for_ubuntu_noble():
    sources = {name: line for name, _, _, line in runtime().upstream_sources("ubuntu", "noble")}
    assert sources["pgdg"] == (
        "deb [signed-by=/etc/apt/keyrings/pgdg.asc] "
        "https://apt.postgresql.org/pub/repos/apt noble-pgdg main"
    )
    assert sources["timescaledb"] == (
        "deb [signed-by=/etc/apt/keyrings/timescaledb.asc] "
        "https://packagecloud.io/timescale/timescaledb/ubuntu/ noble main"
    )


def test_mirrors_from_inventory():
    r = runtime(pgdg_apt_url="http://mirror.local/pgdg/", timescale_apt_url="http://m/ts")
    (_, _, _, pgdg), (_, key, _, ts) = r.upstream_sources("debian", "trixie")
    assert "http://mirror.local/pgdg trixie-pgdg main" in pgdg
    assert key == "http://m/ts/gpgkey"
    assert "http://m/ts/debian/ trixie main" in ts


def test_debian_layout():
    r = runtime()
    assert r.conf_path == "/etc/postgresql/17/main/postgresql.conf"
    assert r.locations()["data_directory"] == "/var/lib/postgresql/17/main"
    assert r.cgroup_unit.endswith("postgresql@17-main.service")
    assert "postgres -C" not in r.validate_config("/x")  # full path to the binary
    assert "/usr/lib/postgresql/17/bin/postgres --config-file=/x -C" in r.validate_config("/x")
