"""What a staging rebuild masks: one rule per column or JSON path holding personal data.

A rule names a table, a column and, for a jsonb column, the path of a string inside its
documents, and the kind of value there. Each kind maps a value to a masked one with a keyed
hash (HMAC-SHA256 with the staging host's masking key, render/masking.py), so the same input
always gives the same output: a profile's email and the `$email` of its events still match
after masking, and a search by a masked email finds the profile. The masked forms keep each
column's type and length limit and are recognisable, so the rebuild counts what is left
unmasked (it must be none) before the database is swapped in.

Kept on purpose: ids (profiles.id, external_id: pseudonymous keys the dashboards join on),
city, region and country (the dashboards' geography), and every non-personal property. Klaviyo's
profile and event documents carry the reserved `$`-keys listed here; a property the shop adds
with personal data in it needs a rule of its own here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# kind -> the masked form's pattern (what the rebuild's check counts as masked); the SQL that
# produces it is render/masking.py's KIND_SQL, and a unit test keeps both in step
MASKED_FORMS = {
    "email": r"^u[0-9a-f]{16}@masked\.invalid$",
    "phone": r"^\+999[0-9]{12}$",  # +999: an unassigned country code; 16 chars fit VARCHAR(20)
    "name": r"^Name-[0-9a-f]{10}$",
    "address": r"^Address-[0-9a-f]{12}$",
}
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_KEY = re.compile(r"^[$A-Za-z0-9_ ]{1,63}$")  # a JSON key this table may name


class MaskingError(ValueError):
    """A rule that cannot be rendered safely."""


@dataclass(frozen=True)
class Rule:
    table: str
    column: str
    kind: str
    path: tuple[str, ...] = ()  # inside a jsonb column; () masks the column itself

    @property
    def name(self) -> str:
        return ".".join((self.table, self.column, *self.path))

    def check(self) -> Rule:
        if not (_IDENT.match(self.table) and _IDENT.match(self.column)):
            raise MaskingError(f"{self.name}: table and column must be plain identifiers")
        if self.kind not in MASKED_FORMS:
            raise MaskingError(f"{self.name}: kind {self.kind!r} is not one of "
                               f"{', '.join(MASKED_FORMS)}")  # fmt: skip
        for key in self.path:
            if not _KEY.match(key):
                raise MaskingError(f"{self.name}: JSON key {key!r} must match {_KEY.pattern}")
        return self


def _document(table: str, column: str, prefix: tuple[str, ...] = ()) -> list[Rule]:
    """Klaviyo's reserved personal keys of a profile or event document (at `prefix`)."""
    keys = {
        "$email": "email",
        "$phone_number": "phone",
        "$first_name": "name",
        "$last_name": "name",
        "$address1": "address",
        "$address2": "address",
        "$zip": "address",
    }
    rules = [Rule(table, column, kind, (*prefix, key)) for key, kind in keys.items()]
    # the profile API's nested form: {"location": {"address1": ..., "zip": ...}}
    location = {"address1": "address", "address2": "address", "zip": "address"}
    rules += [Rule(table, column, kind, (*prefix, "location", k)) for k, kind in location.items()]
    return rules


RULES: tuple[Rule, ...] = tuple(
    rule.check()
    for rule in (
        Rule("klaviyo_profiles", "email", "email"),
        Rule("klaviyo_profiles", "phone_number", "phone"),
        Rule("klaviyo_profiles", "first_name", "name"),
        Rule("klaviyo_profiles", "last_name", "name"),
        *_document("klaviyo_profiles", "properties"),
        *_document("klaviyo_events", "properties"),
        # the API document the event came in holds its properties again
        *_document("klaviyo_events", "raw_data", ("attributes", "event_properties")),
    )
)


def tables(rules: tuple[Rule, ...] = RULES) -> list[str]:
    """The tables the rules touch, in the table's order."""
    return list(dict.fromkeys(rule.table for rule in rules))
