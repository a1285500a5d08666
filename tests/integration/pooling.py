"""PgBouncer under more clients than PostgreSQL has connections, from the network as the
application connects (TLS verify-full, SCRAM): imported by both runtimes' modules
(test_native_host.py, test_docker_host.py), each on its own `target`. The benchmark's load
(lab/bench/connections.py) at a size the suite affords, read-only so the host's data stays
as the module's other tests expect it."""

from __future__ import annotations

from lab.bench import connections

# clients beyond max_connections, each connection held for the whole run
EXTRA_CLIENTS = 20
LOAD_SECONDS = 8
SLOTS_EXHAUSTED = ("remaining connection slots are reserved", "too many clients")
# connection slots a role without superuser can still take
FREE_SLOTS = (
    "SELECT current_setting('max_connections')::int "
    "- current_setting('superuser_reserved_connections')::int - count(*) "
    "FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid "
    "WHERE a.backend_type = 'client backend' AND NOT r.rolsuper"
)


def test_more_clients_than_connection_slots_all_get_through_pgbouncer(target):
    """Straight to PostgreSQL, the clients beyond its free slots are refused; through
    PgBouncer every client gets in and every query succeeds, on no more server connections
    than the planned pool."""
    record, endpoints = connections.endpoints(target.name)
    max_connections = int(record["parameters"]["max_connections"])
    clients = max_connections + EXTRA_CLIENTS
    load = connections.Load(clients, LOAD_SECONDS, ramp_s=2, think_ms=200, ingest_share=0)

    free = int(target.psql(FREE_SLOTS))
    direct = connections.run(endpoints["postgresql"], load)
    assert direct["connect_errors"] > 0 and direct["clients_never_connected"] > 0, direct
    refused = direct["connect_errors_by_message"]
    assert all(any(s in message for s in SLOTS_EXHAUSTED) for message in refused), refused
    # exactly the free slots were taken (give or take a monitoring session coming or going)
    assert abs(direct["clients_connected"] - free) <= 2, (free, direct)

    pooled = connections.run(endpoints["pgbouncer"], load)
    assert pooled["clients_connected"] == clients, pooled
    assert (pooled["connect_errors"], pooled["operation_errors"]) == (0, 0), pooled
    assert pooled["operations"] > clients, pooled
    assert 0 < pooled["server_connections_max"] <= record["pooler"]["server_pool"], pooled
