"""The pure parts of files/tsdb-backup and files/tsdb-restore (no database): configuration,
file names, metadata, rotation, the free-space estimate, the lock, recovery timestamps, and the
SQL the restore generates. The scripts have no .py suffix, so they are loaded by path."""

from __future__ import annotations

import datetime as dt
import importlib.machinery
import importlib.util
import json
import os
import re
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UTC = dt.UTC


def load(name: str, path: Path):
    previous, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in files/
    try:
        loader = importlib.machinery.SourceFileLoader(name, str(path))
        spec = importlib.util.spec_from_loader(name, loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = previous
    return module


rs = load("tsdb_restore", ROOT / "files" / "tsdb-restore")
bk = rs.bk  # tsdb-restore loads files/tsdb-backup itself (beside it): the same module
assert Path(bk.__file__) == ROOT / "files" / "tsdb-backup"


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def write_backup(
    directory: Path,
    tier: str,
    stamp: str,
    *,
    db: str = "klaviyo_analytics",
    content: bytes = b"PGDMP archive",
    meta: dict | None | bool = True,
) -> Path:
    """A fake backup: the archive and (unless meta is None) its metadata."""
    tier_dir = directory / tier
    tier_dir.mkdir(parents=True, exist_ok=True)
    path = tier_dir / f"{db}_{stamp}.dump"
    path.write_bytes(content)
    if meta is True:
        meta = good_meta(path, content, tier)
    if meta is not None:
        bk.metadata_path(path).write_text(json.dumps(meta))
    return path


def good_meta(path: Path, content: bytes, tier: str = "daily") -> dict:
    import hashlib

    parsed = bk.parse_backup_name(path.name)
    return {
        "database": parsed[0],
        "tier": tier,
        "started_at": bk.iso(parsed[1]),
        "size_bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "verified": True,
        "postgresql_version": "17.11 (Debian 17.11-0+deb13u1)",
        "postgresql_version_num": 170011,
        "timescaledb_version": "2.19.3",
        "database_size_bytes": 1000,
        "tables": [{"schema": "public", "name": "klaviyo_events", "rows": 3, "hypertable": True}],
    }


# --- configuration ---------------------------------------------------------------------------


def test_parse_conf_ignores_comments_and_blank_lines():
    text = "# written by tsdb-deploy\n\nBACKUP_DIR=/srv/b\n  DB_NAME = db1  \nX_Y=a=b\n"
    assert bk.parse_conf(text) == {"BACKUP_DIR": "/srv/b", "DB_NAME": "db1", "X_Y": "a=b"}


@pytest.mark.parametrize("line", ["just words", "lower=1", "=value"])
def test_parse_conf_names_a_bad_line(line):
    with pytest.raises(bk.ToolError, match=r"conf:2: expected KEY=VALUE"):
        bk.parse_conf(f"A=1\n{line}\n", "conf")


def test_defaults_when_the_file_is_not_there(tmp_path):
    cfg = bk.load_config(env={}, path=str(tmp_path / "absent.conf"))
    assert cfg.backup_dir == Path("/var/backups/tsdb")
    assert cfg.db_name == "klaviyo_analytics"
    assert cfg.max_backups == {"hourly": 24, "daily": 7, "weekly": 4, "monthly": 12}
    assert cfg.compression == "zstd:3"
    assert cfg.tsdb_pg == "/usr/local/bin/tsdb-pg"
    assert cfg.free_space_factor == 1.5


def test_the_fallback_defaults_are_what_the_deploy_writes_by_default():
    """tsdb-backup is copied alone onto hosts, so it keeps a fallback for an absent config file;
    the settings table (with group_data/all.py's choices) stays the one source: the config the
    deploy writes from it by default holds exactly these values."""
    from tsdb_deploy import host_plan, render, settings

    chosen = {}
    exec((ROOT / "group_data" / "all.py").read_text(), {}, chosen)
    resolved = settings.resolve({**chosen, "runtime": "native", "tls": False,
                                 "acknowledge_unsafe": ["ssl"]})  # fmt: skip
    written = bk.parse_conf(
        render.backup_conf(host_plan.file_values("h", resolved, {}, "", "", ""), 17)
    )
    assert written == {key: bk.DEFAULTS[key] for key in written}
    assert set(bk.DEFAULTS) - set(written) == {"BACKUP_LOCK_WAIT", "BACKUP_FREE_SPACE_FACTOR"}


def test_environment_wins_over_the_file(tmp_path):
    conf = tmp_path / "backup.conf"
    conf.write_text("BACKUP_DIR=/from/file\nMAX_DAILY_BACKUPS=3\nDB_NAME=filedb\nUNKNOWN=1\n")
    env = {"TSDB_BACKUP_CONF": str(conf), "MAX_DAILY_BACKUPS": "9", "DB_NAME": ""}
    cfg = bk.load_config(env=env)
    assert cfg.backup_dir == Path("/from/file")
    assert cfg.max_backups["daily"] == 9  # env > file
    assert cfg.db_name == "filedb"  # an empty variable does not override
    assert cfg.sources["MAX_DAILY_BACKUPS"] == "env"
    assert cfg.sources["BACKUP_DIR"] == str(conf)


def test_a_named_config_file_must_exist(tmp_path):
    with pytest.raises(bk.ToolError, match="does not exist"):
        bk.load_config(env={"TSDB_BACKUP_CONF": str(tmp_path / "nope")})


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("MAX_HOURLY_BACKUPS", "0", "must be >= 1"),
        ("MAX_WEEKLY_BACKUPS", "four", "whole number"),
        ("BACKUP_DIR", "relative/dir", "absolute path"),
        ("BACKUP_DIR", "/srv/b;rm -rf /", "no shell characters"),
        ("BACKUP_DIR", "/srv/../etc", "no \\.\\."),
        ("DB_NAME", "bad-name; DROP", "plain identifier"),
        ("BACKUP_COMPRESSION", "zstd:3; rm -rf /", "--compress spec"),
        ("BACKUP_FREE_SPACE_FACTOR", "-1", "number >= 0"),
        ("BACKUP_LOCK_WAIT", "soon", "number >= 0"),
    ],
)
def test_invalid_values_are_refused_with_their_source(tmp_path, key, value, message):
    with pytest.raises(bk.ToolError, match=message) as info:
        bk.load_config(env={key: value}, path=str(tmp_path / "absent"))
    assert f"{key}={value!r} (from env)" in str(info.value)


@pytest.mark.parametrize("spec", ["zstd:3", "gzip:6", "lz4", "none", "6", "zstd:level=5,long"])
def test_compression_specs_pg_dump_takes(tmp_path, spec):
    cfg = bk.load_config(env={"BACKUP_COMPRESSION": spec}, path=str(tmp_path / "absent"))
    assert cfg.compression == spec


# --- names and metadata ----------------------------------------------------------------------


def test_backup_names_round_trip_in_utc():
    started = dt.datetime(2025, 3, 15, 13, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    name = bk.backup_name("klaviyo_analytics", started)
    assert name == "klaviyo_analytics_20250315_120000.dump"
    assert bk.parse_backup_name(name) == ("klaviyo_analytics", at("2025-03-15T12:00:00"))


@pytest.mark.parametrize(
    "name",
    [
        ".klaviyo_analytics_20250315_120000.dump.partial",
        "klaviyo_analytics_20250315_120000.json",
        "klaviyo_analytics_20250315_120000.sql.gz",
        "klaviyo_analytics_20251345_120000.dump",  # no 45th of the 13th month
        "latest.dump",
        "backup.log",
    ],
)
def test_other_files_are_not_backups(name):
    assert bk.parse_backup_name(name) is None


def test_metadata_and_partial_names():
    archive = Path("/b/daily/db_20250315_120000.dump")
    assert bk.metadata_path(archive) == Path("/b/daily/db_20250315_120000.json")
    assert bk.partial_path(archive) == Path("/b/daily/.db_20250315_120000.dump.partial")


def test_metadata_read_and_verified(tmp_path):
    path = write_backup(tmp_path, "daily", "20250315_120000")
    meta = bk.read_metadata(path)
    assert bk.is_verified(meta)
    assert bk.metadata_problems(meta) == []


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"verified": False}, "does not say it was verified"),
        ({"sha256": "abc"}, "no sha256"),
        ({"size_bytes": None}, "no size"),
        ({"tables": None}, "no table row counts"),
    ],
)
def test_metadata_that_cannot_vouch(change, problem):
    meta = {**good_meta(Path("db_20250315_120000.dump"), b"x"), **change}
    assert any(problem in p for p in bk.metadata_problems(meta))
    assert not bk.is_verified(meta)


def test_unreadable_metadata_is_none(tmp_path):
    path = write_backup(tmp_path, "daily", "20250315_120000", meta=None)
    assert bk.read_metadata(path) is None
    bk.metadata_path(path).write_text("{not json")
    assert bk.read_metadata(path) is None
    bk.metadata_path(path).write_text("[1, 2]")
    assert bk.read_metadata(path) is None
    assert bk.metadata_problems(None) == ["no readable metadata file"]


def test_list_backups_filters_and_orders(tmp_path):
    write_backup(tmp_path, "daily", "20250316_020000")
    write_backup(tmp_path, "hourly", "20250316_010000", meta=None)
    write_backup(tmp_path, "daily", "20250315_020000", db="other_db")
    (tmp_path / "daily" / ".klaviyo_analytics_20250317_020000.dump.partial").write_bytes(b"x")
    (tmp_path / "daily" / "notes.txt").write_text("x")
    found = bk.list_backups(tmp_path, "klaviyo_analytics")
    assert [(b.tier, b.started.hour, b.verified) for b in found] == [
        ("hourly", 1, False),
        ("daily", 2, True),
    ]
    assert len(bk.list_backups(tmp_path)) == 3


# --- rotation --------------------------------------------------------------------------------


def backups_at(hours: list[int], tier: str = "hourly") -> list:
    return [
        bk.Backup(
            tier, Path(f"/b/{tier}/db_{h:02d}.dump"), "db", at(f"2025-03-15T{h:02d}:00"), 1, {}
        )
        for h in hours
    ]


def names(backups) -> list[str]:
    return [b.path.name for b in backups]


def test_rotation_keeps_the_newest():
    backups = backups_at([1, 5, 3, 2, 4])
    assert names(bk.select_rotation(backups, 2, protect=backups[1].path)) == [
        "db_01.dump",
        "db_02.dump",
        "db_03.dump",
    ]


def test_rotation_with_room_deletes_nothing():
    backups = backups_at([1, 2])
    assert bk.select_rotation(backups, 2) == []
    assert bk.select_rotation(backups, 5) == []


def test_rotation_never_deletes_the_backup_just_written():
    # the clock stepped back: the new backup looks older than the others
    backups = backups_at([1, 8, 9])
    just_written = backups[0].path
    doomed = bk.select_rotation(backups, 2, protect=just_written)
    assert names(doomed) == ["db_08.dump"]
    assert bk.select_rotation(backups, 1, protect=just_written) == backups[1:]


def test_rotation_keeps_at_least_one():
    with pytest.raises(ValueError):
        bk.select_rotation(backups_at([1]), 0)


def test_rotate_on_disk_touches_only_its_tier_and_database(tmp_path):
    cfg = bk.load_config(
        env={"BACKUP_DIR": str(tmp_path), "MAX_DAILY_BACKUPS": "2"}, path="/nonexistent"
    )
    daily = [write_backup(tmp_path, "daily", f"2025031{d}_020000") for d in range(1, 5)]
    weekly = write_backup(tmp_path, "weekly", "20250301_030000")
    other = write_backup(tmp_path, "daily", "20250301_020000", db="other_db")
    rotated = bk.rotate(cfg, "daily", daily[-1])
    assert [b.path for b in rotated] == daily[:2]
    for path in daily[:2]:
        assert not path.exists() and not bk.metadata_path(path).exists()
    for path in [*daily[2:], weekly, other]:
        assert path.exists() and bk.metadata_path(path).exists()


def test_leftovers_of_a_crashed_run_are_cleaned(tmp_path):
    cfg = bk.load_config(env={"BACKUP_DIR": str(tmp_path)}, path="/nonexistent")
    kept = write_backup(tmp_path, "daily", "20250315_020000")
    partial = tmp_path / "daily" / ".klaviyo_analytics_20250316_020000.dump.partial"
    partial_meta = tmp_path / "daily" / ".klaviyo_analytics_20250316_020000.json.partial"
    orphan = tmp_path / "daily" / "klaviyo_analytics_20250314_020000.json"
    foreign = tmp_path / "daily" / ".something.partial"
    for path in (partial, partial_meta, orphan, foreign):
        path.write_text("x")
    removed = bk.clean_leftovers(cfg)
    assert sorted(removed) == sorted(f"daily/{p.name}" for p in (partial, partial_meta, orphan))
    assert kept.exists() and bk.metadata_path(kept).exists() and foreign.exists()


# --- free space ------------------------------------------------------------------------------


def test_first_backup_is_estimated_at_the_database_size():
    estimate, how = bk.estimate_backup_bytes(10 * 2**30, None)
    assert estimate == 10 * 2**30
    assert "no earlier backup" in how


def test_estimate_scales_the_newest_backup_by_the_database_growth():
    newest = bk.Backup(
        "daily",
        Path("/b/daily/db_20250315_020000.dump"),
        "db",
        at("2025-03-15T02:00"),
        size=100,
        meta={"size_bytes": 100, "database_size_bytes": 1000},
    )
    assert bk.estimate_backup_bytes(1500, newest)[0] == 150
    assert bk.estimate_backup_bytes(500, newest)[0] == 100  # shrinking: no less than the last
    newest.meta = None  # no metadata: the file's size, no growth
    assert bk.estimate_backup_bytes(5000, newest)[0] == 100


def test_free_space_check():
    assert bk.free_space_problem(1500, 1000, 1.5, "x") is None
    problem = bk.free_space_problem(1499, 1000, 1.5, "newest backup")
    assert "not enough free space" in problem and "newest backup" in problem
    assert bk.free_space_problem(0, 1000, 0, "x") is None  # factor 0: check off


# --- the lock --------------------------------------------------------------------------------


def test_a_second_run_waits_then_gives_up_naming_the_holder(tmp_path):
    lock = tmp_path / ".lock"
    messages = []
    with bk.Lock(lock, 0, "tsdb-backup hourly"):
        started = time.monotonic()
        second = bk.Lock(lock, 0.3, "tsdb-backup daily", say=messages.append)
        with pytest.raises(bk.ToolError, match=r"tsdb-backup hourly since .*gave up after"):
            second.__enter__()
        assert time.monotonic() - started >= 0.3
    assert messages and "waiting up to 0.3s" in messages[0]
    with bk.Lock(lock, 0, "tsdb-backup daily"):  # released: free again
        pass
    assert oct(lock.stat().st_mode & 0o777) == "0o600"


def test_a_waiting_run_gets_the_lock_when_it_is_released(tmp_path):
    lock = tmp_path / ".lock"
    first = bk.Lock(lock, 0, "first").__enter__()
    timer = threading.Timer(0.3, first.__exit__, (None, None, None))
    timer.start()
    with bk.Lock(lock, 10, "second", say=lambda _m: None):
        assert "second" in lock.read_text()
    timer.join()


# --- streaming into a partial file -----------------------------------------------------------


def test_stream_writes_and_hashes(tmp_path):
    import hashlib

    partial = tmp_path / ".x.dump.partial"
    cmd = [sys.executable, "-c", "import sys; sys.stdout.buffer.write(b'a' * 3000000)"]
    size, sha = bk.stream_command_to_file(cmd, partial, "writer")
    assert size == 3000000
    assert sha == hashlib.sha256(b"a" * 3000000).hexdigest()
    assert partial.read_bytes() == b"a" * 3000000
    assert oct(partial.stat().st_mode & 0o777) == "0o600"


def test_a_failing_command_leaves_no_partial_file(tmp_path):
    partial = tmp_path / ".x.dump.partial"
    cmd = [
        sys.executable,
        "-c",
        "import sys; sys.stdout.write('half'); sys.stdout.flush(); "
        "sys.stderr.write('pg_dump: error: query failed: connection lost\\n'); sys.exit(1)",
    ]
    with pytest.raises(bk.ToolError, match="writer failed .exit 1.: pg_dump: error: query failed"):
        bk.stream_command_to_file(cmd, partial, "writer")
    assert not partial.exists()


def test_an_empty_output_is_a_failure(tmp_path):
    partial = tmp_path / ".x.dump.partial"
    with pytest.raises(bk.ToolError, match="wrote nothing"):
        bk.stream_command_to_file([sys.executable, "-c", "pass"], partial, "writer")
    assert not partial.exists()


def test_an_existing_file_is_never_overwritten_nor_removed(tmp_path):
    partial = tmp_path / ".x.dump.partial"
    partial.write_text("someone else's")
    with pytest.raises(FileExistsError):
        bk.stream_command_to_file([sys.executable, "-c", "print(1)"], partial, "writer")
    assert partial.read_text() == "someone else's"


def test_write_errors_remove_the_partial_file(tmp_path, monkeypatch):
    partial = tmp_path / ".x.dump.partial"
    real_write = os.write

    def full_disk(fd, data):
        if fd > 2 and Path(f"/proc/self/fd/{fd}").resolve() == partial:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(bk.os, "write", full_disk)
    cmd = [sys.executable, "-c", "print('x' * 100000)"]
    with pytest.raises(bk.ToolError, match="No space left on device .the partial file is removed"):
        bk.stream_command_to_file(cmd, partial, "writer")
    assert not partial.exists()


# --- status ----------------------------------------------------------------------------------


def test_status_reports_the_newest_verified_backup_per_tier(tmp_path, capsys, monkeypatch):
    write_backup(tmp_path, "daily", "20250315_020000")
    newest = write_backup(tmp_path, "daily", "20250316_020000")
    write_backup(tmp_path, "daily", "20250317_020000", meta=None)  # unverified: not counted
    write_backup(tmp_path, "hourly", "20250316_090000", meta=None)
    cfg = bk.load_config(env={"BACKUP_DIR": str(tmp_path)}, path="/nonexistent")
    report = bk.status(cfg, now=at("2025-03-16T03:00:00"))
    assert report["tiers"]["daily"]["newest"]["path"] == str(newest)
    assert report["tiers"]["daily"]["newest"]["age_seconds"] == 3600
    assert report["tiers"]["daily"]["count"] == 3
    assert report["tiers"]["hourly"]["newest"] is None
    assert report["tiers"]["weekly"] == {
        "count": 0, "verified": 0, "keep": 4, "stale": None, "newest": None,
    }  # fmt: skip
    text = bk.format_status(report)
    assert "daily    newest 3600s old" in text and "weekly   none" in text

    monkeypatch.setenv("BACKUP_DIR", str(tmp_path))
    monkeypatch.setenv("TSDB_BACKUP_CONF", str(tmp_path / "backup.conf"))
    (tmp_path / "backup.conf").write_text("DB_NAME=klaviyo_analytics\n")
    assert bk.main(["--status", "--json"]) == 1  # long stale: these backups are from 2025
    shown = json.loads(capsys.readouterr().out)
    assert shown["stale"] == ["daily", "hourly", "monthly", "weekly"]
    assert shown["tiers"]["daily"]["newest"]["path"] == str(newest)


@pytest.mark.parametrize(
    "tier, newest_age, backing_up_for, stale",
    [
        ("hourly", 3600, 3600, None),  # on schedule
        ("hourly", 2 * 3600 + 1, 10 * 86400, "newest verified backup is 2.0h old"),
        ("daily", 25 * 3600, 10 * 86400, None),
        ("daily", 27 * 3600, 10 * 86400, "27.0h old (limit 26.0h)"),
        ("weekly", None, 3 * 86400, None),  # a new host: not due yet
        ("weekly", None, 9 * 86400, "no verified backup in 9.0d of backups"),
        ("monthly", 33 * 86400, 400 * 86400, "33.0d old"),
        ("daily", None, None, "no backup at all"),
    ],
)
def test_a_tier_is_stale_when_it_missed_its_schedule(tier, newest_age, backing_up_for, stale):
    found = bk.staleness(tier, newest_age, backing_up_for)
    assert (found is None) if stale is None else (stale in found), found


def test_status_exits_1_naming_the_stale_tier(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path))
    monkeypatch.setenv("TSDB_BACKUP_CONF", str(tmp_path / "backup.conf"))
    (tmp_path / "backup.conf").write_text("DB_NAME=klaviyo_analytics\n")
    now = bk.utcnow()
    old = (now - dt.timedelta(days=3)).strftime("%Y%m%d_%H%M%S")
    write_backup(tmp_path, "daily", old)
    assert bk.main(["--status"]) == 1
    out = capsys.readouterr().out
    assert "daily" in out and "STALE: newest verified backup is 3.0d old" in out
    assert "hourly" in out and "STALE: no verified backup in" in out
    write_backup(tmp_path, "daily", now.strftime("%Y%m%d_%H%M%S"))
    for tier in ("hourly",):
        write_backup(tmp_path, tier, now.strftime("%Y%m%d_%H%M%S"))
    assert bk.main(["--status", "--json"]) == 0, capsys.readouterr().out


def test_the_status_as_prometheus_metrics(tmp_path):
    """Per tier: the newest verified backup's start (Unix time) and size, the verified count,
    and the staleness limit an alert compares time() minus the start with; a tier without a
    verified backup has no timestamp (absent() finds it)."""
    newest = write_backup(tmp_path, "daily", "20250316_020000")
    write_backup(tmp_path, "hourly", "20250316_090000", meta=None)
    cfg = bk.load_config(env={"BACKUP_DIR": str(tmp_path)}, path="/nonexistent")
    lines = bk.prometheus_text(bk.status(cfg, now=at("2025-03-16T03:00:00"))).splitlines()
    daily = '{database="klaviyo_analytics",tier="daily"}'
    hourly = '{database="klaviyo_analytics",tier="hourly"}'
    started = int(at("2025-03-16T02:00:00").timestamp())
    assert f"tsdb_backup_newest_verified_timestamp_seconds{daily} {started}" in lines
    assert f"tsdb_backup_newest_verified_bytes{daily} {newest.stat().st_size}" in lines
    assert f"tsdb_backup_verified_backups{daily} 1" in lines
    assert f"tsdb_backup_verified_backups{hourly} 0" in lines
    assert f"tsdb_backup_stale_after_seconds{hourly} 7200" in lines
    assert not [line for line in lines if line.startswith(
        f"tsdb_backup_newest_verified_timestamp_seconds{hourly}")]  # fmt: skip
    # due: the newest verified backup's start plus the limit; a tier without one, the first
    # backup's start (hourly's unverified 09:00 is not the first: daily's 02:00 is) plus its
    # limit, so a new host's weekly tier is not due before a week of backups
    first = int(at("2025-03-16T02:00:00").timestamp())
    assert f"tsdb_backup_due_timestamp_seconds{daily} {started + 26 * 3600}" in lines
    assert f"tsdb_backup_due_timestamp_seconds{hourly} {first + 2 * 3600}" in lines
    weekly = '{database="klaviyo_analytics",tier="weekly"}'
    assert f"tsdb_backup_due_timestamp_seconds{weekly} {first + 8 * 86400}" in lines
    for line in lines:  # the text format: comments, or name{labels} value
        assert (
            line.startswith("# HELP tsdb_backup_")
            or line.startswith("# TYPE tsdb_backup_")
            or re.fullmatch(r'tsdb_backup_[a-z_]+\{database="[a-z_]+",tier="[a-z]+"\} \d+', line)
        )


def test_metrics_are_written_readable_and_a_failure_to_write_them_is_only_a_warning(
    tmp_path, request
):
    """Readable by the exporter from the moment the file has its name (a umask 077 run); a
    partial file a killed run left does not stop the next write."""
    previous = os.umask(0o077)  # tsdb-backup's own
    request.addfinalizer(lambda: os.umask(previous))
    write_backup(tmp_path, "daily", "20250316_020000")
    target = tmp_path / "metrics" / "tsdb_backup.prom"
    env = {"BACKUP_DIR": str(tmp_path), "BACKUP_METRICS_FILE": str(target)}
    cfg = bk.load_config(env=env, path="/nonexistent")
    problem = bk.write_metrics(cfg)
    assert problem is not None and "metrics not written" in problem  # no such directory
    target.parent.mkdir()
    bk.partial_path(target).write_text("left by a killed run")
    assert bk.write_metrics(cfg) is None
    assert target.stat().st_mode & 0o777 == 0o644
    assert "tsdb_backup_verified_backups" in target.read_text()
    (tmp_path / "backup.conf").write_text("BACKUP_METRICS_FILE=\n")  # none
    none = bk.load_config(env={"BACKUP_DIR": str(tmp_path)}, path=str(tmp_path / "backup.conf"))
    assert none.metrics_file is None and bk.write_metrics(none) is None


def test_a_metrics_path_with_shell_characters_is_refused(tmp_path):
    env = {"BACKUP_DIR": str(tmp_path), "BACKUP_METRICS_FILE": "/tmp/x;rm -rf"}
    with pytest.raises(bk.ToolError, match="BACKUP_METRICS_FILE"):
        bk.load_config(env=env, path="/nonexistent")


@pytest.mark.parametrize("argv", [["yearly"], ["hourly", "daily"], ["--status", "--xml"]])
def test_backup_usage_errors_exit_2(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TSDB_BACKUP_CONF", str(tmp_path / "backup.conf"))
    (tmp_path / "backup.conf").write_text(f"BACKUP_DIR={tmp_path}\n")
    assert bk.main(argv) == 2
    assert "tsdb-backup: error:" in capsys.readouterr().err


# --- recovery targets ------------------------------------------------------------------------

NOW = at("2025-06-01T00:00:00")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2025-03-15 12:00:00+00", "2025-03-15 12:00:00+00"),
        ("2025-03-15T12:00:00Z", "2025-03-15 12:00:00+00"),
        ("2025-03-15 12:00 UTC", "2025-03-15 12:00:00+00"),
        ("2025-03-15 14:00:00+02:00", "2025-03-15 12:00:00+00"),
        ("2025-03-15T10:30:00-0130", "2025-03-15 12:00:00+00"),
        ("2025-03-15 12:00:00.250+00", "2025-03-15 12:00:00.25+00"),
        ("2025-03-15 12:00:00.123456 +05", "2025-03-15 07:00:00.123456+00"),
    ],
)
def test_recovery_targets_are_normalised_to_utc(text, expected):
    assert rs.validate_timestamp(text, NOW) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("2025-03-15 12:00:00", "with a time zone"),
        ("yesterday", "with a time zone"),
        ("2025-03-15", "with a time zone"),
        ("2025-02-30 12:00:00Z", "day is out of range"),
        ("2025-03-15 25:00:00Z", "hour must be in"),
        ("2025-07-01 00:00:00Z", "in the future"),
        ("2025-03-15 12:00:00+00; rm -rf /", "with a time zone"),
    ],
)
def test_bad_recovery_targets_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        rs.validate_timestamp(text, NOW)


def pgbackrest_info(*stops: int, error: bool = False) -> list:
    return [
        {
            "name": "tsdb",
            "backup": [
                {"label": f"L{i}", "timestamp": {"start": s - 10, "stop": s}, "error": error}
                for i, s in enumerate(stops)
            ],
        }
    ]


def test_pitr_needs_a_backup_that_ended_before_the_target():
    target = at("2025-03-15T12:00:00")
    before, after = int(target.timestamp()) - 60, int(target.timestamp()) + 60
    assert rs.pitr_problem(pgbackrest_info(before, after), target) is None
    problem = rs.pitr_problem(pgbackrest_info(after), target)
    assert "before the end of pgBackRest's oldest backup (tsdb L0" in problem
    assert "no backup" in rs.pitr_problem([], target)
    assert "no backup" in rs.pitr_problem(pgbackrest_info(before, error=True), target)


# --- restore: pure parts -----------------------------------------------------------------------


def test_restored_tables_compared_with_the_metadata():
    expected = [
        {"schema": "public", "name": "klaviyo_events", "rows": 10, "hypertable": True},
        {"schema": "public", "name": "klaviyo_metrics", "rows": 2, "hypertable": False},
        {"schema": "public", "name": "klaviyo_profiles", "rows": 5, "hypertable": False},
    ]
    same = [{"schema": t["schema"], "name": t["name"], "rows": t["rows"]} for t in expected]
    hyper = [{"schema": "public", "name": "klaviyo_events"}]
    assert rs.compare_tables(expected, same + [{"schema": "x", "name": "y", "rows": 1}], hyper) == {
        "missing": [],
        "not_hypertable": [],
        "row_counts": [],
    }
    found = rs.compare_tables(expected, [{**same[0], "rows": 9}, same[1]], [])
    assert found["missing"] == ["public.klaviyo_profiles"]
    assert found["not_hypertable"] == ["public.klaviyo_events"]
    assert found["row_counts"] == ["public.klaviyo_events: 9 rows, the backup has 10"]


def test_timescaledb_version_must_match():
    meta = {"timescaledb_version": "2.19.3"}
    assert rs.version_problem(meta, "2.19.3", ["2.19.3"]) is None
    problem = rs.version_problem(meta, "2.20.0", ["2.19.3", "2.20.0"])
    assert "TimescaleDB 2.19.3" in problem and "2.20.0" in problem
    assert "not available" in rs.version_problem(meta, None, [])
    assert rs.version_problem({"timescaledb_version": None}, None, []) is None


def test_database_settings_are_recreated():
    settings = [
        {"role": None, "config": ['search_path="$user", public', "work_mem=8MB"]},
        {"role": "klaviyo", "config": ["statement_timeout=5min", "timescaledb.restoring=on"]},
    ]
    assert rs.setting_statements("db", settings) == [
        'ALTER DATABASE "db" SET search_path TO "$user", public',
        "ALTER DATABASE \"db\" SET work_mem TO '8MB'",
        'ALTER ROLE "klaviyo" IN DATABASE "db" SET statement_timeout TO \'5min\'',
    ]


def test_database_acl_is_recreated():
    acl = [
        {"grantee": "klaviyo", "privilege": "CONNECT", "grantable": False},
        {"grantee": "klaviyo_readonly", "privilege": "CONNECT", "grantable": False},
        {"grantee": None, "privilege": "TEMPORARY", "grantable": False},
        {"grantee": "x", "privilege": "DROP TABLE", "grantable": True},
    ]
    assert rs.acl_statements("db", acl) == [
        'REVOKE ALL ON DATABASE "db" FROM PUBLIC',
        'GRANT CONNECT ON DATABASE "db" TO "klaviyo"',
        'GRANT CONNECT ON DATABASE "db" TO "klaviyo_readonly"',
        'GRANT TEMPORARY ON DATABASE "db" TO PUBLIC',
    ]
    assert rs.acl_statements("db", None) == []


def test_create_database_keeps_the_locale():
    locale = {
        "encoding_name": "UTF8",
        "datcollate": "C.UTF-8",
        "datctype": "C.UTF-8",
        "datlocprovider": "c",
    }
    assert rs.create_database_sql("new", "klaviyo", locale) == (
        'CREATE DATABASE "new" WITH TEMPLATE template0 OWNER "klaviyo" ENCODING \'UTF8\' '
        "LOCALE_PROVIDER libc LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
    )
    icu = {**locale, "datlocprovider": "i", "datlocale": "en-US"}
    assert "LOCALE_PROVIDER icu" in rs.create_database_sql("n", None, icu)
    assert "ICU_LOCALE 'en-US'" in rs.create_database_sql("n", None, icu)
    assert rs.create_database_sql("n", None, {}) == 'CREATE DATABASE "n" WITH TEMPLATE template0'


def test_quoting():
    assert bk.quote_ident('we"ird') == '"we""ird"'
    assert bk.quote_literal("it's") == "'it''s'"
    assert bk.quote_literal("a\\b'") == "E'a\\\\b'''"


def test_working_database_names_fit_postgresql():
    moment = at("2025-03-15T12:00:00")
    assert rs.kept_name("klaviyo_analytics", moment) == (
        "klaviyo_analytics__pre_restore_20250315_120000"
    )
    long = "d" * 63
    assert len(rs.kept_name(long, moment)) == 63
    assert len(rs.restoring_name(long, 4194304)) == 63
    assert rs.scratch_name(42) == "tsdb_restore_test_42"


@pytest.mark.parametrize("db", ["klaviyo_analytics", "d" * 45, "d" * 50, "d" * 63])
@pytest.mark.parametrize("pid", [7, 99_999, 4_194_304])
def test_a_killed_rebuild_s_database_is_found_whatever_the_pid_cut_off(db, pid):
    assert rs.is_restoring_name(db, rs.restoring_name(db, pid))


@pytest.mark.parametrize(
    "name",
    ["klaviyo_analytics", "klaviyo_analytics__restoring_", "klaviyo_analytics__restoring_x1",
     "other__restoring_42", "klaviyo_analytics__restoring_042", "klaviyo_analytics2__restoring_42",
     "klaviyo_analytics__pre_rebuild_20250315_120000"],
)  # fmt: skip
def test_no_other_database_counts_as_a_killed_rebuild_s(name):
    assert not rs.is_restoring_name("klaviyo_analytics", name)


def test_the_live_database_never_counts_as_a_leftover_whatever_its_name():
    db = "a" * 50 + "__restoring_7"  # 63 characters, of the restoring form
    assert rs.restoring_name(db, 7) == db and not rs.is_restoring_name(db, db)
    db = "klaviyo_analytics__pre_rebuild_20261202_101112"
    assert not rs.is_kept_rebuild_name(db, db)
    assert not rs.is_restoring_name("klaviyo_analytics", "klaviyo_analytics__restoring_99999999")


@pytest.mark.parametrize(
    ("name", "working"),
    [("klaviyo_analytics__restoring_123", True), ("x__pre_restore_20250315_120000", True),
     ("x__pre_rebuild_20250315_120000", True), ("tsdb_restore_test_42", True),
     ("klaviyo_copy", False), ("restoring_123", False), ("x__pre_restore", False)],
)  # fmt: skip
def test_new_db_refuses_the_names_the_tool_drops(name, working, backup_dir, capsys):
    assert rs.working_name(name) is working
    if working:
        path = write_backup(backup_dir, "daily", "20250316_020000")
        assert rs.main(["--new-db", name, str(path)]) == 2
        assert "names like this are the ones tsdb-restore drops" in capsys.readouterr().err


def test_missing_table_data_in_the_table_of_contents():
    toc = [
        "4101; 0 16437 TABLE DATA public klaviyo_events klaviyo",
        "4102; 0 16440 TABLE DATA public klaviyo_metrics klaviyo",
    ]
    tables = [
        {"schema": "public", "name": "klaviyo_events"},
        {"schema": "public", "name": "klaviyo_metrics"},
        {"schema": "public", "name": "klaviyo_profiles"},
    ]
    assert bk.missing_table_data(toc, tables) == ["public.klaviyo_profiles"]


def test_tool_error_line_prefers_the_error():
    stderr = "pg_dump: warning: circular foreign-key\npg_dump: error: connection lost\nmore\n"
    assert bk.tool_error_line(stderr) == "pg_dump: error: connection lost"
    assert bk.tool_error_line("only this\n") == "only this"
    assert bk.tool_error_line("") == "(no message)"


# --- restore: command line without a database ----------------------------------------------------


@pytest.fixture
def backup_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TSDB_BACKUP_CONF", str(tmp_path / "backup.conf"))
    (tmp_path / "backup.conf").write_text(
        f"BACKUP_DIR={tmp_path}/b\nTSDB_PG={tmp_path}/no-tsdb-pg\n"
    )
    (tmp_path / "b").mkdir()
    return tmp_path / "b"


def test_latest_resolves_to_the_newest_verified_backup(backup_dir):
    cfg = bk.load_config()
    write_backup(backup_dir, "daily", "20250315_020000")
    newest_daily = write_backup(backup_dir, "daily", "20250316_020000")
    write_backup(backup_dir, "daily", "20250317_020000", meta=None)
    hourly = write_backup(backup_dir, "hourly", "20250316_030000")
    assert rs.resolve_file(cfg, "daily/latest") == newest_daily.resolve()
    assert rs.resolve_file(cfg, "latest") == hourly.resolve()
    assert rs.resolve_file(cfg, "daily/klaviyo_analytics_20250315_020000.dump").name == (
        "klaviyo_analytics_20250315_020000.dump"
    )
    with pytest.raises(bk.ToolError, match="no verified weekly backup"):
        rs.resolve_file(cfg, "weekly/latest")
    with pytest.raises(bk.ToolError, match="no such backup file"):
        rs.resolve_file(cfg, "daily/nope.dump")


def test_list_shows_every_backup(backup_dir, capsys):
    write_backup(backup_dir, "daily", "20250316_020000")
    write_backup(backup_dir, "monthly", "20250301_040000", meta=None)
    assert rs.main(["--list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["backups"]
    assert [(r["tier"], r["verified"], r["timescaledb_version"]) for r in rows] == [
        ("daily", True, "2.19.3"),
        ("monthly", False, None),
    ]
    assert rs.main(["--list"]) == 0
    text = capsys.readouterr().out
    assert "daily" in text and "NO" in text and "2.19.3" in text


def test_in_place_without_confirmation_is_refused_before_anything(backup_dir, capsys):
    path = write_backup(backup_dir, "daily", "20250316_020000")
    assert rs.main([str(path)]) == 2  # TSDB_PG does not even exist: nothing was run
    captured = capsys.readouterr()
    assert "would replace database klaviyo_analytics" in captured.out
    assert "--yes-i-understand" in captured.err


def test_pitr_without_time_zone_is_refused(backup_dir, capsys):
    assert rs.main(["--pitr", "2025-03-15 12:00:00", "--yes-i-understand"]) == 2
    assert "with a time zone" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--test"],
        ["--list", "some.dump"],
        ["--new-db", "x"],
        ["--test", "a", "--list"],
        ["x.dump", "--grace", "-1"],
    ],
)
def test_restore_usage_errors_exit_2(backup_dir, argv, capsys):
    assert rs.main(argv) == 2
    assert "tsdb-restore: refused:" in capsys.readouterr().err


def test_new_db_refuses_bad_names_before_anything(backup_dir, capsys):
    path = write_backup(backup_dir, "daily", "20250316_020000")
    for name in ("klaviyo_analytics", "template1", "bad-name", "x" * 64):
        assert rs.main(["--new-db", name, str(path)]) == 2
    assert "refused" in capsys.readouterr().err


def test_a_missing_file_is_an_error(backup_dir, capsys):
    assert rs.main(["--test", "daily/absent.dump"]) == 1
    assert "no such backup file" in capsys.readouterr().err


def test_restored_jobs_are_paused_and_resumed_on_the_catalog_by_id():
    # the catalog, not alter_job(): the Apache build lacks it, and it resets time zones
    pause = rs.pause_jobs_sql("_timescaledb_catalog.bgw_job")
    assert pause.startswith("WITH paused AS (UPDATE _timescaledb_catalog.bgw_job SET scheduled")
    assert "WHERE scheduled RETURNING id" in pause  # jobs unscheduled in the backup stay so
    resume = rs.resume_jobs_sql("_timescaledb_config.bgw_job", [1, 3, 1001])
    assert resume == (
        "UPDATE _timescaledb_config.bgw_job SET scheduled = true WHERE id IN (1, 3, 1001) "
        "AND NOT scheduled"
    )
    with pytest.raises(ValueError):
        rs.resume_jobs_sql("_timescaledb_catalog.bgw_job", ["1); DROP TABLE x; --"])
    paused = rs.PausedJobs("_timescaledb_catalog.bgw_job", (1, 1001))
    assert paused.resume_commands("copy") == (
        "tsdb-psql -d copy -c 'UPDATE _timescaledb_catalog.bgw_job SET scheduled = true WHERE "
        "id IN (1, 1001) AND NOT scheduled' -c "
        "'SELECT _timescaledb_functions.restart_background_workers()'"
    )
