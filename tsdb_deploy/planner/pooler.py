"""PgBouncer: the server-side pool in front of PostgreSQL, sized from the same plan.

The application reaches PostgreSQL only through PgBouncer, in transaction pooling, so many
application instances (the documents' pool of DB_MAX_CONNECTIONS = 50 each) share a few server
connections. The server pool is what max_connections leaves after the slots other clients need;
the timeouts follow the documents' pool settings (DB_CONNECTION_TIMEOUT, DB_STATEMENT_TIMEOUT,
DB_MIN_CONNECTIONS). PgBouncer's own memory is a term of the budget (budget.pooler_memory).
"""

from __future__ import annotations

from dataclasses import dataclass

from .inputs import PlanError, Workload

# Server connections kept out of PgBouncer's pool, each for a client that must get in even when
# the application saturates its pool:
# PostgreSQL's default superuser_reserved_connections (operators, the deploy's own sessions).
SUPERUSER_RESERVED = 3
# tsdb-backup's pg_dump, pgBackRest's backup session, and the scheduled maintenance or a
# migration, which may all run at once.
MAINTENANCE_SLOTS = 3
# prometheus-postgres-exporter and tsdb-status.
MONITORING_SLOTS = 2
# WAL senders (replicas, pg_basebackup, pgBackRest from a standby) have their own slots:
# max_wal_senders is not part of max_connections since PostgreSQL 12.
REPLICATION_SLOTS = 0
# Fewer server connections than this is not a pool worth having.
MIN_SERVER_POOL = 2
# The documents' DB_MIN_CONNECTIONS: idle server connections kept open for the next burst.
DOCS_MIN_CONNECTIONS = 5
# The documents' DB_CONNECTION_TIMEOUT (5 s): the reserve pool opens well before the
# application gives up waiting for a connection.
RESERVE_POOL_TIMEOUT_S = 2
# A fifth of the pool is held back for bursts, at least one connection.
RESERVE_FRACTION = 5
# Protocol-level prepared statements kept per server connection (node-postgres names its
# statements; without this PgBouncer's transaction pooling would break them).
MAX_PREPARED_STATEMENTS = 200
# Descriptors besides client and server sockets: listening sockets, log, TLS, libevent.
FD_MARGIN = 64
# Console sessions that count against max_client_conn like any client:
# prometheus-pgbouncer-exporter's, tsdb-status's and an operator's. Without them the last
# application client is refused (measured: 500 clients on max_client_conn 500, one refused).
CONSOLE_CLIENTS = 3


def client_limit(app_clients: int) -> int:
    """max_client_conn for `app_clients` application connections (pgbouncer_max_client_conn)."""
    return app_clients + CONSOLE_CLIENTS


@dataclass(frozen=True)
class PoolerSetting:
    name: str
    value: int | str
    reason: str

    @property
    def text(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class PoolerPlan:
    server_pool: int  # server connections PgBouncer may open (max_db_connections)
    settings: tuple[PoolerSetting, ...]  # pgbouncer.ini's [pgbouncer] values with reasons
    open_files: int  # the file-descriptor limit PgBouncer needs (LimitNOFILE, ulimits)

    def values(self) -> dict[str, str]:
        return {s.name: s.text for s in self.settings}

    def to_json(self) -> dict:
        return {
            "server_pool": self.server_pool,
            "settings": self.values(),
            "reasons": {s.name: s.reason for s in self.settings},
            "open_files": self.open_files,
        }


def server_pool(max_connections: int) -> tuple[int, str]:
    """What max_connections leaves for PgBouncer, with the sum that gives it."""
    reserved = SUPERUSER_RESERVED + MAINTENANCE_SLOTS + MONITORING_SLOTS + REPLICATION_SLOTS
    pool = max_connections - reserved
    reason = (
        f"max_connections {max_connections} - {SUPERUSER_RESERVED} superuser-reserved - "
        f"{MAINTENANCE_SLOTS} maintenance (backup, pgBackRest, maintenance job or migration) - "
        f"{MONITORING_SLOTS} monitoring (exporter, tsdb-status); WAL senders have their own "
        "slots"
    )
    if pool < MIN_SERVER_POOL:
        raise PlanError(
            f"max_connections {max_connections} leaves {pool} server connections for PgBouncer "
            f"(needs at least {MIN_SERVER_POOL}; {reserved} are reserved): raise "
            f"max_connections to at least {reserved + MIN_SERVER_POOL} or give the host more "
            "memory"
        )
    return pool, reason


def plan(max_connections: int, workload: Workload) -> PoolerPlan:
    pool, pool_reason = server_pool(max_connections)
    reserve = max(1, pool // RESERVE_FRACTION)
    default = pool - reserve
    app_clients = workload.pooler_max_client_conn
    clients = client_limit(app_clients)
    statement_s = workload.app_statement_timeout_s
    idle_tx_s = workload.app_idle_in_transaction_timeout_s
    s = PoolerSetting
    settings = (
        s("pool_mode", "transaction",
          "a server connection per transaction: many application pools share a few backends"),
        s("max_client_conn", clients,
          f"inventory pgbouncer_max_client_conn ({app_clients}) + {CONSOLE_CLIENTS} console "
          "sessions (the exporter, tsdb-status, an operator), which count against it too"),
        s("default_pool_size", default,
          f"the server pool ({pool}: {pool_reason}) less the reserve"),
        s("reserve_pool_size", reserve, f"a fifth of the server pool ({pool}), for bursts"),
        s("reserve_pool_timeout", RESERVE_POOL_TIMEOUT_S,
          "seconds a client waits before the reserve opens; under the documents' 5 s "
          "DB_CONNECTION_TIMEOUT"),
        s("max_db_connections", pool, "the server pool: PgBouncer never takes the reserved slots"),
        s("min_pool_size", min(DOCS_MIN_CONNECTIONS, default),
          "the documents' DB_MIN_CONNECTIONS, kept warm"),
        s("query_wait_timeout", statement_s or 120,
          "seconds a query may wait for a server connection: the application's "
          "statement_timeout, after which it has failed anyway" if statement_s else
          "seconds a query may wait for a server connection (no statement_timeout is set)"),
        s("idle_transaction_timeout", idle_tx_s,
          "the application role's idle_in_transaction_session_timeout: a transaction left "
          "open holds a server connection from every other client"),
        s("server_idle_timeout", 600,
          "seconds an idle server connection above min_pool_size is kept (PgBouncer's default)"),
        s("server_lifetime", 3600,
          "server connections are renewed hourly, so catalog caches of dropped chunks go"),
        s("max_prepared_statements", MAX_PREPARED_STATEMENTS,
          "protocol-level prepared statements work in transaction pooling"),
    )  # fmt: skip
    return PoolerPlan(pool, settings, clients + pool + FD_MARGIN)
