"""The exporters, Debian's packages on the host for either runtime:

- prometheus-postgres-exporter: its environment file, its password file and the queries it adds
  for TimescaleDB;
- prometheus-pgbouncer-exporter: its unit and environment file, for PgBouncer's pools;
- prometheus-node-exporter: its environment file, for the host's disks and tsdb-backup's
  metrics (written by tsdb-backup itself after every run, read by the textfile collector).

Both log in as the monitoring role (pg_monitor's rights in PostgreSQL, SHOW only in PgBouncer's
console) over TCP from the host with SCRAM, as any local client, so the docker runtime needs
nothing else. The password is never on a command line: the PostgreSQL exporter reads it from
a file, the PgBouncer exporter (which cannot) from its environment file; both files only root
and the exporters' user read.
"""

from __future__ import annotations

from urllib.parse import quote

import yaml

from .. import formats
from .backups import METRICS_DIR
from .text import header

ENV_FILE = "/etc/default/prometheus-postgres-exporter"  # the Debian unit's EnvironmentFile
PASSWORD_FILE = "/etc/tsdb-deploy/exporter.pass"
QUERIES_FILE = "/etc/tsdb-deploy/exporter-queries.yaml"
SERVICE = "prometheus-postgres-exporter"
USER = "prometheus"  # the package's
POOLER_SERVICE = "prometheus-pgbouncer-exporter"
POOLER_ENV_FILE = f"/etc/default/{POOLER_SERVICE}"
# The whole unit, in /etc: Debian's runs the exporter as postgres and Requires= pgbouncer.service,
# which a docker host does not have (PgBouncer runs in the compose project), and a drop-in
# cannot remove a dependency.
POOLER_UNIT = f"/etc/systemd/system/{POOLER_SERVICE}.service"
POOLER_BINARY = f"/usr/bin/{POOLER_SERVICE}"
NODE_SERVICE = "prometheus-node-exporter"
NODE_ENV_FILE = f"/etc/default/{NODE_SERVICE}"  # the Debian unit's EnvironmentFile
NODE_TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"  # Debian's, for its own collectors
SERVICES = (SERVICE, POOLER_SERVICE, NODE_SERVICE)

# TimescaleDB, beside the exporter's own PostgreSQL metrics. A query that fails (e.g.
# compression on the Apache-only build) is logged by the exporter; the others still answer.
QUERIES = {
    "tsdb_timescaledb_job": {
        "query": (
            "SELECT j.job_id::text AS job_id, j.proc_name, "
            "coalesce(j.hypertable_name, '') AS hypertable, "
            "coalesce(s.total_runs, 0) AS runs, coalesce(s.total_failures, 0) AS failures, "
            "(coalesce(s.last_run_status, '') = 'Failed')::int AS last_run_failed, "
            "coalesce(extract(epoch FROM now() - s.last_successful_finish), -1) "
            "AS seconds_since_success "
            "FROM timescaledb_information.jobs j "
            "LEFT JOIN timescaledb_information.job_stats s USING (job_id) WHERE j.scheduled"
        ),
        "metrics": [
            {"job_id": {"usage": "LABEL", "description": "TimescaleDB job id"}},
            {"proc_name": {"usage": "LABEL", "description": "the job's procedure"}},
            {"hypertable": {"usage": "LABEL", "description": "the hypertable it works on"}},
            {"runs": {"usage": "COUNTER", "description": "runs since the job was created"}},
            {"failures": {"usage": "COUNTER", "description": "failed runs"}},
            {"last_run_failed": {"usage": "GAUGE", "description": "1 if the last run failed"}},
            {
                "seconds_since_success": {
                    "usage": "GAUGE",
                    "description": "since the last success (-1: never)",
                }
            },
        ],  # fmt: skip
    },
    "tsdb_timescaledb_chunks": {
        "query": (
            "SELECT h.hypertable_name AS hypertable, count(c.chunk_name) AS chunks, "
            "count(c.chunk_name) FILTER (WHERE c.is_compressed) AS compressed_chunks, "
            "hypertable_size(format('%I.%I', h.hypertable_schema, h.hypertable_name)::regclass)"
            " AS bytes FROM timescaledb_information.hypertables h "
            "LEFT JOIN timescaledb_information.chunks c USING (hypertable_schema, hypertable_name)"
            " GROUP BY h.hypertable_schema, h.hypertable_name"
        ),
        "metrics": [
            {"hypertable": {"usage": "LABEL", "description": "hypertable"}},
            {"chunks": {"usage": "GAUGE", "description": "chunks"}},
            {"compressed_chunks": {"usage": "GAUGE", "description": "compressed chunks"}},
            {"bytes": {"usage": "GAUGE", "description": "size with indexes and compressed data"}},
        ],
    },
    "tsdb_timescaledb_compression": {
        "query": (
            "SELECT h.hypertable_name AS hypertable, "
            "coalesce(s.before_compression_total_bytes, 0) AS before_bytes, "
            "coalesce(s.after_compression_total_bytes, 0) AS after_bytes "
            "FROM timescaledb_information.hypertables h, LATERAL hypertable_compression_stats("
            "format('%I.%I', h.hypertable_schema, h.hypertable_name)::regclass) s"
        ),
        "metrics": [
            {"hypertable": {"usage": "LABEL", "description": "hypertable"}},
            {"before_bytes": {"usage": "GAUGE", "description": "compressed chunks, before"}},
            {"after_bytes": {"usage": "GAUGE", "description": "the same chunks, compressed"}},
        ],
    },
}


def _environment_file(what: str, values: dict[str, str]) -> str:
    """A Debian unit's EnvironmentFile: `what` in the header, a checked line per value."""
    return header(what) + "".join(
        formats.environment_file_line(key, value) + "\n" for key, value in values.items()
    )


def environment(
    *, address: str, port: int, database: str, role: str, tls: bool, listen: str
) -> str:
    """The unit's environment: where to connect (the password from its file) and where to
    serve; the statements collector on, for the slowest queries."""
    sslmode = "require" if tls else "disable"
    values = {
        "DATA_SOURCE_URI": f"{address}:{port}/{database}?sslmode={sslmode}",
        "DATA_SOURCE_USER": role,
        "DATA_SOURCE_PASS_FILE": PASSWORD_FILE,
        "ARGS": f"--web.listen-address={listen} --extend.query-path={QUERIES_FILE} "
        "--collector.stat_statements",
    }
    return _environment_file("the exporter's environment (its password: exporter.pass)", values)


def queries() -> str:
    return header("TimescaleDB queries for prometheus-postgres-exporter") + yaml.safe_dump(
        QUERIES, sort_keys=False, width=100
    )


def password_file(password: str) -> str:
    """No header: the exporter reads the whole file as the password (a final newline is
    trimmed)."""
    formats.one_line(password)
    return password + "\n"


def pooler_environment(
    *, address: str, port: int, role: str, password: str, tls: bool, listen: str
) -> str:
    """The PgBouncer exporter's environment: a URL to PgBouncer's console with the password
    percent-encoded (so nothing in it means anything to the file's readers), where to serve;
    no PgBouncer pid file, whose /proc entries the exporter's user cannot read."""
    formats.one_line(password)
    host = f"[{address}]" if ":" in address else address
    sslmode = "require" if tls else "disable"
    url = (f"postgres://{quote(role, safe='')}:{quote(password, safe='')}@{host}:{port}/"
           f"pgbouncer?sslmode={sslmode}")  # fmt: skip
    values = {
        "PGBOUNCER_EXPORTER_CONNECTION_STRING": url,
        "ARGS": f"--web.listen-address={listen} --pgBouncer.pid-file=",
    }
    return _environment_file(
        "the PgBouncer exporter's environment (it holds a password: 0640)", values
    )


def pooler_unit() -> str:
    return header("prometheus-pgbouncer-exporter, replacing Debian's unit") + "".join(
        line + "\n"
        for line in (
            "[Unit]",
            "Description=Prometheus exporter for PgBouncer",
            "Documentation=https://github.com/prometheus-community/pgbouncer_exporter",
            "After=network-online.target pgbouncer.service docker.service",
            "",
            "[Service]",
            f"User={USER}",
            f"EnvironmentFile={POOLER_ENV_FILE}",
            f"ExecStart={POOLER_BINARY} $ARGS",
            "Restart=on-failure",
            "RestartSec=5",
            "NoNewPrivileges=yes",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
        )
    )


def node_environment(*, listen: str) -> str:
    """Where the node exporter serves, and its textfile directories: Debian's (its collectors'
    package writes there) and tsdb-backup's."""
    args = (f"--web.listen-address={listen} --collector.textfile.directory={NODE_TEXTFILE_DIR} "
            f"--collector.textfile.directory={METRICS_DIR}")  # fmt: skip
    return _environment_file("the node exporter's environment", {"ARGS": args})
