"""Deploy steps, in the order deploy.py runs them. Each talks to the host's Runtime."""

from .database import database_host

__all__ = ["database_host"]
