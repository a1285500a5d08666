"""The two ways host files are written: Jinja templates (templates/, strict: a missing value
is an error) and small builders; both start with the one header line."""

from __future__ import annotations

import functools
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

from .. import formats

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
HEADER = "# written by tsdb-deploy: "


class RenderError(RuntimeError):
    """A template that cannot be rendered; names the template and the problem."""


def header(what: str) -> str:
    """The first line of every file the deploy writes (the second of a script), saying what the
    file is for; the only spelling, so `grep -r '^# written by tsdb-deploy'` finds them all."""
    return f"{HEADER}{what}\n"


@functools.cache
def _environment(templates: Path) -> Environment:
    """One environment per process: Jinja caches each compiled template in it, so a run of many
    hosts compiles each template once (compiling was most of a host's render time)."""
    env = Environment(
        loader=FileSystemLoader(str(templates)),
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
    env.globals["header"] = lambda what: header(what).rstrip("\n")
    return env


def render(template: str, **context) -> str:
    try:
        return _environment(TEMPLATES).get_template(template).render(**context)
    except formats.FormatError as exc:
        raise RenderError(f"templates/{template}: {exc}") from None
    except TemplateError as exc:
        where = f" line {exc.lineno}" if getattr(exc, "lineno", None) else ""
        raise RenderError(f"templates/{template}{where}: {exc}") from None


def cron_file(what: str, jobs: list[str]) -> str:
    """An /etc/cron.d file: a header saying what it is for, a known PATH, one job a line."""
    return (
        header(what) + "SHELL=/bin/sh\n"
        "PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/bin\n" + "\n".join(jobs) + "\n"
    )
