"""How a value is written into each kind of file a host gets: one writer per file format.

The settings table already refuses values outside each setting's grammar (settings.py). These
writers are the second wall, at the point where a value meets a parser: each one escapes what
its format can escape and refuses, with one line naming the value, what its format cannot hold.
A value never reaches a file by string formatting anywhere else.

Formats and their parsers:
- postgresql.conf: PostgreSQL's config lexer (guc-file.l): single quotes, backslash escapes.
- systemd unit files: systemd.syntax(7) quoting and systemd.unit(5) `%` specifiers.
- apt one-line sources: sources.list(5), whitespace-separated, no quoting at all.
- pgBackRest's INI: `key=value` per line, no quoting, surrounding whitespace trimmed.
- backup.conf: tsdb-backup's `KEY=VALUE` lines, no quoting, surrounding whitespace trimmed.
- systemd EnvironmentFiles (the exporter's): `KEY="value"`, nothing a shell would expand.
- PgBouncer's INI (libusual's cf parser): `key = value`, no quoting, whitespace trimmed; its
  userlist: double-quoted fields, a quote doubled.
"""

from __future__ import annotations

import re

# C0 and C1 control characters, DEL, and Unicode's line and paragraph separators: whatever
# any of these parsers (or Python's str.splitlines, in tsdb-backup) could take as a line break
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONF_KEY = re.compile(r"^[A-Z_][A-Z0-9_]*$")
# sources.list(5): fields are separated by whitespace and options sit in [...]
_APT_FIELD = re.compile(r"^[A-Za-z0-9._~:/?&=%+@,;-]+$")


class FormatError(ValueError):
    """A value its target file's format cannot hold; the message names it."""


def _no_control(what: str, value: str) -> None:
    if CONTROL.search(value):
        raise FormatError(f"{what}={value!r}: control characters (newlines, tabs) not allowed")


def one_line(value: object) -> object:
    """Any value put into a template: control characters would break its line (or, as a
    tab, its columns), whatever the format."""
    if isinstance(value, str):
        _no_control("template value", value)
    return value


def sql_literal(value: str) -> str:
    """An SQL string literal (standard_conforming_strings is on: a quote is doubled, a
    backslash is itself)."""
    return "'" + value.replace("'", "''") + "'"


def pg_conf_string(value: str) -> str:
    """A postgresql.conf string literal: the lexer takes '' or \\' for a quote and \\\\ for a
    backslash; a line break cannot be written at all."""
    _no_control("postgresql.conf value", value)
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def pg_conf_unstring(text: str) -> str:
    """pg_conf_string()'s inverse, for a value as written in postgresql.conf (a value not in
    quotes is returned as it is)."""
    if len(text) < 2 or text[0] != "'" or text[-1] != "'":
        return text
    out, i, body = [], 0, text[1:-1]
    while i < len(body):
        pair = body[i : i + 2]
        if pair in ("''", "\\'", "\\\\"):
            out.append(pair[1])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def systemd_environment(environment: dict[str, str]) -> list[str]:
    """`Environment="NAME=value"` lines: inside double quotes systemd unescapes \\\\ and \\",
    and expands %-specifiers everywhere, so % is written %%."""
    lines = []
    for name, value in sorted(environment.items()):
        if not _ENV_NAME.match(name):
            raise FormatError(f"environment variable name {name!r}: letters, digits and _ only")
        _no_control(name, value)
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
        lines.append(f'Environment="{name}={escaped}"')
    return lines


def apt_source_line(*, options: dict[str, str], uri: str, suite: str, components: list[str]) -> str:
    """A one-line `deb` entry. Its fields have no quoting, so each one must be a single run of
    URI-safe characters."""
    for what, field in [("uri", uri), ("suite", suite), *(("component", c) for c in components)]:
        if not _APT_FIELD.match(field):
            raise FormatError(f"apt sources {what} {field!r}: no spaces, brackets or '#' allowed")
    for key, value in options.items():
        if not re.match(r"^[a-z][a-z-]*$", key) or not _APT_FIELD.match(value):
            raise FormatError(f"apt sources option {key}={value!r}: not a plain value")
    opts = " ".join(f"{k}={v}" for k, v in options.items())
    return " ".join(["deb", *([f"[{opts}]"] if opts else []), uri, suite, *components])


def _plain_line_value(what: str, value: str) -> str:
    _no_control(what, value)
    if value != value.strip():
        raise FormatError(f"{what}={value!r}: leading or trailing spaces would be lost")
    return value


def ini_value(value: object) -> str:
    """A pgBackRest option's value (`key={value}`): one line, no quoting, whitespace around it
    trimmed by pgBackRest's INI parser."""
    return _plain_line_value("pgBackRest option value", str(value))


def conf_line(key: str, value: object) -> str:
    """A backup.conf `KEY=VALUE` line (tsdb-backup's parse_conf): one line, no quoting."""
    if not _CONF_KEY.match(key):
        raise FormatError(f"backup.conf key {key!r}: upper-case letters, digits and _")
    return f"{key}={_plain_line_value(key, str(value))}"


_POOLER_VALUE = re.compile(r"^[A-Za-z0-9._,:/*@=+-]+$")


def pooler_token(what: str, value: object) -> str:
    """A value in PgBouncer's files: plain characters only (its parser has no quoting, and
    `;` or `#` would start a comment)."""
    text = str(value)
    if not _POOLER_VALUE.match(text):
        raise FormatError(f"PgBouncer {what} {text!r}: letters, digits and ._,:/*@=+- only")
    return text


def pooler_value(key: str, value: object) -> str:
    """A `key = value` line of pgbouncer.ini."""
    return f"{key} = {pooler_token(key, value)}"


def pooler_userlist_entry(user: str, secret: str) -> str:
    """A userlist.txt line: `"user" "secret"`, a double quote inside written twice."""
    _no_control("userlist user", user)
    _no_control("userlist secret", secret)
    quote = '"'
    return f'"{user.replace(quote, quote * 2)}" "{secret.replace(quote, quote * 2)}"'


_ENV_FILE_UNSAFE = re.compile(r"[\"'\\$`]")


def environment_file_line(key: str, value: str) -> str:
    """A `KEY="value"` line of a systemd EnvironmentFile (also read by sh-like tools): the
    value in double quotes, so spaces are kept; quotes, backslashes, `$` and backticks, which
    one reader or another would interpret, are refused."""
    if not _ENV_NAME.match(key):
        raise FormatError(f"environment variable name {key!r}: letters, digits and _ only")
    _no_control(key, value)
    if _ENV_FILE_UNSAFE.search(value):
        raise FormatError(f"{key}={value!r}: quotes, backslashes, $ and ` not allowed")
    return f'{key}="{value}"'
