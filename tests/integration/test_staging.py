"""Staging rebuilds on real hosts: a "production" host with personal data, rebuilt into a bare
"staging" host of half its memory by `tsdb-deploy staging-rebuild`, as ops would run it.

Both hosts install TimescaleDB's Community build from the lab mirror; production's older
events are compressed before the backup, so masking rewrites compressed chunks too. The
tests run in order: the refusals first (while production has no restore-tested backup), then
the rebuild and what staging holds, then a second rebuild and an interrupted one.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from lab import staging_data, vendor
from lab.testhosts import TestHost
from tsdb_deploy import masking, staging, staging_run

from .conftest import ROOT, make_target
from .helpers import DB, assert_testinfra_passes, backup, databases, psql_in, restore, sh

PROD = TestHost("tsdb-it-prod", memory="2g", cpus=1)
STAGE = TestHost("tsdb-it-stage", memory="1g", cpus=1)
VERSION = list(vendor.RELEASES)[-1]

# more rows in compressed chunks than TimescaleDB lets one statement decompress by default
EVENTS = 120_000
PROFILES = 400
DATASET = staging_data.dataset_sql(EVENTS, PROFILES)
# what the dashboard reads: per metric and day, per campaign, active profiles per metric
DASHBOARD = [
    "SELECT metric_id, date_trunc('day', \"timestamp\"), count(*), sum(value) "
    "FROM klaviyo_events GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT campaign_id, count(*), count(DISTINCT profile_id), sum(value) FROM klaviyo_events "
    "WHERE campaign_id IS NOT NULL GROUP BY 1 ORDER BY 1",
    "SELECT e.metric_id, p.properties->>'Loyalty Tier', count(DISTINCT p.id) FROM klaviyo_events e "
    "JOIN klaviyo_profiles p ON p.id = e.profile_id GROUP BY 1, 2 ORDER BY 1, 2",
]


@pytest.fixture(scope="module")
def hosts(request, tmp_path_factory, lab_mirror):
    base = lab_mirror.inventory_data(VERSION)
    prod = make_target(request, tmp_path_factory, PROD, {**base, "environment": "production"})
    stage = make_target(
        request, tmp_path_factory, STAGE, {**base, "environment": "staging", "pitr": False}
    )
    result = prod.deploy()
    assert result.returncode == 0, result.output[-5000:]
    prod.run("systemctl", "stop", "cron")  # no scheduled backup while the tests count them
    prod.psql(DATASET)
    taken = backup(prod, "daily")
    assert taken.returncode == 0, taken.stderr
    # the inventories ops would pass: deploy_command writes each host's (sandbox.py, so
    # group_data/sandbox.py applies, with the environment above)
    prod.deploy_command()
    stage.deploy_command()
    return prod, stage


def rebuild(source, target, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tsdb_deploy", "staging-rebuild",
         str(source.workdir / "sandbox.py"), str(target.workdir / "sandbox.py"), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip


def state_of(target) -> dict:
    """What a refused rebuild must leave as it was."""
    out = sh(target, "sh", "-c", "ls -la /var/backups/tsdb /var/backups/tsdb/* 2>&1; "
             "systemctl is-active postgresql 2>&1; ls /etc/tsdb-deploy 2>&1")  # fmt: skip
    dbs = databases(target) if "active" in out.stdout.split() else {}
    started = target.postmaster_started() if dbs else None
    return {"files": out.stdout, "databases": dbs, "started": started}


PROFILE_VALUES = (
    "SELECT concat_ws(E'\\n', email, phone_number, first_name, last_name, "
    "properties->'location'->>'address1') FROM klaviyo_profiles"
)
EVENT_VALUES = (
    "SELECT DISTINCT (properties->>'$email') || E'\\n' "
    "|| (raw_data #>> '{attributes,event_properties,$phone_number}') FROM klaviyo_events"
)


TABLES = (
    "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
)


def personal_values(prod) -> list[str]:
    """Every email, phone number, name and street address production holds (of 8 characters
    or more: a shorter string could turn up inside a masked value's hex by chance)."""
    out = psql_in(prod, DB, PROFILE_VALUES) + "\n" + psql_in(prod, DB, EVENT_VALUES)
    return sorted({v for v in out.splitlines() if len(v) >= 8})


def found_in(text: str, values: list[str]) -> list[str]:
    """The `values` that occur in `text`: grep -F looks for all of them in one pass (a Python
    `in` per value reads the whole dump once per value)."""
    with tempfile.NamedTemporaryFile("w", suffix=".patterns") as patterns:
        patterns.write("\n".join(values) + "\n")
        patterns.flush()
        proc = subprocess.run(["grep", "-a", "-F", "-o", "-f", patterns.name], input=text,
                              capture_output=True, text=True)  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr  # 1: none found
    return sorted(set(proc.stdout.splitlines()))


def rs_pads(key_hex: str) -> tuple[str, str]:
    """HMAC's padded keys as the host tool sends them (tests/unit/test_staging.py checks the
    tool's own function against hmac)."""
    key = bytes.fromhex(key_hex).ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key).hex(), bytes(b ^ 0x5C for b in key).hex()


def assert_refused(source, target, *wanted: str) -> None:
    """The rebuild fails with one line holding each of `wanted`, and neither host changed."""
    before = state_of(source), state_of(target)
    proc = rebuild(source, target)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for text in wanted:
        assert text in lines[0], lines
    assert (state_of(source), state_of(target)) == before


def test_a_production_target_is_refused_and_nothing_changes(hosts):
    prod, stage = hosts
    assert_refused(stage, prod, "environment is production")


def test_no_restore_tested_backup_is_refused_and_nothing_changes(hosts):
    prod, stage = hosts
    assert_refused(prod, stage, "no verified, restore-tested backup", "never restore-tested")


def test_the_restore_test_is_recorded_on_the_backup(hosts):
    prod, _ = hosts
    tested = sh(prod, "tsdb-restore", "--test", "latest", user="postgres")  # as cron runs it
    assert tested.returncode == 0, tested.stdout + tested.stderr
    listing = json.loads(restore(prod, "--list", "--json").stdout)["backups"]
    listing.sort(key=lambda b: b["started_at"])  # the deploy's first backup, then the test's
    assert [b["tested"] for b in listing] == [False, True], listing
    assert listing[-1]["restore_test"]["sha256"] == listing[-1]["sha256"]


def test_the_host_tool_itself_refuses_to_rebuild_production(hosts):
    prod, _ = hosts
    before = databases(prod)
    proc = restore(prod, "--rebuild", "latest", "--mask", "/dev/null", "--yes-i-understand")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "backup.conf says ENVIRONMENT=production" in proc.stderr
    assert databases(prod) == before


def test_a_target_without_room_for_the_copy_is_refused_and_nothing_changes(hosts):
    prod, stage = hosts
    incoming = f"/var/backups/tsdb/{staging.INCOMING}"
    stage.run("sh", "-c", f"mkdir -p {incoming} && mount -t tmpfs -o size=64k tmpfs {incoming}")
    try:
        assert_refused(prod, stage, f"{incoming}: 64.0 KiB free, the rebuild needs")
    finally:
        stage.run("sh", "-c", f"umount {incoming}; rm -r /var/backups/tsdb")


@pytest.fixture(scope="module")
def rebuilt(hosts, tmp_path_factory):
    prod, stage = hosts
    report_file = tmp_path_factory.mktemp("report") / "report.json"
    proc = rebuild(prod, stage, "--report", str(report_file))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return prod, stage, json.loads(report_file.read_text())[0], proc.stdout


def test_the_report_has_a_line_per_table_the_masked_values_and_the_phases(rebuilt):
    prod, _, report, printed = rebuilt
    tables = {t["table"]: t for t in report["tables"]}
    assert tables["public.klaviyo_events"]["backup_rows"] == EVENTS
    assert all(t["backup_rows"] == t["restored_rows"] for t in tables.values()), tables
    for table in tables:
        assert table in printed
    masked = report["masked"]
    assert masked["klaviyo_profiles.email"] == PROFILES
    assert masked["klaviyo_profiles.properties.location.address1"] == PROFILES
    assert masked["klaviyo_profiles.properties.$phone_number"] == 1
    assert masked["klaviyo_events.properties.$email"] == EVENTS
    assert masked["klaviyo_events.raw_data.attributes.event_properties.$phone_number"] == EVENTS
    assert list(report["phases"]) == ["check", "restore", "mask", "compress", "vacuum", "swap"]
    assert set(report["deploy_phases"]) == {
        "check targets",
        "pick and copy",
        "converge and rebuild",
        "converge the restored database",
    }


def test_staging_holds_production_s_rows_sized_for_its_own_hardware(rebuilt):
    prod, stage, _, _ = rebuilt
    for table in ("klaviyo_profiles", "klaviyo_events", "klaviyo_metrics", "klaviyo_campaigns"):
        count = f"SELECT count(*) FROM {table}"
        assert psql_in(stage, DB, count) == psql_in(prod, DB, count), table
    stage_plan = stage.plan_record()
    buffers = {h: t.show("shared_buffers") for h, t in (("prod", prod), ("stage", stage))}
    assert buffers["stage"] != buffers["prod"], buffers
    assert stage_plan["parameters"]["shared_buffers"] == buffers["stage"]


def test_no_personal_value_of_production_is_left_in_any_staging_database(rebuilt):
    prod, stage, _, _ = rebuilt
    values = personal_values(prod)
    assert len(values) > 1000
    dumps = []
    for name, allowed in databases(stage).items():
        if name == "template0":
            continue
        # the kept databases are closed to connections: opened for the reading only
        psql_in(stage, "postgres", f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        try:
            dumped = sh(stage, "tsdb-pg", "pg_dump", "-d", name)
            assert dumped.returncode == 0, dumped.stderr
            dumps.append(dumped.stdout)
            # pg_dump writes compressed chunks as compressed data: every row read as text
            # through its table (hypertables decompress) finds what a grep of them cannot
            for table in psql_in(stage, name, TABLES).split():
                dumps.append(psql_in(stage, name, f"SELECT t::text FROM {table} t"))
        finally:
            psql_in(stage, "postgres", f"ALTER DATABASE {name} ALLOW_CONNECTIONS {allowed}")
    text = "\n".join(dumps).lower()
    assert text.count("@masked.invalid") > EVENTS  # the rows are there, masked
    left = found_in(text, [v.lower() for v in values])
    assert left == [], left[:10]
    copies = stage.run("sh", "-c", f"ls -A /var/backups/tsdb/{staging.INCOMING}")
    assert copies.split() == []  # the copy (unmasked) was removed


def test_masking_is_keyed_and_deterministic_so_joins_hold(rebuilt):
    _, stage, _, _ = rebuilt
    key = bytes.fromhex(stage.run("cat", "/etc/tsdb-deploy/masking.key").strip())
    mode = stage.run("stat", "-c", "%a %U", "/etc/tsdb-deploy/masking.key").strip()
    assert mode == "600 root"
    digest = hmac.new(key, b"person.7@shop-customer.example", hashlib.sha256).hexdigest()
    expected = f"u{digest[:16]}@masked.invalid"
    # the profile's column (mixed case), its properties and its events' properties agree
    assert psql_in(stage, DB, "SELECT email FROM klaviyo_profiles WHERE id = 'P7'") == expected
    assert psql_in(stage, DB, "SELECT properties->>'$email' FROM klaviyo_profiles "
                   "WHERE id = 'P7'") == expected  # fmt: skip
    joined = psql_in(stage, DB, "SELECT count(*) FROM klaviyo_events e JOIN klaviyo_profiles p "
                     "ON p.email = e.properties->>'$email'")  # fmt: skip
    assert joined == str(EVENTS)
    numeric = psql_in(stage, DB, "SELECT properties->>'$phone_number' FROM klaviyo_profiles "
                      f"WHERE id = 'P{PROFILES + 1}'")  # fmt: skip
    assert re.fullmatch(masking.MASKED_FORMS["phone"], numeric), numeric


def test_the_masking_key_is_in_no_output_and_no_log(rebuilt):
    _, stage, _, printed = rebuilt
    key = stage.run("cat", "/etc/tsdb-deploy/masking.key").strip()
    pads = rs_pads(key)
    logs = stage.run("sh", "-c", "cat /var/log/postgresql/*.log; journalctl --no-pager -q")
    for secret in (key, *pads):
        assert secret not in printed and secret not in logs
    transfers = stage.run("sh", "-c", "ls -A /tmp /var/tmp | grep -c pyinfra || true")
    assert transfers.strip() == "0"  # no copy left by the transfer


def test_the_dashboard_queries_give_production_s_aggregates(rebuilt):
    prod, stage, _, _ = rebuilt
    for query in DASHBOARD:
        assert psql_in(stage, DB, query) == psql_in(prod, DB, query), query


def test_the_swapped_in_database_is_open_and_the_owner_role_s(rebuilt):
    _, stage, _, _ = rebuilt
    info = psql_in(
        stage, "postgres", f"SELECT datconnlimit FROM pg_database WHERE datname = '{DB}'"
    )
    assert info == "-1"
    owner = psql_in(
        stage, DB, "SELECT tableowner FROM pg_tables WHERE tablename = 'klaviyo_events'"
    )
    assert owner == stage.plan_record()["schema"]["owner_role"]


def test_the_rebuilt_staging_host_passes_testinfra(rebuilt):
    _, stage, _, _ = rebuilt
    assert_testinfra_passes(stage)


# A rebuild killed at each of its phases, in the run's order, as `kill -9` would: the deploy
# machine's command (its whole process group, pyinfra included) or the host tool with its
# psql or pg_restore. Each is seen from outside: (name, what is killed, the sign).
ACTIVITY = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE '%\\_\\_restoring\\_%' "
    "AND state = 'active' AND query ~ '{}'"
)
KILL_POINTS = [
    ("pick and copy", "command", "picked"),
    ("restore", "tool", "restoring"),
    ("mask", "tool", ACTIVITY.format(r"UPDATE public\.klaviyo_events")),
    # masking's chunks compressed again one by one, then VACUUM FULL: one window of seconds
    ("compress and vacuum", "tool", ACTIVITY.format(r"compress_chunk|VACUUM \(FULL")),
    ("converge the restored database", "command", "converging"),
]
# The host tool stopped first (it starts nothing more, and cannot open or swap in what it
# restored), then it and every process under it killed; status 3: no tool was running ([p]:
# the pattern does not match this script's own command line).
KILL_TOOL = """
pid=$(pgrep -o -f '[p]ython3 /usr/local/bin/tsdb-restore --rebuild') || exit 3
kill -STOP "$pid"
tree() { for child in $(pgrep -P "$1"); do tree "$child"; done; echo "$1"; }
pids=$(tree "$pid")
kill -STOP $pids; kill -KILL $pids
"""


def workdirs() -> set[str]:
    """The deploy machine's working directories of staging rebuilds (unmasked copies)."""
    return {p.name for p in Path(tempfile.gettempdir()).glob(f"{staging_run.WORKDIR_PREFIX}*")}


def restoring(stage) -> set[str]:
    return {name for name in databases(stage) if "__restoring_" in name}


def kept(stage) -> set[str]:
    return {name for name in databases(stage) if "__pre_rebuild_" in name}


def in_group(group: int, pattern: str) -> bool:
    """Whether a process of process group `group` on this machine has a command line matching
    `pattern` (read from /proc: the machine may lack pgrep)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            pgid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2])
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if pgid == group and re.search(pattern, command):
            return True
    return False


def reached(stage, sign: str, before: dict, group: int) -> bool:
    if sign == "picked":  # the backup is chosen; the copy to this machine begins
        return any((Path(tempfile.gettempdir()) / d / staging.PICK_FILE).exists()
                   for d in workdirs() - before["workdirs"])  # fmt: skip
    if sign == "restoring":
        return bool(restoring(stage) - before["restoring"])
    if sign == "converging":  # the rebuild's last run, deploy.py, has started
        return in_group(group, r"pyinfra .*deploy\.py")
    return psql_in(stage, "postgres", sign) not in ("", "0")


def masked_and_whole(stage, events: str) -> None:
    """Staging serves a whole, masked database; a restoring one is the superuser's, closed."""
    assert psql_in(stage, DB, "SELECT count(*) FROM klaviyo_events") == events
    email = psql_in(stage, DB, "SELECT email FROM klaviyo_profiles WHERE id = 'P7'")
    assert re.fullmatch(masking.MASKED_FORMS["email"], email), email
    closed = psql_in(stage, "postgres", "SELECT d.datname || ' ' || d.datconnlimit || ' ' || "
                     "r.rolsuper FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
                     "WHERE d.datname LIKE '%\\_\\_restoring\\_%'")  # fmt: skip
    for line in closed.splitlines():
        assert line.split()[1:] == ["0", "true"], line


def production_state(prod) -> tuple:
    listing = json.loads(restore(prod, "--list", "--json").stdout)["backups"]
    return (
        psql_in(prod, DB, "SELECT count(*) FROM klaviyo_events"),
        databases(prod),
        sorted((b["path"], b["sha256"]) for b in listing),
    )


@pytest.mark.parametrize("point", KILL_POINTS, ids=[p[0] for p in KILL_POINTS])
def test_a_rebuild_killed_at_each_phase_loses_nothing(rebuilt, point, tmp_path):
    prod, stage, _, _ = rebuilt
    name, victim, sign = point
    production = production_state(prod)
    events = production[0]
    before = {"workdirs": workdirs(), "restoring": restoring(stage)}
    time.sleep(1)  # the kept databases are named by the second
    with open(tmp_path / "stderr", "w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tsdb_deploy", "staging-rebuild",
             str(prod.workdir / "sandbox.py"), str(stage.workdir / "sandbox.py")],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, text=True, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 900
            while not reached(stage, sign, before, proc.pid):
                if proc.poll() is not None or time.monotonic() > deadline:
                    err.seek(0)
                    pytest.fail(f"the rebuild ended or stalled before {name}: {err.read()}")
                time.sleep(0.1)
            if victim == "tool":
                killed = sh(stage, "bash", "-c", KILL_TOOL)
                assert killed.returncode == 0, f"no tool to kill at {name}: {killed.stderr}"
            else:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=600)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            sh(stage, "bash", "-c", KILL_TOOL)  # nothing of a failed test runs on
    # the command dies with its pyinfra; a killed tool is a failed run the command reports
    assert proc.returncode == (1 if victim == "tool" else -signal.SIGKILL)
    assert production_state(prod) == production
    masked_and_whole(stage, events)
    if victim == "tool":  # its own half-done database is left (the earlier one was dropped)
        left = restoring(stage)
        assert len(left) == 1 and not left & before["restoring"], (left, before)


def test_the_next_rebuild_after_the_kills_leaves_one_good_staging(rebuilt):
    prod, stage, _, _ = rebuilt
    production = production_state(prod)
    earlier = kept(stage)
    time.sleep(1)
    proc = rebuild(prod, stage)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert restoring(stage) == set()
    now = kept(stage)
    assert len(now) == 1 and not now & earlier, (now, earlier)
    masked_and_whole(stage, production[0])
    assert production_state(prod) == production
    # no copy of production's data left: the target's incoming directory, the transfers'
    # private directories, the deploy machine's working directories of the killed runs
    assert stage.run("ls", "-A", f"/var/backups/tsdb/{staging.INCOMING}").split() == []
    transfers = stage.run("sh", "-c", "ls -d /var/tmp/tsdb-transfer-* 2>/dev/null || true")
    assert transfers.split() == []
    assert not [d for d in workdirs() if not staging_run._alive(int(d.split("-")[2]))]
    # TimescaleDB's scheduler runs again (the killed runs stopped it)
    scheduler = (
        f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{DB}' "
        "AND backend_type = 'TimescaleDB Background Worker Scheduler'"
    )
    deadline = time.monotonic() + 60
    while psql_in(stage, "postgres", scheduler) != "1":
        assert time.monotonic() < deadline, "TimescaleDB's scheduler did not start again"
        time.sleep(1)
    for query in DASHBOARD:
        assert psql_in(stage, DB, query) == psql_in(prod, DB, query), query
