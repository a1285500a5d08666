"""Staging rebuilds without hosts: the masking rules against the schema, the masking script,
the backup pick, the refusals, the report, and the host tool's keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsdb_deploy import masking, migrations, settings, staging
from tsdb_deploy.render import masking as render_masking

from .test_backup_tools import bk, rs

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = "\n".join(m.text for m in migrations.discover())


def columns_of(table: str) -> dict[str, str]:
    """column -> type of a table as the migrations create it."""
    body = re.search(rf"CREATE TABLE {table} \((.*?)\n\);", SCHEMA, re.S)
    assert body, table
    found = {}
    for line in body.group(1).splitlines():
        match = re.match(r'\s+"?([a-z_]+)"? ([A-Z]+)', line)
        if match and match.group(1) not in ("primary", "foreign"):
            found[match.group(1)] = match.group(2)
    return found


@pytest.mark.parametrize("rule", masking.RULES, ids=lambda r: r.name)
def test_every_rule_names_a_column_of_the_schema_of_the_right_type(rule):
    column_type = columns_of(rule.table).get(rule.column)
    assert column_type is not None, f"{rule.name}: no such column in sql/"
    assert column_type == ("JSONB" if rule.path else "VARCHAR"), (rule.name, column_type)


def test_the_personal_columns_and_documents_are_covered():
    names = {rule.name for rule in masking.RULES}
    for wanted in (
        "klaviyo_profiles.email",
        "klaviyo_profiles.phone_number",
        "klaviyo_profiles.first_name",
        "klaviyo_profiles.last_name",
        "klaviyo_profiles.properties.$email",
        "klaviyo_profiles.properties.location.address1",
        "klaviyo_events.properties.$email",
        "klaviyo_events.properties.$phone_number",
        "klaviyo_events.raw_data.attributes.event_properties.$email",
    ):
        assert wanted in names
    assert len(names) == len(masking.RULES)  # no rule twice


@pytest.mark.parametrize("kind", list(masking.MASKED_FORMS))
def test_every_kind_has_its_sql_and_its_masked_form_fits_the_column(kind):
    assert kind in render_masking.KIND_SQL
    widest = {"email": "VARCHAR(255)", "phone": "VARCHAR(20)", "name": "VARCHAR(255)"}
    pattern = masking.MASKED_FORMS[kind]
    example = {
        "email": "u0123456789abcdef@masked.invalid",
        "phone": "+999012345678901",
        "name": "Name-0123456789",
        "address": "Address-0123456789ab",
    }[kind]
    assert re.fullmatch(pattern, example)
    if kind in widest:
        limit = int(re.search(r"\d+", widest[kind]).group())
        assert len(example) <= limit


def test_the_profiles_phone_column_takes_the_masked_phone():
    assert re.search(r"phone_number VARCHAR\(20\)", SCHEMA)


@given(st.text(min_size=1, max_size=20))
def test_a_json_key_is_rendered_only_when_it_cannot_break_the_sql(key):
    rule = masking.Rule("klaviyo_events", "properties", "email", (key,))
    try:
        rule.check()
    except masking.MaskingError as exc:
        assert rule.name in str(exc)
        return
    sql = render_masking.masking_sql((rule,))
    assert "'" not in key and '"' not in key and "\\" not in key and "\n" not in key
    assert f"'{{\"{key}\"}}'" in sql


@pytest.mark.parametrize(
    "rule",
    [
        masking.Rule("klaviyo events", "email", "email"),
        masking.Rule("klaviyo_profiles", "email;drop", "email"),
        masking.Rule("klaviyo_profiles", "email", "ssn"),
    ],
)
def test_a_bad_rule_is_refused_with_its_name(rule):
    with pytest.raises(masking.MaskingError, match=re.escape(rule.name)):
        rule.check()


def test_the_script_counts_updates_once_per_table_and_checks_what_is_left():
    sql = render_masking.masking_sql()
    assert sql.startswith("-- written by tsdb-deploy: ")
    assert sql.count("UPDATE public.klaviyo_events SET") == 1
    assert sql.count("UPDATE public.klaviyo_profiles SET") == 1
    assert "SET LOCAL search_path = pg_catalog, pg_temp;" in sql
    assert "max_tuples_decompressed_per_dml_transaction" in sql
    assert sql.count("SELECT 'masked'") == sql.count("SELECT 'left'") == 2
    for rule in masking.RULES:
        assert sql.count(f"'{rule.name}'") == 2  # counted before, checked after
    assert sql.strip().endswith("COMMIT;")
    # the key is not in the script: the tool sets it for the session
    assert render_masking.INNER_SETTING == rs.MASK_INNER
    assert render_masking.OUTER_SETTING == rs.MASK_OUTER


@given(st.binary(min_size=16, max_size=64), st.binary(max_size=200))
def test_the_tool_s_padded_keys_make_hmac_sha256(key, message):
    inner, outer = rs.masking_pads(key.hex())
    inner_hash = hashlib.sha256(bytes.fromhex(inner) + message).digest()
    ours = hashlib.sha256(bytes.fromhex(outer) + inner_hash).hexdigest()
    assert ours == hmac.new(key, message, hashlib.sha256).hexdigest()


def test_the_masking_key_is_made_once_private_and_then_kept(tmp_path):
    path = tmp_path / "etc" / "masking.key"
    first = rs.masking_key(path)
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert path.stat().st_mode & 0o777 == 0o600
    assert rs.masking_key(path) == first
    path.write_text("not hex\n")
    with pytest.raises(bk.ToolError, match="not a masking key"):
        rs.masking_key(path)


def test_the_tool_names_what_a_rebuild_keeps_and_what_it_finds_left_over():
    moment = bk.parse_iso("2026-12-02T10:11:12Z")
    assert rs.kept_name("klaviyo_analytics", moment, "rebuild") == (
        "klaviyo_analytics__pre_rebuild_20261202_101112"
    )
    assert rs.kept_name("klaviyo_analytics", moment) == (
        "klaviyo_analytics__pre_restore_20261202_101112"
    )
    assert len(rs.kept_name("x" * 63, moment, "rebuild")) == 63
    kept = rs.kept_name("x" * 63, moment, "rebuild")
    assert rs.is_kept_rebuild_name("x" * 63, kept)
    assert rs.is_kept_rebuild_name("klaviyo_analytics",
                                   "klaviyo_analytics__pre_rebuild_20261202_101112")  # fmt: skip
    for other in ("klaviyo_analytics__pre_restore_20261202_101112",  # a restore's: the user's
                  "klaviyo_analytics2__pre_rebuild_20261202_101112",  # another database's
                  "klaviyo_analytics__pre_rebuild_20261302_101112",  # no such time
                  "klaviyo_analytics__pre_rebuild_20261202_101112x"):  # fmt: skip
        assert not rs.is_kept_rebuild_name("klaviyo_analytics", other), other
    assert rs.masked_tables({"t1.a": 3, "t1.b.c": 1, "t2.x": 0, "t3.y": 2}) == ["t1", "t3"]


def test_the_backup_records_the_ledger_the_deploy_writes():
    assert bk.MIGRATION_LEDGER == migrations.LEDGER


@pytest.mark.parametrize(
    ("meta", "tested"),
    [
        ({"sha256": "a" * 64, "restore_test": {"passed": True, "sha256": "a" * 64}}, True),
        ({"sha256": "a" * 64, "restore_test": {"passed": True, "sha256": "b" * 64}}, False),
        ({"sha256": "a" * 64, "restore_test": {"passed": False, "sha256": "a" * 64}}, False),
        ({"sha256": "a" * 64}, False),
        (None, False),
    ],
)
def test_a_backup_counts_as_tested_only_for_the_sha256_that_passed(meta, tested):
    assert rs.restore_tested(meta) is tested


# --- the deploy's side -------------------------------------------------------------------------


def listing(*backups: dict) -> dict:
    return {"backup_dir": "/var/backups/tsdb", "backups": list(backups)}


def entry(started: str, *, tier="daily", verified=True, tested=True, database="db") -> dict:
    return {"tier": tier, "path": f"/b/{tier}/{database}_{started}.dump", "database": database,
            "started_at": started, "verified": verified, "tested": tested}  # fmt: skip


def test_the_newest_verified_and_tested_backup_is_picked():
    path, why = staging.pick_backup(
        "prod",
        "db",
        listing(
            entry("2026-12-01T02:15:00Z"),
            entry("2026-12-02T02:15:00Z", tier="hourly", tested=False),
            entry("2026-12-01T05:05:00Z", tier="hourly"),
            entry("2026-12-02T03:00:00Z", database="other"),
            entry("2026-12-02T04:00:00Z", verified=False),
        ),
    )
    assert path == "/b/hourly/db_2026-12-01T05:05:00Z.dump"
    assert why == "hourly backup of 2026-12-01T05:05:00Z"


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (None, "gave no answer"),
        (listing(), r"no verified, restore-tested backup of db \(0 backups in all\)"),
        (listing(entry("2026-12-01T02:15:00Z", tested=False)), "1 verified but never restore"),
        (listing(entry("2026-12-01T02:15:00Z", verified=False)), r"\(1 backups in all\)$"),
    ],
)
def test_no_usable_backup_is_one_line_naming_the_host(answer, message):
    with pytest.raises(staging.StagingError, match=message) as caught:
        staging.pick_backup("prod", "db", answer)
    assert str(caught.value).startswith("prod: ") and "\n" not in str(caught.value)


@pytest.mark.parametrize("environment", settings.ENVIRONMENTS)
def test_only_staging_and_development_hosts_are_targets(environment):
    if environment in settings.REBUILDABLE:
        staging.target_allowed("h", environment)
    else:
        with pytest.raises(staging.StagingError, match="h: environment is production"):
            staging.target_allowed("h", environment)


def test_a_host_that_does_not_say_is_production():
    data = {"runtime": "native", "database": "db", "app_user": "app", "tls": False}
    assert settings.resolve(data)["environment"] == "production"
    with pytest.raises(settings.SettingsError, match="environment = 'prod'"):
        settings.resolve({**data, "environment": "prod"})


def test_the_inventories_say_what_they_are():
    for name, environment in (("production", "production"), ("staging", "staging")):
        text = (ROOT / "group_data" / f"{name}.py").read_text()
        assert f'environment = "{environment}"' in text


MIGRATIONS = migrations.discover()


def meta_with(**changes) -> dict:
    meta = {
        "timescaledb_version": "2.29.2",
        "migrations": [
            {"version": m.version, "name": m.name, "sha256": m.sha256} for m in MIGRATIONS
        ],  # fmt: skip
    }
    return {**meta, **changes}


def test_the_backup_s_schema_must_be_the_target_s():
    assert staging.schema_problems(meta_with(), MIGRATIONS, "2.29.2") == []
    assert staging.schema_problems(meta_with(), MIGRATIONS, None) == []  # distro decides
    (problem,) = staging.schema_problems(meta_with(), MIGRATIONS, "2.19.3")
    assert "TimescaleDB 2.29.2, the target installs 2.19.3" in problem
    older = meta_with(migrations=meta_with()["migrations"][:-1])
    (problem,) = staging.schema_problems(older, MIGRATIONS, "2.29.2")
    assert f"not yet in the backup: {MIGRATIONS[-1].version:04d}" in problem
    changed = meta_with()
    changed["migrations"][0] = {**changed["migrations"][0], "sha256": "0" * 64}
    (problem,) = staging.schema_problems(changed, MIGRATIONS, "2.29.2")
    assert "changed since: 0001" in problem
    (problem,) = staging.schema_problems({"timescaledb_version": "2.29.2"}, MIGRATIONS, None)
    assert "does not record its migrations" in problem


@dataclass
class Disk:
    mount: str
    available_bytes: int


GiB = 1024**3


@pytest.mark.parametrize(
    ("copy", "data", "problems"),
    [
        (Disk("/", 6 * GiB), Disk("/", 6 * GiB), 0),  # 1 GiB copy + 2.5 x 2 GiB
        (Disk("/", 5 * GiB), Disk("/", 5 * GiB), 1),
        (Disk("/backup", 1 * GiB), Disk("/data", 5 * GiB), 0),
        (Disk("/backup", GiB // 2), Disk("/data", 4 * GiB), 2),
    ],
)
def test_the_copy_and_the_restore_must_fit(copy, data, problems):
    meta = {"size_bytes": GiB, "database_size_bytes": 2 * GiB}
    found = staging.space_problems(meta, copy, data)
    assert len(found) == problems, found


def test_the_report_has_a_line_per_table_rule_and_phase():
    report = {
        "database": "db",
        "backup": "/var/backups/tsdb/incoming/db_20261202_021500.dump",
        "backup_started_at": "2026-12-02T02:15:00Z",
        "tables": [
            {"table": "public.a", "backup_rows": 3, "restored_rows": 3},
            {"table": "public.b", "backup_rows": 5, "restored_rows": 4},
        ],
        "masked": {"a.email": 3},
        "phases": {"restore": 1.25, "mask": 0.5},
        "kept": "db__pre_rebuild_20261202_101112",
    }
    lines = staging.report_lines("stage", report, {"pick and copy": 2.0})
    assert lines[0].startswith("stage: db rebuilt from db_20261202_021500.dump")
    assert any(line.split() == ["public.a", "3", "3"] for line in lines)
    assert any(line.split() == ["public.b", "5", "4", "DIFFERENT"] for line in lines)
    assert any(line.split() == ["a.email", "3"] for line in lines)
    assert "pick and copy 2.0, restore 1.2, mask 0.5" in "\n".join(lines)


def test_the_pick_travels_between_the_runs_unchanged():
    pick = staging.Pick("prod", "/b/daily/db_20261202_021500.dump", {"sha256": "a" * 64})
    again = staging.Pick.from_json(pick.to_json())
    assert again == pick
    assert again.metadata_name == "db_20261202_021500.json"


def test_a_refusal_reaches_the_operator_as_pyinfra_s_one_line_without_its_prefix():
    from tsdb_deploy.staging_run import _error_line

    output = (
        "--> Preparing operation files...\n    Loading: staging/check.py\n\n"
        "--> Disconnecting from hosts...\n"
        "--> pyinfra error in staging/check.py line 13: db1: environment is production; ...\n"
    )
    assert _error_line(output) == "db1: environment is production; ..."
    assert _error_line("a\nsome error here\nlast\n") == "some error here"
    assert _error_line("") == "(no output)"
    failed = (
        "--> Starting operation: Staging rebuild | Restore into a closed database\n"
        "    [@docker/stage] tsdb-restore: error: sessions did not end\n"
        "    [@docker/stage] Error: executed 0 commands\n\n"
        "--> pyinfra error: No hosts remaining!\n"
    )
    assert _error_line(failed) == (
        "Staging rebuild | Restore into a closed database: "
        "tsdb-restore: error: sessions did not end"
    )


def test_a_report_file_names_its_host_whatever_the_name_holds():
    for host in ("@docker/tsdb-it-stage", "db1.staging.example", "@ssh/a:22"):
        name = staging.report_name(host)
        assert "/" not in name and name.startswith("report-") and name.endswith(".json")
        assert staging.report_host(name) == host


def test_a_killed_rebuild_s_working_directory_goes_at_the_next_run(tmp_path, monkeypatch):
    import os
    import tempfile

    from tsdb_deploy import staging_run

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    dead = tmp_path / f"{staging_run.WORKDIR_PREFIX}4194305-abc"  # above Linux's pid_max
    alive = tmp_path / f"{staging_run.WORKDIR_PREFIX}{os.getpid()}-def"
    other = tmp_path / "tsdb-staging-notes"
    for path in (dead, alive, other):
        path.mkdir()
    staging_run._remove_stale_workdirs()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, other.name])


def test_a_weekly_restore_test_keeps_a_rebuildable_backup_at_hand():
    from tsdb_deploy.render.backups import SCHEDULE, backup_cron

    line = next(line for line in backup_cron().splitlines() if "tsdb-restore" in line)
    minute, hour, _, _, weekday, user, *command = line.split()
    assert (user, command[:3]) == ("postgres", ["tsdb-restore", "--test", "weekly/latest"])
    weekly = SCHEDULE["weekly"].split()
    assert weekday == weekly[4] and int(hour) > int(weekly[1])  # after that day's weekly backup


@pytest.mark.parametrize(
    ("conf", "refused"),
    [
        (None, False),  # never deployed
        ("BACKUP_DIR=/b\nENVIRONMENT=staging\n", False),
        ("BACKUP_DIR=/b\nENVIRONMENT=development\n", False),
        ("BACKUP_DIR=/b\nENVIRONMENT=production\n", True),
        ("BACKUP_DIR=/b\n", True),  # deployed before hosts said: production
    ],
)
def test_a_deployed_host_must_itself_say_it_is_staging(conf, refused):
    problem = staging.recorded_environment_problem("h", conf)
    assert (problem is not None) is refused
    if refused:
        assert problem.startswith("h: the host itself says ENVIRONMENT=")


def test_the_host_tool_refuses_a_rebuild_where_backup_conf_says_production(tmp_path):
    cfg = bk.load_config(env={}, path=str(tmp_path / "none.conf"))
    assert cfg.environment == "production"
    with pytest.raises(bk.ToolError, match="ENVIRONMENT=production") as caught:
        rs.mode_rebuild(cfg, tmp_path / "x.dump", tmp_path / "m.sql", None, True, 0)
    assert caught.value.code == 2
    conf = tmp_path / "backup.conf"
    conf.write_text("ENVIRONMENT=prod\n")
    with pytest.raises(bk.ToolError, match="ENVIRONMENT='prod'.*must be one of"):
        bk.load_config(env={}, path=str(conf))


def test_the_backup_s_roles_must_be_the_target_s():
    meta = meta_with(roles=["klaviyo", "tsdb_owner", "postgres", "pg_monitor", "ghost"])
    (problem,) = staging.schema_problems(meta, MIGRATIONS, None, {"klaviyo", "tsdb_owner"})
    assert "roles the target does not have: ghost" in problem
    assert staging.schema_problems(meta, MIGRATIONS, None, {"klaviyo", "tsdb_owner", "ghost"}) == []
