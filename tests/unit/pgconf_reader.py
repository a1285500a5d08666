"""postgresql.conf read as PostgreSQL's config lexer reads it (src/backend/utils/misc/
guc-file.l and GUC_scanstr), for tests: what the server would take from a rendered file.

One `name [=] value` per line, `#` to the end of the line a comment. A value is a quoted
string ('' or \\' for a quote, \\ escapes: b f n r t, octal, any other char as itself) or an
unquoted token (letters, digits, and - . _ : / +). Anything else is a syntax error, as it is
for the server. Every occurrence is returned, in order: a parameter set twice is a line that
overrides another, which is what an injection looks like.
"""

from __future__ import annotations

import re

_LINE = re.compile(
    r"""^\s*(?P<name>[A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z_][A-Za-z0-9_$]*)*)\s*=?\s*
        (?P<value>'(?:[^'\\\n]|\\.|'')*'|[A-Za-z0-9_.:/+-]+)\s*(?:\#.*)?$""",
    re.X,
)
_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class ConfSyntaxError(ValueError):
    pass


def scanstr(quoted: str) -> str:
    """GUC_scanstr: the value of a quoted string token."""
    body, out, i = quoted[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
            elif nxt in "01234567":
                digits = re.match(r"[0-7]{1,3}", body[i + 1 :]).group(0)
                out.append(chr(int(digits, 8)))
                i += 1 + len(digits)
            else:
                out.append(nxt)
                i += 2
        elif char == "'" and body[i + 1 : i + 2] == "'":
            out.append("'")
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def read(text: str) -> list[tuple[str, str]]:
    """(name, value) for every setting line, in order; ConfSyntaxError naming a bad line."""
    settings = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise ConfSyntaxError(f"line {number}: {line!r}")
        value = match["value"]
        settings.append((match["name"], scanstr(value) if value.startswith("'") else value))
    return settings
