"""Rendering postgresql.conf and pg_hba.conf from the real templates, and template failures."""

from __future__ import annotations

import re

import pytest

from tsdb_deploy import render
from tsdb_deploy.planner import SECTION_TITLES, Hardware, Workload, plan
from tsdb_deploy.planner.parameters import PARAMETERS
from tsdb_deploy.render import RenderError, pg_hba_conf, postgresql_conf, text
from tsdb_deploy.render.postgres import OWNER_MAP
from tsdb_deploy.units import GIB

LOCATIONS = {
    "data_directory": "/var/lib/postgresql/17/main",
    "hba_file": "/etc/postgresql/17/main/pg_hba.conf",
    "unix_socket_directories": "/var/run/postgresql",
}
SETTING_LINE = re.compile(r"^(?P<name>[a-z_.]+) = (?P<value>.+?)(?:\s+# (?P<reason>.*))?$")


def _plan(memory=8 * GIB, cpus=4, **hw):
    notes = hw.pop("notes", ())
    return plan(Hardware(memory, cpus, notes=notes, **hw), Workload())


def _conf(p=None, **kw):
    kw.setdefault("host_name", "db1.example")
    kw.setdefault("runtime", "native")
    kw.setdefault("locations", LOCATIONS)
    return postgresql_conf(p or _plan(), **kw)


def _settings(text: str) -> list[tuple[str, str, str | None]]:
    """Every `name = value  # reason` line, in order; fails on any other non-comment line."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = SETTING_LINE.match(line)
        assert match, f"not a setting line: {line!r}"
        out.append((match["name"], match["value"], match["reason"]))
    return out


@pytest.mark.parametrize(
    "hardware",
    [
        pytest.param(dict(memory=8 * GIB, cpus=4), id="8G-4cpu"),
        pytest.param(dict(memory=1 * GIB, cpus=1, storage="hdd"), id="1G-1cpu-hdd"),
        pytest.param(
            dict(memory=64 * GIB, cpus=16, storage="nvme", wal_disk_bytes=100 * GIB),
            id="64G-16cpu-wal",
        ),
    ],
)
def test_every_planned_parameter_exactly_once_with_its_reason(hardware):
    p = _plan(**hardware)
    text = _conf(p)
    settings = _settings(text)
    names = [name for name, _, _ in settings]
    assert len(names) == len(set(names)), "a parameter is written twice"
    assert set(names) == set(p.parameters) | set(LOCATIONS)
    by_name = {name: (value, reason) for name, value, reason in settings}
    for name, planned in p.parameters.items():
        value, reason = by_name[name]
        assert value == planned.text, name
        assert reason == planned.reason, name
        # and what is written reads back as the planned value
        assert PARAMETERS[name].parse(value) == planned.value, name


def test_file_locations_are_written_quoted_without_reasons():
    settings = {name: (value, reason) for name, value, reason in _settings(_conf())}
    for name, path in LOCATIONS.items():
        assert settings[name] == (f"'{path}'", None)


def test_hardware_header_and_budget():
    text = _conf(_plan(notes=("memory: cgroup memory.max", "cpus: cpu.max quota 150000/100000")))
    header = text.split("\n\n", 1)[0]
    assert header.startswith("# written by tsdb-deploy: postgresql.conf for db1.example;")
    assert "# Sized for: 8.0 GiB memory, 4 CPUs, ssd storage," in header
    assert "data disk unknown, WAL disk the data disk; analytics profile, PostgreSQL 17." in header
    assert "#   memory: cgroup memory.max\n" in header
    assert "#   cpus: cpu.max quota 150000/100000\n" in header
    assert re.search(
        r"^# Worst-case memory: worst case [\d.]+ GiB of 8\.0 GiB: shared ", text, re.M
    )
    assert "# File locations (native runtime)" in text


def test_header_names_disks_fractional_cpus_and_version():
    p = plan(
        Hardware(
            16 * GIB,
            1.5,
            "san",
            data_disk_bytes=500 * GIB,
            wal_disk_bytes=100 * GIB,
        ),
        Workload(profile="oltp", pg_version=15),
    )
    text = _conf(p, runtime="docker")
    assert "# Sized for: 16.0 GiB memory, 1.5 CPUs, san storage," in text
    assert "data disk 500.0 GiB, WAL disk 100.0 GiB; oltp profile, PostgreSQL 15." in text
    assert "# File locations (docker runtime)" in text


def test_sections_appear_in_order_with_their_parameters():
    p = _plan()
    text = _conf(p)
    positions = [text.index(f"\n# {title}\n") for title in SECTION_TITLES.values()]
    assert positions == sorted(positions)
    for title, params in p.sections():
        section = text.split(f"\n# {title}\n", 1)[1].split("\n\n", 1)[0]
        assert [line.split(" = ")[0] for line in section.splitlines()] == [q.name for q in params]


def test_a_value_that_would_break_its_line_is_refused_by_every_template():
    with pytest.raises(RenderError, match="control characters"):
        _conf(host_name="db1\nfsync = off")
    with pytest.raises(RenderError, match="control characters"):
        _conf(locations={"data_directory": "/var/lib/x\nssl = off"})


def test_file_locations_are_written_as_config_strings():
    text = _conf(locations={"data_directory": "/var/lib/o'brien"})
    assert "data_directory = '/var/lib/o''brien'" in text


def test_rendering_is_deterministic_and_ends_with_a_newline():
    p = _plan()
    assert _conf(p) == _conf(p)
    assert _conf(p).endswith("\n")


NETWORKS = ["10.0.0.0/8", "192.168.1.0/24", "fd00::/8"]


def _hba(networks=NETWORKS, **kw):
    kw.setdefault("host_name", "db1.example")
    kw.setdefault("database", "analytics")
    kw.setdefault("app_user", "dashboard")
    kw.setdefault("owner_role", "owner")
    kw.setdefault("tls", True)
    kw.setdefault("monitor_role", "monitor")
    kw.setdefault("monitor_network", "127.0.0.1/32")
    return pg_hba_conf(networks=networks, **kw)


def _rules(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip() and line[0] != "#"]


def test_pg_hba_rules():
    """Local: peer (dev-sec postgres-13), but for the application role, which PgBouncer logs in
    as on the socket with its client's SCRAM proof. Network: the application role, over TLS
    only, by scram-sha-256 (postgres-14, postgres-15: no `host` line)."""
    rules = _rules(_hba())
    assert rules[0] == ["local", "all", "postgres", "peer"]
    # the owner role: only the OS user postgres, only through the map (cron's maintenance)
    assert rules[1] == ["local", "analytics", "owner", "peer", f"map={OWNER_MAP}"]
    assert rules[2] == ["local", "analytics", "dashboard", "scram-sha-256"]
    hosts = [r for r in rules if r[0] != "local"]
    assert hosts == [
        *(["hostssl", "analytics", "dashboard", n, "scram-sha-256"] for n in NETWORKS),
        # the exporter, from this host alone
        ["hostssl", "analytics", "monitor", "127.0.0.1/32", "scram-sha-256"],
    ]
    assert len(rules) == 4 + len(NETWORKS)
    assert all(r[3] == "peer" for r in rules if r[0] == "local" and r[2] != "dashboard")


def test_pg_ident_maps_only_postgres_to_the_owner():
    text = render.pg_ident_conf(host_name="db1", owner_role="owner")
    maps = [line.split() for line in text.splitlines() if line and line[0] != "#"]
    assert maps == [[OWNER_MAP, "postgres", "owner"]]


def test_without_tls_the_rules_say_host():
    assert {r[0] for r in _rules(_hba(tls=False))} == {"local", "host"}


@pytest.mark.parametrize(
    "networks",
    [[], ["127.0.0.1/32"], NETWORKS],
    ids=["no-networks", "one", "three"],
)
def test_pg_hba_trusts_nothing(networks):
    text = _hba(networks)
    assert text.startswith("# written by tsdb-deploy: pg_hba.conf for db1.example;")
    rules = _rules(text)
    assert len([r for r in rules if r[0] == "hostssl" and r[2] == "dashboard"]) == len(networks)
    assert {r[-1] for r in rules} <= {"peer", "scram-sha-256", f"map={OWNER_MAP}"}
    # 'trust' only ever appears in the comment that says nothing is trusted
    assert not [line for line in text.splitlines() if "trust" in line and line[0] != "#"]
    assert "md5" not in text and "password" not in text.split("METHOD", 1)[1]


def test_broken_template_syntax_names_the_template(tmp_path, monkeypatch):
    (tmp_path / "postgresql.conf.j2").write_text("# ok\n{% for p in %}\n{% endfor %}\n")
    monkeypatch.setattr(text, "TEMPLATES", tmp_path)
    with pytest.raises(RenderError, match=r"^templates/postgresql\.conf\.j2 line 2: "):
        _conf()


def test_undefined_variable_names_the_template_and_the_variable(tmp_path, monkeypatch):
    (tmp_path / "pg_hba.conf.j2").write_text("local all postgres peer\n{{ no_such_value }}\n")
    monkeypatch.setattr(text, "TEMPLATES", tmp_path)
    with pytest.raises(RenderError, match=r"^templates/pg_hba\.conf\.j2.*'no_such_value'"):
        _hba()


def test_missing_template_names_it(tmp_path, monkeypatch):
    monkeypatch.setattr(text, "TEMPLATES", tmp_path)
    with pytest.raises(RenderError, match=r"^templates/pg_hba\.conf\.j2: "):
        _hba()


def test_patched_template_dir_is_really_used(tmp_path, monkeypatch):
    (tmp_path / "pg_hba.conf.j2").write_text("custom {{ host_name }}\n")
    monkeypatch.setattr(text, "TEMPLATES", tmp_path)
    assert _hba() == "custom db1.example\n"


def test_real_template_with_a_missing_value_is_an_error():
    # StrictUndefined: tsdb-psql.j2 needs database, as_root and as_postgres
    with pytest.raises(RenderError, match=r"^templates/tsdb-psql\.j2.*'database' is undefined"):
        render.render("tsdb-psql.j2", runtime="native")
