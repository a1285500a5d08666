"""prometheus-postgres-exporter's files: its environment for systemd, its queries for the
exporter's YAML reader, its password alone in its own file."""

from __future__ import annotations

import pytest
import yaml

from tsdb_deploy import formats
from tsdb_deploy.render import exporter


def _env(**kw) -> dict[str, str]:
    args = dict(address="127.0.0.1", port=5432, database="analytics", role="tsdb_monitor",
                tls=True, listen="127.0.0.1:9187")  # fmt: skip
    text = exporter.environment(**{**args, **kw})
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return {k: v.strip('"') for k, v in (line.split("=", 1) for line in lines)}


def test_the_environment_names_the_password_file_never_the_password():
    env = _env()
    assert env["DATA_SOURCE_URI"] == "127.0.0.1:5432/analytics?sslmode=require"
    assert env["DATA_SOURCE_USER"] == "tsdb_monitor"
    assert env["DATA_SOURCE_PASS_FILE"] == exporter.PASSWORD_FILE
    assert "--web.listen-address=127.0.0.1:9187" in env["ARGS"].split()
    assert f"--extend.query-path={exporter.QUERIES_FILE}" in env["ARGS"].split()
    assert "DATA_SOURCE_PASS" not in env and "DATA_SOURCE_NAME" not in env
    assert _env(tls=False)["DATA_SOURCE_URI"].endswith("sslmode=disable")


@pytest.mark.parametrize("bad", ['a"b', "a$b", "a`b", "a\\b", "a\nb"])
def test_a_value_systemd_or_a_shell_would_read_otherwise_is_refused(bad):
    with pytest.raises(formats.FormatError):
        _env(database=bad)


def test_the_queries_are_the_exporters_yaml_with_a_metric_per_column():
    parsed = yaml.safe_load(exporter.queries())
    assert set(parsed) == set(exporter.QUERIES)
    for name, spec in parsed.items():
        columns = [next(iter(m)) for m in spec["metrics"]]
        for column in columns:  # every metric is a column the query selects
            assert f"AS {column}" in spec["query"] or f".{column}" in spec["query"], (name, column)
        assert all(next(iter(m.values()))["usage"] in ("LABEL", "GAUGE", "COUNTER")
                   for m in spec["metrics"])  # fmt: skip


def test_the_password_file_holds_the_password_alone():
    assert exporter.password_file("s3cret-value-long-enough") == "s3cret-value-long-enough\n"
    with pytest.raises(formats.FormatError):
        exporter.password_file("two\nlines")


def _pooler_env(**kw) -> dict[str, str]:
    args = dict(address="127.0.0.1", port=6432, role="tsdb_monitor", password="pw", tls=True,
                listen="127.0.0.1:9127")  # fmt: skip
    text = exporter.pooler_environment(**{**args, **kw})
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return {k: v.strip('"') for k, v in (line.split("=", 1) for line in lines)}


@pytest.mark.parametrize(
    ("password", "address", "url"),
    [
        ("pw", "127.0.0.1", "postgres://tsdb_monitor:pw@127.0.0.1:6432/pgbouncer?sslmode=require"),
        # what a URL or the file's readers would take for syntax is percent-encoded
        ("a$b\"c'd@e/f:g%h`i\\j k", "::1",
         "postgres://tsdb_monitor:a%24b%22c%27d%40e%2Ff%3Ag%25h%60i%5Cj%20k@[::1]:6432/"
         "pgbouncer?sslmode=require"),
    ],
)  # fmt: skip
def test_the_pgbouncer_exporter_reaches_the_console_with_the_password_encoded(
    password, address, url
):
    env = _pooler_env(password=password, address=address)
    assert env["PGBOUNCER_EXPORTER_CONNECTION_STRING"] == url
    assert env["ARGS"] == "--web.listen-address=127.0.0.1:9127 --pgBouncer.pid-file="


def test_the_pgbouncer_exporter_goes_without_tls_where_the_host_has_none():
    url = _pooler_env(tls=False)["PGBOUNCER_EXPORTER_CONNECTION_STRING"]
    assert url.endswith("?sslmode=disable")


def test_a_password_on_two_lines_is_refused():
    with pytest.raises(formats.FormatError):
        _pooler_env(password="a\nb")


def test_the_pgbouncer_exporter_unit_replaces_debians_without_its_pgbouncer_dependency():
    unit = exporter.pooler_unit()
    assert "Requires=" not in unit
    assert f"User={exporter.USER}" in unit.splitlines()
    assert f"EnvironmentFile={exporter.POOLER_ENV_FILE}" in unit.splitlines()
    assert f"ExecStart={exporter.POOLER_BINARY} $ARGS" in unit.splitlines()
