"""When a deploy runs `pgbackrest check` again: the key of what archiving depends on."""

from __future__ import annotations

import pytest

from tsdb_deploy import pgbackrest

CONF = "[global]\nrepo1-path=/var/lib/pgbackrest\n"
ARCHIVE = "'pgbackrest --stanza=tsdb archive-push %p'"


def test_the_same_setup_gives_the_same_key():
    assert pgbackrest.check_key(CONF, "on", ARCHIVE) == pgbackrest.check_key(CONF, "on", ARCHIVE)


@pytest.mark.parametrize(
    ("conf", "mode", "command"),
    [
        (CONF.replace("/var/lib", "/srv"), "on", ARCHIVE),  # another repository
        (CONF, "always", ARCHIVE),  # archive_mode
        (CONF, "on", ARCHIVE.replace("tsdb", "other")),  # archive_command
    ],
)
def test_any_change_archiving_depends_on_changes_the_key(conf, mode, command):
    assert pgbackrest.check_key(conf, mode, command) != pgbackrest.check_key(CONF, "on", ARCHIVE)
