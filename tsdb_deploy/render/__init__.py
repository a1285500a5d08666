"""The render stage: every file a host gets, from plain values, by pure functions.

`host_files` returns them all, each with its path, mode, owner and the deploy step that
writes it; the steps upload what it returns and build no file text of their own. One header
spelling (text.header) opens each file that can carry a comment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .. import tls
from ..pgbackrest import CHECKED_PATH, STANZA
from ..planner import Plan
from ..runtimes import DockerRuntime, NativeRuntime, Runtime
from ..runtimes.native import CREATECLUSTER_CONF, PIN_PATH, POOLER_DROPIN
from . import apt, backups, docker, exporter, native, pooler, schema, status, tools
from .apt import apt_pin_file, apt_source_file
from .pgbackrest import pgbackrest_conf, pgbackrest_cron
from .postgres import pg_hba_conf, pg_ident_conf, postgresql_conf
from .text import HEADER, RenderError, cron_file, header, render

STATIC = Path(__file__).resolve().parents[2] / "files"  # installed as they are
TOOLS_DIR = "/usr/local/bin"
STATE_DIR = "/etc/tsdb-deploy"
PLAN_RECORD = f"{STATE_DIR}/plan.json"
BACKUP_CONF = f"{STATE_DIR}/backup.conf"
BACKUP_CRON = "/etc/cron.d/tsdb-backup"
STATUS_CONF = f"{STATE_DIR}/status.conf"
PGBACKREST_CRON = "/etc/cron.d/tsdb-pgbackrest"
PITR_TOOL = "/usr/local/sbin/tsdb-pitr"
MAINTENANCE_CRON = "/etc/cron.d/tsdb-maintenance"
DAEMON_JSON = "/etc/docker/daemon.json"
DAEMON_DROPIN = "/etc/systemd/system/docker.service.d/tsdb-deploy.conf"


@dataclass(frozen=True)
class HostFile:
    """A file the deploy writes: where, what, whose, and which step writes it."""

    step: str  # the deploy step that installs it (see host_files)
    path: str
    text: str = field(repr=False)
    mode: str = "644"
    owner: str = "root:root"  # user:group
    validate: bool = False  # checked by the server's own parser before it replaces the live one
    secret: bool = False  # never shown: no diff, no content in any log (the TLS key)
    restart: bool = False  # its service applies a change only when restarted, not reloaded


@dataclass(frozen=True)
class Directory:
    """A directory the deploy makes, with its owner and mode."""

    step: str
    path: str
    mode: str = "755"
    owner: str = "root:root"  # user:group


@dataclass(frozen=True)
class FileValues:
    """What the files say besides the runtime and the plan, as plain values."""

    host_name: str
    environment: str  # production, staging, development (backup.conf: a rebuild's guard)
    database: str
    app_user: str
    app_verifier: str  # the application role's SCRAM verifier (PgBouncer's userlist)
    owner_role: str
    tls: bool
    record: dict  # plan.json: where things are, the plan, the schema's values
    backup_dir: str
    backups_kept: dict  # tier -> archives kept
    backup_compression: str | None
    pgbackrest_repo_path: str
    pgbackrest_repo2_path: str | None
    pgbackrest_retention_full: int
    docker_daemon: dict
    docker_daemon_environment: dict
    status_thresholds: dict  # tsdb-status's, complete (settings.STATUS_THRESHOLDS)
    monitor_role: str
    monitor_password: str  # the exporters' files hold it (on the host, 0640)
    monitor_verifier: str  # PgBouncer's userlist: the monitoring role reads its statistics
    exporter_listen: str
    pgbouncer_exporter_listen: str
    node_exporter_listen: str


def host_files(
    rt: Runtime, plan: Plan, values: FileValues, server_tls: tls.ServerTLS | None
) -> list[HostFile]:
    """Every file the host gets, in the order the steps write them:

    - install: the runtime's own (cluster options; daemon.json and dockerd's drop-in);
    - apt: upstream repositories' sources entries and pin (installed with their packages);
    - pgbackrest: its config, before PostgreSQL archives to it;
    - service: the compose project (docker);
    - server: TLS certificate and key, pg_ident.conf, pg_hba.conf, postgresql.conf;
    - pooler: PgBouncer's files (and its file limit, native);
    - record, tools, backups, pitr: plan.json, tsdb-pg and tsdb-psql, the backup tools and
      schedules;
    - maintenance: the cron job the Apache-only build needs (installed or removed by license);
    - monitoring, exporter, pooler_exporter, node_exporter: tsdb-status and its config;
      prometheus-postgres-exporter's environment, password and queries;
      prometheus-pgbouncer-exporter's unit and environment; prometheus-node-exporter's
      environment.
    """
    v = values
    out: list[HostFile] = []
    if isinstance(rt, NativeRuntime):
        out.append(HostFile("install", CREATECLUSTER_CONF, native.createcluster_conf(
            pg_version=rt.pg_version, data_checksums=rt.data_checksums)))  # fmt: skip
    if isinstance(rt, DockerRuntime):
        out += [
            HostFile("install", DAEMON_JSON, docker.daemon_json(v.docker_daemon)),
            HostFile("install", DAEMON_DROPIN, docker.dockerd_dropin(v.docker_daemon_environment)),
        ]
    out += [HostFile("apt", s.list_path, apt_source_file(s)) for s in rt.upstream_sources()]
    if isinstance(rt, NativeRuntime) and rt.upstream:
        pin = apt_pin_file(rt.timescaledb_packages(), rt.timescaledb_release,
                           "timescaledb_version")  # fmt: skip
        out.append(HostFile("apt", PIN_PATH, pin))
    if rt.pitr:
        out.append(HostFile("pgbackrest", f"{rt.pgbackrest_conf_dir}/pgbackrest.conf",
            pgbackrest_conf(
                host_name=v.host_name, runtime=rt.name, repo_path=v.pgbackrest_repo_path,
                repo2_path=v.pgbackrest_repo2_path,
                retention_full=v.pgbackrest_retention_full,
                process_max=max(1, plan.hardware.whole_cpus // 2),
                log_path=rt.pgbackrest_log_path, pgdata=rt.data_directory, port=rt.port),
            mode="640", owner="postgres:root"))  # fmt: skip
    if isinstance(rt, DockerRuntime):
        out.append(HostFile("service", rt.compose_file, docker.compose_yaml(rt, plan)))
    out += server_files(rt, plan, v, server_tls)
    out += pooler_files(rt, plan, v, server_tls)
    record = json.dumps(v.record, indent=2, sort_keys=True) + "\n"
    out += [
        HostFile("record", PLAN_RECORD, record),
        HostFile("tools", f"{TOOLS_DIR}/tsdb-pg",
                 tools.tsdb_pg(runtime=rt.name, lines=rt.tsdb_pg_lines()), mode="755"),
        HostFile("tools", f"{TOOLS_DIR}/tsdb-psql", tools.tsdb_psql(database=v.database),
                 mode="755"),
        HostFile("backups", BACKUP_CONF, backup_conf(v, rt.pg_version)),
        *(HostFile("backups", f"{TOOLS_DIR}/{name}", (STATIC / name).read_text(), mode="755")
          for name in ("tsdb-backup", "tsdb-restore")),
        HostFile("backups", BACKUP_CRON, backups.backup_cron()),
    ]  # fmt: skip
    if rt.pitr:
        out += [
            HostFile("pitr", PITR_TOOL, tools.tsdb_pitr(
                runtime=rt.name, lines=rt.tsdb_pitr_lines(STANZA)), mode="755"),
            HostFile("pitr", PGBACKREST_CRON, pgbackrest_cron()),
        ]  # fmt: skip
    out.append(HostFile("maintenance", MAINTENANCE_CRON,
                        schema.maintenance_cron(owner_role=v.owner_role)))  # fmt: skip
    out += [
        HostFile("monitoring", STATUS_CONF, status.status_conf(
            database=v.database, pgbouncer_port=rt.pgbouncer_port,
            pool_size=plan.pooler.server_pool, data_dir=rt.data_path_on_host,
            backup_dir=v.backup_dir, pgbackrest_repo=v.pgbackrest_repo_path if rt.pitr else None,
            thresholds=v.status_thresholds, tsdb_pg=backups.TSDB_PG)),
        HostFile("monitoring", f"{TOOLS_DIR}/tsdb-status", (STATIC / "tsdb-status").read_text(),
                 mode="755"),
        HostFile("exporter", exporter.QUERIES_FILE, exporter.queries()),
        HostFile("exporter", exporter.PASSWORD_FILE, exporter.password_file(v.monitor_password),
                 mode="640", owner=f"root:{exporter.USER}", secret=True),
        HostFile("exporter", exporter.ENV_FILE, exporter.environment(
            address=rt.local_address(), port=rt.port, database=v.database, role=v.monitor_role,
            tls=v.tls, listen=v.exporter_listen), restart=True),
        HostFile("pooler_exporter", exporter.POOLER_UNIT, exporter.pooler_unit(), restart=True),
        HostFile("pooler_exporter", exporter.POOLER_ENV_FILE, exporter.pooler_environment(
            address=rt.local_address(), port=rt.pgbouncer_port, role=v.monitor_role,
            password=v.monitor_password, tls=v.tls, listen=v.pgbouncer_exporter_listen),
                 mode="640", owner=f"root:{exporter.USER}", secret=True, restart=True),
        HostFile("node_exporter", exporter.NODE_ENV_FILE,
                 exporter.node_environment(listen=v.node_exporter_listen), restart=True),
    ]  # fmt: skip
    return out


def absent_files(rt: Runtime) -> list[str]:
    """Files a setting turned off must not leave behind: pgBackRest's schedule, tsdb-pitr and
    the record of the last passing `pgbackrest check` without point-in-time recovery (turned
    on again, archiving has to be proven again)."""
    return [] if rt.pitr else [PGBACKREST_CRON, PITR_TOOL, CHECKED_PATH]


def backup_conf(v: FileValues, pg_version: int) -> str:
    return backups.backup_conf(
        backup_dir=v.backup_dir,
        database=v.database,
        keep=v.backups_kept,
        compression=v.backup_compression or backups.default_compression(pg_version),
        environment=v.environment,
    )


def host_directories(rt: Runtime, values: FileValues) -> list[Directory]:
    """The directories the files go in whose owner or mode matter (others are made as
    needed, root's, 0755)."""
    postgres = "postgres:postgres"
    out = [Directory("record", STATE_DIR)]
    if rt.pitr:
        out += [
            Directory("pgbackrest", values.pgbackrest_repo_path, "750", postgres),
            *([Directory("pgbackrest", values.pgbackrest_repo2_path, "750", postgres)]
              if values.pgbackrest_repo2_path else []),
            Directory("pgbackrest", rt.pgbackrest_log_path, "750", postgres),
            Directory("pgbackrest", rt.pgbackrest_conf_dir),
        ]  # fmt: skip
    if isinstance(rt, DockerRuntime):
        out += [
            Directory("service", STATE_DIR),
            Directory("service", rt.compose_file.rsplit("/", 1)[0]),
            # postgres only: dev-sec postgres-10
            Directory("service", rt.config_dir, "700", postgres),
            Directory("service", rt.pooler_config_dir, "750", postgres),
        ]
    out += [
        Directory("backups", values.backup_dir, "700", postgres),
        # tsdb-backup (postgres) writes its metrics here; the node exporter reads them
        Directory("backups", backups.METRICS_DIR, "755", postgres),
    ]
    return out


def pooler_files(
    rt: Runtime, plan: Plan, v: FileValues, server_tls: tls.ServerTLS | None
) -> list[HostFile]:
    """PgBouncer's, private to postgres, which it runs as."""
    owner = {"mode": "640", "owner": rt.config_owner}
    here, there = rt.pooler_config_dir, rt.pooler_server_config_dir
    tls_files = ((rt.server_tls_path(tls.CERT_NAME), rt.server_tls_path(tls.KEY_NAME))
                 if v.tls else None)  # fmt: skip
    out = []
    if isinstance(rt, NativeRuntime):
        limits = pooler.systemd_limits(plan.pooler.open_files)
        out.append(HostFile("pooler", POOLER_DROPIN, limits, restart=True))
    out += [
        HostFile("pooler", f"{here}/{pooler.LISTEN}", pooler.listen_ini(
            host_name=v.host_name, listen=rt.server_listen_addresses(), port=rt.pgbouncer_port,
            pid_file=rt.pooler_pid_file), restart=True, **owner),
        HostFile("pooler", f"{here}/{pooler.HBA}", pooler.pgbouncer_hba(
            host_name=v.host_name, database=v.database, app_user=v.app_user,
            networks=rt.hba_networks(), tls=v.tls, monitor_role=v.monitor_role,
            monitor_network=rt.local_client_network()), **owner),
        HostFile("pooler", f"{here}/{pooler.USERLIST}", pooler.userlist(
            app_user=v.app_user, verifier=v.app_verifier, monitor_role=v.monitor_role,
            monitor_verifier=v.monitor_verifier), secret=True, **owner),
        HostFile("pooler", f"{here}/{pooler.INI}", pooler.pgbouncer_ini(
            plan.pooler, host_name=v.host_name, database=v.database, port=rt.port,
            config_dir=there, log_file=rt.pooler_log_file, tls_files=tls_files,
            stats_user=v.monitor_role,
            tls_cert=server_tls.cert_text if server_tls else None), **owner),
    ]  # fmt: skip
    return out


def server_files(
    rt: Runtime, plan: Plan, v: FileValues, server_tls: tls.ServerTLS | None
) -> list[HostFile]:
    """PostgreSQL's files, private to postgres (dev-sec postgres-10). The certificate and key
    come first: the config that names them is validated after they are in place."""
    owner = {"mode": "600", "owner": rt.config_owner}
    out = []
    if server_tls is not None:
        out += [
            HostFile("server", rt.tls_path(tls.CERT_NAME), server_tls.cert_text, **owner),
            HostFile("server", rt.tls_path(tls.KEY_NAME), server_tls.key_text, secret=True,
                     **owner),
        ]  # fmt: skip
    out += [
        HostFile("server", rt.ident_path,
                 pg_ident_conf(host_name=v.host_name, owner_role=v.owner_role), **owner),
        HostFile("server", rt.hba_path, pg_hba_conf(
            host_name=v.host_name, database=v.database, app_user=v.app_user,
            owner_role=v.owner_role, networks=rt.hba_networks(), tls=v.tls,
            monitor_role=v.monitor_role, monitor_network=rt.local_client_network()), **owner),
        HostFile("server", rt.conf_path, postgresql_conf(
            plan, host_name=v.host_name, runtime=rt.name, locations=rt.locations()),
            validate=True, **owner),
    ]  # fmt: skip
    return out


__all__ = [
    "HEADER", "Directory", "FileValues", "HostFile", "RenderError", "absent_files", "apt",
    "cron_file", "header",
    "host_directories", "host_files", "pg_hba_conf", "pg_ident_conf", "pooler_files",
    "postgresql_conf",
    "render", "server_files",
]  # fmt: skip
