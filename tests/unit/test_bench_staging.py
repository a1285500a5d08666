import pytest

from lab import staging_data
from lab.bench import staging

RESULTS = {
    "events": 500_000,
    "profiles": 20_000,
    "database_bytes": 300 * 2**20,
    "archive_bytes": 40 * 2**20,
    "backup_seconds": 12.0,
    "restore_test_seconds": 30.0,
    "plain_restore_seconds": 20.0,
    "rebuild_seconds": 95.0,
    "deploy_phases": {"check targets": 3.0, "pick and copy": 4.0,
                      "converge and rebuild": 80.0, "converge the restored database": 8.0},
    "host_phases": {"check": 1.0, "restore": 25.0, "mask": 20.0, "compress": 10.0,
                    "vacuum": 5.0, "swap": 1.0},
    "masked_values": 1_040_001,
    "hosts": {"production": {"memory": "4g", "cpus": 2}, "staging": {"memory": "2g", "cpus": 1}},
}  # fmt: skip


def test_the_report_sets_the_rebuild_against_the_plain_restore():
    text = staging.report(RESULTS)
    assert "| plain `tsdb-restore --new-db` (checks, pg_restore, ANALYZE, counts) | 20.0 |" in text
    assert "| `tsdb-deploy staging-rebuild`, end to end | 95.0 |" in text
    for phase in RESULTS["deploy_phases"]:
        assert f"| - {phase} |" in text
    for phase in RESULTS["host_phases"]:
        assert f"| - - host tool: {phase} (" in text
    assert "check and restore take 26.0s against the plain restore's 20.0s" in text
    assert (
        "masking adds 35.0s for 1,040,001 values (the masking 20.0s, compressing again "
        "10.0s, VACUUM FULL 5.0s)" in text
    )
    assert "takes 4.8x the plain restore" in text and "300 MiB" in text


@pytest.mark.parametrize(("events", "profiles"), [(0, 10), (10, 0), (10, 100_000), (-1, 10)])
def test_the_dataset_refuses_sizes_its_phone_numbers_cannot_hold(events, profiles):
    with pytest.raises(ValueError, match="profiles must be 1..99999"):
        staging_data.dataset_sql(events, profiles)


def test_the_dataset_adds_one_profile_with_a_numeric_phone_number():
    sql = staging_data.dataset_sql(1000, 250)
    assert "generate_series(1, 250) i" in sql and "generate_series(1, 1000) i" in sql
    assert "VALUES ('P251', now(), now(), '{\"$phone_number\": 15550100401}')" in sql
    assert "{" not in sql.replace('{"$phone_number"', "").replace("'{attributes", "")
