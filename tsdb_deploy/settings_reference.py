"""docs/settings.md, generated from the settings table: `make docs` writes it, and a unit test
fails when it is stale, so the reference cannot drift from what the deploy accepts."""

from __future__ import annotations

import json
import sys
from typing import Any

from .settings import REQUIRED, SETTINGS, Setting

WHERE = {
    "all": "every host",
    "native": "native hosts",
    "docker": "docker hosts",
    "pitr": "with `pitr` on",
    "backups": "every host (logical backups)",
}
HEADER = """# Settings

Generated from `tsdb_deploy/settings.py` by `make docs`; do not edit by hand.

Every key a host's data may carry (inventory host data, `group_data/*.py`). A key set where
it does not apply (a docker setting on a native host, a pgBackRest setting with `pitr` off)
is an error before anything on the host changes, as is an unknown key that looks like a known
one. PostgreSQL parameters themselves go in `postgres_overrides` (docs/planner.md).
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def _default(setting: Setting) -> str:
    value: Any = setting.default
    if value is REQUIRED:
        return "required"
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, dict | list | tuple):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def _accepts(setting: Setting) -> str:
    if setting.choices:
        return ", ".join(f"`{c}`" for c in setting.choices)
    if setting.min is not None or setting.max is not None:
        low = "" if setting.min is None else f"{setting.min:g}"
        high = "" if setting.max is None else f"{setting.max:g}"
        return f"{setting.kind} {low}..{high}"
    return setting.kind


def markdown() -> str:
    rows = ["| setting | where | accepts | default | what |", "|---|---|---|---|---|"]
    rows += [
        f"| `{s.name}` | {WHERE[s.group]} | {_cell(_accepts(s))} | {_cell(_default(s))} "
        f"| {_cell(s.doc)} |"
        for s in SETTINGS.values()
    ]
    return HEADER + "\n" + "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
