"""Helpers the operations share."""

from __future__ import annotations

import hashlib
import secrets
import shlex
from io import StringIO
from typing import TYPE_CHECKING

from pyinfra import host, logger, state
from pyinfra.api import FileUploadCommand
from pyinfra.facts.files import FileContents
from pyinfra.operations.util.files import generate_color_diff

if TYPE_CHECKING:
    from ..runtimes import Runtime


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def show_diff(path: str, text: str) -> None:
    if not state.config.DIFF:
        return
    current = host.get_fact(FileContents, path=path) or []
    host.log(f"Will modify {path}", logger.info)
    for line in generate_color_diff([line + "\n" for line in current], text.splitlines(True)):
        logger.info("  %s", line)


# every script the operations run: no psqlrc, quiet, stop (and roll back) at the first error
SCRIPT_FLAGS = "-X -q -v ON_ERROR_STOP=1"


def psql_command(runtime: Runtime, database: str, *statements: str) -> str:
    """psql running each statement with its own -c: each in its own transaction, all in one
    session (a SET holds for the statements after it)."""
    commands = " ".join(f"-c {shlex.quote(sql)}" for sql in statements)
    return f"{runtime.psql} {SCRIPT_FLAGS} -d {shlex.quote(database)} {commands}"


SQL_STAGING_PREFIX = "/root/.tsdb-deploy-"  # <prefix><what>-<token>.sql


def psql_file(runtime: Runtime, database: str, sql: str, what: str, args: str = ""):
    """Run SQL from an uploaded 0600 file, so no value appears in a process list; the file is
    named after `what` and a token of its own, so no other run's upload can replace it."""
    remote_path = f"{SQL_STAGING_PREFIX}{what}-{secrets.token_hex(4)}.sql"
    yield FileUploadCommand(StringIO(sql), remote_path)
    yield f"chmod 600 {remote_path}"
    # root opens the file and hands it to psql on stdin: it stays readable by root only
    yield (
        f"{runtime.psql} {SCRIPT_FLAGS} {args} -d {shlex.quote(database)} "
        f"< {remote_path}; rc=$?; rm -f {remote_path}; exit $rc"
    )
