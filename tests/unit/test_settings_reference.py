"""docs/settings.md is the settings table as generated: never stale, every setting in it."""

from __future__ import annotations

from pathlib import Path

from tsdb_deploy.settings import SETTINGS
from tsdb_deploy.settings_reference import markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_the_settings_reference_is_current():
    assert DOC.read_text() == markdown(), "docs/settings.md is stale: run `make docs`"


def test_every_setting_has_one_row_with_its_group():
    rows = [line for line in markdown().splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(SETTINGS)
    docker = next(row for row in rows if row.startswith("| `docker_source`"))
    assert "| docker hosts |" in docker
