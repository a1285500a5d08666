"""The lab's passwords (sandbox, tests, benchmark): random, in files outside git that
group_data/sandbox.py names, made on first use and kept."""

from __future__ import annotations

from tsdb_deploy import secrets

APP_PASSWORD_FILE = ".sandbox/secrets/app_password"
MONITOR_PASSWORD_FILE = ".sandbox/secrets/monitor_password"


def prepare() -> None:
    for path in (APP_PASSWORD_FILE, MONITOR_PASSWORD_FILE):
        secrets.generate_if_missing(path)
