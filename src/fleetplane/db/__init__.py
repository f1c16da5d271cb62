"""Database access: one small async interface over SQLite and PostgreSQL.

SQL everywhere in fleetplane is written once with ``?`` placeholders; the
PostgreSQL backend rewrites them to ``%s``. Callers never format values into SQL.
"""

from fleetplane.db.base import Database, PoolStats, Row, Tx
from fleetplane.db.connect import open_database

__all__ = ["Database", "PoolStats", "Row", "Tx", "open_database"]
