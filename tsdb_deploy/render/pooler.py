"""PgBouncer's files: pgbouncer.ini (the pool as planned, each value with its reason), its
listen file (what only a restart changes), its hba file and its userlist.

PgBouncer reaches PostgreSQL over the Unix socket, as the application role, with SCRAM: the
userlist holds the role's stored SCRAM verifier (never the password), and PgBouncer logs in to
PostgreSQL with the client's own proof. Network clients get TLS when the host has it. The
monitoring role reads the admin console's statistics (SHOW only), from this host alone, for
prometheus-pgbouncer-exporter.
"""

from __future__ import annotations

import hashlib

from .. import formats
from ..planner.pooler import PoolerPlan
from ..runtimes.base import SOCKET_DIR
from .text import header

INI = "pgbouncer.ini"
LISTEN = "listen.ini"  # changes here need a restart; the rest is reloaded (SIGHUP)
HBA = "pgbouncer_hba.conf"
USERLIST = "userlist.txt"
ADMIN = "postgres"  # the admin console's user: the OS user postgres, by peer on the socket
ADMIN_DATABASE = "pgbouncer"


def _lines(*lines: str) -> str:
    return "".join(line + "\n" for line in lines)


def pgbouncer_ini(
    pooler: PoolerPlan,
    *,
    host_name: str,
    database: str,
    port: int,
    config_dir: str,
    log_file: str,
    tls_files: tuple[str, str] | None,
    stats_user: str,
    tls_cert: str | None = None,
) -> str:
    """`config_dir`: the directory of these files as PgBouncer sees it; `tls_files`: the
    certificate and key as PgBouncer sees them, None without TLS; `tls_cert`: the certificate's
    text, whose fingerprint this file carries so that a renewed certificate changes it, and
    PgBouncer is reloaded with PostgreSQL."""
    v, token = formats.pooler_value, formats.pooler_token
    server = " ".join(
        f"{k}={token(k, val)}" for k, val in (("host", SOCKET_DIR), ("port", port),
                                              ("dbname", database))
    )  # fmt: skip
    out = [
        header(f"PgBouncer for {host_name}, from the plan; do not edit by hand").rstrip("\n"),
        "",
        "[databases]",
        f"{token('database', database)} = {server}",
        "",
        "[pgbouncer]",
        f"%include {token('include', f'{config_dir}/{LISTEN}')}",
        "# who may connect: the hba file; with what: the userlist's SCRAM verifiers",
        v("auth_type", "hba"),
        v("auth_hba_file", f"{config_dir}/{HBA}"),
        v("auth_file", f"{config_dir}/{USERLIST}"),
        v("admin_users", ADMIN),
        "# SHOW commands only, for prometheus-pgbouncer-exporter",
        v("stats_users", stats_user),
        # drivers send it on connect; PgBouncer would refuse an unknown startup parameter
        v("ignore_startup_parameters", "extra_float_digits"),
    ]
    if log_file:
        out.append(v("logfile", log_file))
    if tls_files:
        fingerprint = hashlib.sha256((tls_cert or "").encode()).hexdigest()[:16]
        out += [
            f"# network clients only over TLS (PostgreSQL's own certificate, sha256 {fingerprint})",
            v("client_tls_sslmode", "require"),
            v("client_tls_cert_file", tls_files[0]),
            v("client_tls_key_file", tls_files[1]),
        ]
    for setting in pooler.settings:
        out += [f"# {setting.reason}", v(setting.name, setting.text)]
    return _lines(*out)


def listen_ini(*, host_name: str, listen: str, port: int, pid_file: str) -> str:
    out = [
        header(f"where PgBouncer listens on {host_name}; a change restarts it").rstrip("\n"),
        formats.pooler_value("listen_addr", listen),
        formats.pooler_value("listen_port", port),
        formats.pooler_value("unix_socket_dir", SOCKET_DIR),
    ]
    if pid_file:
        out.append(formats.pooler_value("pidfile", pid_file))
    return _lines(*out)


def pgbouncer_hba(
    *,
    host_name: str,
    database: str,
    app_user: str,
    networks: list[str],
    tls: bool,
    monitor_role: str,
    monitor_network: str,
) -> str:
    """The same rules as pg_hba.conf's for the application role; the admin console for the
    OS user postgres alone, by peer, and for the monitoring role from this host's own address
    (`monitor_network`, as pg_hba.conf's), with SCRAM."""
    kind = "hostssl" if tls else "host"
    rows = [
        ("local", ADMIN_DATABASE, ADMIN, "", "peer"),
        (kind, ADMIN_DATABASE, monitor_role, monitor_network, "scram-sha-256"),
        ("local", database, app_user, "", "scram-sha-256"),
        *((kind, database, app_user, net, "scram-sha-256") for net in networks),
    ]
    for row in rows:
        for field in filter(None, row):
            formats.pooler_token("hba field", field)
    widths = [max(len(row[i]) for row in rows) + 1 for i in range(4)]
    return header(f"who may connect to PgBouncer on {host_name}") + "".join(
        "".join(f.ljust(w) for f, w in zip(row, widths, strict=False)) + row[4] + "\n"
        for row in rows
    )


def userlist(*, app_user: str, verifier: str, monitor_role: str, monitor_verifier: str) -> str:
    """No header: PgBouncer reads every line as an entry. The admin user has no secret: the
    hba file lets it in only by peer on the socket."""
    return _lines(
        formats.pooler_userlist_entry(app_user, verifier),
        formats.pooler_userlist_entry(monitor_role, monitor_verifier),
        formats.pooler_userlist_entry(ADMIN, ""),
    )


def systemd_limits(open_files: int) -> str:
    """Debian's unit keeps systemd's default of 1024 descriptors: too few for the clients."""
    return header("PgBouncer's file limit, from the plan") + _lines(
        "[Service]", f"LimitNOFILE={int(open_files)}"
    )
