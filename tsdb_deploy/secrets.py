"""The application role's and the monitoring role's passwords: from an environment variable or
a file outside git.

Never logged, never written to the repository, never put on a command line.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from .settings import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def local_path(path: str) -> Path:
    """A file on the machine running pyinfra: `~` expanded, a relative path taken from the
    project's root (where inventory/ and group_data/ are), whatever the working directory."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else PROJECT_ROOT / p


def app_password(settings: dict, host: str = "host") -> str:
    return _password(settings, host, "app_password", "the application role")


def monitor_password(settings: dict, host: str = "host") -> str:
    return _password(settings, host, "monitor_password", "the monitoring role")


def _password(settings: dict, host: str, prefix: str, whose: str) -> str:
    """From the variable `<prefix>_env` names, else the file `<prefix>_file` names."""
    env = settings[f"{prefix}_env"]
    value = os.environ.get(env)
    source = f"${env}"
    if not value and settings[f"{prefix}_file"]:
        path = local_path(settings[f"{prefix}_file"])
        source = str(path)
        try:
            value = path.read_text().rstrip("\n")
        except OSError as exc:
            raise SettingsError(
                f"{host}: cannot read the password file {path}: {exc.strerror}"
            ) from None
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SettingsError(f"{host}: {path} is readable by others; chmod 600 it")
    if not value:
        raise SettingsError(f"{host}: no password for {whose}: set ${env} or {prefix}_file")
    if len(value) < 16:
        raise SettingsError(f"{host}: the password from {source} is shorter than 16 characters")
    return value


def generate_if_missing(path: str) -> Path:
    """A random password in a 0600 file (for the sandbox and tests); kept if present."""
    p = local_path(path)
    if not p.exists():
        p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(24) + "\n")
    return p
