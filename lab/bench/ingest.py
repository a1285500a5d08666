"""Ingest: the events loaded in time order, in blocks dealt to the (method, writers)
configurations in turn.

A variant's whole data set is loaded in every round (it is what the queries then read). The
time-ordered batches are cut into contiguous blocks, BLOCKS_PER_CONFIG per configuration (COPY
and multi-row INSERT from 1 to N writers), dealt in turn: config 1, 2, 3, 4, 1, 2, ... So every
configuration writes into every part of the time range and of the growing hypertable (chunk
creation, a chunk's indexes growing, a checkpoint coming due), and those effects do not land
on one configuration. Each block is timed on its own; a configuration's rate is its rows over
its blocks' seconds. The order rotates from round to round, so none always gets the very first
block (the empty hypertable). One CHECKPOINT before the load, none between blocks: checkpoints
then come when the variant's own max_wal_size / checkpoint_timeout call them, as in
production, and their cost (the full-page images after each) is part of what a config costs.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import workload
from .host import DATA_DIR, BenchHost
from .variants import Variant

BLOCKS_PER_CONFIG = 4


@dataclass(frozen=True)
class Config:
    method: str  # "copy" or "insert"
    writers: int

    @property
    def label(self) -> str:
        return f"{self.method} x{self.writers}"


def configs(writers_max: int) -> list[Config]:
    return [Config(m, w) for m in workload.METHODS for w in range(1, writers_max + 1)]


def segments(batches: int, order: list[Config], blocks: int) -> list[tuple[Config, int, int]]:
    """(config, first batch, batch count) in time order: the batches cut into
    len(order) x `blocks` contiguous blocks (the rest to the last), dealt to the
    configurations in turn, so each samples the whole time range."""
    parts = len(order) * blocks
    size = batches // parts
    if size < 1:
        raise ValueError(f"{batches} batches cannot be split into {parts} blocks")
    return [
        (order[i % len(order)], i * size, size if i < parts - 1 else batches - size * i)
        for i in range(parts)
    ]


def rotated(items: list, round_no: int) -> list:
    shift = round_no % len(items)
    return items[shift:] + items[:shift]


def load(
    host: BenchHost, variant: Variant, spec: workload.Spec, order: list[Config], progress
) -> list[dict]:
    """Load every batch into the variant's database; one result per configuration, its
    blocks added up (rows, seconds, CPU, WAL)."""
    blocks = max(1, min(BLOCKS_PER_CONFIG, spec.batches // len(order)))
    totals: dict[Config, dict] = {}
    host.psql("CHECKPOINT", variant.db)
    for config, first, count in segments(spec.batches, order, blocks):
        result = host.agent(
            "ingest", "--db", variant.db, "--dir", f"{DATA_DIR}/data", "--shape", variant.schema,
            "--method", config.method, "--writers", str(config.writers),
            "--first", str(first), "--count", str(count),
        )  # fmt: skip
        total = totals.setdefault(
            config,
            {"method": config.method, "writers": config.writers, "rows": 0, "seconds": 0.0,
             "client_cpu_s": 0.0, "server_cpu_s": 0.0, "wal": dict.fromkeys(result["wal"], 0),
             "blocks": 0},
        )  # fmt: skip
        for key in ("rows", "seconds", "client_cpu_s", "server_cpu_s"):
            total[key] += result[key]
        for key, value in result["wal"].items():
            total["wal"][key] += value
        total["blocks"] += 1
        progress(f"{variant.key} {config.label}: {result['rows_per_s']:,.0f} rows/s")
    for total in totals.values():
        total["rows_per_s"] = total["rows"] / total["seconds"]
    return [totals[c] for c in order]
