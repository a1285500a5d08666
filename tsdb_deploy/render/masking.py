"""masking.sql: the staging rebuild's masking of personal data, from the rules in masking.py.

tsdb-restore --rebuild runs it in the restored database, while only superusers may connect to
it, after setting two session settings from the staging host's masking key (the HMAC's inner
and outer padded keys, hex): the key never appears in this file, in a command line or in the
server's log. It prints, per rule, `masked|<rule>|<values>` before changing anything and
`left|<rule>|<values not in masked form>` after; the tool refuses the database unless every
`left` count is 0.

One UPDATE per table: the events hypertable is rewritten once, not once per rule. Only rows
holding a value to mask are touched. Built-in functions only (sha256, jsonb_set): nothing is
installed into the database.
"""

from __future__ import annotations

from .. import formats
from ..masking import MASKED_FORMS, RULES, Rule, tables
from .text import header

# TimescaleDB refuses a DML statement that decompresses more than 100 000 rows of compressed
# chunks (its default): the events' UPDATE decompresses every batch holding a value to mask.
# Set where the setting exists (the Apache build has no compression).
_NO_DECOMPRESSION_LIMIT = (
    "SELECT set_config(name, '0', true) FROM pg_settings\n"
    "  WHERE name = 'timescaledb.max_tuples_decompressed_per_dml_transaction' \\g /dev/null\n"
)
# the session settings tsdb-restore sets from the masking key before running this file
INNER_SETTING = "tsdb_mask.inner_pad"
OUTER_SETTING = "tsdb_mask.outer_pad"

# kind -> SQL of the masked value of `value` (text), with h(x) the keyed hash's hex digest.
# Normalised first where spellings of one value differ: an email's case and spaces, a phone
# number's punctuation.
KIND_SQL = {
    "email": "'u' || left(h(lower(btrim(value))), 16) || '@masked.invalid'",
    "phone": (
        "'+999' || lpad(((('x' || left(h(regexp_replace(value, '[^0-9]', '', 'g')), 12))"
        "::bit(48)::bigint) % 1000000000000)::text, 12, '0')"
    ),
    "name": "'Name-' || left(h(value), 10)",
    "address": "'Address-' || left(h(value), 12)",
}

_FUNCTIONS = f"""\
CREATE FUNCTION pg_temp.tsdb_mask_hash(value text) RETURNS text
LANGUAGE sql STABLE STRICT AS $$
  SELECT encode(sha256(
    decode(current_setting('{OUTER_SETTING}'), 'hex')
    || sha256(decode(current_setting('{INNER_SETTING}'), 'hex') || convert_to(value, 'UTF8'))
  ), 'hex')
$$;
CREATE FUNCTION pg_temp.tsdb_mask(kind text, value text) RETURNS text
LANGUAGE sql STABLE STRICT AS $$
  SELECT CASE kind
{{cases}}
  END
$$;
-- the document with the string or number at `path` masked (a number becomes the masked
-- string); any other document as it is
CREATE FUNCTION pg_temp.tsdb_mask_at(doc jsonb, path text[], kind text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN jsonb_typeof(doc #> path) IN ('string', 'number') AND doc #>> path <> ''
    THEN jsonb_set(doc, path, to_jsonb(pg_temp.tsdb_mask(kind, doc #>> path)))
    ELSE doc END
$$;
"""


def _cases() -> str:
    lines = []
    for kind, sql in KIND_SQL.items():
        body = sql.replace("h(", "pg_temp.tsdb_mask_hash(")
        lines.append(f"    WHEN {formats.sql_literal(kind)} THEN {body}")
    return "\n".join(lines)


def _path(rule: Rule) -> str:
    return formats.sql_literal("{" + ",".join(f'"{key}"' for key in rule.path) + "}")


def _value(rule: Rule) -> str:
    """The rule's value as text (NULL when absent)."""
    return f"{rule.column} #>> {_path(rule)}" if rule.path else rule.column


def _present(rule: Rule) -> str:
    """SQL: this row holds a value the rule masks."""
    if rule.path:
        kind = f"jsonb_typeof({rule.column} #> {_path(rule)})"
        return f"({kind} IN ('string', 'number') AND {_value(rule)} <> '')"
    return f"({rule.column} IS NOT NULL AND {rule.column} <> '')"


def _counts(label: str, table: str, rules: list[Rule], condition) -> str:
    columns = ", ".join(
        f"count(*) FILTER (WHERE {condition(rule)}) AS n{i}" for i, rule in enumerate(rules)
    )
    values = ", ".join(f"({formats.sql_literal(r.name)}, c.n{i})" for i, r in enumerate(rules))
    return (
        f"SELECT {formats.sql_literal(label)}, r.rule, r.n\n"
        f"  FROM (SELECT {columns} FROM public.{table}) c\n"
        f"  CROSS JOIN LATERAL (VALUES {values}) r(rule, n);\n"
    )


def _unmasked(rule: Rule) -> str:
    """Left unmasked: a value not in masked form, or (at a JSON path) an array or object,
    which no rule can mask value by value: the rebuild fails rather than keep it."""
    form = formats.sql_literal(MASKED_FORMS[rule.kind])
    left = f"({_present(rule)} AND {_value(rule)} !~ {form})"
    if rule.path:
        left += f" OR jsonb_typeof({rule.column} #> {_path(rule)}) IN ('array', 'object')"
    return left


def _update(table: str, rules: list[Rule]) -> str:
    assignments = []
    for column in dict.fromkeys(r.column for r in rules):
        mine = [r for r in rules if r.column == column]
        whole = [r for r in mine if not r.path]
        if whole:  # a plain column (one rule); STRICT keeps NULL, the CASE keeps ''
            kind = formats.sql_literal(whole[0].kind)
            expr = f"CASE WHEN {column} <> '' THEN pg_temp.tsdb_mask({kind}, {column}) " \
                   f"ELSE {column} END"  # fmt: skip
        else:
            expr = column
            for rule in mine:
                expr = f"pg_temp.tsdb_mask_at({expr}, {_path(rule)}, " \
                       f"{formats.sql_literal(rule.kind)})"  # fmt: skip
        assignments.append(f"  {column} = {expr}")
    where = "\n   OR ".join(_present(r) for r in rules)
    return f"UPDATE public.{table} SET\n" + ",\n".join(assignments) + f"\nWHERE {where};\n"


def masking_sql(rules: tuple[Rule, ...] = RULES) -> str:
    """The whole script: functions, then per table the counts, the update, what is left."""
    parts = ["--" + header("the staging rebuild's masking (tsdb-restore --rebuild)")[1:],
             # built-ins only by name (the tables are qualified), the session's own last
             "BEGIN;\nSET LOCAL search_path = pg_catalog, pg_temp;\n", _NO_DECOMPRESSION_LIMIT,
             _FUNCTIONS.replace("{cases}", _cases())]  # fmt: skip
    for table in tables(rules):
        mine = [r for r in rules if r.table == table]
        parts.append(f"-- {table}\n")
        parts.append(_counts("masked", table, mine, _present))
        parts.append(_update(table, mine))
        parts.append(_counts("left", table, mine, _unmasked))
    parts.append("COMMIT;\n")
    return "".join(parts)
