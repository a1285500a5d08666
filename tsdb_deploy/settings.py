"""Inventory settings: every key a host's data may carry, declared once with type and default.

Like pgBackRest's option table: one declaration per setting, validation in one place, and
errors that name the setting and what it accepts. Host data is checked before any operation
is planned, so bad inventory never reaches a host.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from .planner.inputs import PG_VERSIONS, PROFILES, STORAGE_CLASSES
from .units import UnitError, format_size, parse_interval, parse_size

REQUIRED = object()
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_VERSION = re.compile(r"^\d{1,4}\.\d{1,4}\.\d{1,4}$")
# What an apt source line and a download may carry: no whitespace, quotes, brackets (apt's
# option syntax) or control characters, so a URL cannot add options or lines where it is written.
_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._~%+,;=:@/-]*)?$")
# pg_hba.conf keywords (a database named `all` would open every database) and built-ins.
_RESERVED_NAMES = {
    "all", "sameuser", "samerole", "samegroup", "replication", "postgres", "template0",
    "template1", "public",
}  # fmt: skip


class SettingsError(ValueError):
    """Invalid inventory data; the message names the host, the setting and what it accepts."""


@dataclass(frozen=True)
class Setting:
    name: str
    kind: str  # str | int | float | bool | size | enum | identifier | networks | mapping
    default: Any
    doc: str
    choices: tuple = ()
    min: float | None = None
    max: float | None = None
    optional: bool = False  # None allowed: "detect" or "not set"

    def check(self, value: Any) -> Any:
        if value is None and (self.optional or self.default is None):
            return None
        checker = getattr(self, f"_check_{self.kind}")
        return checker(value)

    def _fail(self, value, accepts: str):
        raise SettingsError(f"{self.name} = {value!r}: {accepts}")

    def _check_str(self, value):
        if not isinstance(value, str) or not value:
            self._fail(value, "must be a non-empty string")
        return value

    def _check_identifier(self, value):
        if not isinstance(value, str) or not _IDENTIFIER.match(value):
            self._fail(value, "must be a lower-case SQL identifier (a-z, 0-9, _; 63 chars)")
        if value in _RESERVED_NAMES:
            self._fail(value, "is a pg_hba keyword or a built-in database or role")
        return value

    def _check_int(self, value):
        if isinstance(value, bool) or not isinstance(value, int):
            self._fail(value, f"must be an integer in {self.min:g}..{self.max:g}")
        return self._in_range(value)

    def _check_float(self, value):
        if isinstance(value, bool) or not isinstance(value, int | float):
            self._fail(value, f"must be a number in {self.min:g}..{self.max:g}")
        return self._in_range(float(value))

    def _in_range(self, value):
        if (self.min is not None and value < self.min) or (
            self.max is not None and value > self.max
        ):
            self._fail(value, f"must be in {self.min:g}..{self.max:g}")
        return value

    def _check_bool(self, value):
        if not isinstance(value, bool):
            self._fail(value, "must be True or False")
        return value

    def _check_size(self, value):
        try:
            size = parse_size(value)
        except UnitError as exc:
            self._fail(value, str(exc))
        if not self.min <= size <= self.max:
            self._fail(value, f"must be in {format_size(self.min)}..{format_size(self.max)}")
        return size

    def _check_enum(self, value):
        if value not in self.choices:
            self._fail(value, f"must be one of {', '.join(map(str, self.choices))}")
        return value

    def _check_networks(self, value):
        if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
            self._fail(value, "must be a non-empty list of networks such as '10.0.0.0/8'")
        out = []
        for item in value:
            if not isinstance(item, str):
                self._fail(item, "not a network in CIDR form (write it as a string)")
            try:
                out.append(str(ipaddress.ip_network(item, strict=True)))
            except ValueError as exc:
                self._fail(item, f"not a network in CIDR form ({exc})")
        return out

    def _check_version(self, value):
        if not isinstance(value, str) or not _VERSION.match(value):
            self._fail(value, "must be a release version such as '2.19.3'")
        return value

    def _check_url(self, value):
        if not isinstance(value, str) or not _URL.match(value):
            self._fail(value, "must be an http(s) URL without spaces, quotes or brackets")
        return value.rstrip("/")

    def _check_network(self, value):
        return self._check_networks([value])[0]

    def _check_image(self, value):
        ref = value if isinstance(value, str) else ""
        name, _, tag = ref.rpartition(":")
        if "@sha256:" in ref:
            return ref
        if not name or "/" in tag or not tag or tag == "latest":
            self._fail(value, "must be an image pinned by tag or digest (not 'latest')")
        return ref

    def _check_addresses(self, value):
        if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
            self._fail(value, "must be a non-empty list of IP addresses such as '127.0.0.1'")
        for item in value:
            try:
                ipaddress.ip_address(item)
            except ValueError as exc:
                self._fail(item, f"not an IP address ({exc})")
        return list(value)

    def _check_path(self, value):
        if not isinstance(value, str) or not value.startswith("/") or ".." in value.split("/"):
            self._fail(value, "must be an absolute path")
        return value.rstrip("/") or "/"

    def _check_interval(self, value):
        try:
            parse_interval(value)
        except UnitError:
            self._fail(value, "must be an interval such as '90 days' or '2 years'")
        return value

    def _check_mapping(self, value):
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            self._fail(value, "must be a dict of parameter name -> value")
        return dict(value)


_TABLE = [
    Setting(
        "runtime",
        "enum",
        REQUIRED,
        "where PostgreSQL runs; set by the `native` or `docker` group",
        choices=("native", "docker"),
    ),
    Setting(
        "package_source",
        "enum",
        "upstream",
        "upstream: PGDG + Timescale's apt repositories (TimescaleDB Community build); "
        "distro: the distribution's packages (Debian 13: Apache-only TimescaleDB)",
        choices=("upstream", "distro"),
    ),
    Setting(
        "pgdg_apt_url",
        "url",
        "https://apt.postgresql.org/pub/repos/apt",
        "PGDG apt repository (or a mirror of it): deb <url> <codename>-pgdg main",
    ),
    Setting(
        "pgdg_key_url",
        "url",
        "https://www.postgresql.org/media/keys/ACCC4CF8.asc",
        "the key PGDG's repository (or the mirror) is signed with",
    ),
    Setting(
        "timescale_apt_url",
        "url",
        "https://packagecloud.io/timescale/timescaledb",
        "Timescale apt repository (or a mirror): deb <url>/<distro>/ <codename> main",
    ),
    Setting(
        "timescale_key_url",
        "url",
        None,
        "the key Timescale's repository (or the mirror) is signed with; None: "
        "<timescale_apt_url>/gpgkey, where Timescale publishes it",
    ),
    Setting(
        "timescaledb_version",
        "version",
        # not 2.19.3: its pg_dump backups of compressed data do not restore (known_issues.py)
        "2.29.2",
        "the TimescaleDB release hosts run: the pinned package version (package_source "
        "upstream) and the default image's tag (docker runtime). Raising it upgrades the "
        "packages or image and every database's extension; lowering it is refused",
    ),
    Setting("pg_version", "enum", 17, "PostgreSQL major version", choices=PG_VERSIONS),
    Setting("profile", "enum", "analytics", "workload profile", choices=tuple(PROFILES)),
    Setting(
        "max_connections", "int", None, "None: sized from memory and profile", min=1, max=10000
    ),
    Setting(
        "background_workers",
        "int",
        None,
        "timescaledb.max_background_workers; None: sized from memory",
        min=0,
        max=1000,
    ),
    Setting(
        "memory_limit",
        "size",
        None,
        "memory PostgreSQL may use; None: the cgroup limit where it runs, else the host's memory",
        min=64 * 1024**2,
        max=16 * 1024**4,
    ),
    Setting(
        "cpu_limit",
        "float",
        None,
        "CPUs PostgreSQL may use; None: the cgroup quota / "
        "cpuset where it runs, else the host's CPUs",
        min=0.1,
        max=4096,
    ),
    Setting(
        "storage_class", "enum", None, "None: detected from the data disk", choices=STORAGE_CLASSES
    ),
    Setting(
        "data_checksums",
        "bool",
        True,
        "initdb --data-checksums for new clusters: detects silent corruption",
    ),
    Setting(
        "listen_addresses", "str", "localhost", "addresses PostgreSQL listens on ('*' for all)"
    ),
    Setting("port", "int", 5432, "PostgreSQL port", min=1, max=65535),
    Setting(
        "app_networks",
        "networks",
        ["127.0.0.1/32", "::1/128"],
        "networks the application role may connect from (scram-sha-256)",
    ),
    Setting("database", "identifier", REQUIRED, "the analytics database"),
    Setting("app_user", "identifier", REQUIRED, "the application role that owns the schema"),
    Setting(
        "app_password_env",
        "str",
        "TSDB_APP_PASSWORD",
        "environment variable (on the machine running pyinfra) holding the password",
    ),
    Setting(
        "app_password_file",
        "str",
        None,
        "file outside git holding the password; read when the variable is unset",
    ),
    # --- the schema (sql/) -------------------------------------------------------------
    Setting(
        "readonly_role",
        "identifier",
        "klaviyo_readonly",
        "NOLOGIN role the dashboard's login roles are granted: reads everything, writes nothing",
    ),
    Setting(
        "events_per_day",
        "int",
        None,
        "expected ingest; sizes the events chunk interval so a chunk's indexes fit in "
        "shared_buffers. None (unknown): the documents' 7 days",
        min=1,
        max=10**12,
    ),
    Setting(
        "space_partitions",
        "int",
        0,
        "hash partitions of klaviyo_events on metric_id; 0: none (see README)",
        min=0,
        max=64,
    ),
    Setting(
        "events_properties_index",
        "bool",
        True,
        "the documents' GIN index on klaviyo_events.properties, for filters on any JSON "
        "property; no dashboard query reads it and it costs about a quarter of COPY ingest "
        "(README, the benchmark). False drops it, True builds it again chunk by chunk",
    ),
    Setting(
        "compress_after",
        "interval",
        "90 days",
        "compress events older than this (Community build only); chunks span at most a third of it",
    ),
    Setting(
        "retention",
        "interval",
        "2 years",
        "drop events older than this; chunks span at most a third of it",
    ),
    # --- backups (the documents' names) and point-in-time recovery ----------------------
    Setting("BACKUP_DIR", "path", "/var/backups/tsdb", "logical backups (pg_dump), per tier"),
    Setting("MAX_HOURLY_BACKUPS", "int", 24, "hourly backups kept", min=1, max=10000),
    Setting("MAX_DAILY_BACKUPS", "int", 7, "daily backups kept", min=1, max=10000),
    Setting("MAX_WEEKLY_BACKUPS", "int", 4, "weekly backups kept", min=1, max=10000),
    Setting("MAX_MONTHLY_BACKUPS", "int", 12, "monthly backups kept", min=1, max=10000),
    Setting(
        "BACKUP_COMPRESSION",
        "str",
        None,
        "pg_dump --compress spec; None: zstd:3 (PostgreSQL 16+), 6 (gzip) on 15",
    ),
    Setting("pitr", "bool", True, "WAL archiving with pgBackRest for point-in-time recovery"),
    Setting(
        "archive_timeout",
        "int",
        60,
        "seconds: WAL is archived at least this often (the RPO bound)",
        min=1,
        max=86400,
    ),
    Setting(
        "pgbackrest_repo_path", "path", "/var/lib/pgbackrest", "pgBackRest's repository on the host"
    ),
    Setting(
        "pgbackrest_retention_full",
        "int",
        2,
        "full backups pgBackRest keeps (with their WAL)",
        min=1,
        max=100,
    ),
    Setting(
        "pgbackrest_repo2_path",
        "path",
        None,
        "a second repository (e.g. another disk or an NFS mount); None: none",
    ),
    # --- the docker runtime -----------------------------------------------------------
    Setting(
        "docker_source",
        "enum",
        "upstream",
        "upstream: Docker's apt repository (docker-ce + compose plugin); distro: the "
        "distribution's docker.io + docker-compose",
        choices=("upstream", "distro"),
    ),
    Setting(
        "docker_apt_url",
        "url",
        "https://download.docker.com/linux",
        "Docker's apt repository (or a mirror); /<distro> is appended",
    ),
    Setting(
        "docker_daemon",
        "mapping",
        {},
        "daemon.json keys that replace the defaults' (runtimes/docker_ops.py DAEMON_DEFAULTS: "
        "bounded json-file logs, live-restore)",
    ),
    Setting(
        "docker_daemon_environment",
        "mapping",
        {},
        "environment for dockerd (a systemd drop-in), e.g. "
        "DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1 where /proc/sys is read-only",
    ),
    Setting(
        "timescaledb_image",
        "image",
        None,
        "the TimescaleDB image, pinned by tag or digest; it must ship timescaledb_version. "
        "None: timescale/timescaledb:<timescaledb_version>-pg<pg_version>",
    ),
    Setting(
        "timescaledb_image_archive",
        "str",
        None,
        "a `docker save` archive on the machine running pyinfra, uploaded and loaded "
        "instead of pulling (air-gapped hosts)",
    ),
    Setting("container_name", "identifier", "tsdb_timescaledb", "the database container"),
    Setting(
        "container_memory",
        "size",
        None,
        "memory limit of the container; None: the host's effective memory",
        min=256 * 1024**2,
        max=16 * 1024**4,
    ),
    Setting(
        "container_cpus",
        "float",
        None,
        "CPU limit of the container; None: the host's effective CPUs",
        min=0.1,
        max=4096,
    ),
    Setting(
        "data_volume",
        "str",
        "tsdb_pgdata",
        "the data directory: a named docker volume, or an absolute host path",
    ),
    Setting(
        "docker_network",
        "enum",
        "bridge",
        "bridge: the port is published on publish_addresses only; host: PostgreSQL "
        "listens on the host's interfaces (listen_addresses)",
        choices=("bridge", "host"),
    ),
    Setting(
        "docker_subnet",
        "network",
        "172.30.57.0/24",
        "the database container's bridge network; its gateway is allowed in "
        "pg_hba for clients on the host",
    ),
    Setting(
        "publish_addresses",
        "addresses",
        ["127.0.0.1"],
        "host addresses the port is published on (bridge network)",
    ),
    Setting(
        "stop_grace_period",
        "int",
        120,
        "seconds docker waits for a clean shutdown before killing PostgreSQL",
        min=10,
        max=3600,
    ),
    Setting(
        "postgres_overrides",
        "mapping",
        {},
        "postgresql.conf parameters that win over the planner (still range- and budget-checked)",
    ),
]

SETTINGS: dict[str, Setting] = {s.name: s for s in _TABLE}


def resolve(data: dict[str, Any], host: str = "host") -> dict[str, Any]:
    """Every setting for one host: its data where given, else the default; errors name all."""
    errors = []
    resolved = {}
    for name, setting in SETTINGS.items():
        value = data.get(name, setting.default)
        if value is REQUIRED:
            errors.append(f"{name}: not set ({setting.doc})")
            continue
        try:
            resolved[name] = setting.check(value)
        except SettingsError as exc:
            errors.append(str(exc))
    for key in data:
        close = difflib.get_close_matches(key, SETTINGS, n=1, cutoff=0.85)
        if key not in SETTINGS and close:
            errors.append(f"{key}: unknown setting; did you mean {close[0]}?")
    if errors:
        raise SettingsError(f"{host}: invalid inventory data: " + "; ".join(errors))
    return resolved
