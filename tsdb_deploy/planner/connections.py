"""Connections and sessions."""

from __future__ import annotations

from ..units import GIB
from .draft import Draft

GROUP = "connections"
# A transaction left open blocks vacuum on every hypertable chunk; end it after this long.
IDLE_IN_TRANSACTION_TIMEOUT_MS = 10 * 60 * 1000


def default_max_connections(draft: Draft) -> int:
    """Per profile, grown with memory so every connection keeps a useful work_mem.

    timescaledb-tune uses 25/50/75/100 by RAM and PGTune a flat number per profile; both can
    leave too little memory per connection on small hosts. The dashboard reaches PostgreSQL
    through an application pool (the documents' DB_MAX_CONNECTIONS = 50), so 100 is plenty.
    """
    profile = draft.profile
    by_memory = int(profile.connections_per_gib * draft.hardware.memory_bytes / GIB)
    return max(profile.connections_min, min(profile.connections_max, by_memory))


def plan(draft: Draft) -> None:
    workload = draft.workload
    if workload.max_connections is not None:
        draft.set(GROUP, "max_connections", workload.max_connections, "inventory max_connections")
    else:
        draft.set(
            GROUP,
            "max_connections",
            default_max_connections(draft),
            f"{draft.profile.name} profile: {draft.profile.connections_per_gib} per GiB of "
            f"memory, {draft.profile.connections_min}..{draft.profile.connections_max}",
        )
    draft.set(GROUP, "listen_addresses", workload.listen_addresses, "inventory listen_addresses")
    draft.set(GROUP, "port", workload.port, "inventory port")
    draft.set(
        GROUP,
        "password_encryption",
        "scram-sha-256",
        "SCRAM only: md5 hashes are replayable and deprecated",
    )
    draft.set(
        GROUP,
        "idle_in_transaction_session_timeout",
        IDLE_IN_TRANSACTION_TIMEOUT_MS,
        "an abandoned open transaction holds back vacuum on every chunk",
    )
