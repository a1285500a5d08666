"""The Community build's compression, measured on a variant's loaded database.

Everything older than compress_after (90 days, the documents' and the settings' value)
before the data's END is compressed, chunk by chunk, each chunk timed: the events and the
aggregates (the documents' hypertable; D's continuous aggregates). Sizes are read before and
after: the whole hypertable per event, and the compressed chunks' bytes per event they hold.
The policies were unscheduled when the schema was made (schemas.create), so nothing else
compresses meanwhile, and the threshold follows END rather than now().
"""

from __future__ import annotations

import re

from tsdb_deploy.settings import SETTINGS
from tsdb_deploy.units import parse_interval

from . import workload
from .host import BenchHost
from .queries import END
from .variants import Variant

COMPRESS_AFTER = SETTINGS["compress_after"].default
COMPRESS_AFTER_DAYS = parse_interval(COMPRESS_AFTER) // 86400
_TIMING = re.compile(r"^Time: ([0-9.]+) ms", re.MULTILINE)


def _older(relation: str) -> str:
    return (
        f"SELECT c::text FROM show_chunks('{relation}', "
        f"older_than => {END} - INTERVAL '{COMPRESS_AFTER}') c ORDER BY 1"
    )


def _sizes(host: BenchHost, db: str) -> dict:
    row = host.json_query(
        "SELECT hypertable_size('klaviyo_events') AS bytes, "
        "(SELECT count(*) FROM klaviyo_events) AS events, "
        "(SELECT coalesce(sum(before_compression_total_bytes), 0) FROM "
        "hypertable_compression_stats('klaviyo_events')) AS compressed_before, "
        "(SELECT coalesce(sum(after_compression_total_bytes), 0) FROM "
        "hypertable_compression_stats('klaviyo_events')) AS compressed_after",
        db,
    )[0]
    return {k: int(v) for k, v in row.items()}


def aggregates_relations(variant: Variant) -> list[str]:
    if variant.schema == "project":
        return ["klaviyo_aggregated_metrics_hourly", "klaviyo_aggregated_metrics_daily"]
    return ["klaviyo_aggregated_metrics"]


def compress(host: BenchHost, variant: Variant) -> dict:
    """Compress every chunk older than COMPRESS_AFTER before END; per-chunk seconds, the
    events those chunks hold, sizes before and after."""
    db = variant.db
    before = _sizes(host, db)
    chunks = host.psql(_older("klaviyo_events"), db).split()
    boundary = host.psql(
        "SELECT coalesce(max(range_end), '-infinity') FROM timescaledb_information.chunks "
        "WHERE format('%I.%I', chunk_schema, chunk_name)::regclass::text = ANY(ARRAY["
        + ",".join(f"'{c}'" for c in chunks)
        + "]::text[])",
        db,
    ) if chunks else "-infinity"  # fmt: skip
    seconds = []
    for chunk in chunks:
        out = host.psql_timed(f"SELECT compress_chunk('{chunk}')", db)
        seconds.append(float(_TIMING.findall(out)[-1]) / 1000)
    aggregate_chunks = 0
    for relation in aggregates_relations(variant):
        for chunk in host.psql(_older(relation), db).split():
            host.psql(f"SELECT compress_chunk('{chunk}')", db)
            aggregate_chunks += 1
    after = _sizes(host, db)
    in_compressed = int(
        host.psql(f"SELECT count(*) FROM klaviyo_events WHERE \"timestamp\" < '{boundary}'", db)
    )
    return {
        "compress_after": COMPRESS_AFTER,
        "chunks": len(chunks),
        "chunk_seconds": seconds,
        "aggregate_chunks": aggregate_chunks,
        "events": before["events"],
        "events_compressed": in_compressed,
        "bytes_before": before["bytes"],
        "bytes_after": after["bytes"],
        "compressed_before": after["compressed_before"],
        "compressed_after": after["compressed_after"],
        "days": workload.DAYS,
    }


def decompress(host: BenchHost, variant: Variant) -> None:
    """Every compressed chunk of the events back to the row store."""
    host.psql(
        "SELECT count(decompress_chunk(c, if_compressed => true)) FROM "
        "show_chunks('klaviyo_events') c",
        variant.db,
    )
