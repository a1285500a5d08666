"""The production path (PGDG + Timescale's repositories) cannot install here: no registry but
Debian's is reachable. `--dry` on a bare host proves what it would do, and that a dry run
changes nothing."""

from __future__ import annotations

import pytest

from lab.testhosts import TestHost

from .conftest import make_target

HOST = TestHost("tsdb-it-upstream", memory="1g", cpus=1)


@pytest.fixture(scope="module")
def target(request, tmp_path_factory):
    return make_target(request, tmp_path_factory, HOST)


def test_dry_run_plans_the_upstream_install(target):
    result = target.deploy({"package_source": "upstream"}, dry=True)
    assert result.returncode == 0, result.output[-5000:]
    changing = result.changing
    for step in (
        "pgdg signing key",
        "timescaledb signing key",
        "pgdg apt repository",
        "timescaledb apt repository",
        "Install PostgreSQL 17 and TimescaleDB",
        "postgresql.conf and pg_hba.conf as planned",
        "Application role and database",
    ):
        assert step in changing, changing
    # nothing was done
    assert target.run("ls", "/etc/apt/sources.list.d/") == ""
    assert target.run("sh", "-c", "command -v psql || echo absent").strip() == "absent"


def test_distro_source_refused_where_not_shipped(target):
    result = target.deploy({"package_source": "distro", "pg_version": 16}, dry=True)
    assert result.returncode != 0
    assert "package_source 'distro' needs a distribution that ships PostgreSQL 16" in (
        result.output
    )


def test_dry_run_plans_dockers_own_repository(target):
    data = {"docker_source": "upstream", "timescaledb_image": "timescale/timescaledb:2.19.3-pg17"}
    result = target.deploy(data, dry=True, group="docker")
    assert result.returncode == 0, result.output[-5000:]
    changing = result.changing
    for step in ("Docker signing key", "Docker apt repository", "Install Docker",
                 "Docker daemon configuration", "Compose project"):  # fmt: skip
        assert step in changing, changing
    assert target.run("sh", "-c", "command -v docker || echo absent").strip() == "absent"


def test_dry_run_on_a_bare_host_plans_dropping_the_properties_index(target):
    """events_properties_index = False on a new host: sql/0003 creates the GIN, so the
    dry run already says the step after it drops it (the step reads the index at run time)."""
    result = target.deploy({"events_properties_index": False}, dry=True)
    assert result.returncode == 0, result.output[-5000:]
    changing = result.changing
    assert "klaviyo_events properties index absent as set" in changing, changing
    default = target.deploy(dry=True)
    changing = default.changing
    assert not any("properties index" in step for step in changing), changing
