"""The migration runner's pure parts: discovery, drift detection, the psql script."""

from __future__ import annotations

import pytest

from tsdb_deploy.migrations import (
    LOCK_KEY,
    Applied,
    MigrationError,
    discover,
    pending,
    psql_variables,
    script,
)


def write(tmp_path, name, text="-- x: y\nSELECT 1;\n"):
    (tmp_path / name).write_text(text)


def test_repository_migrations_are_contiguous_and_transactional():
    migrations = discover()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "0001_roles_and_privileges"
    assert all(len(m.sha256) == 64 for m in migrations)


def test_gap_in_numbering_is_refused(tmp_path):
    write(tmp_path, "0001_a.sql")
    write(tmp_path, "0003_c.sql")
    with pytest.raises(MigrationError, match="0003_c.sql: expected version 0002"):
        discover(tmp_path)


def test_badly_named_file_is_refused(tmp_path):
    write(tmp_path, "1_a.sql")
    with pytest.raises(MigrationError, match="1_a.sql: not named NNNN_lower_case_name.sql"):
        discover(tmp_path)


def test_no_transaction_marker(tmp_path):
    write(tmp_path, "0001_a.sql", "-- 0001_a: concurrent\n-- tsdb:no-transaction\nSELECT 1;\n")
    (migration,) = discover(tmp_path)
    assert not migration.transactional
    text = script(migration, "me")
    assert "BEGIN;" not in text and "COMMIT;" not in text
    assert f"pg_advisory_lock({LOCK_KEY})" in text
    assert f"pg_advisory_unlock({LOCK_KEY})" in text


def test_pending_skips_applied_and_keeps_order(tmp_path):
    for name in ("0001_a.sql", "0002_b.sql", "0003_c.sql"):
        write(tmp_path, name)
    migrations = discover(tmp_path)
    applied = [Applied(1, "0001_a", migrations[0].sha256)]
    assert [m.name for m in pending(migrations, applied)] == ["0002_b", "0003_c"]
    assert pending(migrations, [Applied(m.version, m.name, m.sha256) for m in migrations]) == []


def test_changed_applied_migration_names_the_file_and_both_checksums(tmp_path):
    write(tmp_path, "0001_a.sql")
    (migration,) = discover(tmp_path)
    with pytest.raises(MigrationError) as error:
        pending([migration], [Applied(1, "0001_a", "f" * 64)])
    assert "0001_a.sql" in str(error.value)
    assert "f" * 64 in str(error.value) and migration.sha256 in str(error.value)


def test_database_ahead_of_the_checkout_is_refused(tmp_path):
    write(tmp_path, "0001_a.sql")
    migrations = discover(tmp_path)
    applied = [Applied(1, "0001_a", migrations[0].sha256), Applied(2, "0002_b", "0" * 64)]
    with pytest.raises(MigrationError, match="0002_b applied, but sql/ has no version 0002"):
        pending(migrations, applied)


def test_script_locks_rechecks_applies_and_records_in_one_transaction(tmp_path):
    write(tmp_path, "0001_a.sql", "-- 0001_a: x\nCREATE TABLE t ();\n")
    (migration,) = discover(tmp_path)
    text = script(migration, "ops@deploy-host (tsdb-deploy 0.1.0)")
    order = [
        "\\set ON_ERROR_STOP 1",
        "BEGIN;",
        f"pg_advisory_xact_lock({LOCK_KEY})",
        "CREATE TABLE IF NOT EXISTS tsdb_deploy.schema_migrations",
        "AS tsdb_pending",
        "\\if :tsdb_pending",
        "CREATE TABLE t ();",
        "RESET ROLE;",
        "INSERT INTO tsdb_deploy.schema_migrations",
        "\\endif",
        "COMMIT;",
    ]
    positions = [text.index(piece) for piece in order]
    assert positions == sorted(positions)
    assert f"'{migration.sha256}'" in text
    assert "'ops@deploy-host (tsdb-deploy 0.1.0)'" in text


def test_applied_by_is_quoted(tmp_path):
    write(tmp_path, "0001_a.sql")
    (migration,) = discover(tmp_path)
    assert "'o''brien@h'" in script(migration, "o'brien@h")


def test_psql_variables_are_shell_quoted():
    assert psql_variables({"chunk_interval": "7 days", "space_partitions": 0}) == (
        "-v chunk_interval='7 days' -v space_partitions=0"
    )
