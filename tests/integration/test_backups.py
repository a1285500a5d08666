"""Logical backups and restores on a real host: tsdb-backup and tsdb-restore as the deploy
installs them (files/), against a TimescaleDB database holding generated data.

One native test host for the module (--memory 2g --cpus 1), deployed with small per-tier counts
so rotation shows after a few runs. Tests run in order and leave the host usable for the next;
each finds what it needs (the newest backup of a tier, a corrupted copy) itself.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from lab.testhosts import TestHost

from .conftest import DISTRO, make_target
from .helpers import DB, backup, content_checksums, databases, psql_in, restore, sh

HOST = TestHost("tsdb-it-backup", memory="2g", cpus=1)
DATA = {
    "MAX_HOURLY_BACKUPS": 2,
    "MAX_DAILY_BACKUPS": 2,
    "MAX_WEEKLY_BACKUPS": 2,
    "MAX_MONTHLY_BACKUPS": 2,
}
BACKUP_DIR = "/var/backups/tsdb"
CORRUPT_DIR = "/var/tmp/corrupt-backups"
TIERS = ("hourly", "daily", "weekly", "monthly")

# Every table of the schema gets rows; events span 60 days (several chunks), with JSON.
DATASET = """
INSERT INTO klaviyo_metrics (id, name, created_at, updated_at, metadata)
SELECT 'M' || i, 'Metric ' || i, now(), now(), jsonb_build_object('n', i)
FROM generate_series(1, 20) i;
INSERT INTO klaviyo_profiles (id, email, first_name, created_at, updated_at, properties)
SELECT 'P' || i, 'p' || i || '@example.com', 'Name ' || i, now(), now(),
       jsonb_build_object('plan', CASE WHEN i % 3 = 0 THEN 'pro' ELSE 'free' END)
FROM generate_series(1, 500) i;
INSERT INTO klaviyo_campaigns (id, name, status, created_at, updated_at)
SELECT 'C' || i, 'Campaign ' || i, 'active', now(), now() FROM generate_series(1, 5) i;
INSERT INTO klaviyo_flows (id, name, status, created_at, updated_at)
SELECT 'F' || i, 'Flow ' || i, 'live', now(), now() FROM generate_series(1, 3) i;
INSERT INTO klaviyo_forms (id, name, status, created_at, updated_at)
SELECT 'O' || i, 'Form ' || i, 'live', now(), now() FROM generate_series(1, 2) i;
INSERT INTO klaviyo_segments (id, name, created_at, updated_at)
SELECT 'S' || i, 'Segment ' || i, now(), now() FROM generate_series(1, 4) i;
INSERT INTO klaviyo_segment_profiles (segment_id, profile_id)
SELECT 'S' || (1 + i % 4), 'P' || i FROM generate_series(1, 300) i;
INSERT INTO klaviyo_events (id, metric_id, profile_id, "timestamp", value, properties, raw_data,
                            campaign_id)
SELECT 'E' || i, 'M' || (1 + i % 20), 'P' || (1 + i % 500),
       now() - (i * INTERVAL '4 minutes'),
       CASE WHEN i % 3 = 0 THEN round((i % 700) / 7.0, 2) END,
       jsonb_build_object('Campaign Name', 'Campaign ' || (i % 5), 'n', i), '{}'::jsonb,
       CASE WHEN i % 4 = 0 THEN 'C' || (1 + i % 5) END
FROM generate_series(1, 20000) i;
DO $$
BEGIN  -- the Apache build's aggregates table (on Community, continuous aggregates do this)
    IF to_regprocedure('refresh_klaviyo_aggregated_metrics(timestamptz, timestamptz)')
            IS NOT NULL THEN
        PERFORM refresh_klaviyo_aggregated_metrics(now() - INTERVAL '90 days', now());
    END IF;
END
$$;
"""


@pytest.fixture(scope="module")
def target(request, tmp_path_factory):
    target = make_target(request, tmp_path_factory, HOST, DISTRO)
    result = target.deploy(DATA)
    assert result.returncode == 0, result.output[-5000:]
    # no scheduled job may change the data or take backups while the tests compare them
    target.run("systemctl", "stop", "cron")
    target.psql(DATASET)
    return target


# --- helpers ---------------------------------------------------------------------------------


def status(target) -> dict:
    proc = sh(target, "tsdb-backup", "--status", "--json", user="postgres")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def files_of(target, tier: str, directory: str = BACKUP_DIR) -> list[str]:
    out = target.run("sh", "-c", f"ls -A {directory}/{tier} 2>/dev/null || true")
    return sorted(out.split())


def dumps_of(target, tier: str, directory: str = BACKUP_DIR) -> list[str]:
    return [name for name in files_of(target, tier, directory) if name.endswith(".dump")]


def newest(target, tier: str) -> str:
    found = status(target)["tiers"][tier]["newest"]
    if found is None:
        proc = backup(target, tier)
        assert proc.returncode == 0, proc.stderr
        found = status(target)["tiers"][tier]["newest"]
    return found["path"]


def metadata(target, dump_path: str) -> dict:
    return json.loads(target.run("cat", dump_path[: -len(".dump")] + ".json"))


def sha256_on_host(target, path: str) -> str:
    return target.run("sha256sum", path).split()[0]


def corrupt_copy(target) -> str:
    """A copy of the newest daily backup with 64 bytes flipped in the middle, beside its (now
    wrong) metadata, in a directory of its own."""
    source = newest(target, "daily")
    name = source.rsplit("/", 1)[1]
    copy = f"{CORRUPT_DIR}/{name}"
    script = (
        "import sys, shutil\n"
        "src, dst = sys.argv[1], sys.argv[2]\n"
        "data = bytearray(open(src, 'rb').read())\n"
        "middle = len(data) // 2\n"
        "for i in range(middle, middle + 64):\n"
        "    data[i] ^= 0xFF\n"
        "open(dst, 'wb').write(data)\n"
        "shutil.copy(src[:-5] + '.json', dst[:-5] + '.json')\n"
    )
    target.run("mkdir", "-p", CORRUPT_DIR)
    target.run("python3", "-c", script, source, copy)
    target.run("chown", "-R", "postgres", CORRUPT_DIR)
    return copy


# --- backups ---------------------------------------------------------------------------------


def test_a_backup_run_produces_a_verified_backup_with_metadata(target):
    live_events = int(target.psql("SELECT count(*) FROM klaviyo_events"))
    proc = backup(target, "daily", user=None)  # as root: it continues as BACKUP_DIR's owner
    assert proc.returncode == 0, proc.stderr
    assert "daily: ok" in proc.stdout and "verified" in proc.stdout

    path = status(target)["tiers"]["daily"]["newest"]["path"]
    assert path.startswith(f"{BACKUP_DIR}/daily/{DB}_") and path.endswith(".dump")
    meta = metadata(target, path)
    assert meta["verified"] is True
    assert meta["database"] == DB and meta["tier"] == "daily"
    assert meta["sha256"] == sha256_on_host(target, path)
    assert meta["size_bytes"] == int(target.run("stat", "-c", "%s", path))
    assert meta["postgresql_version"] == target.psql("SHOW server_version")
    assert meta["timescaledb_version"] == target.psql(
        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
    )
    assert meta["started_at"].endswith("Z") and meta["duration_seconds"] > 0
    counts = {f"{t['schema']}.{t['name']}": t["rows"] for t in meta["tables"]}
    assert counts["public.klaviyo_events"] == live_events == 20000
    assert counts["public.klaviyo_profiles"] == 500
    assert counts["public.klaviyo_segment_profiles"] == 300
    assert {t["name"] for t in meta["tables"] if t["hypertable"]} >= {"klaviyo_events"}

    # 0600 files, 0700 directories, all postgres's; a log line in backup.log and syslog
    modes = target.run(
        "stat", "-c", "%a %U %n", BACKUP_DIR, f"{BACKUP_DIR}/daily", path, path[:-5] + ".json"
    )
    for line in modes.splitlines():
        mode, owner, name = line.split(" ", 2)
        assert owner == "postgres", line
        assert mode == ("700" if name.endswith(("tsdb", "daily")) else "600"), line
    assert f"daily: ok {path}" in target.run("cat", f"{BACKUP_DIR}/backup.log")
    assert path in target.run("journalctl", "-t", "tsdb-backup", "--no-pager", "-q")

    listed = json.loads(restore(target, "--list", "--json").stdout)["backups"]
    mine = [row for row in listed if row["path"] == path]
    assert mine and mine[0]["verified"] and mine[0]["timescaledb_version"]


def test_repeated_runs_rotate_each_tier_to_its_count(target):
    before_daily = dumps_of(target, "daily")
    written = {}
    for tier, runs in (("hourly", 3), ("weekly", 3), ("daily", 3)):
        for _ in range(runs):
            proc = backup(target, tier)
            assert proc.returncode == 0, proc.stderr
            written.setdefault(tier, []).append(proc.stdout.split(" ok ", 1)[1].split()[0])
        if tier == "hourly":  # rotating hourly never touches daily
            assert dumps_of(target, "daily") == before_daily
    for tier in ("hourly", "weekly", "daily"):
        kept = dumps_of(target, tier)
        assert len(kept) == 2, (tier, kept)
        names = [path.rsplit("/", 1)[1] for path in written[tier]]
        assert kept == sorted(names[-2:]), (tier, kept, names)  # the two newest, never older
        assert sorted(files_of(target, tier)) == sorted(
            [*kept, *(name[:-5] + ".json" for name in kept)]
        )  # metadata went with its archive; nothing else is left
    assert dumps_of(target, "monthly") == []
    report = status(target)
    assert report["tiers"]["hourly"]["newest"]["path"] == written["hourly"][-1]
    assert report["tiers"]["hourly"]["newest"]["age_seconds"] < 600


def test_two_runs_started_together_never_corrupt(target):
    script = (
        " ".join(
            f"(runuser -u postgres -- tsdb-backup monthly >/tmp/run{i}.out 2>&1; "
            f"echo $? >/tmp/run{i}.rc) &"
            for i in (1, 2)
        )
        + " wait"
    )
    target.run("sh", "-c", script)
    outputs = [target.run("cat", f"/tmp/run{i}.out") for i in (1, 2)]
    codes = [target.run("cat", f"/tmp/run{i}.rc").strip() for i in (1, 2)]
    # the second waits for the lock (default wait 1 hour), then takes its own backup
    assert codes == ["0", "0"], outputs
    kept = dumps_of(target, "monthly")
    assert len(kept) == 2, kept
    assert not [name for name in files_of(target, "monthly") if name.endswith(".partial")]
    for name in kept:
        path = f"{BACKUP_DIR}/monthly/{name}"
        assert metadata(target, path)["sha256"] == sha256_on_host(target, path)


def test_a_held_lock_makes_a_run_exit_cleanly(target):
    holder = subprocess.Popen(
        ["docker", "exec", target.name, "runuser", "-u", "postgres", "--",
         "flock", f"{BACKUP_DIR}/.lock", "sleep", "8"],
    )  # fmt: skip
    try:
        time.sleep(1)
        before = files_of(target, "weekly")
        proc = backup(target, "weekly", env={"BACKUP_LOCK_WAIT": "2"})
        assert proc.returncode == 1
        assert "another run holds" in proc.stderr and "nothing was changed" in proc.stderr
        assert files_of(target, "weekly") == before
    finally:
        holder.wait(timeout=30)


def test_a_full_backup_directory_fails_loudly_and_keeps_older_backups(target):
    tiny = "/var/backups/tiny"
    uid = target.run("id", "-u", "postgres").strip()
    newest_size = status(target)["tiers"]["daily"]["newest"]["size_bytes"]
    # room for one backup and its metadata, not for two
    size_kib = int(newest_size * 1.5) // 1024 + 8
    target.run("mkdir", "-p", tiny)
    target.run("mount", "-t", "tmpfs", "-o", f"size={size_kib}k,uid={uid},mode=0700", "tmpfs", tiny)
    try:
        env = {"BACKUP_DIR": tiny, "BACKUP_FREE_SPACE_FACTOR": "0"}  # no pre-check: real ENOSPC
        first = backup(target, "daily", env=env)
        assert first.returncode == 0, first.stderr
        older = dumps_of(target, "daily", tiny)
        assert len(older) == 1
        older_path = f"{tiny}/daily/{older[0]}"
        older_sha = sha256_on_host(target, older_path)

        full = backup(target, "daily", env=env)
        assert full.returncode == 1
        assert "No space left on device" in full.stderr, full.stderr
        assert full.stderr.count("\n") == 1  # one clear line, no traceback
        assert dumps_of(target, "daily", tiny) == older
        assert files_of(target, "daily", tiny) == sorted([older[0], older[0][:-5] + ".json"])
        assert sha256_on_host(target, older_path) == older_sha
        assert metadata(target, older_path)["sha256"] == older_sha

        # with the free-space check (the default), it refuses before writing anything
        refused = backup(target, "daily", env={"BACKUP_DIR": tiny})
        assert refused.returncode == 1
        assert "not enough free space" in refused.stderr
        assert files_of(target, "daily", tiny) == sorted([older[0], older[0][:-5] + ".json"])
        log = target.run("cat", f"{tiny}/backup.log")
        assert log.count("daily: FAILED") == 2
        assert "No space left on device" in target.run(
            "journalctl", "-t", "tsdb-backup", "-p", "err", "--no-pager", "-q"
        )
        # the surviving backup is still a good one
        tested = restore(target, "--test", older_path)
        assert tested.returncode == 0, tested.stdout + tested.stderr
    finally:
        target.run("umount", tiny, check=False)


# --- restores --------------------------------------------------------------------------------


def test_test_passes_on_a_good_backup(target):
    proc = restore(target, "--test", "daily/latest")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("PASS")
    for check in ("checksum", "tables", "hypertables", "row counts", "cleanup"):
        assert f"ok    {check}:" in proc.stdout, proc.stdout
    assert not [name for name in databases(target) if name.startswith("tsdb_restore_test_")]


def test_test_fails_on_a_corrupted_backup(target):
    copy = corrupt_copy(target)
    proc = restore(target, "--test", copy)
    assert proc.returncode == 1
    assert "FAIL  checksum" in proc.stdout
    assert proc.stdout.rstrip().endswith("nothing was restored")
    assert "Traceback" not in proc.stderr


def test_test_fails_on_a_damaged_archive_even_with_a_matching_checksum(target):
    """Damage that happened before the checksum (recorded with it): the restore itself must
    fail, and the scratch database must still be dropped."""
    copy = corrupt_copy(target)
    meta = metadata(target, copy)
    meta["sha256"] = sha256_on_host(target, copy)
    target.run("sh", "-c", f"cat > {copy[:-5]}.json <<'EOF'\n{json.dumps(meta)}\nEOF")
    proc = restore(target, "--test", copy)
    assert proc.returncode == 1, proc.stdout
    assert "FAIL  restore" in proc.stdout or "FAIL  archive" in proc.stdout, proc.stdout
    assert not [name for name in databases(target) if name.startswith("tsdb_restore_test_")]


def test_in_place_restore_from_a_corrupted_file_refuses_and_changes_nothing(target):
    copy = corrupt_copy(target)
    before = content_checksums(target)
    databases_before = databases(target)
    unconfirmed = restore(target, copy)
    assert unconfirmed.returncode == 2
    assert "--yes-i-understand" in unconfirmed.stderr
    proc = restore(target, copy, "--yes-i-understand")
    assert proc.returncode == 1
    assert "FAIL  checksum" in proc.stdout and f"{DB} was not touched" in proc.stdout
    assert content_checksums(target) == before
    assert databases(target) == databases_before  # nothing created, DB_NAME still open


def test_new_db_has_the_same_content_as_the_source(target):
    proc = backup(target, "hourly")
    assert proc.returncode == 0, proc.stderr
    source = content_checksums(target)
    copy = "bk_scratch_newdb"
    try:
        made = restore(target, "--new-db", copy, "hourly/latest")
        assert made.returncode == 0, made.stdout + made.stderr
        assert "klaviyo_events" in made.stdout  # the row counts are reported
        assert content_checksums(target, copy) == source
        # owners and privileges kept: the owner role owns the tables, the application writes
        # them (not TRUNCATE), the read-only role reads them, and the owner's default
        # privileges cover tables created later
        owner = "SELECT tableowner FROM pg_tables WHERE tablename = 'klaviyo_events'"
        assert psql_in(target, copy, owner) == "klaviyo_owner"
        reads = (
            "SELECT has_table_privilege('klaviyo_readonly', 'klaviyo_events', 'SELECT'), "
            "has_table_privilege('klaviyo_readonly', 'klaviyo_events', 'INSERT'), "
            "has_table_privilege('klaviyo', 'klaviyo_events', 'INSERT'), "
            "has_table_privilege('klaviyo', 'klaviyo_events', 'TRUNCATE')"
        )
        assert psql_in(target, copy, reads) == "t|f|t|f"
        defaults = "SELECT count(*) FROM pg_default_acl WHERE defaclrole = 'klaviyo_owner'::regrole"
        assert psql_in(target, copy, defaults) == psql_in(target, DB, defaults) != "0"
        hyper = "SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1"
        assert psql_in(target, copy, hyper) == psql_in(target, DB, hyper)
        again = restore(target, "--new-db", copy, "hourly/latest")
        assert again.returncode == 2 and "already exists" in again.stderr
    finally:
        psql_in(target, "postgres", f"DROP DATABASE IF EXISTS {copy} WITH (FORCE)")


def test_dropping_events_and_restoring_in_place_brings_every_row_back(target):
    proc = backup(target, "daily")
    assert proc.returncode == 0, proc.stderr
    path = proc.stdout.split(" ok ", 1)[1].split()[0]
    before = content_checksums(target)
    acl_sql = (
        "SELECT datdba::regrole || ' ' || (SELECT string_agg(a::text, ',' ORDER BY a::text) "
        f"FROM unnest(datacl) a) FROM pg_database WHERE datname = '{DB}'"
    )
    acl = psql_in(target, "postgres", acl_sql)
    # a client still connected: ended after the grace period
    client = subprocess.Popen(
        ["docker", "exec", target.name, "tsdb-psql", "-X", "-c", "SELECT pg_sleep(600)"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        target.psql("DROP TABLE klaviyo_events CASCADE")
        assert target.psql("SELECT to_regclass('klaviyo_events') IS NULL") == "t"

        proc = restore(target, path, "--yes-i-understand", "--grace", "2")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "klaviyo_events" in proc.stdout and "20000" in proc.stdout
        assert client.wait(timeout=60) != 0  # its session was terminated
    finally:
        if client.poll() is None:
            client.kill()
    assert content_checksums(target) == before
    # the database's owner and grants (the read-only role's CONNECT) carried over
    assert psql_in(target, "postgres", acl_sql) == acl
    hyper = "SELECT count(*) FROM timescaledb_information.hypertables WHERE hypertable_name = "
    assert target.psql(hyper + "'klaviyo_events'") == "1"
    # the previous database is kept, closed, without the dropped table
    kept = {name: allow for name, allow in databases(target).items() if "__pre_restore_" in name}
    assert len(kept) == 1 and list(kept.values()) == ["false"], kept
    assert databases(target)[DB] == "true"
    assert not [name for name in databases(target) if "__restoring_" in name]
    # the restored database takes backups again
    again = backup(target, "hourly")
    assert again.returncode == 0, again.stderr
    psql_in(target, "postgres", f"DROP DATABASE {next(iter(kept))}")


def test_pitr_is_refused_without_confirmation_and_before_the_first_backup(target):
    if sh(target, "tsdb-pg", "pgbackrest", "info").returncode != 0:
        pytest.skip("pgBackRest is not set up on this host")
    started = target.postmaster_started()
    bad = restore(target, "--pitr", "2025-03-15 12:00:00", "--yes-i-understand")
    assert bad.returncode == 2 and "time zone" in bad.stderr
    recent = target.psql("SELECT to_char(now() - INTERVAL '1 second', 'YYYY-MM-DD HH24:MI:SSOF')")
    unconfirmed = restore(target, "--pitr", recent)
    assert unconfirmed.returncode == 2, unconfirmed.stdout + unconfirmed.stderr
    assert "WHOLE cluster" in unconfirmed.stdout
    # a time before pgBackRest's first backup: refused before PostgreSQL is stopped
    early = restore(target, "--pitr", "2001-01-01 00:00:00+00", "--yes-i-understand")
    assert early.returncode == 1 and "nothing was done" in early.stderr
    assert target.postmaster_started() == started
