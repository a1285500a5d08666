"""Preflight refusals that need only facts: the application database's owner, a full data
disk."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tsdb_deploy.facts import Disk, parse_timescaledb_state
from tsdb_deploy.preflight import PreflightError, _database_owner, _room_on_the_data_disk
from tsdb_deploy.restart_guard import MIN_DATA_FREE

# the host plan's names
SETTINGS = SimpleNamespace(database="analytics", app_user="app", owner_role="owner")


@pytest.mark.parametrize(
    "owners",
    [{}, {"analytics": "owner"}, {"analytics": "app"}, {"other": "someone"}],
    ids=["no-database-yet", "after-0011", "before-0011", "another-database"],
)
def test_the_expected_owners_pass(owners):
    _database_owner(owners, SETTINGS)


def test_a_renamed_owner_role_is_refused_naming_both():
    with pytest.raises(PreflightError, match="belongs to the role klaviyo_owner, but owner_role"):
        _database_owner({"analytics": "klaviyo_owner"}, SETTINGS)


def test_the_fact_reads_database_owners():
    state = parse_timescaledb_state(
        ["A\x1f2.29.2", "O\x1fanalytics\x1fowner", "O\x1fpostgres\x1fpostgres"]
    )
    assert state.owners == {"analytics": "owner", "postgres": "postgres"}


def data_disk(available: int | None) -> Disk:
    return Disk("/var/lib/postgresql/17/main", 3 << 30, "/var/lib/postgresql", None, "ssd",
                available_bytes=available)  # fmt: skip


@pytest.mark.parametrize("available", [None, MIN_DATA_FREE, 100 << 30], ids=str)
def test_a_data_disk_with_room_passes(available):
    _room_on_the_data_disk(data_disk(available))


def test_a_full_data_disk_is_refused_in_one_line_naming_it():
    with pytest.raises(PreflightError) as refused:
        _room_on_the_data_disk(data_disk(MIN_DATA_FREE - 1))
    assert str(refused.value) == (
        "the data disk is full: the filesystem of /var/lib/postgresql/17/main "
        "(/var/lib/postgresql) has 63 MiB free, under the 64 MiB a running PostgreSQL needs to "
        "create WAL segments; free space there first (nothing was changed)"
    )
