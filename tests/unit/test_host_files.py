"""The render stage: every file a host gets, listed, with its owner and mode; and the same
files as before the render stage existed, byte for byte but for the header.

tests/fixtures/rendered/<host>/ holds four recorded hosts: their inventory data and facts
(host.json) and the files the deploy wrote for them (files/): first recorded at 7bfe7fd, before
the render stage existed, and recorded again only by a change meant to change what hosts get
(PgBouncer: its files, the compose project, pg_hba.conf, plan.json). Rebuilding each host's plan
from host.json must give those files again.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lab import tls as lab_tls
from tsdb_deploy import host_plan, render, scram
from tsdb_deploy.facts import Disk, DiskFacts, EffectiveResources, PostgresDatabase, Resources
from tsdb_deploy.facts.postgres import DatabaseState

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "rendered"
CASES = sorted(p.name for p in RECORDED.iterdir())
# copied as they are (files/), or the inventory's own (TLS)
NOT_RENDERED = ("/usr/local/bin/tsdb-backup", "/usr/local/bin/tsdb-restore",
                "/usr/local/bin/tsdb-status")  # fmt: skip
NO_COMMENTS = (".json", "userlist.txt", "exporter.pass")  # no comment syntax: no header
PASSWORD = "not-a-real-password-0123"
# the application role as a converged host stores it: the userlist holds this verifier
VERIFIER = scram.make_verifier(PASSWORD, salt=b"recorded-salt-01")
MONITOR_VERIFIER = scram.make_verifier("not-a-real-monitor-password", salt=b"recorded-salt-02")


def rebuild(case: str, lab_ca, monkeypatch) -> host_plan.HostPlan:
    recorded = json.loads((RECORDED / case / "host.json").read_text())
    data, facts = dict(recorded["data"]), recorded["facts"]
    if data.get("tls_cert_file") == "CERT":
        cert, key = lab_tls.issue(recorded["host"])
        data["tls_cert_file"], data["tls_key_file"] = str(cert), str(key)
    monkeypatch.setenv("TSDB_APP_PASSWORD", PASSWORD)
    monkeypatch.setenv("TSDB_MONITOR_PASSWORD", "not-a-real-monitor-password")
    name, major, codename = facts["distro"]
    distro = {"name": name.title(), "major": major, "release_meta": {"VERSION_CODENAME": codename}}

    def read(fact, **kwargs):
        if fact is EffectiveResources:
            return Resources(facts["memory_bytes"], facts["cpus"], ("memory: recorded",))
        if fact is PostgresDatabase:
            roles = {data["app_user"]: VERIFIER, "tsdb_monitor": MONITOR_VERIFIER}
            return DatabaseState((data["database"],), roles, {}, None)
        assert fact is DiskFacts
        wal = kwargs["path"].endswith("pg_wal")
        size = facts["wal_disk"] if wal else facts["data_disk"]
        mount = "/wal" if wal and facts["wal_disk"] != facts["data_disk"] else "/"
        return Disk(kwargs["path"], size, mount, "sda", facts["storage"], ("storage: recorded",))

    return host_plan.from_facts(recorded["host"], data, distro, read)


def without_header(text: str) -> str:
    """A script's leading comment block (its header), or a file's header line."""
    lines = text.splitlines(keepends=True)
    if lines and lines[0].startswith("#!"):
        end = 1
        while end < len(lines) and lines[end].startswith("#"):
            end += 1
        return "".join(lines[:1] + lines[end:])
    return "".join(
        line for line in lines
        if not (line.startswith("#") and "written by tsdb-deploy" in line.lower())
    )  # fmt: skip


def without_certificate_fingerprint(text: str) -> str:
    """pgbouncer.ini names the certificate's fingerprint: the lab CA issues a new one each run."""
    return re.sub(r"certificate, sha256 [0-9a-f]{16}", "certificate, sha256 X", text)


def without_migration_hashes(text: str) -> dict:
    """plan.json, less the migrations' checksums (they change with sql/, not with render)."""
    record = json.loads(text)
    record["schema"].pop("migrations")
    return record


@pytest.mark.parametrize("case", CASES)
def test_the_recorded_hosts_get_the_same_files_but_for_the_header(case, lab_ca, monkeypatch):
    hp = rebuild(case, lab_ca, monkeypatch)
    rendered = {f.path: f.text for f in hp.files if not f.path.endswith((".crt", ".key"))}
    recorded_dir = RECORDED / case / "files"
    recorded = {
        "/" + str(p.relative_to(recorded_dir)): p.read_text()
        for p in recorded_dir.rglob("*")
        if p.is_file()
    }
    assert sorted(set(rendered) - set(NOT_RENDERED)) == sorted(recorded)
    for path, before in recorded.items():
        if path.endswith("plan.json"):
            assert without_migration_hashes(rendered[path]) == without_migration_hashes(before)
        else:
            assert without_certificate_fingerprint(without_header(rendered[path])) == (
                without_certificate_fingerprint(without_header(before))
            ), path


@pytest.mark.parametrize("case", CASES)
def test_every_file_opens_with_the_one_header(case, lab_ca, monkeypatch):
    for f in rebuild(case, lab_ca, monkeypatch).files:
        if f.path in NOT_RENDERED or f.path.endswith((*NO_COMMENTS, ".crt", ".key")):
            continue
        lines = f.text.splitlines()
        first = lines[1] if lines[0].startswith("#!") else lines[0]
        assert first.startswith(render.HEADER), (f.path, first)


def test_the_files_a_host_gets_with_their_owners_and_modes(lab_ca, monkeypatch):
    """The native host with point-in-time recovery and TLS: every file, in the order the
    steps write them."""
    hp = rebuild("native-pitr-tls", lab_ca, monkeypatch)
    listed = [(f.step, f.path, f.mode, f.owner, f.validate, f.secret) for f in hp.files]
    pg = "postgres:postgres"
    conf = "/etc/postgresql/17/main"
    assert listed == [
        ("install", "/etc/postgresql-common/createcluster.d/50-tsdb-deploy.conf", "644",
         "root:root", False, False),
        ("pgbackrest", "/etc/pgbackrest/pgbackrest.conf", "640", "postgres:root", False, False),
        ("server", f"{conf}/server.crt", "600", pg, False, False),
        ("server", f"{conf}/server.key", "600", pg, False, True),
        ("server", f"{conf}/pg_ident.conf", "600", pg, False, False),
        ("server", f"{conf}/pg_hba.conf", "600", pg, False, False),
        ("server", f"{conf}/postgresql.conf", "600", pg, True, False),
        ("pooler", "/etc/systemd/system/pgbouncer.service.d/tsdb-deploy.conf", "644",
         "root:root", False, False),
        ("pooler", "/etc/pgbouncer/listen.ini", "640", pg, False, False),
        ("pooler", "/etc/pgbouncer/pgbouncer_hba.conf", "640", pg, False, False),
        ("pooler", "/etc/pgbouncer/userlist.txt", "640", pg, False, True),
        ("pooler", "/etc/pgbouncer/pgbouncer.ini", "640", pg, False, False),
        ("record", "/etc/tsdb-deploy/plan.json", "644", "root:root", False, False),
        ("tools", "/usr/local/bin/tsdb-pg", "755", "root:root", False, False),
        ("tools", "/usr/local/bin/tsdb-psql", "755", "root:root", False, False),
        ("backups", "/etc/tsdb-deploy/backup.conf", "644", "root:root", False, False),
        ("backups", "/usr/local/bin/tsdb-backup", "755", "root:root", False, False),
        ("backups", "/usr/local/bin/tsdb-restore", "755", "root:root", False, False),
        ("backups", "/etc/cron.d/tsdb-backup", "644", "root:root", False, False),
        ("pitr", "/usr/local/sbin/tsdb-pitr", "755", "root:root", False, False),
        ("pitr", "/etc/cron.d/tsdb-pgbackrest", "644", "root:root", False, False),
        ("maintenance", "/etc/cron.d/tsdb-maintenance", "644", "root:root", False, False),
        ("monitoring", "/etc/tsdb-deploy/status.conf", "644", "root:root", False, False),
        ("monitoring", "/usr/local/bin/tsdb-status", "755", "root:root", False, False),
        ("exporter", "/etc/tsdb-deploy/exporter-queries.yaml", "644", "root:root", False, False),
        ("exporter", "/etc/tsdb-deploy/exporter.pass", "640", "root:prometheus", False, True),
        ("exporter", "/etc/default/prometheus-postgres-exporter", "644", "root:root", False,
         False),
        ("pooler_exporter", "/etc/systemd/system/prometheus-pgbouncer-exporter.service", "644",
         "root:root", False, False),
        ("pooler_exporter", "/etc/default/prometheus-pgbouncer-exporter", "640",
         "root:prometheus", False, True),
        ("node_exporter", "/etc/default/prometheus-node-exporter", "644", "root:root", False,
         False),
    ]  # fmt: skip
    dirs = [(d.step, d.path, d.mode, d.owner) for d in hp.directories]
    assert dirs == [
        ("record", "/etc/tsdb-deploy", "755", "root:root"),
        ("pgbackrest", "/var/lib/pgbackrest", "750", pg),
        ("pgbackrest", "/var/log/pgbackrest", "750", pg),
        ("pgbackrest", "/etc/pgbackrest", "755", "root:root"),
        ("backups", "/var/backups/tsdb", "700", pg),
        ("backups", "/var/lib/tsdb-deploy/metrics", "755", pg),
    ]


def test_a_docker_host_gets_the_compose_project_and_dockerds_files(lab_ca, monkeypatch):
    hp = rebuild("docker-bridge-pitr", lab_ca, monkeypatch)
    steps = {f.path: f.step for f in hp.files}
    assert steps["/etc/tsdb-deploy/docker/compose.yaml"] == "service"
    assert steps["/etc/docker/daemon.json"] == steps[render.DAEMON_DROPIN] == "install"
    assert steps["/etc/apt/sources.list.d/docker.list"] == "apt"
    assert "/etc/postgresql-common/createcluster.d/50-tsdb-deploy.conf" not in steps
    # every path a step reads is read in the one command
    assert set(steps) <= set(hp.known_paths)
    assert "/etc/apt/keyrings/docker.asc" in hp.known_paths


@pytest.mark.parametrize(
    "case, services",
    [
        ("native-pitr-tls",
         ["postgresql", "postgresql@17-main", "pgbouncer", "prometheus-postgres-exporter",
          "prometheus-pgbouncer-exporter", "prometheus-node-exporter"]),
        ("docker-bridge-pitr", ["docker", "prometheus-postgres-exporter",
                                "prometheus-pgbouncer-exporter", "prometheus-node-exporter"]),
    ],
)  # fmt: skip
def test_the_services_each_runtime_keeps_running(case, services, lab_ca, monkeypatch):
    hp = rebuild(case, lab_ca, monkeypatch)
    assert hp.services == services
    assert [fact for fact, _ in hp.reads()]  # every read is declared, whatever the runtime
