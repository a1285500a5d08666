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
from .units import UnitError, parse_size

REQUIRED = object()
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


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
        return self._in_range(size)

    def _check_enum(self, value):
        if value not in self.choices:
            self._fail(value, f"must be one of {', '.join(map(str, self.choices))}")
        return value

    def _check_networks(self, value):
        if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
            self._fail(value, "must be a non-empty list of networks such as '10.0.0.0/8'")
        out = []
        for item in value:
            try:
                out.append(str(ipaddress.ip_network(item, strict=True)))
            except ValueError as exc:
                self._fail(item, f"not a network in CIDR form ({exc})")
        return out

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
        "str",
        "https://apt.postgresql.org/pub/repos/apt",
        "PGDG apt repository (or a mirror of it)",
    ),
    Setting(
        "timescale_apt_url",
        "str",
        "https://packagecloud.io/timescale/timescaledb",
        "Timescale apt repository (or a mirror); /<distro>/ is appended",
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
        max=64 * 1024**4,
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
