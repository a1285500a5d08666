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
    parser.addoption(
        "--app-password-file",
        help="file holding the application role's password, for the login check through "
        "PgBouncer (default: $TSDB_APP_PASSWORD)",
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


# dev-sec postgres-baseline controls (test_baseline.py) ported with an adaptation, or that
# cannot apply, and why: printed at the end of every run.
BASELINE_NOT_APPLIED = {
    "postgres-06 (a password for each role)": (
        "two login roles have none, by design: postgres and the owner role (TimescaleDB's jobs "
        "need a login role), whose only rules are local peer (the owner's only for the OS user "
        "postgres, through a map). Checked instead: a role without a password has no rule "
        "but local peer"
    ),
    "postgres-10 (postgresql.conf readable by the group)": (
        "stricter: the config directory is 0700 (postgres:postgres) and the files the deploy "
        "writes in it 0600"
    ),
    "postgres-12 (ssl_ciphers = 'ALL:!ADH:!LOW:!EXP:!MD5:@STRENGTH')": (
        "stronger list (HIGH only, no anonymous, NULL, MD5, RC4 or 3DES suites); checked as "
        "the control means it: OpenSSL expands the setting to no ADH, LOW, EXP or MD5 suite"
    ),
    "postgres-13 (local clients by peer only)": (
        "one exception: the application role on the Unix socket, by scram-sha-256, which is how "
        "PgBouncer logs in to PostgreSQL with its client's SCRAM proof (it cannot use peer: it "
        "runs as postgres, and maps no other OS user). Checked: every other local rule is peer"
    ),
    "postgres-16 (logging_collector = on, log_directory)": (
        "the server logs to stderr, which pg_ctlcluster (native: /var/log/postgresql, rotated "
        "by logrotate) or Docker's log driver (json-file, 5 x 50 MB) keeps; a collector would "
        "only move the same lines"
    ),
    "postgres-16 (log_duration = on)": (
        "a line per statement on an ingest host; statements slower than "
        "log_min_duration_statement are logged with their duration instead"
    ),
    "postgres-16 (log_hostname = on)": (
        "a reverse DNS lookup delays every connection; the client address is in every line"
    ),
    "postgres-16 (log_line_prefix = '%t %u %d %h')": (
        "a superset: time (ms), pid, user, database, application and client"
    ),
    "postgres-17 (no PUBLIC table grants)": (
        "checked in the deployment's schemas; TimescaleDB's catalog and information views "
        "grant SELECT to PUBLIC by design, so every role can read its own jobs and chunks"
    ),
    "postgres-18 (no grant option but postgres's)": (
        "an object's owner holds its grant option by definition; checked: no other role"
    ),
    "postgres-19 (no SECURITY DEFINER function)": (
        "checked for the deployment's functions; TimescaleDB ships some of its own"
    ),
    "postgres-20 (log directory 0700, postgres)": (
        "native: Debian's postgresql-common owns /var/log/postgresql (root:postgres 1775, "
        "reset at each upgrade); checked: the log files are the database user's and no one "
        "else's to read. Docker: the log driver's files are root's"
    ),
}


JOB_REPORTS: dict[str, list[str]] = {}


@pytest.fixture
def job_report(host) -> list[str]:
    """Lines about this host's TimescaleDB jobs, printed at the end of the session."""
    return JOB_REPORTS.setdefault(host.backend.get_pytest_id(), [])


def pytest_terminal_summary(terminalreporter):
    terminalreporter.section("baseline controls adapted or not applicable, and why")
    for control, why in BASELINE_NOT_APPLIED.items():
        terminalreporter.line(f"{control}: {why}")
    for host, lines in JOB_REPORTS.items():
        if lines:
            terminalreporter.section(f"TimescaleDB jobs on {host}, last runs")
            for line in lines:
                terminalreporter.line(line)


@pytest.fixture(scope="module")
def deployed(host):
    assert host.file(PLAN_RECORD).exists, f"{PLAN_RECORD} missing: was this host deployed?"
    return Deployed(host)
