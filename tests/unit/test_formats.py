"""Each file format's writer: what it escapes, what it refuses, and that its own parser (or a
faithful reading of it) reads back exactly the value written."""

from __future__ import annotations

import configparser
import subprocess

import pytest

from tsdb_deploy import formats
from tsdb_deploy.formats import FormatError

AWKWARD = ["plain", "o'brien", "back\\slash", "\\'", "''", "100%", 'say "hi"', "a=b", "#x", ""]
BREAKING = ["a\nb", "a\rb", "tab\there", "nul\x00", "del\x7f"]


@pytest.mark.parametrize("value", AWKWARD)
def test_pg_conf_strings_read_back_as_written(value):
    assert formats.pg_conf_unstring(formats.pg_conf_string(value)) == value


@pytest.mark.parametrize("value", BREAKING)
def test_pg_conf_strings_refuse_control_characters(value):
    with pytest.raises(FormatError, match="control characters"):
        formats.pg_conf_string(value)


@pytest.mark.parametrize("value", AWKWARD)
def test_systemd_environment_reads_back_through_systemd_rules(value):
    """systemd.syntax(7): in double quotes \\\\ is \\ and \\" is "; systemd.unit(5): %% is %."""
    (line,) = formats.systemd_environment({"HTTP_PROXY": value})
    assert line.startswith('Environment="') and line.endswith('"')
    body, out, i = line[len('Environment="') : -1], [], 0
    while i < len(body):
        pair = body[i : i + 2]
        if pair in ("\\\\", '\\"', "%%"):
            out.append(pair[1])
            i += 2
        else:
            assert body[i] not in '"%\\', f"unescaped {body[i]!r} in {line}"
            out.append(body[i])
            i += 1
    assert "".join(out) == f"HTTP_PROXY={value}"


def test_systemd_environment_refuses_line_breaks_and_bad_names():
    with pytest.raises(FormatError, match="HTTP_PROXY"):
        formats.systemd_environment({"HTTP_PROXY": "x\n[Service]\nExecStartPre=/bin/sh"})
    with pytest.raises(FormatError, match="letters, digits and _ only"):
        formats.systemd_environment({"A=B": "x"})


def test_systemd_accepts_what_is_written(tmp_path):
    """systemd-analyze, where this machine has it, parses the drop-in without a warning."""
    import shutil

    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed here")
    unit = tmp_path / "t.service"
    lines = formats.systemd_environment({"A": 'x "y" \\ 50%'})
    unit.write_text("[Service]\nExecStart=/bin/true\n" + "\n".join(lines) + "\n")
    run = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert "Environment" not in run.stderr, run.stderr


def test_apt_source_lines():
    line = formats.apt_source_line(
        options={"signed-by": "/etc/apt/keyrings/pgdg.asc"},
        uri="http://apt.postgresql.org/pub/repos/apt",
        suite="trixie-pgdg",
        components=["main"],
    )
    assert line == (
        "deb [signed-by=/etc/apt/keyrings/pgdg.asc] http://apt.postgresql.org/pub/repos/apt "
        "trixie-pgdg main"
    )


@pytest.mark.parametrize(
    "uri", ["http://x/ y", "http://x/\ndeb http://evil/ sid main", "http://x/#", "http://x/[a]", ""]
)
def test_apt_source_lines_refuse_what_the_format_cannot_hold(uri):
    with pytest.raises(FormatError, match="apt sources uri"):
        formats.apt_source_line(options={}, uri=uri, suite="s", components=["main"])


@pytest.mark.parametrize("value", ["/var/lib/pgbackrest", "a=b", "#no comment", "100%"])
def test_ini_values_read_back_through_an_ini_parser(value):
    text = f"[global]\nrepo1-path={formats.ini_value(value)}\n"
    parser = configparser.ConfigParser(interpolation=None, comment_prefixes=(";",))
    parser.read_string(text)
    assert parser["global"]["repo1-path"] == value


@pytest.mark.parametrize("value", [*BREAKING, " lead", "trail "])
def test_ini_values_refuse_what_would_change_on_reading(value):
    with pytest.raises(FormatError):
        formats.ini_value(value)


def test_backup_conf_lines_read_back_through_tsdb_backup():
    from tests.unit.test_backup_tools import bk as tool

    lines = [formats.conf_line("BACKUP_DIR", "/srv/a=b"), formats.conf_line("MAX_X", 7)]
    assert tool.parse_conf("\n".join(lines)) == {"BACKUP_DIR": "/srv/a=b", "MAX_X": "7"}
    with pytest.raises(FormatError):
        formats.conf_line("BACKUP_DIR", "/srv\nDB_NAME=postgres")
    with pytest.raises(FormatError):
        formats.conf_line("backup_dir", "/srv")
