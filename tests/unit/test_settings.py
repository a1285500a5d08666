"""Inventory settings: defaults, and errors that name the setting and what it accepts."""

from __future__ import annotations

import re

import pytest

from tsdb_deploy.settings import GROUPS, SETTINGS, SettingsError, resolve

MINIMAL = {
    "runtime": "native",
    "database": "analytics",
    "app_user": "dashboard",
    "tls_cert_file": "tls/db.crt",
    "tls_key_file": "tls/db.key",
}


def _error(data: dict, host: str = "db1") -> str:
    with pytest.raises(SettingsError) as info:
        resolve(data, host)
    return str(info.value)


def test_minimal_data_fills_every_default():
    resolved = resolve(dict(MINIMAL))
    assert set(resolved) == set(SETTINGS)
    assert resolved["runtime"] == "native"
    assert resolved["database"] == "analytics"
    assert resolved["app_user"] == "dashboard"
    assert resolved["package_source"] == "upstream"
    assert resolved["pg_version"] == 17
    assert resolved["profile"] == "analytics"
    assert resolved["max_connections"] is None
    assert resolved["background_workers"] is None
    assert resolved["memory_limit"] is None
    assert resolved["cpu_limit"] is None
    assert resolved["storage_class"] is None
    assert resolved["data_checksums"] is True
    assert resolved["listen_addresses"] == "localhost"
    assert resolved["port"] == 5432
    assert resolved["app_networks"] == ["127.0.0.1/32", "::1/128"]
    assert resolved["app_password_env"] == "TSDB_APP_PASSWORD"
    assert resolved["app_password_file"] is None
    assert resolved["postgres_overrides"] == {}


def test_resolved_defaults_are_not_shared_between_hosts():
    first = resolve(dict(MINIMAL))
    first["postgres_overrides"]["work_mem"] = "1GB"
    first["app_networks"].append("10.0.0.0/8")
    second = resolve(dict(MINIMAL))
    assert second["postgres_overrides"] == {}
    assert second["app_networks"] == ["127.0.0.1/32", "::1/128"]


@pytest.mark.parametrize(
    "extra, key, expected",
    [
        ({"memory_limit": "8GiB"}, "memory_limit", 8 * 1024**3),
        ({"memory_limit": "512MB"}, "memory_limit", 512 * 1024**2),
        ({"memory_limit": 1024**3}, "memory_limit", 1024**3),
        ({"cpu_limit": 1.5}, "cpu_limit", 1.5),
        ({"cpu_limit": 2}, "cpu_limit", 2.0),
        ({"storage_class": "nvme"}, "storage_class", "nvme"),
        ({"pg_version": 15}, "pg_version", 15),
        ({"profile": "oltp"}, "profile", "oltp"),
        ({"runtime": "docker"}, "runtime", "docker"),
        ({"max_connections": 50}, "max_connections", 50),
        ({"background_workers": 0}, "background_workers", 0),
        ({"data_checksums": False}, "data_checksums", False),
        ({"app_networks": ["10.0.0.0/8", "fd00::/8"]}, "app_networks", ["10.0.0.0/8", "fd00::/8"]),
        ({"app_networks": ("192.168.1.7",)}, "app_networks", ["192.168.1.7/32"]),
        ({"postgres_overrides": {"work_mem": "32MB"}}, "postgres_overrides", {"work_mem": "32MB"}),
        ({"database": "tsdb_2"}, "database", "tsdb_2"),
        ({"app_password_file": "/etc/tsdb/pw"}, "app_password_file", "/etc/tsdb/pw"),
        ({"timescaledb_version": "2.29.2"}, "timescaledb_version", "2.29.2"),
        (
            {"pgdg_apt_url": "http://mirror.lan:8080/pgdg/"},
            "pgdg_apt_url",
            "http://mirror.lan:8080/pgdg",
        ),
        (
            {"timescale_key_url": "https://m.example/ts/gpgkey"},
            "timescale_key_url",
            "https://m.example/ts/gpgkey",
        ),
    ],
    ids=lambda v: next(iter(v)) + "=" + repr(next(iter(v.values()))) if isinstance(v, dict) else "",
)
def test_given_values_are_checked_and_normalised(extra, key, expected):
    resolved = resolve({**MINIMAL, **extra})
    assert resolved[key] == expected
    assert type(resolved[key]) is type(expected)


@pytest.mark.parametrize(
    "extra, pattern",
    [
        pytest.param(
            {"runtime": "podman"},
            r"runtime = 'podman': must be one of native, docker",
            id="bad-enum",
        ),
        pytest.param(
            {"pg_version": "17"}, r"pg_version = '17': must be one of 15, 16, 17", id="enum-type"
        ),
        pytest.param(
            {"storage_class": "floppy"},
            r"storage_class = 'floppy': must be one of hdd, ssd, nvme, san",
            id="bad-storage",
        ),
        pytest.param(
            {"port": 70000}, r"port = 70000: must be in 1\.\.65535", id="int-out-of-range"
        ),
        pytest.param(
            {"port": "5432"}, r"port = '5432': must be an integer in 1\.\.65535", id="int-as-str"
        ),
        pytest.param(
            {"port": True}, r"port = True: must be an integer in 1\.\.65535", id="int-as-bool"
        ),
        pytest.param(
            {"max_connections": 0},
            r"max_connections = 0: must be in 1\.\.10000",
            id="connections-zero",
        ),
        pytest.param(
            {"cpu_limit": 0.05}, r"cpu_limit = 0\.05: must be in 0\.1\.\.4096", id="float-range"
        ),
        pytest.param(
            {"cpu_limit": True},
            r"cpu_limit = True: must be a number in 0\.1\.\.4096",
            id="float-as-bool",
        ),
        pytest.param(
            {"data_checksums": "yes"},
            r"data_checksums = 'yes': must be True or False",
            id="bool-as-str",
        ),
        pytest.param(
            {"data_checksums": None},
            r"data_checksums = None: must be True or False",
            id="bool-none",
        ),
        pytest.param(
            {"app_networks": ["10.0.0.1/8"]},
            r"app_networks = '10\.0\.0\.1/8': not a network in CIDR form \(.*host bits set\)",
            id="network-host-bits",
        ),
        pytest.param(
            {"app_networks": ["office"]},
            r"app_networks = 'office': not a network in CIDR form",
            id="network-name",
        ),
        pytest.param(
            {"app_networks": "10.0.0.0/8"},
            r"app_networks = '10\.0\.0\.0/8': must be a non-empty list of networks",
            id="network-not-a-list",
        ),
        pytest.param(
            {"app_networks": []},
            r"app_networks = \[\]: must be a non-empty list of networks",
            id="network-empty",
        ),
        pytest.param(
            {"database": "Analytics-DB"},
            r"database = 'Analytics-DB': must be a lower-case SQL identifier",
            id="database-not-identifier",
        ),
        pytest.param(
            {"app_user": "1user"},
            r"app_user = '1user': must be a lower-case SQL identifier",
            id="user-leading-digit",
        ),
        pytest.param(
            {"database": "a" * 64},
            r"database = 'a{64}': must be a lower-case SQL identifier .*63 chars",
            id="identifier-too-long",
        ),
        pytest.param(
            {"memory_limit": "8XB"},
            r"memory_limit = '8XB': not a size: '8XB'",
            id="size-unreadable",
        ),
        pytest.param(
            {"listen_addresses": ""},
            r"listen_addresses = '': must be '\*' or a comma-separated list of host names",
            id="listen-empty",
        ),
        pytest.param(
            {"listen_addresses": "localhost' \nssl = 'off"},
            r"listen_addresses = .*: must not contain control characters",
            id="listen-newline",
        ),
        pytest.param(
            {"listen_addresses": "localhost'; ssl = 'off"},
            r"listen_addresses = .*: must be '\*' or a comma-separated list",
            id="listen-quote",
        ),
        pytest.param(
            {"BACKUP_DIR": "/var/backups/x;rm -rf /"},
            r"BACKUP_DIR = .*: must be an absolute path of letters, digits and \._\+@=/- only",
            id="path-shell",
        ),
        pytest.param(
            {"pgbackrest_repo_path": "/var/lib/pgbackrest\n[global]"},
            r"pgbackrest_repo_path = .*: must not contain control characters",
            id="path-ini-newline",
        ),
        pytest.param(
            {"docker_daemon_environment": {"HTTP_PROXY": "x\nExecStart=/bin/sh"}},
            r"docker_daemon_environment = .*: must not contain control characters",
            id="environment-newline",
        ),
        pytest.param(
            {"docker_daemon_environment": {"A B": "x"}},
            r"docker_daemon_environment = 'A B': must be an environment variable name",
            id="environment-name",
        ),
        pytest.param(
            {"postgres_overrides": {"work_mem": "32MB\nssl = off"}},
            r"postgres_overrides = .*: must not contain control characters",
            id="override-newline",
        ),
        pytest.param(
            {"postgres_overrides": {"hash_mem_multiplier": float("nan")}},
            r"hash_mem_multiplier: must be a finite number",
            id="override-nan",
        ),
        pytest.param(
            {"cpu_limit": float("inf")}, r"cpu_limit = inf: must be a finite number", id="inf"
        ),
        pytest.param(
            {"BACKUP_COMPRESSION": "zstd:3 --no-owner"},
            r"BACKUP_COMPRESSION = .*: must be a pg_dump --compress value",
            id="compression-option",
        ),
        pytest.param(
            {"app_password_env": "X; rm"},
            r"app_password_env = .*: must be an environment variable name",
            id="envname",
        ),
        pytest.param(
            {"data_volume": "pgdata:/etc"},
            r"data_volume = .*: must be a docker volume name or an absolute host path",
            id="volume-mount-option",
        ),
        pytest.param(
            {"docker_daemon": {"log-opts": {"max-size": float("nan")}}},
            r"docker_daemon = .*: must be JSON",
            id="daemon-nan",
        ),
        pytest.param(
            {"acknowledge_unsafe": ["fsync", "everything"]},
            r"acknowledge_unsafe = \['everything'\]: must be among fsync, full_page_writes",
            id="acknowledge-unknown",
        ),
        pytest.param(
            {"tls_cert_file": None},
            r"tls_cert_file and tls_key_file: both needed while tls is True",
            id="tls-without-files",
        ),
        pytest.param(
            {"timescaledb_version": "2.19"},
            r"timescaledb_version = '2\.19': must be a release version such as '2\.19\.3'",
            id="version-not-a-release",
        ),
        pytest.param(
            {"timescaledb_version": "latest"},
            r"timescaledb_version = 'latest': must be a release version",
            id="version-latest",
        ),
        pytest.param(
            {"timescale_apt_url": "http://m/ts\ndeb http://evil/ x main"},
            r"timescale_apt_url = 'http://m/ts\\ndeb http://evil/ x main': must not contain",
            id="url-newline-injection",
        ),
        pytest.param(
            {"pgdg_apt_url": "http://m/pgdg [trusted=yes]"},
            r"pgdg_apt_url = .*: must be an http\(s\) URL without spaces, quotes or brackets",
            id="url-apt-option-injection",
        ),
        pytest.param(
            {"pgdg_key_url": "file:///etc/shadow"},
            r"pgdg_key_url = 'file:///etc/shadow': must be an http\(s\) URL",
            id="url-not-http",
        ),
        pytest.param(
            {"docker_apt_url": "https://x/'$(id)'"},
            r"docker_apt_url = .*: must be an http\(s\) URL",
            id="url-shell-quote",
        ),
        pytest.param(
            {"postgres_overrides": ["work_mem=1GB"]},
            r"postgres_overrides = \['work_mem=1GB'\]: must be a dict of parameter name -> value",
            id="overrides-not-a-dict",
        ),
    ],
)
def test_each_error_names_the_setting_and_what_it_accepts(extra, pattern):
    message = _error({**MINIMAL, **extra})
    assert message.startswith("db1: invalid inventory data: ")
    assert re.search(pattern, message), message


@pytest.mark.parametrize(
    "typo, suggestion",
    [("backup_dir", "BACKUP_DIR"), ("PITR", "pitr"), ("pitr_enabled", "pitr"),
     ("enable_tls", "tls"), ("Timescaledb_Version", "timescaledb_version")],
)  # fmt: skip
def test_typos_of_any_case_are_caught(typo, suggestion):
    message = _error({**MINIMAL, typo: True})
    assert f"{typo}: unknown setting; did you mean {suggestion}?" in message


@pytest.mark.parametrize("missing", ["runtime", "database", "app_user"])
def test_missing_required_setting(missing):
    data = {k: v for k, v in MINIMAL.items() if k != missing}
    message = _error(data)
    assert re.search(rf"{missing}: not set \(", message), message


def test_several_errors_reported_at_once():
    message = _error({"runtime": "podman", "app_user": "dashboard", "port": 0, "cpu_limit": "2"})
    assert message.startswith("db1: invalid inventory data: ")
    for pattern in (
        r"runtime = 'podman': must be one of",
        r"port = 0: must be in 1\.\.65535",
        r"cpu_limit = '2': must be a number",
        r"database: not set",
    ):
        assert re.search(pattern, message), pattern
    assert message.count("; ") == 3


@pytest.mark.parametrize(
    "typo, suggestion",
    [
        ("max_conections", "max_connections"),
        ("Runtime", "runtime"),
        ("memory_limt", "memory_limit"),
        ("postgres_override", "postgres_overrides"),
        ("data_checksum", "data_checksums"),
    ],
)
def test_typos_are_caught_with_a_suggestion(typo, suggestion):
    message = _error({**MINIMAL, typo: 1})
    assert f"{typo}: unknown setting; did you mean {suggestion}?" in message


@pytest.mark.parametrize(
    "key", ["ssh_user", "ansible_host", "_sudo", "pyinfra_group", "backup_bucket"]
)
def test_unrelated_keys_are_ignored(key):
    resolved = resolve({**MINIMAL, key: "x"})
    assert key not in resolved


def test_explicit_none_takes_the_optional_default():
    resolved = resolve({**MINIMAL, "memory_limit": None, "storage_class": None})
    assert resolved["memory_limit"] is None and resolved["storage_class"] is None


def test_required_none_is_an_error():
    assert "runtime = None: must be one of native, docker" in _error({**MINIMAL, "runtime": None})


def test_host_name_leads_the_message():
    assert _error({}, host="web-7").startswith("web-7: invalid inventory data: ")


def test_size_range_error_is_readable():
    message = _error({**MINIMAL, "memory_limit": "32MiB"})
    assert "'32MiB'" in message
    assert re.search(r"64(\.0)? ?Mi?B", message), message


@pytest.mark.parametrize("role", ["dashboard", "klaviyo_readonly"])
def test_the_owner_role_is_neither_the_application_nor_the_dashboard(role):
    assert "must be four roles" in _error({**MINIMAL, "owner_role": role})


def test_every_setting_has_a_known_group():
    assert {s.group for s in SETTINGS.values()} <= set(GROUPS)
    assert SETTINGS["docker_source"].group == "docker"
    assert SETTINGS["pgdg_apt_url"].group == "native"
    assert SETTINGS["pgbackrest_repo_path"].group == "pitr"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"docker_source": "distro"}, "docker_source: applies to docker hosts only, and this "
         "host's runtime is native"),
        ({"runtime": "docker", "pgdg_apt_url": "http://mirror/pgdg"},
         "pgdg_apt_url: applies to native hosts only, and this host's runtime is docker"),
        ({"pitr": False, "pgbackrest_repo_path": "/srv/pgbackrest"},
         "pgbackrest_repo_path: applies only with pitr, which is off on this host"),
        ({"pitr": False, "archive_timeout": 120}, "archive_timeout: applies only with pitr"),
    ],
)  # fmt: skip
def test_a_setting_where_its_group_does_not_apply_is_an_error(data, message):
    assert message in _error({**MINIMAL, **data})


@pytest.mark.parametrize(
    "data",
    [
        {"runtime": "docker", "docker_source": "distro", "container_memory": "2GiB"},
        {"package_source": "distro", "pgdg_apt_url": "http://mirror/pgdg"},
        {"pitr": True, "pgbackrest_repo_path": "/srv/pgbackrest"},
        {"runtime": "docker", "BACKUP_DIR": "/srv/backups"},
        {"BACKUP_DIR": "/srv/backups", "pitr": False},
    ],
)
def test_a_setting_in_its_group_is_taken(data):
    resolved = resolve({**MINIMAL, **data})
    assert all(resolved[k] is not None for k in data)
