"""When a deploy runs `pgbackrest check` again: the key of what archiving depends on."""

from __future__ import annotations

import pytest

from tsdb_deploy import pgbackrest, render
from tsdb_deploy.host_plan import runtime_for
from tsdb_deploy.runtimes import Distro
from tsdb_deploy.settings import resolve

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


def test_turning_pitr_off_removes_the_record_of_the_last_check():
    """Turned on again, archiving has to be proven again: no WAL was archived meanwhile."""
    base = {"runtime": "native", "database": "klaviyo_analytics", "app_user": "klaviyo",
            "tls_cert_file": "c", "tls_key_file": "k"}  # fmt: skip

    def absent(pitr: bool) -> list[str]:
        rt = runtime_for(resolve({**base, "pitr": pitr}), Distro("debian", 13, "trixie"))
        return render.absent_files(rt)

    assert pgbackrest.CHECKED_PATH in absent(False)
    assert pgbackrest.CHECKED_PATH not in absent(True)
