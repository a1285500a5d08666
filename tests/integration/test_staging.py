"""Staging rebuilds on real hosts: a "production" host with personal data, rebuilt into a bare
"staging" host of half its memory by `tsdb-deploy staging-rebuild`, as ops would run it.

Both hosts install TimescaleDB's Community build from the lab mirror; production's older
events are compressed before the backup, so masking rewrites compressed chunks too. The
tests run in order: the refusals first (while production has no restore-tested backup), then
the rebuild and what staging holds, then a second rebuild and an interrupted one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import sys
import time

import pytest

from lab import vendor
from lab.testhosts import TestHost
from tsdb_deploy import masking, staging

from .conftest import ROOT, make_target
from .helpers import DB, assert_testinfra_passes, backup, databases, psql_in, restore, sh

PROD = TestHost("tsdb-it-prod", memory="2g", cpus=1)
STAGE = TestHost("tsdb-it-stage", memory="1g", cpus=1)
VERSION = list(vendor.RELEASES)[-1]

# Personal data where Klaviyo puts it: the profile's columns, its properties (flat and the
# API's nested location), the events' properties and the API document's event_properties.
# more rows in compressed chunks than TimescaleDB lets one statement decompress by default
EVENTS = 120_000
DATASET = """
INSERT INTO klaviyo_metrics (id, name, created_at, updated_at)
SELECT 'M' || i, 'Metric ' || i, now(), now() FROM generate_series(1, 10) i;
INSERT INTO klaviyo_campaigns (id, name, status, created_at, updated_at)
SELECT 'C' || i, 'Campaign ' || i, 'sent', now(), now() FROM generate_series(1, 4) i;
INSERT INTO klaviyo_profiles (id, email, phone_number, external_id, first_name, last_name,
                              created_at, updated_at, properties)
SELECT 'P' || i, 'Person.' || i || '@Shop-Customer.example', '+1 555 01' || lpad(i::text, 5, '0'),
       'cust-' || i, 'First' || i, 'Last' || i, now(), now(),
       jsonb_build_object('$email', 'person.' || i || '@shop-customer.example',
                          'location', jsonb_build_object('address1', i || ' Elm Street',
                                                         'zip', lpad(i::text, 5, '9'),
                                                         'city', 'Springfield'),
                          'Loyalty Tier', CASE WHEN i % 2 = 0 THEN 'A' ELSE 'B' END)
FROM generate_series(1, 400) i;
-- a phone number stored as a JSON number: masked all the same
INSERT INTO klaviyo_profiles (id, created_at, updated_at, properties)
VALUES ('P401', now(), now(), '{"$phone_number": 15550100401}');
INSERT INTO klaviyo_events (id, metric_id, profile_id, "timestamp", value, properties, raw_data,
                            campaign_id)
SELECT 'E' || i, 'M' || (1 + i % 10), 'P' || (1 + i % 400), now() - i * INTERVAL '5 minutes',
       CASE WHEN i % 3 = 0 THEN round((i % 500) / 7.0, 2) END,
       jsonb_build_object('$email', 'person.' || (1 + i % 400) || '@shop-customer.example',
                          'Campaign Name', 'Campaign ' || (i % 4)),
       jsonb_build_object('attributes', jsonb_build_object('event_properties',
           jsonb_build_object('$phone_number', '+1555 01' || lpad((1 + i % 400)::text, 5, '0')))),
       CASE WHEN i % 2 = 0 THEN 'C' || (1 + i % 4) END
FROM generate_series(1, EVENTS) i;
SELECT count(compress_chunk(c, if_not_compressed => true))
FROM show_chunks('klaviyo_events', older_than => INTERVAL '14 days') c;
""".replace("EVENTS", str(EVENTS))
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
    assert masked["klaviyo_profiles.email"] == 400
    assert masked["klaviyo_profiles.properties.location.address1"] == 400
    assert masked["klaviyo_profiles.properties.$phone_number"] == 1
    assert masked["klaviyo_events.properties.$email"] == EVENTS
    assert masked["klaviyo_events.raw_data.attributes.event_properties.$phone_number"] == EVENTS
    assert set(report["phases"]) == {"check", "restore", "mask", "swap"}
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
    left = [v for v in values if v.lower() in text]
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
                      "WHERE id = 'P401'")  # fmt: skip
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


def test_a_second_rebuild_keeps_one_previous_database(rebuilt):
    prod, stage, first, _ = rebuilt
    time.sleep(1)  # the kept databases are named by the second
    proc = rebuild(prod, stage)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    kept = [name for name in databases(stage) if "__pre_rebuild_" in name]
    assert len(kept) == 1 and kept[0] != first["kept"], (kept, first["kept"])


def test_an_interrupted_rebuild_is_finished_by_the_next_run(rebuilt):
    prod, stage, _, _ = rebuilt
    before = psql_in(prod, DB, "SELECT count(*) FROM klaviyo_events")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tsdb_deploy", "staging-rebuild",
         str(prod.workdir / "sandbox.py"), str(stage.workdir / "sandbox.py")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:  # kill the host tool once it restores
        if any("__restoring_" in name for name in databases(stage)):
            # the tool, not the shell around it (which removes the copy)
            stage.run("pkill", "-KILL", "-f", "python3 /usr/local/bin/tsdb-restore --rebuild")
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the rebuild never started restoring")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 1, err
    copies = stage.run("ls", "-A", f"/var/backups/tsdb/{staging.INCOMING}")
    assert copies.split() == []  # the unmasked copy went with the failed run
    assert any("__restoring_" in name for name in databases(stage))  # unmasked, closed
    again = rebuild(prod, stage)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-5000:]
    assert not any("__restoring_" in name for name in databases(stage))
    assert stage.run("ls", "-A", f"/var/backups/tsdb/{staging.INCOMING}").split() == []
    assert psql_in(stage, DB, "SELECT count(*) FROM klaviyo_events") == before
    assert psql_in(prod, DB, "SELECT count(*) FROM klaviyo_events") == before
