"""Integration fixtures: real Debian 13 test hosts, deployed with the real deploy.py.

Each test module gets its own host (a container running systemd), removed afterwards, also
when a test fails. Deploys run pyinfra as ops do, from a per-test inventory file. Hosts on the
production path install from the lab mirror (one per session, `lab_mirror`) or run the lab's
Community image; the Apache-build tests say `package_source: distro`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab import credentials, mirror, testhosts
from lab.vendor import VendorError
from tsdb_deploy.settings import SETTINGS

RUNTIMES = {"native", "docker"}

ROOT = Path(__file__).resolve().parents[2]
PASSWORD_FILE = credentials.APP_PASSWORD_FILE
MIRROR = "tsdb-it-mirror"
KEEP_HOSTS = "TSDB_KEEP_TEST_HOSTS"
DISTRO = {"package_source": "distro"}  # Debian's packages: the Apache-only build


@dataclass
class DeployResult:
    returncode: int
    totals: dict | None  # pyinfra --json totals: success (= changed), no_change, error
    plan: list | None  # --dry: the operations and the hosts each would change
    output: str  # stderr: pyinfra's log

    @classmethod
    def of(cls, proc) -> DeployResult:
        """From a finished pyinfra --json process (stdout, stderr as text)."""
        parsed = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}
        return cls(
            proc.returncode,
            (parsed.get("results") or {}).get("totals"),
            parsed.get("plan"),
            proc.stderr,
        )

    @property
    def changed(self) -> int:
        assert self.totals is not None, self.output[-3000:]
        return self.totals["success"]

    @property
    def changing(self) -> list[str]:
        """--dry: the steps (deploy prefix dropped) that would change the host."""
        assert self.returncode == 0 and self.plan is not None, self.output[-5000:]
        return [op["name"].split(" | ")[-1] for op in self.plan if op["hosts_with_change"]]


class Target:
    """A test host and how to deploy to it and look inside it."""

    def __init__(self, test_host: testhosts.TestHost, workdir: Path):
        self.test_host = test_host
        self.name = test_host.name
        self.workdir = workdir
        self.base: dict = {}  # host data every deploy starts from (package source, image)
        self.group = "native"

    def deploy(
        self, data: dict | None = None, *, dry: bool = False, group: str | None = None,
        project: Path = ROOT,
    ) -> DeployResult:  # fmt: skip
        """Run deploy.py with this host's base data updated by `data`; the inventory file is
        named like the sandbox's so group_data/sandbox.py applies. `project`: a copy of this
        project to deploy from instead (its own tsdb_deploy and sql/)."""
        return self.finish(self.start_deploy(data, dry=dry, group=group, project=project))

    def start_deploy(
        self, data: dict | None = None, *, dry: bool = False, group: str | None = None,
        project: Path = ROOT,
    ) -> subprocess.Popen:  # fmt: skip
        """`deploy` started, not waited for (finish() waits)."""
        cmd = self.deploy_command(data, dry=dry, group=group)
        env = {**os.environ, "PYTHONPATH": str(project)}
        return subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip

    @staticmethod
    def finish(proc: subprocess.Popen, timeout: float = 1200) -> DeployResult:
        out, err = proc.communicate(timeout=timeout)
        return DeployResult.of(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))

    def deploy_command(
        self, data: dict | None = None, *, dry: bool = False, group: str | None = None
    ) -> list[str]:
        """The pyinfra command line of `deploy`, its inventory written (to run it yourself)."""
        inventory = self.workdir / "sandbox.py"
        group = group or self.group
        # deployed as the other runtime: the base data of this one's group stays behind
        base = {k: v for k, v in self.base.items()
                if k not in SETTINGS or SETTINGS[k].group not in RUNTIMES - {group}}  # fmt: skip
        host_data = {**base, **(data or {})}
        inventory.write_text(f"{group} = [({self.test_host.pyinfra_name!r}, {host_data!r})]\n")
        mode = "--dry" if dry else "-y"
        return [sys.executable, "-m", "pyinfra", mode, "--json", str(inventory), "deploy.py"]

    def run(self, *command: str, check: bool = True, stdin: str | None = None) -> str:
        proc = subprocess.run(
            ["docker", "exec", "-i", self.name, *command],
            input=stdin,
            capture_output=True,
            text=True,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{command} failed ({proc.returncode}): {proc.stderr}")
        return proc.stdout

    def psql(self, sql: str, db: str | None = None) -> str:
        where = ["-d", db] if db else []
        return self.run(
            "tsdb-psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", *where, "-c", sql
        ).strip()

    def show(self, name: str) -> str:
        return self.psql(f"SHOW {name}")

    def postmaster_started(self) -> str:
        return self.psql("SELECT pg_postmaster_start_time()")

    def sha256(self, path: str) -> str:
        return hashlib.sha256(self.run("cat", path).encode()).hexdigest()

    def plan_record(self) -> dict:
        return json.loads(self.run("cat", "/etc/tsdb-deploy/plan.json"))

    def testinfra(self) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/testinfra",
                f"--hosts={self.test_host.testinfra_url}",
                f"--app-password-file={ROOT / PASSWORD_FILE}",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )


@pytest.fixture(scope="session", autouse=True)
def _test_host_prerequisites():
    """Docker running, the base image built (once per machine), the sandbox password."""
    try:
        testhosts.ensure_docker()
        testhosts.ensure_base_image()
    except testhosts.TestHostError as exc:
        pytest.fail(f"test hosts unavailable: {exc}")
    credentials.prepare()


@pytest.fixture(scope="session")
def lab_mirror(request) -> mirror.Mirror:
    """The lab package mirror (built on first use, cached), removed after the session."""
    if not os.environ.get(KEEP_HOSTS):
        request.addfinalizer(lambda: mirror.stop(MIRROR))
    try:
        return mirror.serve(MIRROR)
    except (testhosts.TestHostError, VendorError) as exc:
        pytest.fail(f"lab mirror unavailable: {exc}")


def make_target(
    request, tmp_path_factory, test_host: testhosts.TestHost, base: dict | None = None,
    group: str = "native",
) -> Target:  # fmt: skip
    """Start `test_host` fresh; remove it when the module is done, pass or fail. `base`: the
    host data every deploy of it starts from; `group`: its runtime."""
    try:
        testhosts.start(test_host)
    except testhosts.TestHostError as exc:
        testhosts.remove(test_host.name)
        pytest.fail(f"cannot start test host: {exc}")
    if not os.environ.get(KEEP_HOSTS):  # set it to look at a failed test's host afterwards
        request.addfinalizer(lambda: testhosts.remove(test_host.name))
    target = Target(test_host, tmp_path_factory.mktemp(test_host.name))
    target.base, target.group = dict(base or {}), group
    return target


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
