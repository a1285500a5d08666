"""`make bench` / `tsdb-deploy bench`: the documents' database against this project's, measured.

Variants A-D (variants.py) side by side on one local test host, interleaved; the workload is
generated up front inside the host (workload.py, agent.py); ingest.py, queries.py and
physical.py measure; deploytime.py times the deploy itself; summary.py, report.py and
charts.py write results.json, report.md and PNGs. Entry point: main(argv) -> int.
"""

from .cli import main

__all__ = ["main"]
