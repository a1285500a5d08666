"""testinfra checks for any deployed host: `pytest tests/testinfra --inventory inventory/X.py`
(or testinfra's own `--hosts docker://name,ssh://user@host`).

The checks read what the deploy recorded on the host (/etc/tsdb-deploy/plan.json): the plan
it was sized with and where its files are. So the same suite serves every runtime and
inventory, and checks the host against its own plan, not against values copied into tests.
"""

from __future__ import annotations

import json

import pytest

PLAN_RECORD = "/etc/tsdb-deploy/plan.json"


def pytest_addoption(parser):
    parser.addoption(
        "--inventory",
        help="pyinfra inventory file whose hosts to check (instead of --hosts)",
    )


def testinfra_url(name: str, data: dict) -> str:
    """A pyinfra inventory host as a testinfra backend URL."""
    if name.startswith("@docker/"):
        return "docker://" + name.removeprefix("@docker/")
    user = data.get("ssh_user")
    port = data.get("ssh_port")
    url = f"ssh://{user + '@' if user else ''}{data.get('ssh_hostname') or name}"
    url += f":{port}" if port else ""
    return url + ("?sudo=true" if data.get("_sudo") else "")


def pytest_configure(config):
    inventory = config.getoption("--inventory", default=None)
    if not inventory:
        return
    from pyinfra.api import Config, State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    with ctx_state.use(State(config=Config())):  # inventory files run in a pyinfra state
        hosts = make_inventory(inventory, cwd=str(config.rootpath))
    config.option.hosts = ",".join(testinfra_url(h.name, h.data.dict()) for h in hosts)


class Deployed:
    """The host under test, as its deploy recorded it, with a psql runner."""

    def __init__(self, host):
        self.host = host
        self.record = json.loads(host.file(PLAN_RECORD).content_string)
        self.deployment = self.record["deployment"]
        self.parameters = self.record["parameters"]

    def psql(self, sql: str, database: str | None = None) -> str:
        db = database or self.deployment["database"]
        cmd = self.host.run("tsdb-psql -X -q -At -v ON_ERROR_STOP=1 -d %s -c %s", db, sql)
        assert cmd.rc == 0, f"tsdb-psql failed: {cmd.stderr}"
        return cmd.stdout.strip()


JOB_REPORTS: dict[str, list[str]] = {}


@pytest.fixture
def job_report(host) -> list[str]:
    """Lines about this host's TimescaleDB jobs, printed at the end of the session."""
    return JOB_REPORTS.setdefault(host.backend.get_pytest_id(), [])


def pytest_terminal_summary(terminalreporter):
    for host, lines in JOB_REPORTS.items():
        if lines:
            terminalreporter.section(f"TimescaleDB jobs on {host}, last runs")
            for line in lines:
                terminalreporter.line(line)


@pytest.fixture(scope="module")
def deployed(host):
    assert host.file(PLAN_RECORD).exists, f"{PLAN_RECORD} missing: was this host deployed?"
    return Deployed(host)
