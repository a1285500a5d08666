"""Every file a run uploads before moving or running it has a name of that run's own: two
runs on one host (the deploy lock serializes them; this holds even without it) never write,
move or remove each other's staging files."""

from __future__ import annotations

import re

from pyinfra.api import FileUploadCommand

from tsdb_deploy.operations._common import psql_file
from tsdb_deploy.operations.files import install_file

from .test_native_runtime import runtime


def uploads(commands) -> list[str]:
    return [c.dest for c in commands if isinstance(c, FileUploadCommand)]


def test_sql_files_get_a_name_per_run_and_are_removed_under_it():
    first, second = (list(psql_file(runtime(), "db", "SELECT 1;", "roles")) for _ in range(2))
    (a,), (b,) = uploads(first), uploads(second)
    assert a != b and re.fullmatch(r"/root/\.tsdb-deploy-roles-[0-9a-f]{8}\.sql", a)
    assert f"rm -f {a}" in str(first[-1])


def test_installed_files_are_staged_under_a_name_per_run():
    first, second = (list(install_file("/etc/x.conf", "x\n", "root:root", "644"))
                     for _ in range(2))  # fmt: skip
    (a,), (b,) = uploads(first), uploads(second)
    assert a != b and a.startswith("/etc/x.conf.tsdb-new-")
    assert str(first[-1]) == f"mv -f {a} /etc/x.conf"
