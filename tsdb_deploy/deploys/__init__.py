"""Deploy steps, in the order deploy.py runs them. Each carries out part of a HostPlan."""

from .backups import backups
from .monitoring import monitoring
from .pitr import point_in_time_recovery
from .pooler import connection_pooler
from .schema import analytics_schema
from .server import database_server

__all__ = [
    "analytics_schema",
    "backups",
    "connection_pooler",
    "database_server",
    "monitoring",
    "point_in_time_recovery",
]
