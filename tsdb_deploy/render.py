"""Render the files a host gets from templates/, strictly: a missing value is an error."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

from . import formats
from .apt import AptSource, pin_glob
from .planner import Plan
from .units import format_size

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class RenderError(RuntimeError):
    """A template that cannot be rendered; names the template and the problem."""


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        # no value may break its line: a newline in a host name or a path would start a line
        # of its own in any of these formats
        finalize=formats.one_line,
    )
    # each template writes its values through its own format's writer (formats.py)
    env.filters["ini"] = formats.ini_value
    env.filters["pg_string"] = formats.pg_conf_string
    return env


def render(template: str, **context) -> str:
    try:
        return _environment().get_template(template).render(**context)
    except formats.FormatError as exc:
        raise RenderError(f"templates/{template}: {exc}") from None
    except TemplateError as exc:
        where = f" line {exc.lineno}" if getattr(exc, "lineno", None) else ""
        raise RenderError(f"templates/{template}{where}: {exc}") from None


def postgresql_conf(plan: Plan, *, host_name: str, runtime: str, locations: dict) -> str:
    hw = plan.hardware
    return render(
        "postgresql.conf.j2",
        host_name=host_name,
        runtime=runtime,
        hardware=hw.describe(),
        data_disk=format_size(hw.data_disk_bytes) if hw.data_disk_bytes else "unknown",
        wal_disk=format_size(hw.wal_disk_bytes) if hw.wal_disk_bytes else "the data disk",
        workload=plan.workload,
        budget_summary=plan.budget.summary(),
        locations=locations,
        sections=plan.sections(),
    )


OWNER_MAP = "tsdb_owner"  # pg_ident.conf's map: the OS user postgres -> the owner role


def pg_hba_conf(
    *,
    host_name: str,
    database: str,
    app_user: str,
    owner_role: str,
    networks: list[str],
    tls: bool,
) -> str:
    entries = [{"database": database, "user": app_user, "network": n} for n in networks]
    return render(
        "pg_hba.conf.j2",
        host_name=host_name,
        database=database,
        owner_role=owner_role,
        owner_map=OWNER_MAP,
        host_entries=entries,
        host_type="hostssl" if tls else "host",
    )


def pg_ident_conf(*, host_name: str, owner_role: str) -> str:
    return render(
        "pg_ident.conf.j2", host_name=host_name, owner_role=owner_role, owner_map=OWNER_MAP
    )


def header(what: str) -> str:
    """The first line of every file the deploy writes outside PostgreSQL's own."""
    return f"# written by tsdb-deploy: {what}\n"


def cron_file(what: str, jobs: list[str]) -> str:
    """An /etc/cron.d file: a header saying what it is for, a known PATH, one job a line."""
    return (
        header(what) + "SHELL=/bin/sh\n"
        "PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/bin\n" + "\n".join(jobs) + "\n"
    )


def apt_source_file(source: AptSource) -> str:
    """A sources.list.d entry; the key's URL is recorded so that changing it rewrites the file
    (and so fetches and installs the new key)."""
    return header(f"the {source.name} repository, signed by the key at {source.key_url}") + (
        source.line() + "\n"
    )


def apt_pin_file(packages: list[str], release: str, setting: str) -> str:
    """Hold `packages` at `release`: an `apt upgrade` never moves them behind the deploy's back
    (the extension in each database must be updated with them); priority below 1000, so apt
    never downgrades to reach it either."""
    return header(f"{', '.join(packages)} held at {release} ({setting})") + (
        f"Package: {' '.join(packages)}\nPin: version {pin_glob(release)}\nPin-Priority: 990\n"
    )
