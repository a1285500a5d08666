"""Generated inputs (hypothesis) through the settings, the planner, its CLI and the renderers.

Each input ends in one of two outcomes: a one-line error of the kind the code promises, or
files that say exactly what was planned: postgresql.conf read back by PostgreSQL's lexer rules
(pgconf_reader) gives every planned parameter its planned value, once, and nothing else; the
other formats read back by their own parsers give the values that went in. Never a traceback:
any other exception fails the test. (tests/integration/test_native_host.py reads a sample back
with the server's own `postgres -C`.)
"""

from __future__ import annotations

import contextlib
import io
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tsdb_deploy import cli, formats, host_plan, render
from tsdb_deploy.formats import FormatError
from tsdb_deploy.planner import Hardware, PlanError, Workload, plan
from tsdb_deploy.planner.parameters import PARAMETERS
from tsdb_deploy.render import RenderError
from tsdb_deploy.render.docker import dockerd_dropin
from tsdb_deploy.runtimes import Distro
from tsdb_deploy.settings import SETTINGS, SettingsError, resolve

from . import pgconf_reader
from .test_backup_tools import bk

MANY = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HW = Hardware(8 * 1024**3, 4, data_disk_bytes=500 * 1024**3)
LOCATIONS = {"data_directory": "/var/lib/postgresql/17/main", "cluster_name": "17/main"}
BASE = {"database": "analytics", "app_user": "app", "tls": False, "acknowledge_unsafe": ["ssl"]}

# text an attacker would try: quotes, backslashes, line breaks, comment and shell characters
NASTY = st.text(
    alphabet=st.sampled_from(list("'\"\\\n\r\t\x00#;$`%=, []{}/.:-_ aZ09") + ["\u2028", "é"]),
    max_size=40,
)
TEXT = st.one_of(NASTY, st.text(max_size=40))
SCALARS = st.one_of(
    TEXT,
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(TEXT, SCALARS, max_size=3),
)
STRING_PARAMETERS = sorted(n for n, p in PARAMETERS.items() if p.kind == "string")


def one_line(message: str) -> bool:
    return bool(message) and "\n" not in message and "Traceback" not in message


def assert_conf_says_exactly(text: str, planned) -> None:
    read = pgconf_reader.read(text)
    names = [name for name, _ in read]
    assert len(names) == len(set(names)), f"a parameter is set twice: {names}"
    values = dict(read)
    assert set(values) == set(planned.parameters) | set(LOCATIONS)
    for name, p in planned.parameters.items():
        wanted = formats.pg_conf_unstring(p.text) if p.text.startswith("'") else p.text
        assert values[name] == wanted, (name, values[name], wanted)


def conf(planned) -> str:
    return render.postgresql_conf(planned, host_name="h", runtime="native", locations=LOCATIONS)


# --- the planner and postgresql.conf -----------------------------------------------------


@MANY
@given(name=st.sampled_from(sorted(PARAMETERS)), value=SCALARS)
def test_any_override_plans_exactly_or_fails_in_one_line(name, value):
    try:
        planned = plan(HW, Workload(), {name: value})
    except PlanError as exc:
        assert one_line(str(exc)), str(exc)
        return
    assert_conf_says_exactly(conf(planned), planned)


@MANY
@given(name=st.sampled_from(STRING_PARAMETERS), value=TEXT)
def test_string_overrides_read_back_verbatim(name, value):
    try:
        planned = plan(HW, Workload(), {name: value}, acknowledged=["ssl"])
    except PlanError as exc:
        assert one_line(str(exc)), str(exc)
        return
    assert_conf_says_exactly(conf(planned), planned)
    assert formats.pg_conf_unstring(planned.parameters[name].text) == (
        PARAMETERS[name].parse(value)
    )


@SOME
@given(
    overrides=st.lists(
        st.tuples(st.sampled_from(sorted(PARAMETERS) + ["Work_Mem", "x"]), TEXT), max_size=3
    )
)
def test_the_planner_cli_prints_a_conf_or_one_error_line(overrides):
    argv = ["plan", "--memory", "8GiB", "--cpus", "4"]
    for name, value in overrides:
        argv += ["--set", f"{name}={value}"]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse's own errors: one line (cli._Parser)
            code = exc.code
    if code == 0:
        pgconf_reader.read(out.getvalue())  # a conf the server's lexer accepts
        assert err.getvalue() == ""
    else:
        assert code == 2, (code, err.getvalue())
        lines = err.getvalue().rstrip("\n").split("\n")
        assert len(lines) == 1 and lines[0].startswith("tsdb-deploy: error:"), lines


# --- the settings and every file they reach ------------------------------------------------

KEYS = st.one_of(
    st.sampled_from(sorted(SETTINGS)),
    st.sampled_from(sorted(SETTINGS)).map(str.swapcase),
    st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=20),
)


@MANY
@given(data=st.dictionaries(KEYS, VALUES, max_size=4))
def test_inventory_data_resolves_cleanly_or_fails_in_one_line(data):
    try:
        resolved = resolve({**BASE, **data}, host="h")
    except SettingsError as exc:
        assert one_line(str(exc)), str(exc)
        return
    for name, value in resolved.items():
        for text in _strings(value):
            assert not any(ord(c) < 32 or ord(c) == 127 for c in text), (name, value)
    _render_everything(resolved)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)


def _render_everything(s: dict) -> None:
    """Every file the settings reach reads back, through its own parser, as what went in."""
    hba = render.pg_hba_conf(
        host_name="h", database=s["database"], app_user=s["app_user"],
        owner_role=s["owner_role"], networks=s["app_networks"], tls=s["tls"],
        monitor_role=s["monitor_role"], monitor_network="127.0.0.1/32",
    )  # fmt: skip
    rules = [line.split() for line in hba.splitlines() if line and not line.startswith("#")]
    assert all(len(rule) in (4, 5) for rule in rules), rules
    assert [r[2] for r in rules if r[0] == "local"] == ["postgres", s["owner_role"],
                                                        s["app_user"]]  # fmt: skip
    assert [r[3] for r in rules if r[0] != "local"] == [*s["app_networks"], "127.0.0.1/32"]
    written = bk.parse_conf(render.backup_conf(host_plan.file_values("h", s, {}, "", "", ""), 17))
    assert written["BACKUP_DIR"] == s["BACKUP_DIR"] and written["DB_NAME"] == s["database"]
    native = host_plan.runtime_for({**s, "runtime": "native"}, Distro("debian", 13, "trixie"))
    for source in native.upstream_sources():
        assert render.apt_source_file(source).count("\ndeb ") == 1
    dropin = dockerd_dropin(s["docker_daemon_environment"])
    assert len(dropin.splitlines()) == 2 + len(s["docker_daemon_environment"])
    try:
        planned = plan(HW, Workload(listen_addresses=s["listen_addresses"], tls=s["tls"]),
                       s["postgres_overrides"], acknowledged=s["acknowledge_unsafe"])  # fmt: skip
    except PlanError as exc:
        assert one_line(str(exc)), str(exc)
        return
    assert_conf_says_exactly(conf(planned), planned)


@MANY
@given(value=TEXT)
def test_every_format_writer_reads_back_or_refuses(value):
    writers = [
        (formats.pg_conf_string, formats.pg_conf_unstring),
        (lambda v: formats.conf_line("K", v), lambda t: bk.parse_conf(t)["K"]),
        (formats.ini_value, lambda t: t.strip()),
    ]
    for write, read in writers:
        try:
            text = write(value)
        except FormatError as exc:
            assert one_line(str(exc))
            continue
        assert "\n" not in text and read(text) == value, (value, text)
    try:
        render.render("pgbackrest.conf.j2", host_name="h", runtime="native", repo_path=value,
                      repo2_path="", retention_full=2, process_max=1, log_path="/l",
                      stanza="tsdb", pgdata="/d", socket_dir="/s", port=5432)  # fmt: skip
    except RenderError as exc:
        assert one_line(str(exc))
