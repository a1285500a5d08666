"""psql input of the shared database session (facts.session): how a database name reaches
psql's \\connect. The spellings were run through psql 15 against databases of these names."""

from __future__ import annotations

import pytest

from tsdb_deploy.facts.session import connect, in_database, psql_input


@pytest.mark.parametrize(
    ("database", "line"),
    [
        ("klaviyo_analytics", r"\connect 'dbname=''klaviyo_analytics'''"),
        ("it's", r"\connect 'dbname=''it\\''s'''"),  # libpq's \' inside psql's ''
        ("a\\b", r"\connect 'dbname=''a\\\\b'''"),  # each layer doubles the backslash
        ("two words", r"\connect 'dbname=''two words'''"),
    ],
)
def test_a_database_name_is_quoted_for_libpq_then_for_psql(database, line):
    assert connect(database) == line


def test_options_ride_along_quoted_alike():
    assert connect("db", "-c timescaledb.disable_load=on") == (
        r"\connect 'dbname=''db'' options=''-c timescaledb.disable_load=on'''"
    )


def test_a_database_not_there_is_skipped_not_failed():
    lines = in_database("it's", "SELECT 1;")
    assert lines[0].startswith("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'it''s'")
    assert lines[0].endswith(r"AS tsdb_db \gset")
    assert lines[1:] == [r"\if :tsdb_db", connect("it's"), "SELECT 1;", r"\endif"]


def test_psql_input_is_one_printf_of_quoted_lines():
    assert psql_input(r"\echo a b", "SELECT 'x';") == (
        "printf '%s\\n' '\\echo a b' 'SELECT '\"'\"'x'\"'\"';'"
    )
