"""The production install path on a bare host, refused or planned before anything changes.

A dry run plans the upstream install (PGDG's and Timescale's repositories, here the lab
mirror) and changes nothing. Bad input is refused with one line before any step runs, and the
host stays bare: an unreachable mirror, a repository signed with another key than the one
named, a release the repositories do not carry.
"""

from __future__ import annotations

import pytest

from lab.testhosts import TestHost
from tsdb_deploy.settings import SETTINGS

from .conftest import make_target

HOST = TestHost("tsdb-it-upstream", memory="1g", cpus=1)
VERSION = SETTINGS["timescaledb_version"].default


@pytest.fixture(scope="module")
def target(request, tmp_path_factory, lab_mirror):
    target = make_target(request, tmp_path_factory, HOST, lab_mirror.inventory_data(VERSION))
    target.mirror = lab_mirror
    return target


def assert_bare(target) -> None:
    """Nothing of a deploy on the host: no apt source or key, no cluster options, no psql."""
    assert target.run("ls", "/etc/apt/sources.list.d/", "/etc/apt/preferences.d/") == (
        "/etc/apt/preferences.d/:\n\n/etc/apt/sources.list.d/:\n"
    )
    assert target.run("sh", "-c", "ls /etc/apt/keyrings 2>/dev/null | wc -l").strip() == "0"
    assert target.run("sh", "-c", "ls /etc/postgresql-common 2>&1 | head -1").startswith("ls:")
    assert target.run("sh", "-c", "command -v psql || echo absent").strip() == "absent"


def test_dry_run_plans_the_upstream_install(target):
    result = target.deploy(dry=True)
    assert result.returncode == 0, result.output[-5000:]
    changing = result.changing
    for step in (
        f"Install PostgreSQL 17 and TimescaleDB {VERSION} from PGDG and Timescale (pinned)",
        "postgresql.conf, pg_hba.conf and the TLS certificate as planned",
        "Application role and database",
        "TimescaleDB extension, at the installed version in every database",
    ):
        assert step in changing, changing
    assert_bare(target)


@pytest.mark.parametrize(
    "data, message",
    [
        (
            lambda m: {"pgdg_apt_url": m.url.replace(":8080", ":9") + "/pgdg"},
            "apt repository check failed: ",
        ),
        (
            lambda m: {"timescale_key_url": m.foreign_key_url},
            "OpenPGP signature verification failed",
        ),
        (lambda m: {"timescaledb_version": "2.99.0"}, "timescaledb_version 2.99.0: the "
         "repositories have no timescaledb-2-postgresql-17 of that release (they have: 2.19.3, "
         "2.29.2)"),
        (lambda m: {"timescale_apt_url": "http://x/ts\ndeb http://evil/ x main"},
         "timescale_apt_url = "),
    ],
    ids=["unreachable-mirror", "signed-with-another-key", "unknown-version", "injected-url"],
)  # fmt: skip
def test_bad_input_is_refused_with_one_line_and_nothing_changes(target, data, message):
    result = target.deploy(data(target.mirror))
    assert result.returncode != 0
    errors = [line for line in result.output.splitlines() if "error" in line.lower()]
    assert any(message in line for line in errors), result.output[-3000:]
    assert result.totals is None or result.totals["success"] == 0
    assert_bare(target)


def test_distro_source_refused_where_not_shipped(target):
    result = target.deploy({"package_source": "distro", "pg_version": 16}, dry=True)
    assert result.returncode != 0
    assert "package_source 'distro' needs a distribution that ships PostgreSQL 16" in (
        result.output
    )


def test_dockers_own_repository_is_checked_like_the_others(target):
    """docker_source upstream goes through the same install as PGDG and Timescale: apt checks
    the repository first, so one that does not serve Docker (here the lab mirror, which has
    no docker/ tree) is refused in one line, and the host stays bare."""
    docker = f"{target.mirror.url}/docker"
    result = target.deploy({"docker_source": "upstream", "docker_apt_url": docker}, dry=True,
                           group="docker")  # fmt: skip
    assert result.returncode != 0
    assert "apt repository check failed" in result.output, result.output[-3000:]
    assert f"{docker}/debian" in result.output
    assert target.run("sh", "-c", "command -v docker || echo absent").strip() == "absent"
    assert_bare(target)


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
