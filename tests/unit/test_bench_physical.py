"""Which index sets the ingest ceilings drop, from D's index DDL and the indexes its plans use."""

from lab.bench import physical

DDL = {
    "idx_a": ("DROP INDEX idx_a", "CREATE INDEX idx_a ON t (a)"),
    "idx_b": ("DROP INDEX idx_b", "CREATE INDEX idx_b ON t (b)"),
    "idx_gin": ("DROP INDEX idx_gin", "CREATE INDEX idx_gin ON t USING gin (p)"),
    "t_pkey": ("ALTER TABLE t DROP CONSTRAINT t_pkey", "ALTER TABLE t ADD CONSTRAINT t_pkey"),
}


def test_ceilings_keep_the_used_indexes_then_the_primary_key_then_nothing():
    sets = dict(physical.index_sets(DDL, used={"idx_a", "t_pkey"}))
    assert list(sets.values()) == [
        ["idx_b", "idx_gin"],
        ["idx_a", "idx_b", "idx_gin"],
        ["idx_a", "idx_b", "idx_gin", "t_pkey"],
    ]


def test_an_index_named_like_the_key_is_not_taken_for_it():
    ddl = {**DDL, "t_pkey_copy": ("DROP INDEX t_pkey_copy", "CREATE INDEX t_pkey_copy ON t (id)")}
    used_only, key_only, _ = (dropped for _, dropped in physical.index_sets(ddl, used=set()))
    assert "t_pkey_copy" in used_only and "t_pkey" not in key_only
