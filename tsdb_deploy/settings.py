"""Inventory settings: every key a host's data may carry, declared once with type and default.

Like pgBackRest's option table: one declaration per setting, validation in one place, and
errors that name the setting and what it accepts. Host data is checked before any operation
is planned, so bad inventory never reaches a host.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from .formats import CONTROL
from .planner.inputs import PG_VERSIONS, PROFILES, STORAGE_CLASSES
from .planner.parameters import ADDRESS_LIST
from .planner.security import UNSAFE
from .units import UnitError, format_size, parse_interval, parse_size

REQUIRED = object()
# what a host serves (the `environment` setting); only the last two may be rebuilt from a backup
ENVIRONMENTS = ("production", "staging", "development")
REBUILDABLE = ("staging", "development")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_VERSION = re.compile(r"^\d{1,4}\.\d{1,4}\.\d{1,4}$")
# What an apt source line and a download may carry: no whitespace, quotes, brackets (apt's
# option syntax) or control characters, so a URL cannot add options or lines where it is written.
_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._~%+,;=:@/-]*)?$")
# A host path written into config files, cron lines and shell commands: absolute, and none of
# the characters a shell, an INI parser or a systemd unit would read as syntax.
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._+@=/-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Docker's image reference (distribution/reference): [registry[:port]/]path[:tag][@digest]
_IMAGE = re.compile(
    r"^(?:[a-z0-9][a-z0-9.-]*(?::\d{1,5})?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
_VOLUME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# pg_dump --compress: a gzip level, or method[:level] (PostgreSQL 16+)
_COMPRESSION = re.compile(r"^([0-9]|none|(gzip|lz4|zstd)(:[0-9]{1,2})?)$")
# pg_hba.conf keywords (a database named `all` would open every database) and built-ins.
_RESERVED_NAMES = {
    "all", "sameuser", "samerole", "samegroup", "replication", "postgres", "template0",
    "template1", "public",
}  # fmt: skip


# Kinds that are a string matching a grammar, taken as written: kind -> (grammar, accepts).
_GRAMMARS = {
    "version": (_VERSION, "must be a release version such as '2.19.3'"),
    "envname": (_ENV_NAME, "must be an environment variable name (letters, digits, _)"),
    "compression": (_COMPRESSION, "must be a pg_dump --compress value such as 'zstd:3' or '6'"),
}


def _unit(kind: str) -> str:
    return "pct" if kind in ("pool_use", "rollback") else "s"


def _strings(value) -> list[str]:
    """Every string in a value, keys of mappings included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple | set):
        return [s for item in value for s in _strings(item)]
    return []


# tsdb-status's thresholds (status_thresholds): name -> (default, min, max, what it bounds).
# A check at or past a warning threshold is WARNING (exit 1), past a critical one CRITICAL (2).
STATUS_THRESHOLDS = {
    "pool_use_warning_pct": (80, 1, 100, "server connections of PgBouncer's pool in use"),
    "pool_use_critical_pct": (95, 1, 100, "the same, critical"),
    "pool_wait_warning_s": (1, 0, 3600, "the longest a client has waited for a connection"),
    "pool_wait_critical_s": (5, 0, 3600, "the same, critical (the documents' 5 s timeout)"),
    "slow_query_warning_ms": (1000, 1, 3600000, "the slowest statement's mean time"),
    "rollback_warning_pct": (5, 0, 100, "transactions rolled back since the previous check"),
    "rollback_critical_pct": (20, 0, 100, "the same, critical"),
    "replica_lag_warning_s": (30, 1, 86400, "a replica's replay lag"),
    "replica_lag_critical_s": (300, 1, 86400, "the same, critical"),
    "disk_free_warning_pct": (20, 1, 99, "free space for data, WAL and backups"),
    "disk_free_critical_pct": (10, 1, 99, "the same, critical"),
    "archive_age_warning_s": (600, 60, 86400, "since the last WAL segment was archived"),
}


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
    # where it applies: all hosts; native or docker runtime only; pitr only with pitr on;
    # backups (every host: logical backups are always installed)
    group: str = "all"

    def check(self, value: Any) -> Any:
        if value is None and (self.optional or self.default is None):
            return None
        for text in _strings(value):
            if CONTROL.search(text):
                self._fail(value, "must not contain control characters (newline, tab, ...)")
        if self.kind in _GRAMMARS:  # a string that is its grammar's, as it is
            grammar, accepts = _GRAMMARS[self.kind]
            if not isinstance(value, str) or not grammar.match(value):
                self._fail(value, accepts)
            return value
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
        if not math.isfinite(value):
            self._fail(value, f"must be a finite number in {self.min:g}..{self.max:g}")
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

    def _check_url(self, value):
        if not isinstance(value, str) or not _URL.match(value):
            self._fail(value, "must be an http(s) URL without spaces, quotes or brackets")
        return value.rstrip("/")

    def _check_hostport(self, value):
        address, _, port = value.rpartition(":") if isinstance(value, str) else ("", "", "")
        try:
            ipaddress.ip_address(address.strip("[]"))
            if not 1 <= int(port) <= 65535:
                raise ValueError
        except ValueError:
            self._fail(value, "must be an IP address and a port, such as '127.0.0.1:9187'")
        return value

    def _check_network(self, value):
        return self._check_networks([value])[0]

    def _check_image(self, value):
        match = _IMAGE.match(value) if isinstance(value, str) else None
        if not match or match["tag"] == "latest" or not (match["tag"] or match["digest"]):
            self._fail(value, "must be an image pinned by tag or digest (not 'latest')")
        return value

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
        if not isinstance(value, str) or not _SAFE_PATH.match(value) or ".." in value.split("/"):
            self._fail(value, "must be an absolute path of letters, digits and ._+@=/- only")
        return value.rstrip("/") or "/"

    def _check_localpath(self, value):
        """A file on the machine running pyinfra: read there, never written into a file or a
        command (the docker runtime names the uploaded archive by its image digest)."""
        if not isinstance(value, str) or not value:
            self._fail(value, "must be a file path")
        return value

    def _check_listen(self, value):
        if not isinstance(value, str) or not ADDRESS_LIST.match(value):
            self._fail(value, "must be '*' or a comma-separated list of host names and addresses")
        return ",".join(part.strip() for part in value.split(","))

    def _check_volume(self, value):
        if not isinstance(value, str) or not (
            _VOLUME.match(value) or (_SAFE_PATH.match(value) and ".." not in value.split("/"))
        ):
            self._fail(value, "must be a docker volume name or an absolute host path")
        return value

    def _check_names(self, value):
        if isinstance(value, str) or not isinstance(value, list | tuple):
            self._fail(value, f"must be a list of names among {', '.join(self.choices)}")
        unknown = [item for item in value if item not in self.choices]
        if unknown:
            self._fail(unknown, f"must be among {', '.join(self.choices)}")
        return sorted(set(value))

    def _check_interval(self, value):
        try:
            parse_interval(value)
        except UnitError:
            self._fail(value, "must be an interval such as '90 days' or '2 years'")
        return value

    def _check_mapping(self, value):
        """postgres_overrides: parameter name -> a scalar (the planner checks each value)."""
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            self._fail(value, "must be a dict of parameter name -> value")
        for key, item in value.items():
            if not isinstance(item, str | int | float | bool) or (
                isinstance(item, float) and not math.isfinite(item)
            ):
                self._fail(item, f"{key}: must be a finite number, a string or True/False")
        return dict(value)

    def _check_json(self, value):
        """docker_daemon: daemon.json keys, written with json.dumps."""
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            self._fail(value, "must be a dict of daemon.json keys")
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            self._fail(value, f"must be JSON ({exc})")
        return dict(value)

    def _check_thresholds(self, value):
        """status_thresholds: names from STATUS_THRESHOLDS -> numbers in their ranges."""
        if not isinstance(value, dict):
            self._fail(value, "must be a dict of threshold name -> number")
        out = {name: spec[0] for name, spec in STATUS_THRESHOLDS.items()}
        for key, item in value.items():
            if key not in STATUS_THRESHOLDS:
                self._fail(key, f"unknown threshold; known: {', '.join(STATUS_THRESHOLDS)}")
            _, low, high, _ = STATUS_THRESHOLDS[key]
            if isinstance(item, bool) or not isinstance(item, int) or not low <= item <= high:
                self._fail(item, f"{key}: must be an integer in {low}..{high}")
            out[key] = item
        for kind in ("pool_use", "pool_wait", "rollback", "replica_lag"):
            warn, crit = out[f"{kind}_warning_{_unit(kind)}"], out[f"{kind}_critical_{_unit(kind)}"]
            if warn > crit:
                self._fail(
                    value, f"{kind}: the warning threshold ({warn}) exceeds the critical ({crit})"
                )
        if out["disk_free_warning_pct"] < out["disk_free_critical_pct"]:
            self._fail(value, "disk_free: the warning threshold is below the critical one")
        return out

    def _check_environment(self, value):
        """docker_daemon_environment: variable name -> value, for a systemd drop-in."""
        if not isinstance(value, dict):
            self._fail(value, "must be a dict of environment variable -> value")
        for key, item in value.items():
            if not isinstance(key, str) or not _ENV_NAME.match(key):
                self._fail(key, "must be an environment variable name (letters, digits, _)")
            if not isinstance(item, str | int) or isinstance(item, bool):
                self._fail(item, f"{key}: must be a string or an integer")
        return {k: str(v) for k, v in value.items()}


_TABLE = [
    Setting(
        "runtime",
        "enum",
        REQUIRED,
        "where PostgreSQL runs; set by the `native` or `docker` group",
        choices=("native", "docker"),
    ),
    Setting(
        "environment",
        "enum",
        "production",
        "what the host serves; `tsdb-deploy staging-rebuild` overwrites only a target that says "
        "staging or development, so a host that does not say counts as production",
        choices=ENVIRONMENTS,
    ),
    Setting(
        "package_source",
        "enum",
        "upstream",
        "upstream: PGDG + Timescale's apt repositories (TimescaleDB Community build); "
        "distro: the distribution's packages (Debian 13: Apache-only TimescaleDB)",
        choices=("upstream", "distro"),
        group="native",
    ),
    Setting(
        "pgdg_apt_url",
        "url",
        "https://apt.postgresql.org/pub/repos/apt",
        "PGDG apt repository (or a mirror of it): deb <url> <codename>-pgdg main",
        group="native",
    ),
    Setting(
        "pgdg_key_url",
        "url",
        "https://www.postgresql.org/media/keys/ACCC4CF8.asc",
        "the key PGDG's repository (or the mirror) is signed with",
        group="native",
    ),
    Setting(
        "timescale_apt_url",
        "url",
        "https://packagecloud.io/timescale/timescaledb",
        "Timescale apt repository (or a mirror): deb <url>/<distro>/ <codename> main",
        group="native",
    ),
    Setting(
        "timescale_key_url",
        "url",
        None,
        "the key Timescale's repository (or the mirror) is signed with; None: "
        "<timescale_apt_url>/gpgkey, where Timescale publishes it",
        group="native",
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
        "listen_addresses", "listen", "localhost", "addresses PostgreSQL listens on ('*' for all)"
    ),
    Setting("port", "int", 5432, "PostgreSQL port", min=1, max=65535),
    Setting(
        "app_networks",
        "networks",
        ["127.0.0.1/32", "::1/128"],
        "networks the application role may connect from (scram-sha-256)",
    ),
    Setting("database", "identifier", REQUIRED, "the analytics database"),
    Setting(
        "app_user",
        "identifier",
        REQUIRED,
        "the application's login role: reads and writes the tables, runs the serving "
        "functions, owns nothing",
    ),
    Setting(
        "owner_role",
        "identifier",
        "klaviyo_owner",
        "role that owns the database, the schema and its functions, and that the scheduled "
        "maintenance and TimescaleDB's jobs run as; it has no password and no pg_hba line, "
        "so no client can log in as it or change what the maintenance runs",
    ),
    Setting(
        "tls",
        "bool",
        True,
        "TLS for every network client (hostssl only); False must be acknowledged "
        "(acknowledge_unsafe: ['ssl'])",
    ),
    Setting(
        "tls_cert_file",
        "localpath",
        None,
        "the server's certificate (chain), PEM, a file outside git on the machine running "
        "pyinfra; a changed one is installed with a reload",
    ),
    Setting(
        "tls_key_file",
        "localpath",
        None,
        "its private key, PEM, a file outside git on the machine running pyinfra",
    ),
    Setting(
        "acknowledge_unsafe",
        "names",
        [],
        "overrides that weaken durability or authentication, allowed only when named here: "
        + ", ".join(sorted(UNSAFE)),
        choices=tuple(sorted(UNSAFE)),
    ),
    Setting(
        "app_password_env",
        "envname",
        "TSDB_APP_PASSWORD",
        "environment variable (on the machine running pyinfra) holding the password",
    ),
    Setting(
        "app_password_file",
        "localpath",
        None,
        "file outside git holding the password; read when the variable is unset",
    ),
    # --- PgBouncer and the roles' limits ----------------------------------------------
    Setting(
        "pgbouncer_port",
        "int",
        6432,
        "PgBouncer's port, where the application connects (transaction pooling); it listens "
        "where PostgreSQL does. PostgreSQL's own port stays for admin and replication",
        min=1,
        max=65535,
    ),
    Setting(
        "pgbouncer_max_client_conn",
        "int",
        500,
        "client connections PgBouncer accepts: room for ten application instances with the "
        "documents' pool of 50 (DB_MAX_CONNECTIONS); counted in the memory budget",
        min=10,
        max=100000,
    ),
    Setting(
        "app_statement_timeout",
        "int",
        30,
        "seconds: the application role's statement_timeout (the documents' "
        "DB_STATEMENT_TIMEOUT); 0: none",
        min=0,
        max=86400,
    ),
    Setting(
        "app_lock_timeout",
        "int",
        10,
        "seconds the application role waits for a lock (e.g. behind compression) before its "
        "statement fails; 0: up to statement_timeout",
        min=0,
        max=86400,
    ),
    Setting(
        "app_idle_in_transaction_timeout",
        "int",
        30,
        "seconds an application transaction may sit idle before it is ended; PgBouncer's "
        "idle_transaction_timeout follows it",
        min=0,
        max=86400,
    ),
    Setting(
        "readonly_statement_timeout",
        "int",
        120,
        "seconds: statement_timeout of the read-only role (dashboards, analysts; applies when "
        "it logs in itself: role settings are not inherited by its members)",
        min=0,
        max=86400,
    ),
    Setting(
        "status_thresholds",
        "thresholds",
        {},
        "tsdb-status's thresholds that replace the defaults: "
        + "; ".join(f"{k} {d} ({what})" for k, (d, _, _, what) in STATUS_THRESHOLDS.items()),
    ),
    # --- monitoring ----------------------------------------------------------------------
    Setting(
        "monitor_role",
        "identifier",
        "tsdb_monitor",
        "the login role prometheus-postgres-exporter uses: pg_monitor's rights only, SCRAM, "
        "from this host alone",
    ),
    Setting(
        "monitor_password_env",
        "envname",
        "TSDB_MONITOR_PASSWORD",
        "environment variable (on the machine running pyinfra) holding its password",
    ),
    Setting(
        "monitor_password_file",
        "localpath",
        None,
        "file outside git holding it; read when the variable is unset",
    ),
    Setting(
        "exporter_listen_address",
        "hostport",
        "127.0.0.1:9187",
        "where prometheus-postgres-exporter serves /metrics (address:port; loopback by "
        "default: expose it through your Prometheus's own network path)",
    ),
    Setting(
        "pgbouncer_exporter_listen_address",
        "hostport",
        "127.0.0.1:9127",
        "where prometheus-pgbouncer-exporter serves /metrics (PgBouncer's pools, clients "
        "waiting, traffic), loopback by default as the other exporter",
    ),
    Setting(
        "node_exporter_listen_address",
        "hostport",
        "127.0.0.1:9100",
        "where prometheus-node-exporter serves /metrics: the host's disks, memory and CPU, and "
        "tsdb-backup's newest verified backup per tier (its textfile collector)",
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
    Setting(
        "BACKUP_DIR",
        "path",
        "/var/backups/tsdb",
        "logical backups (pg_dump), per tier",
        group="backups",
    ),
    Setting(
        "MAX_HOURLY_BACKUPS", "int", 24, "hourly backups kept", min=1, max=10000, group="backups"
    ),
    Setting("MAX_DAILY_BACKUPS", "int", 7, "daily backups kept", min=1, max=10000, group="backups"),
    Setting(
        "MAX_WEEKLY_BACKUPS", "int", 4, "weekly backups kept", min=1, max=10000, group="backups"
    ),
    Setting(
        "MAX_MONTHLY_BACKUPS", "int", 12, "monthly backups kept", min=1, max=10000, group="backups"
    ),
    Setting(
        "BACKUP_COMPRESSION",
        "compression",
        None,
        "pg_dump --compress spec; None: zstd:3 (PostgreSQL 16+), 6 (gzip) on 15",
        group="backups",
    ),
    Setting(
        "deploy_lock_wait",
        "int",
        0,
        "seconds a deploy waits for another deploy holding the host's lock before it gives "
        "up; 0: refuse at once, naming the holder (as apt-get and terraform do by default)",
        min=0,
        max=3600,
    ),
    Setting(
        "restart_backup_wait",
        "int",
        600,
        "seconds a restart of PostgreSQL waits for running backups (tsdb-backup, pgBackRest, "
        "pg_dump) to finish; past it the restart is not done and the deploy fails, naming them",
        min=0,
        max=86400,
    ),
    Setting("pitr", "bool", True, "WAL archiving with pgBackRest for point-in-time recovery"),
    Setting(
        "archive_timeout",
        "int",
        60,
        "seconds: WAL is archived at least this often (the RPO bound)",
        min=1,
        max=86400,
        group="pitr",
    ),
    Setting(
        "pgbackrest_repo_path",
        "path",
        "/var/lib/pgbackrest",
        "pgBackRest's repository on the host",
        group="pitr",
    ),
    Setting(
        "pgbackrest_retention_full",
        "int",
        2,
        "full backups pgBackRest keeps (with their WAL)",
        min=1,
        max=100,
        group="pitr",
    ),
    Setting(
        "pgbackrest_repo2_path",
        "path",
        None,
        "a second repository (e.g. another disk or an NFS mount); None: none",
        group="pitr",
    ),
    # --- the docker runtime -----------------------------------------------------------
    Setting(
        "docker_source",
        "enum",
        "upstream",
        "upstream: Docker's apt repository (docker-ce + compose plugin); distro: the "
        "distribution's docker.io + docker-compose",
        choices=("upstream", "distro"),
        group="docker",
    ),
    Setting(
        "docker_apt_url",
        "url",
        "https://download.docker.com/linux",
        "Docker's apt repository (or a mirror); /<distro> is appended",
        group="docker",
    ),
    Setting(
        "docker_daemon",
        "json",
        {},
        "daemon.json keys that replace the defaults' (render/docker.py DAEMON_DEFAULTS: "
        "bounded json-file logs, live-restore)",
        group="docker",
    ),
    Setting(
        "docker_daemon_environment",
        "environment",
        {},
        "environment for dockerd (a systemd drop-in), e.g. "
        "DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1 where /proc/sys is read-only",
        group="docker",
    ),
    Setting(
        "timescaledb_image",
        "image",
        None,
        "the TimescaleDB image, pinned by tag or digest; it must ship timescaledb_version. "
        "None: timescale/timescaledb:<timescaledb_version>-pg<pg_version>",
        group="docker",
    ),
    Setting(
        "timescaledb_image_archive",
        "localpath",
        None,
        "a `docker save` archive on the machine running pyinfra, uploaded and loaded "
        "instead of pulling (air-gapped hosts)",
        group="docker",
    ),
    Setting(
        "container_name", "identifier", "tsdb_timescaledb", "the database container", group="docker"
    ),
    Setting(
        "container_memory",
        "size",
        None,
        "memory limit of the container; None: the host's effective memory",
        min=256 * 1024**2,
        max=16 * 1024**4,
        group="docker",
    ),
    Setting(
        "container_cpus",
        "float",
        None,
        "CPU limit of the container; None: the host's effective CPUs",
        min=0.1,
        max=4096,
        group="docker",
    ),
    Setting(
        "data_volume",
        "volume",
        "tsdb_pgdata",
        "the data directory: a named docker volume, or an absolute host path",
        group="docker",
    ),
    Setting(
        "docker_network",
        "enum",
        "bridge",
        "bridge: the port is published on publish_addresses only; host: PostgreSQL "
        "listens on the host's interfaces (listen_addresses)",
        choices=("bridge", "host"),
        group="docker",
    ),
    Setting(
        "docker_subnet",
        "network",
        "172.30.57.0/24",
        "the database container's bridge network. Clients on the host reach the published "
        "port through its gateway address, which pg_hba allows only when app_networks holds "
        "a loopback network (the host's own clients)",
        group="docker",
    ),
    Setting(
        "publish_addresses",
        "addresses",
        ["127.0.0.1"],
        "host addresses the port is published on (bridge network)",
        group="docker",
    ),
    Setting(
        "stop_grace_period",
        "int",
        120,
        "seconds docker waits for a clean shutdown before killing PostgreSQL",
        min=10,
        max=3600,
        group="docker",
    ),
    Setting(
        "postgres_overrides",
        "mapping",
        {},
        "postgresql.conf parameters that win over the planner (still range- and budget-checked)",
    ),
]

SETTINGS: dict[str, Setting] = {s.name: s for s in _TABLE}
GROUPS = ("all", "native", "docker", "pitr", "backups")


def _misplaced(data: dict[str, Any], resolved: dict[str, Any]) -> list[str]:
    """Keys the host's data sets where their group does not apply: each would be ignored."""
    runtime, pitr = resolved.get("runtime"), resolved.get("pitr")
    errors = []
    for name in data:
        group = SETTINGS[name].group if name in SETTINGS else "all"
        if group in ("native", "docker") and runtime in ("native", "docker") and group != runtime:
            errors.append(
                f"{name}: applies to {group} hosts only, and this host's runtime is {runtime} "
                "(it would be ignored; set it in that group's data)"
            )
        elif group == "pitr" and pitr is False:
            errors.append(f"{name}: applies only with pitr, which is off on this host")
    return errors


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
    lower = {name.lower(): name for name in SETTINGS}
    for key in data:
        if key in SETTINGS or not isinstance(key, str):
            continue
        # case-insensitive (backup_dir is BACKUP_DIR), and a switch named as one (pitr_enabled)
        bare = re.sub(r"^(enable|use)_|_(enabled|enable|on)$", "", key.lower())
        close = difflib.get_close_matches(key.lower(), lower, n=1, cutoff=0.85) or (
            [bare] if bare in lower else []
        )
        if close:
            errors.append(f"{key}: unknown setting; did you mean {lower[close[0]]}?")
    errors += _misplaced(data, resolved)
    names = ("app_user", "owner_role", "readonly_role", "monitor_role")
    roles = [resolved.get(name) for name in names]
    if not errors and len(set(roles)) < len(roles):
        errors.append(
            f"{', '.join(names)} must be four roles, got {roles}: the owner must not be a "
            "role the application, the dashboard or monitoring logs in as"
        )
    listens = ("exporter_listen_address", "pgbouncer_exporter_listen_address",
               "node_exporter_listen_address")  # fmt: skip
    addresses = [resolved.get(key) for key in listens]
    if not errors and len(set(addresses)) < len(addresses):
        errors.append(
            f"{', '.join(listens)}: {addresses}; each exporter needs an address:port of its own"
        )
    if not errors and resolved["pgbouncer_port"] == resolved["port"]:
        errors.append(
            f"pgbouncer_port and port: both {resolved['port']}; PgBouncer and PostgreSQL "
            "need a port each"
        )
    if (
        not errors
        and resolved["tls"]
        and not (resolved["tls_cert_file"] and resolved["tls_key_file"])
    ):
        errors.append(
            "tls_cert_file and tls_key_file: both needed while tls is True (the server's "
            "certificate and key, files outside git on the machine running pyinfra)"
        )
    if errors:
        raise SettingsError(f"{host}: invalid inventory data: " + "; ".join(errors))
    return resolved
