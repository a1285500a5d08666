"""Deploy tuned PostgreSQL 17 + TimescaleDB hosts with pyinfra.

Data flows one way: inventory + group_data -> facts -> plan -> rendered files ->
operations that converge the host -> checks that the host is what the plan said.
"""

__version__ = "0.1.0"
