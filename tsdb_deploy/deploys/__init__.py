"""Deploy steps, in the order deploy.py runs them. Each carries out part of a HostPlan."""

from .backups import backups
from .pitr import point_in_time_recovery
from .schema import analytics_schema
from .server import database_server

__all__ = ["analytics_schema", "backups", "database_server", "point_in_time_recovery"]
