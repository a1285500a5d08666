"""psql input of the shared database session (facts.session): how a database name reaches
psql's \\connect. The spellings were run through psql 15 against databases of these names,
on a second cluster's port while another cluster listened on 5432."""

from __future__ import annotations

import pytest

from tsdb_deploy.facts.session import QUIT, connect, in_database, psql_input
from tsdb_deploy.runtimes.base import Server

SERVER = Server("psql", "true", "true", "/var/run/postgresql", 5433)
WHERE = r" host=''/var/run/postgresql'' port=5433"


@pytest.mark.parametrize(
    ("database", "name"),
    [
        ("klaviyo_analytics", "''klaviyo_analytics''"),
        ("it's", r"''it\\''s''"),  # libpq's \' inside psql's ''
        ("a\\b", r"''a\\\\b''"),  # each layer doubles the backslash
        ("two words", "''two words''"),
    ],
)
def test_a_database_name_is_quoted_for_libpq_then_for_psql(database, name):
    assert connect(SERVER, database) == rf"\connect 'dbname={name}{WHERE}'"


def test_host_and_port_are_always_spelled_out():
    """A connection string given to \\connect takes nothing from the connection before it:
    without them psql would reach whatever listens on the default port."""
    assert connect(SERVER, "db", "-c timescaledb.disable_load=on") == (
        rf"\connect 'dbname=''db''{WHERE} options=''-c timescaledb.disable_load=on'''"
    )


def test_a_database_not_there_is_skipped_and_one_closed_ends_the_session():
    lines = in_database(SERVER, "it's", "SELECT 1;")
    assert "WHERE datname = 'it''s')" in lines[0] and lines[0].endswith(r"AS tsdb_closed \gset")
    assert lines[1:] == [
        r"\if :tsdb_closed",
        QUIT,  # its own command says what a closed database means
        r"\endif",
        r"\if :tsdb_db",
        connect(SERVER, "it's"),
        "SELECT 1;",
        r"\endif",
    ]


def test_psql_input_is_one_printf_of_quoted_lines():
    assert psql_input(r"\echo a b", "SELECT 'x';") == (
        "printf '%s\\n' '\\echo a b' 'SELECT '\"'\"'x'\"'\"';'"
    )
