"""Preflight refusals that need only facts: the application database's owner."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tsdb_deploy.facts import parse_timescaledb_state
from tsdb_deploy.preflight import PreflightError, _database_owner

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
