"""Deploy steps, in the order deploy.py runs them. Each talks to the host's Runtime."""

from .backups import backups
from .database import database_server
from .pitr import point_in_time_recovery
from .schema import analytics_schema

__all__ = ["analytics_schema", "backups", "database_server", "point_in_time_recovery"]
