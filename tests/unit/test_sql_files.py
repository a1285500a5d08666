"""The migrations in sql/: the conventions the runner depends on, and rules the schema keeps.

Pure checks on the files (no database). The runner applies sql/NNNN_short_name.sql in order with
psql as the superuser, ON_ERROR_STOP, one transaction per file, and these psql variables set.
The conventions the checks rely on, which the migrations follow:
- A Community-only call (compression, retention policy, continuous aggregate, add_job) sits in
  the THEN branch of a PL/pgSQL IF written on one line as
  IF current_setting('timescaledb.license', true) = 'timescale' THEN
  with ELSE / ELSIF ... THEN / END IF on lines of their own.
- A comment precedes every CREATE INDEX, in the same statement or between it and the previous one.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
FILES = sorted(SQL_DIR.glob("*.sql"))
VARIABLES = {
    "app_user",
    "owner_role",
    "readonly_role",
    "chunk_interval",
    "space_partitions",
    "compress_after",
    "retention",
}
OWNER_ROLE_FROM = 12  # sql/0011 moved ownership to the owner role
NAME = re.compile(r"^(\d{4})_([a-z0-9]+(?:_[a-z0-9]+)*)\.sql$")
COMMUNITY_ONLY = re.compile(
    r"\b(add_compression_policy|add_retention_policy|add_continuous_aggregate_policy|add_job"
    r"|add_columnstore_policy|timescaledb\.continuous|timescaledb\.compress\w*)\b",
    re.IGNORECASE,
)
LICENSE_IF = re.compile(
    r"^\s*IF\s+current_setting\(\s*'timescaledb\.license'\s*(,\s*true\s*)?\)\s*=\s*'timescale'"
    r"\s+THEN\s*$",
    re.IGNORECASE,
)
ANY_IF = re.compile(r"^\s*IF\b.*\bTHEN\b", re.IGNORECASE)
ELSE = re.compile(r"^\s*(ELSE|ELSIF\b.*\bTHEN)\s*$", re.IGNORECASE)
END_IF = re.compile(r"^\s*END\s+IF\s*;", re.IGNORECASE)
CREATE_INDEX = re.compile(r"\bCREATE\s+(UNIQUE\s+)?INDEX\b", re.IGNORECASE)
NOT_IMMUTABLE = re.compile(
    r"\b(now\s*\(|current_timestamp|current_date|current_time|localtimestamp|localtime"
    r"|clock_timestamp|statement_timestamp|transaction_timestamp|timeofday)",
    re.IGNORECASE,
)
DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")
PSQL_VARIABLE = re.compile(r":'([A-Za-z_]\w*)'|:\"([A-Za-z_]\w*)\"|:([A-Za-z_]\w*)")


def _lex(text: str) -> list[tuple[str, str]]:
    """psql's view of a script: (kind, text) with kind code, comment, string, dollar or var.

    psql substitutes :name, :'name' and :"name" outside quotes and comments only; inside
    dollar quotes (DO blocks, function bodies) it leaves them as they are.
    """
    tokens: list[tuple[str, str]] = []
    i, n, code = 0, len(text), []

    def flush():
        if code:
            tokens.append(("code", "".join(code)))
            code.clear()

    while i < n:
        c = text[i]
        if text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            flush()
            tokens.append(("comment", text[i:end]))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            flush()
            tokens.append(("comment", text[i:end]))
            i = end
        elif c == ":" and text[i + 1 : i + 2] != ":" and (i == 0 or text[i - 1] != ":"):
            match = PSQL_VARIABLE.match(text, i)
            if match:
                flush()
                tokens.append(("var", next(g for g in match.groups() if g)))
                i = match.end()
            else:
                code.append(c)
                i += 1
        elif c in "'\"":
            end = i + 1
            while end < n:
                if text[end] == c and text[end + 1 : end + 2] == c:
                    end += 2
                elif text[end] == c:
                    break
                else:
                    end += 1
            flush()
            tokens.append(("string", text[i : end + 1]))
            i = end + 1
        elif c == "$" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            match = DOLLAR_TAG.match(text, i)
            if match:
                close = text.find(match.group(0), match.end())
                close = n if close < 0 else close
                flush()
                tokens.append(("dollar", text[match.end() : close]))
                i = close + len(match.group(0))
            else:
                code.append(c)
                i += 1
        else:
            code.append(c)
            i += 1
    flush()
    return tokens


def _variables(text: str) -> set[str]:
    return {value for kind, value in _lex(text) if kind == "var"}


def _variables_in_dollar_quotes(text: str) -> set[str]:
    found: set[str] = set()
    for kind, value in _lex(text):
        if kind == "dollar":
            found |= _variables(value) | _variables_in_dollar_quotes(value)
    return found


def _code_lines(text: str) -> list[tuple[int, str]]:
    """(line number, the line without its -- comment); quoted '--' does not occur in sql/."""
    return [(n, line.split("--", 1)[0]) for n, line in enumerate(text.splitlines(), 1)]


def _index_statements(text: str) -> list[str]:
    """Each CREATE INDEX statement, up to its ';' or the end of the dollar quote holding it."""
    code = "\n".join(line for _, line in _code_lines(text))
    return [
        re.split(r";|\$[A-Za-z_0-9]*\$", code[m.start() :], maxsplit=1)[0]
        for m in CREATE_INDEX.finditer(code)
    ]


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_there_are_migrations():
    assert FILES, f"no migrations in {SQL_DIR}"


def test_names_and_numbering_contiguous_from_0001():
    names = [p.name for p in FILES]
    for name in names:
        assert NAME.match(name), f"{name}: expected NNNN_short_name.sql (lowercase, digits, _)"
    numbers = [int(NAME.match(name).group(1)) for name in names]
    assert numbers == list(range(1, len(names) + 1)), f"not contiguous from 0001: {names}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_first_line_is_the_header(path):
    first = _text(path).splitlines()[0]
    assert re.fullmatch(rf"-- {re.escape(path.stem)}: \S.*", first), (
        f"{path.name}: first line must be '-- {path.stem}: one-line purpose', got {first!r}"
    )


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_objects_are_created_as_their_owner(path):
    """A file that creates objects switches to their owner first: the application role until
    0011, the owner role from then on (0011 handed it everything). Extensions are the
    superuser's (0012): the roles below it must not be able to replace their functions."""
    lines = _text(path).splitlines()
    creates = [n for n, line in enumerate(lines)
               if re.match(r"\s*CREATE\b(?!\s+EXTENSION\b)", line, re.I)]  # fmt: skip
    owner = "app_user" if int(path.name[:4]) < OWNER_ROLE_FROM else "owner_role"
    if creates:
        assert f'SET ROLE :"{owner}";' in lines[: creates[0]], path.name


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_transaction_marker_only_among_the_first_lines(path):
    for number, line in enumerate(_text(path).splitlines(), 1):
        if "tsdb:no-transaction" in line:
            assert number <= 5 and line.strip() == "-- tsdb:no-transaction", (
                f"{path.name}:{number}: the marker is a line '-- tsdb:no-transaction' in the "
                "first 5 lines"
            )


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_only_the_runners_psql_variables(path):
    unknown = _variables(_text(path)) - VARIABLES
    assert not unknown, f"{path.name}: psql variables the runner does not set: {sorted(unknown)}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_psql_variable_inside_dollar_quotes(path):
    stuck = _variables_in_dollar_quotes(_text(path))
    assert not stuck, (
        f"{path.name}: psql does not substitute inside dollar quotes: {sorted(stuck)} "
        "(pass them with SET tsdb.name = :'name' and read current_setting('tsdb.name'))"
    )


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_index_predicates_are_immutable(path):
    for statement in _index_statements(_text(path)):
        predicate = re.split(r"\bWHERE\b", statement, maxsplit=1, flags=re.IGNORECASE)[1:]
        if predicate:
            assert not NOT_IMMUTABLE.search(predicate[0]), (
                f"{path.name}: index predicate is not immutable: {' '.join(statement.split())}"
            )


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_create_index_is_preceded_by_a_comment(path):
    commented = False
    for number, line in enumerate(_text(path).splitlines(), 1):
        code, _, comment = line.partition("--")
        if CREATE_INDEX.search(code):
            assert commented, f"{path.name}:{number}: CREATE INDEX without a comment before it"
        if ";" in code:
            commented = False
        if comment:
            commented = True


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_community_only_features_only_in_a_license_branch(path):
    stack: list[list[bool]] = []  # [is the license test, in its THEN branch]
    for number, line in _code_lines(_text(path)):
        if LICENSE_IF.match(line):
            stack.append([True, True])
        elif ANY_IF.match(line):
            stack.append([False, True])
        elif ELSE.match(line) and stack:
            stack[-1][1] = False
        elif END_IF.match(line) and stack:
            stack.pop()
        if COMMUNITY_ONLY.search(line):
            assert any(is_license and then for is_license, then in stack), (
                f"{path.name}:{number}: {COMMUNITY_ONLY.search(line).group(0)} outside "
                "IF current_setting('timescaledb.license', true) = 'timescale' THEN"
            )


# The checks check: each catches what it is meant to.


def test_lexer_finds_variables_where_psql_substitutes_them():
    text = (
        "SET ROLE :\"app_user\"; SELECT :'retention'::interval, :space_partitions::int,\n"
        "'12:30', '{\"a\":\"b\"}' -- :'comment'\n"
        "DO $$ BEGIN PERFORM :'chunk_interval'; END $$;"
    )
    assert _variables(text) == {"app_user", "retention", "space_partitions"}
    assert _variables_in_dollar_quotes(text) == {"chunk_interval"}


def test_index_predicate_check_sees_now():
    bad = "-- x\nCREATE INDEX i ON t (a)\n    WHERE b > NOW() - INTERVAL '30 days';"
    good = "-- x\nCREATE INDEX i ON t (a) WHERE b > 0;\nSELECT now();"
    assert any(NOT_IMMUTABLE.search(s.split("WHERE")[1]) for s in _index_statements(bad))
    assert not any(NOT_IMMUTABLE.search(s.split("WHERE")[1]) for s in _index_statements(good))


def test_license_branch_patterns():
    assert LICENSE_IF.match(
        "    IF current_setting('timescaledb.license', true) = 'timescale' THEN"
    )
    assert not LICENSE_IF.match("IF current_setting('timescaledb.license') <> 'timescale' THEN")
    assert ELSE.match("    ELSE") and ELSE.match("  ELSIF x THEN")
    assert not ELSE.match("             ELSE '' END);")
