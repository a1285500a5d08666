"""Upstream repositories and pinned releases: the pure decisions, the probe's parser on outputs
recorded from a real host (tests/fixtures/facts/apt-probe-*.txt), and the files rendered."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsdb_deploy import render
from tsdb_deploy.apt import (
    AptError,
    AptSource,
    check_no_downgrade,
    choose_versions,
    is_release,
    pending,
    release,
)
from tsdb_deploy.facts import parse_probe

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "facts"
TIMESCALE = AptSource("timescaledb", "http://m/ts/debian/", "trixie", "http://m/ts/gpgkey")
PINNED = {"timescaledb-2-postgresql-17": "2.19.3", "timescaledb-2-loader-postgresql-17": "2.19.3"}


def probe(name: str):
    return parse_probe((FIXTURES / name).read_text().splitlines())


@pytest.mark.parametrize(
    "version, expected",
    [
        ("2.19.3", (2, 19, 3)),
        ("2.19.3~debian13-1701", (2, 19, 3)),
        ("2.19.3~ubuntu24.04", (2, 19, 3)),
        ("2.19.3+dfsg-1", (2, 19, 3)),
        ("17.12-0+deb13u1", None),
        ("latest", None),
    ],
)
def test_release_of_a_package_version(version, expected):
    assert release(version) == expected


@pytest.mark.parametrize(
    "version, wanted, match",
    [
        ("2.19.3~debian13-1701", "2.19.3", True),
        ("2.19.3~debian12", "2.19.3", True),
        ("2.19.30~debian13", "2.19.3", False),
        ("2.29.2~debian13-1701", "2.19.3", False),
        ("2.19.3", "2.19.3", True),
    ],
)
def test_a_package_version_is_the_build_of_a_release(version, wanted, match):
    assert is_release(version, wanted) is match


def test_a_converged_host_has_nothing_pending():
    installed = {name: {"2.19.3~debian13-1701"} for name in PINNED} | {"postgresql-17": {"17"}}
    sha = {TIMESCALE.list_path: "A", TIMESCALE.keyring: "K"}
    todo = pending(installed, sha, {TIMESCALE.list_path: "A"}, [TIMESCALE], ["postgresql-17"],
                   PINNED)  # fmt: skip
    assert not todo


def test_what_is_pending_is_named():
    installed = {"timescaledb-2-postgresql-17": {"2.19.3~debian13-1701"}}
    todo = pending(installed, {}, {TIMESCALE.list_path: "A"}, [TIMESCALE],
                   ["postgresql-17", "timescaledb-2-postgresql-17"],
                   {"timescaledb-2-postgresql-17": "2.29.2"})  # fmt: skip
    assert todo.files == (TIMESCALE.list_path,)
    assert todo.keyrings == (TIMESCALE.keyring,)
    assert todo.packages == ("postgresql-17",)
    assert todo.off_release == ("timescaledb-2-postgresql-17",)


def test_a_lower_release_than_installed_is_a_refused_downgrade():
    installed = {"timescaledb-2-postgresql-17": {"2.29.2~debian13-1701"}}
    with pytest.raises(AptError, match="timescaledb_version 2.19.3 is older than the installed "
                       "timescaledb-2-postgresql-17 2.29.2~debian13-1701: downgrades"):  # fmt: skip
        check_no_downgrade(installed, PINNED, "timescaledb_version")
    check_no_downgrade(installed, {"timescaledb-2-postgresql-17": "2.29.2"}, "timescaledb_version")


def test_the_newest_build_of_the_pinned_release_is_installed():
    found = probe("apt-probe-ok.txt")
    assert found.errors == ()
    assert set(found.keys) == {"pgdg", "timescaledb"}
    assert all("BEGIN PGP PUBLIC KEY BLOCK" in key for key in found.keys.values())
    exact = choose_versions(found.errors, found.available, PINNED, "timescaledb_version")
    assert exact == dict.fromkeys(PINNED, "2.19.3~debian13-1701")


def test_a_release_the_repositories_lack_is_named_with_what_they_have():
    found = probe("apt-probe-ok.txt")
    with pytest.raises(AptError) as refused:
        wanted = {"timescaledb-2-postgresql-17": "2.99.0"}
        choose_versions(found.errors, found.available, wanted, "timescaledb_version")
    assert str(refused.value) == (
        "timescaledb_version 2.99.0: the repositories have no timescaledb-2-postgresql-17 of "
        "that release (they have: 2.19.3, 2.29.2)"
    )


@pytest.mark.parametrize(
    "fixture, message",
    [
        ("apt-probe-foreign-key.txt", "OpenPGP signature verification failed: "),
        ("apt-probe-unreachable.txt", "pgdg: cannot fetch its signing key http://"),
    ],
)
def test_a_repository_apt_refuses_is_one_line(fixture, message):
    found = probe(fixture)
    with pytest.raises(AptError) as refused:
        choose_versions(found.errors, found.available, PINNED, "timescaledb_version")
    text = str(refused.value)
    assert text.startswith(f"apt repository check failed: {message}"), text
    assert "\n" not in text


def test_sources_entry_records_the_key_it_was_signed_with():
    text = render.apt_source_file(TIMESCALE)
    assert text.splitlines() == [
        "# written by tsdb-deploy: the timescaledb repository, signed by the key at "
        "http://m/ts/gpgkey",
        "deb [signed-by=/etc/apt/keyrings/timescaledb.asc] http://m/ts/debian/ trixie main",
    ]


def test_the_pin_holds_the_release_without_allowing_downgrades():
    text = render.apt_pin_file(list(PINNED), "2.29.2", "timescaledb_version")
    assert "Package: timescaledb-2-postgresql-17 timescaledb-2-loader-postgresql-17\n" in text
    assert "Pin: version 2.29.2~*\n" in text
    assert "Pin-Priority: 990\n" in text  # >= 1000 would let apt downgrade to reach it
